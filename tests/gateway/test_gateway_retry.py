"""The real gateway (LiteLLM, its own venv) in front of backends that fail on purpose: what is retried, what moves on.

The backends are small OpenAI-shaped servers in this process, because the point is a failure on demand (a 500 on
every other call) that a real engine does not give; the failover against real vLLM servers is
test_gateway_failover.py. No vLLM here: this module runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gateway_testkit import MODEL_ID_HEADER, Backend500, started_gateway
from serving_testkit import free_port

from gateway.spec import Backend, FailoverPolicy, GatewaySpec, Route, to_json

KEY = "client-key"


def _ask(gateway: str, model: str) -> tuple[int, str | None]:
    r = httpx.post(f"{gateway}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                   json={"model": model, "messages": [{"role": "user", "content": "x"}], "max_tokens": 4})
    return r.status_code, r.headers.get(MODEL_ID_HEADER)


@pytest.fixture(scope="module")
def backends(gateway_py: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    tmp = tmp_path_factory.mktemp("gateway-retry")
    (tmp / "key").write_text(KEY + "\n")
    flaky, down, provider = Backend500(fail_every=2), Backend500(fail_every=1), Backend500(fail_every=10**9)
    with flaky.serving() as flaky_url, down.serving() as down_url, provider.serving() as provider_url:
        def backend(name: str, kind: str, url: str) -> Backend:
            return Backend(name, kind, url, "m", str(tmp / "key"), 0.1 if kind == "provider" else None,
                           0.1 if kind == "provider" else None)

        spec = GatewaySpec(
            routes=(Route("flaky-only", (backend("provider-flaky", "provider", flaky_url),)),
                    Route("local-down", (backend("local", "local", down_url),
                                         backend("provider-ok", "provider", provider_url)))),
            # a high cooldown threshold: this module counts calls, not cooldowns
            policy=FailoverPolicy(failures_before_cooldown=100, overflow_queue_depth=None),
            client_key_file=str(tmp / "key"))
        (tmp / "spec.json").write_text(to_json(spec))
        port = free_port()
        with started_gateway(gateway_py, tmp / "spec.json", port, tmp / "gateway.log"):
            yield f"http://127.0.0.1:{port}", {"flaky": flaky, "down": down, "provider": provider}


def test_the_last_backend_is_tried_once_more_after_a_500(backends: tuple[str, dict]) -> None:
    gateway, servers = backends
    calls, failed = servers["flaky"].calls, servers["flaky"].failed
    answers = [_ask(gateway, "flaky-only") for _ in range(6)]
    # Every other call fails: a request whose call failed is tried once more on the same (last) backend and succeeds.
    assert answers == [(200, "flaky-only/provider-flaky")] * 6
    failures = servers["flaky"].failed - failed
    assert failures >= 5 and servers["flaky"].calls - calls == 6 + failures


def test_a_backend_with_a_next_one_is_not_retried_the_request_moves_on(backends: tuple[str, dict]) -> None:
    gateway, servers = backends
    down_before, provider_before = servers["down"].calls, servers["provider"].calls
    answers = [_ask(gateway, "local-down") for _ in range(4)]
    assert answers == [(200, "local-down/provider-ok")] * 4
    assert servers["down"].calls - down_before == 4  # once per request, never twice
    assert servers["provider"].calls - provider_before == 4


def test_the_model_api_key_is_a_callers_key_not_the_gateways_administrator(backends: tuple[str, dict]) -> None:
    gateway, _ = backends
    auth = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(f"{gateway}/v1/models", headers=auth, timeout=30).status_code == 200
    # LiteLLM's management routes: the master key's, which nobody holds (gateway/auth.py)
    for method, path in (("POST", "/key/generate"), ("POST", "/model/new"), ("GET", "/model/info"),
                         ("POST", "/cache/flushall"), ("GET", "/health")):
        r = httpx.request(method, f"{gateway}{path}", headers=auth, json={}, timeout=30)
        assert r.status_code == 403, (path, r.status_code, r.text)
    assert httpx.get(f"{gateway}/v1/models", headers={"Authorization": "Bearer wrong"}, timeout=30).status_code == 401
    for open_path in ("/health/liveliness", "/health/readiness", "/metrics"):  # the kubelet and Prometheus: no key
        assert httpx.get(f"{gateway}{open_path}", timeout=30, follow_redirects=True).status_code == 200, open_path
