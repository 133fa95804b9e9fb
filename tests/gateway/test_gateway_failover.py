"""The real gateway in front of two real vLLM servers: failover, freeze, overflow and a provider-only route.

ONE set of processes for the module: the stack's own model through the serving image's supervisor
(`python -m serving`, as tests/serving runs it), a plain vLLM server with a key of its own playing a remote
provider, and the gateway via its launcher (`python -m gateway --spec`) from its own venv. The scenarios run in an
order that needs no restart: provider-only, overflow, freeze (SIGSTOP/SIGCONT), then the kill.
Each prints its figures (pytest -s, and the terminal summary).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import os
import signal
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from gateway_testkit import REPORT, StreamResult, complete, started_gateway, stream_completion
from serving_testkit import (
    SERVED_NAME,
    bare_vllm_cmd,
    engine_env,
    free_port,
    observe_startup,
    started,
    supervised_env,
    supervisor_cmd,
    wait_http_ok,
)

from gateway.spec import Backend, GatewaySpec, from_json, to_json
from infra.plan import run_plan
from tests.conftest import stack_config

pytestmark = pytest.mark.vllm

ROUTE = "qwen-7b"  # prod's model as clients name it
PROVIDER_ONLY = "qwen-7b-provider"  # a tier served by the provider only
PROVIDER = "provider-together"  # prod's fallback backend
CLIENT_KEY = "stack-model-key"
PROVIDER_KEY = "provider-key"
# Small enough to measure, large enough for a 2-core machine running two engines, the gateway and 96 streams.
FIRST_BYTE_TIMEOUT_S = 8.0
COOLDOWN_S = 6.0
OVERFLOW_DEPTH = 2
# Sequences each engine runs at once. The provider has room for every request the scenarios send (a provider scales
# out); the local replica does not, so its queue (and the first-byte timeout, and the overflow) come into play.
LOCAL_MAX_SEQS = 16
PROVIDER_MAX_SEQS = 128


def gateway_spec_from_stack(folder: Path) -> GatewaySpec:
    """The routing table the real program renders (ConfigMap gateway-config, spec.json) for prod as shipped, with a
    provider-only tier added (examples/Pulumi.dev-provider.yaml's model) and the failover timings shortened to fit a
    test: what the gateway pod reads, from the stack's own config."""
    cfg = copy.deepcopy(stack_config("prod"))
    cfg["serving"]["gateway"].update({
        "connectTimeoutS": 1.0, "firstByteTimeoutS": FIRST_BYTE_TIMEOUT_S, "requestTimeoutS": 120.0,
        "failuresBeforeCooldown": 1, "cooldownS": COOLDOWN_S, "overflowQueueDepth": OVERFLOW_DEPTH})
    tier = copy.deepcopy(stack_config("dev-provider"))
    cfg["models"].append({**tier["models"][0], "name": PROVIDER_ONLY})
    cfg["traffic"].setdefault("models", {})[PROVIDER_ONLY] = tier["traffic"]["models"]["qwen-7b"]
    doc = {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}
    (folder / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (config_map,) = [m for m in run_plan("prod", folder).manifests()
                     if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "gateway-config"]
    return from_json(config_map["data"]["spec.json"])


def to_loopback(spec: GatewaySpec, urls: dict[str, str], keys: Path) -> GatewaySpec:
    """The one place the cluster's spec is bent for this machine: backend URLs to loopback ports, key files to
    temp files with the same content (the mounted Secrets)."""
    key_files = {"/etc/llm-fleet/model-api-key/api-key": CLIENT_KEY}
    moved: dict[str, Path] = {}
    for path, value in [(spec.client_key_file, CLIENT_KEY)] + [
        (b.api_key_file, PROVIDER_KEY if b.kind == "provider" else key_files.get(b.api_key_file, CLIENT_KEY))
        for r in spec.routes for b in r.backends if b.api_key_file
    ]:
        if path not in moved:
            moved[path] = keys / f"key-{len(moved)}"
            moved[path].write_text(value + "\n")

    def backend(b: Backend) -> Backend:
        return dataclasses.replace(b, base_url=urls[b.name],
                                   api_key_file=str(moved[b.api_key_file]) if b.api_key_file else None)

    return dataclasses.replace(
        spec, client_key_file=str(moved[spec.client_key_file]),
        routes=tuple(dataclasses.replace(r, backends=tuple(backend(b) for b in r.backends)) for r in spec.routes))


@dataclass
class Fleet:
    local: object  # the supervisor's Popen
    local_api: str
    provider_api: str
    gateway: str
    gateway_log: Path


def _tree(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.Error):
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    return []


def _alive(pid: int) -> bool:
    import psutil

    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return False


def _signal_tree(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@pytest.fixture(scope="module")
def fleet(tiny_model: Path, gateway_py: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("gateway-fleet")
    (tmp / "local-key").write_text(CLIENT_KEY + "\n")
    api_port, health_port, provider_port, gw_port = free_port(), free_port(), free_port(), free_port()
    local_env = supervised_env(tiny_model, api_port, health_port, SERVING_API_KEY_FILE=str(tmp / "local-key"),
                               SERVING_EXTRA_ARGS=f"--dtype float32 --max-num-seqs {LOCAL_MAX_SEQS}",
                               SERVING_OVERFLOW_QUEUE_DEPTH=str(OVERFLOW_DEPTH))
    provider_cmd = bare_vllm_cmd(tiny_model, provider_port)
    provider_cmd[provider_cmd.index("--max-num-seqs") + 1] = str(PROVIDER_MAX_SEQS)
    provider_cmd += ["--api-key", PROVIDER_KEY]
    local_url, provider_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{provider_port}"
    stack = gateway_spec_from_stack(tmp_path_factory.mktemp("stack"))
    routes = {r.model: r for r in stack.routes}
    assert [b.name for b in routes[ROUTE].backends] == ["local", PROVIDER]  # prod: its own replicas, then Together
    assert [b.name for b in routes[PROVIDER_ONLY].backends] == [PROVIDER]
    local_model, provider_model = (b.model for b in routes[ROUTE].backends)
    # Each server answers to the name the stack's spec sends it: the stack's model name, the provider's own name.
    local_env["SERVING_SERVED_MODEL_NAME"] = local_model
    provider_cmd[provider_cmd.index("--served-model-name") + 1] = provider_model
    spec = to_loopback(stack, {"local": f"{local_url}/v1", PROVIDER: f"{provider_url}/v1"}, tmp)
    (tmp / "spec.json").write_text(to_json(spec))
    with (
        started(supervisor_cmd(), local_env, tmp / "local.log") as local,
        started(provider_cmd, engine_env(), tmp / "provider.log") as provider,
        started_gateway(gateway_py, tmp / "spec.json", gw_port, tmp / "gateway.log"),
    ):
        observe_startup(f"http://127.0.0.1:{health_port}", local, timeout_s=600)
        wait_http_ok(f"{provider_url}/health", 600, provider)
        yield Fleet(local, local_url, provider_url, f"http://127.0.0.1:{gw_port}", tmp / "gateway.log")


def _client(fleet: Fleet, timeout: float = 120) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fleet.gateway, timeout=timeout, trust_env=False,
                             limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))


def _report(key: str, line: str) -> None:
    REPORT[key] = line
    print(line)


def test_a_provider_only_model_is_served_through_the_same_url(fleet: Fleet) -> None:
    async def run() -> tuple[tuple[int, str | None, dict], StreamResult]:
        async with _client(fleet) as c:
            return (await complete(c, PROVIDER_ONLY, "hello", 8, CLIENT_KEY),
                    await stream_completion(c, PROVIDER_ONLY, "hello", 8, CLIENT_KEY))

    (status, backend, body), stream = asyncio.run(run())
    assert (status, backend) == (200, f"{PROVIDER_ONLY}/{PROVIDER}"), body
    assert body["usage"]["completion_tokens"] == 8  # ignore_eos: all of them
    assert stream.ok and stream.backend == f"{PROVIDER_ONLY}/{PROVIDER}", stream
    # The client used the stack's key only; the provider wants its own, which only the gateway holds.
    assert httpx.post(f"{fleet.provider_api}/v1/completions", json={"model": SERVED_NAME, "prompt": "x"},
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"}).status_code == 401
    _report("provider-only", f"provider-only route: served by {backend} through {fleet.gateway} (stream too)")


def test_probes_and_metrics_need_no_key_and_count_per_backend(fleet: Fleet) -> None:
    assert httpx.get(f"{fleet.gateway}/health/liveliness").status_code == 200
    assert httpx.get(f"{fleet.gateway}/health/readiness").status_code == 200
    metrics = httpx.get(f"{fleet.gateway}/metrics/", follow_redirects=True, timeout=60).text
    line = [m for m in metrics.splitlines()
            if m.startswith("litellm_deployment_success_responses_total") and f"{PROVIDER_ONLY}/{PROVIDER}" in m]
    assert line and float(line[0].rsplit(" ", 1)[1]) >= 2, metrics[-3000:]


def test_saturated_local_overflows_to_the_provider(fleet: Fleet) -> None:
    """The replica answers the gateway's requests 429 beyond its queue depth (serving/overflow.py); they move on."""
    requests = 4 * (LOCAL_MAX_SEQS + OVERFLOW_DEPTH)

    async def run() -> list[tuple[int, str | None, dict]]:
        async with _client(fleet) as c:
            return await asyncio.gather(*(complete(c, ROUTE, f"hello w{i}", 200, CLIENT_KEY)
                                          for i in range(requests)))

    results = asyncio.run(run())
    assert all(status == 200 for status, _, _ in results), [r for r in results if r[0] != 200][:3]
    local = sum(1 for _, b, _ in results if b == f"{ROUTE}/local")
    overflow = sum(1 for _, b, _ in results if b == f"{ROUTE}/{PROVIDER}")
    _report("overflow", f"overflow: {requests} concurrent requests, queue depth {OVERFLOW_DEPTH}, "
                        f"{LOCAL_MAX_SEQS} running per replica: {local} local, {overflow} overflowed to the provider "
                        f"({overflow / requests:.0%})")
    # The replica runs LOCAL_MAX_SEQS and lets OVERFLOW_DEPTH wait (+1: "more than N waiting"); the rest of a burst
    # overflows. Slack of one replica's worth for requests that finish (and free a slot) while the burst arrives.
    assert local >= LOCAL_MAX_SEQS + OVERFLOW_DEPTH
    assert overflow >= requests - 2 * (LOCAL_MAX_SEQS + OVERFLOW_DEPTH)


def test_a_frozen_local_backend_is_failed_over_within_the_first_byte_timeout_and_returns(fleet: Fleet) -> None:
    pids = _tree(fleet.local.pid)  # type: ignore[attr-defined]

    async def probe(c: httpx.AsyncClient) -> StreamResult:
        return await stream_completion(c, ROUTE, "hello", 4, CLIENT_KEY)

    async def run() -> tuple[float, list[StreamResult], float, float]:
        async with _client(fleet) as c:
            assert (await probe(c)).backend == f"{ROUTE}/local"
            frozen_at = time.monotonic()
            _signal_tree(pids, signal.SIGSTOP)
            try:
                during = [await probe(c) for _ in range(4)]
            finally:
                _signal_tree(pids, signal.SIGCONT)
            resumed_at = time.monotonic()
            back_at = float("nan")
            deadline = resumed_at + COOLDOWN_S + 30
            while time.monotonic() < deadline:
                r = await probe(c)
                assert r.ok, r
                if r.backend == f"{ROUTE}/local":
                    back_at = r.first_byte_at or time.monotonic()
                    break
                await asyncio.sleep(0.25)
            return frozen_at, during, resumed_at, back_at

    frozen_at, during, resumed_at, back_at = asyncio.run(run())
    assert all(r.ok and r.backend == f"{ROUTE}/{PROVIDER}" for r in during), during
    first = during[0].first_byte_at - frozen_at  # type: ignore[operator]
    later = statistics.median(r.first_byte_at - r.started_at for r in during[1:])  # type: ignore[operator]
    returned = back_at - resumed_at
    _report("freeze", f"SIGSTOP: first request served by the provider after {first:.1f}s (first-byte timeout "
                      f"{FIRST_BYTE_TIMEOUT_S:.0f}s); with local cooled down, TTFT {later:.2f}s; after SIGCONT "
                      f"traffic back on local in {returned:.1f}s (cooldown {COOLDOWN_S:.0f}s)")
    assert first < FIRST_BYTE_TIMEOUT_S + 2.0
    assert later < FIRST_BYTE_TIMEOUT_S  # cooled down: not tried (and timed out) again
    assert returned < COOLDOWN_S + 15


def test_killing_the_local_backend_loses_only_streams_cut_mid_way_and_each_with_an_error(fleet: Fleet) -> None:
    pids = _tree(fleet.local.pid)  # type: ignore[attr-defined]
    in_flight, arriving, max_tokens, started_streams = 64, 32, 200, 8

    async def run() -> tuple[float, list[StreamResult]]:
        streaming = asyncio.Event()
        first_bytes = 0

        def seen() -> None:
            nonlocal first_bytes
            first_bytes += 1
            if first_bytes >= started_streams:
                streaming.set()

        async with _client(fleet, timeout=300) as c:
            first = []
            for i in range(in_flight):  # arriving over ~2 s, as traffic does
                first.append(asyncio.create_task(
                    stream_completion(c, ROUTE, f"hello w{i}", max_tokens, CLIENT_KEY, on_first_content=seen)))
                await asyncio.sleep(0.03)
            # Kill once some streams are generating on the local backend and others have not started.
            await asyncio.wait_for(streaming.wait(), timeout=120)
            killed_at = time.monotonic()
            _signal_tree(pids, signal.SIGKILL)
            for _ in range(100):  # a loaded machine takes a moment to reap a killed process tree
                if not [pid for pid in pids if _alive(pid)]:
                    break
                await asyncio.sleep(0.1)
            assert not [pid for pid in pids if _alive(pid)], "the local backend survived SIGKILL"
            more = []
            for i in range(arriving):
                more.append(asyncio.create_task(stream_completion(c, ROUTE, f"w{i} hello", 32, CLIENT_KEY)))
                await asyncio.sleep(0.05)
            return killed_at, list(await asyncio.gather(*first, *more))

    killed_at, results = asyncio.run(run())
    # What the local backend had sent is known only when it reaches the client: through a busy gateway that can be
    # after the kill. So a stream is judged by what it received: one with text from the local backend had started
    # there; every other one must end complete.
    expected = {id(r): max_tokens for r in results[:in_flight]} | {id(r): 32 for r in results[in_flight:]}
    # ignore_eos: a stream that really ended has all its tokens (finish_reason "length"); anything else is cut.
    complete = [r for r in results if r.ok and r.finish_reason == "length"]
    lost = [r for r in results if r not in complete]
    with_text = [r for r in lost if any(r.texts)]
    cut_with_error = [r for r in with_text if r.error]
    silent = [r for r in lost if r.error is None]
    # Every generated token is one content chunk (word-level tokenizer): more than asked means two answers mixed.
    mixed = [r for r in results if sum(1 for x in r.texts if x) > expected[id(r)]]
    via_fallback = sum(1 for r in complete if r.backend == f"{ROUTE}/{PROVIDER}")
    before = sum(1 for r in results if r.first_content_at is not None and r.first_content_at < killed_at)
    _report("kill", f"SIGKILL local with {in_flight} streams in flight (+{arriving} arriving after; {before} showing "
                    f"text at the client at the kill): {len(complete)} of {len(results)} completed "
                    f"({via_fallback} answered by the provider); lost {len(lost)}, {len(cut_with_error)} of them cut "
                    f"mid-way with an error event; {len(silent)} silent truncations, {len(mixed)} mixed answers"
                    + (f"; e.g. {lost[0].status} {(lost[0].error or '')[:160]}" if lost else ""))
    assert not silent, silent[:3]
    assert not mixed, mixed[:3]
    assert via_fallback >= arriving  # the requests that arrived after the kill all went to the provider
    # Only streams cut mid-way may be lost: every one that had not shown text completed through the fallback.
    never_started = [r for r in lost if r not in cut_with_error]
    assert not never_started, [(r.status, (r.error or "")[:200]) for r in never_started[:3]]
