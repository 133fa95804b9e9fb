"""Two regions' real gateways (LiteLLM, its own venv) as peers over TLS, with OpenAI-shaped stub backends: a request
fails over to the other region through its TLS listener (the fleet CA trusted beside the public roots, the peer's key
sent), and when both regions' replicas fail it goes to the provider without looping between the regions.

Stubs, not vLLM: the point is failures on demand and call counts; the failover against real engines is
test_gateway_failover.py. Two gateways start once for the module (~1 min on 2 cores).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import certifi
import httpx
import pytest
from gateway_testkit import MODEL_ID_HEADER, Backend500, started_gateway
from serving_testkit import free_port
from tls_testkit import issue, make_ca

from gateway.spec import Backend, FailoverPolicy, GatewaySpec, PeerTls, Route, local_only, to_json

NEVER = 10**9  # a stub's fail_every that never fails


@pytest.fixture(scope="module")
def fleet(gateway_py: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("gateway-peers")
    ca = make_ca("llm-fleet test peers")
    (tmp / "ca.crt").write_text(ca.cert)
    regions = ("a", "b")
    ports = {r: free_port() for r in regions}
    tls_ports = {r: free_port() for r in regions}
    for r in regions:
        (tmp / f"key-{r}").write_text(f"key-{r}\n")
        issue(ca).write(tmp, f"gateway-{r}")  # for 127.0.0.1, as a region's for its DNS name
    local = {r: Backend500(fail_every=NEVER) for r in regions}
    provider = Backend500(fail_every=NEVER)
    with contextlib.ExitStack() as stack:
        urls = {r: stack.enter_context(local[r].serving()) for r in regions}
        provider_url = stack.enter_context(provider.serving())
        for r, other in (("a", "b"), ("b", "a")):
            spec = GatewaySpec(
                routes=(Route("m", (
                    Backend("local", "local", urls[r], "m", str(tmp / f"key-{r}")),
                    Backend(f"peer-{other}", "peer", f"https://127.0.0.1:{tls_ports[other]}/v1", local_only("m"),
                            str(tmp / f"key-{other}")),
                    Backend("provider-p", "provider", provider_url, "m", str(tmp / f"key-{r}"), 0.1, 0.1))),),
                # no cooldowns: this module counts calls
                policy=FailoverPolicy(failures_before_cooldown=100, overflow_queue_depth=None),
                client_key_file=str(tmp / f"key-{r}"),
                peer_tls=PeerTls(port=tls_ports[r], cert_file=str(tmp / f"gateway-{r}.crt"),
                                 key_file=str(tmp / f"gateway-{r}.key"), ca_file=str(tmp / "ca.crt")))
            (tmp / f"spec-{r}.json").write_text(to_json(spec))
        for r in regions:
            stack.enter_context(started_gateway(gateway_py, tmp / f"spec-{r}.json", ports[r], tmp / f"gateway-{r}.log"))
        yield {"url": {r: f"http://127.0.0.1:{ports[r]}" for r in regions}, "local": local, "provider": provider,
               "tls": {r: f"https://127.0.0.1:{tls_ports[r]}" for r in regions}, "ca": tmp / "ca.crt"}


def _ask(base: str, model: str, key: str, verify: ssl.SSLContext | bool = True) -> httpx.Response:
    return httpx.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                      verify=verify, json={"model": model, "messages": [{"role": "user", "content": "x"}],
                                           "max_tokens": 4})


def _calls(fleet: dict) -> tuple[int, int, int]:
    return fleet["local"]["a"].calls, fleet["local"]["b"].calls, fleet["provider"].calls


def test_a_request_fails_over_to_the_peer_region_over_tls(fleet: dict) -> None:
    fleet["local"]["a"].fail_every, fleet["local"]["b"].fail_every = 1, NEVER
    before = _calls(fleet)
    answers = [_ask(fleet["url"]["a"], "m", "key-a") for _ in range(3)]
    assert [(r.status_code, r.headers.get(MODEL_ID_HEADER)) for r in answers] == [(200, "m/peer-b")] * 3
    a, b, provider = (x - y for x, y in zip(_calls(fleet), before, strict=True))
    assert (a, b, provider) == (3, 3, 0)  # served by region b's replicas, not the provider


def test_when_every_region_fails_the_request_goes_to_the_provider_without_looping(fleet: dict) -> None:
    fleet["local"]["a"].fail_every = fleet["local"]["b"].fail_every = 1
    before = _calls(fleet)
    answer = _ask(fleet["url"]["a"], "m", "key-a")
    assert (answer.status_code, answer.headers.get(MODEL_ID_HEADER)) == (200, "m/provider-p")
    a, b, provider = (x - y for x, y in zip(_calls(fleet), before, strict=True))
    # a's replicas once; b's once plus the last backend's two retries (b asked for its replicas only); b never came
    # back to a, and the provider answered once
    assert (a, b, provider) == (1, 3, 1)


def test_the_peer_listener_wants_the_fleet_ca_and_the_regions_key(fleet: dict) -> None:
    fleet["local"]["b"].fail_every = NEVER
    trusted = ssl.create_default_context(cafile=str(fleet["ca"]))
    ok = _ask(fleet["tls"]["b"], local_only("m"), "key-b", trusted)
    assert (ok.status_code, ok.headers.get(MODEL_ID_HEADER)) == (200, "m@local/local")
    before = _calls(fleet)
    # Another region's key: refused before any backend is called (gateway/auth.py)
    refused = _ask(fleet["tls"]["b"], local_only("m"), "key-a", trusted)
    assert refused.status_code == 401 and _calls(fleet) == before, refused.text
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        _ask(fleet["tls"]["b"], local_only("m"), "key-b", ssl.create_default_context(cafile=certifi.where()))
