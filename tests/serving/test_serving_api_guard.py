"""The key on every path of vLLM's API port but /health and /metrics (serving/api_guard.py), on a stand-in app.

The same middleware inside a real vLLM engine: tests/serving/test_serving_engine.py
(test_every_inference_path_needs_the_key).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving.api_guard import RequireApiKey

KEY = "k-123"


def _client(monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    ok = PlainTextResponse("ok")
    paths = ["/health", "/metrics", "/invocations", "/tokenize", "/v1/completions", "/ping", "/load"]
    app = Starlette(routes=[Route(p, lambda _: ok, methods=["GET", "POST"]) for p in paths])
    app.add_middleware(RequireApiKey)  # exactly how vLLM adds a `--middleware` class
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vllm")


def _statuses(monkeypatch: pytest.MonkeyPatch, headers: dict[str, str]) -> dict[str, int]:
    async def run() -> dict[str, int]:
        async with _client(monkeypatch) as client:
            return {p: (await client.post(p, headers=headers)).status_code
                    for p in ["/health", "/metrics", "/invocations", "/tokenize", "/v1/completions", "/ping", "/load"]}
    return asyncio.run(run())


def test_without_the_key_only_health_and_metrics_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # /invocations is the finding: vLLM's own check (prefixes /v1 /v2 /inference /cohere) leaves it open.
    assert _statuses(monkeypatch, {}) == {"/health": 200, "/metrics": 200, "/invocations": 401, "/tokenize": 401,
                                          "/v1/completions": 401, "/ping": 401, "/load": 401}


@pytest.mark.parametrize("authorization", ["Bearer wrong", f"Basic {KEY}", KEY, f"Bearer {KEY}x", "Bearer "])
def test_a_wrong_key_or_scheme_is_refused(monkeypatch: pytest.MonkeyPatch, authorization: str) -> None:
    assert _statuses(monkeypatch, {"Authorization": authorization})["/invocations"] == 401


def test_the_key_opens_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(_statuses(monkeypatch, {"Authorization": f"bearer {KEY}"}).values()) == {200}


def test_it_refuses_to_run_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SERVING_API_KEY_FILE"):
        RequireApiKey(lambda *_: None)  # type: ignore[arg-type]


def test_adapter_loading_only_from_the_pods_own_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the key, a rollout worker could otherwise repoint `policy` at an adapter of its choosing.
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    ok = PlainTextResponse("ok")
    paths = ["/v1/load_lora_adapter", "/v1/unload_lora_adapter", "/adapters", "/adapters/policy"]
    app = Starlette(routes=[Route(p, lambda _: ok, methods=["POST", "DELETE"]) for p in paths])
    app.add_middleware(RequireApiKey)
    keyed = {"Authorization": f"Bearer {KEY}"}

    async def statuses(client_host: str) -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://vllm") as client:
            return [(await client.post(p, headers=keyed)).status_code for p in paths]

    assert asyncio.run(statuses("10.4.0.7")) == [403, 403, 403, 403]
    assert asyncio.run(statuses("127.0.0.1")) == [200, 200, 200, 200]
