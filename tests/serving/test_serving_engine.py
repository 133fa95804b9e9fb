"""The supervisor against a real vLLM CPU engine: start-up probes, OpenAI traffic, and a drain.

One supervised server for the whole module (start-up is ~1 min on 2 cores). The drain test
stops it, so it runs last.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import serving_testkit
from prometheus_client.parser import text_string_to_metric_families
from serving_testkit import (
    MAX_NUM_SEQS,
    REPORT,
    SERVED_NAME,
    drain_scenario,
    free_port,
    observe_startup,
    started,
    supervised_env,
    supervisor_cmd,
)

from serving.kubernetes import STOP_TIMEOUT_S  # the supervisor's default wait for vLLM to stop
from serving.overflow import HEADER
from serving.vllm_metrics import parse_engine_load

OVERFLOW_HEADER = HEADER.decode()

pytestmark = pytest.mark.vllm

API_KEY = "test-key-123"
DRAIN_TIMEOUT_S = 120
DRAIN_GRACE_S = 2
# Gateway-marked requests get 429 once more than this many wait (serving/overflow.py); unmarked ones never do.
OVERFLOW_DEPTH = 2
# On MAX_NUM_SEQS (4) slots 12 wait: over OVERFLOW_DEPTH for three waves of LONG_TOKENS (~15 s each here), so a
# starved test client still reaches the server while the queue is deep.
LONG_REQUESTS = 16
LONG_TOKENS = 1000


@dataclass
class Server:
    proc: object
    api_url: str
    health_url: str
    startup_samples: list[tuple[float, int, int]]
    log: Path
    compile_cache_url: str  # the shared compile cache this (first) replica seeds


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("supervised")
    key_file = tmp / "api-key"
    key_file.write_text(API_KEY + "\n")
    api_port, health_port = free_port(), free_port()
    env = supervised_env(
        tiny_model,
        api_port,
        health_port,
        SERVING_API_KEY_FILE=str(key_file),
        SERVING_WARMUP_PROMPT="hello world",
        SERVING_DRAIN_GRACE_S=str(DRAIN_GRACE_S),
        SERVING_DRAIN_TIMEOUT_S=str(DRAIN_TIMEOUT_S),
        SERVING_CANARY_INTERVAL_S="3",
        SERVING_POLL_INTERVAL_S="1",
        SERVING_OVERFLOW_QUEUE_DEPTH=str(OVERFLOW_DEPTH),
        # A new pod's caches: empty. The replica compiles, then seeds the shared compile cache.
        VLLM_CACHE_ROOT=str(tmp / "vllm"),
        SERVING_COMPILE_CACHE_URL=(tmp / "compile-cache").as_uri(),
    )
    log = tmp / "supervisor.log"
    with started(supervisor_cmd(), env, log) as proc:
        health_url = f"http://127.0.0.1:{health_port}"
        samples = observe_startup(health_url, proc, timeout_s=900)
        yield Server(proc, f"http://127.0.0.1:{api_port}", health_url, samples, log, env["SERVING_COMPILE_CACHE_URL"])


def test_probes_fail_while_loading_and_pass_once_served(server: Server) -> None:
    first_t, first_startup, first_ready = server.startup_samples[0]
    assert (first_startup, first_ready) == (503, 503), server.startup_samples[:3]
    # The model really was loading while those 503s were served (not just a slow first poll).
    loading = [s for s in server.startup_samples if s[2] == 503]
    assert loading[-1][0] - first_t > 5, "expected several seconds of 503 while vLLM loads"
    # Once ready, start-up is done for good.
    assert httpx.get(f"{server.health_url}/startupz").status_code == 200
    r = httpx.get(f"{server.health_url}/readyz")
    assert r.status_code == 200 and r.json()["ok"] is True


def test_status_reports_phase_model_and_load(server: Server) -> None:
    r = httpx.get(f"{server.health_url}/livez")
    assert r.status_code == 200
    status = httpx.get(f"{server.health_url}/status").json()
    assert status["phase"] == "ready"
    assert status["model"] == SERVED_NAME
    assert status["uptime_s"] > 0
    assert status["in_flight"] == {"running": 0.0, "waiting": 0.0}
    assert status["restarts"] == 0


def test_openai_client_completes_and_streams(server: Server) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{server.api_url}/v1", api_key=API_KEY, max_retries=0, timeout=120)
    done = client.completions.create(model=SERVED_NAME, prompt="hello world", max_tokens=8)
    assert done.choices[0].text.strip()
    assert done.usage is not None and done.usage.completion_tokens == 8

    chunks = list(
        client.chat.completions.create(
            model=SERVED_NAME,
            messages=[{"role": "user", "content": "hello"}],
            max_tokens=8,
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 2 and text.strip()
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"

    # The key from SERVING_API_KEY_FILE is enforced, so the health checks passing above prove
    # the supervisor authenticates its own canary/model-list calls.
    bad = openai.OpenAI(base_url=f"{server.api_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.completions.create(model=SERVED_NAME, prompt="hello", max_tokens=1)


def test_every_inference_path_needs_the_key(server: Server) -> None:
    # vLLM's own key check leaves /invocations (the same completions as /v1) and /tokenize open; the image's
    # middleware (serving/api_guard.py, loaded by vLLM through --middleware) closes them.
    body = {"model": SERVED_NAME, "prompt": "hello", "max_tokens": 1}
    assert httpx.post(f"{server.api_url}/invocations", json=body, timeout=60).status_code == 401
    assert httpx.post(f"{server.api_url}/tokenize", json={"model": SERVED_NAME, "prompt": "hi"}).status_code == 401
    keyed = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.post(f"{server.api_url}/invocations", json=body, headers=keyed, timeout=60).status_code == 200
    # Scrapers and health checks need no key.
    assert httpx.get(f"{server.api_url}/metrics").status_code == 200
    assert httpx.get(f"{server.api_url}/health").status_code == 200


def test_canary_runs_and_reports_latency(server: Server) -> None:
    deadline = time.monotonic() + 30
    latency = None
    while time.monotonic() < deadline and latency is None:
        latency = httpx.get(f"{server.health_url}/status").json()["last_canary_latency_s"]
        time.sleep(0.5)
    assert latency is not None and 0 < latency < 10


def _waiting(api_url: str) -> float:
    return parse_engine_load(httpx.get(f"{api_url}/metrics", timeout=30).text).waiting


def test_overflow_refuses_only_marked_requests_while_the_queue_is_deep(server: Server) -> None:
    """Saturate the engine with unmarked long requests: the gateway's (marked) ones get 429, the rest all finish."""
    keyed = {"Authorization": f"Bearer {API_KEY}"}
    marked = {**keyed, OVERFLOW_HEADER: "1"}
    body = {"model": SERVED_NAME, "prompt": "hello", "max_tokens": 8}
    chat = {"model": SERVED_NAME, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8, "stream": True}
    # Rollout-worker traffic (no header): long requests on MAX_NUM_SEQS slots, in its own process (serving_testkit).
    load = subprocess.Popen(
        [sys.executable, serving_testkit.__file__, server.api_url, API_KEY, str(LONG_REQUESTS), str(LONG_TOKENS)],
        stdout=subprocess.PIPE, text=True,
    )
    # One pooled client, connected before the load starts: a client per request costs CPU a saturated box lacks.
    client = httpx.Client(base_url=server.api_url, timeout=600, trust_env=False)
    client.get("/health")
    try:
        deadline = time.monotonic() + 180
        while (waiting_before := _waiting(server.api_url)) <= OVERFLOW_DEPTH + 4:
            assert load.poll() is None, f"the load client exited with {load.returncode} before the queue filled"
            assert time.monotonic() < deadline, f"queue never passed {OVERFLOW_DEPTH + 4} (last {waiting_before})"
            time.sleep(0.2)

        def post(path: str, payload: dict, headers: dict[str, str]) -> httpx.Response:
            return client.post(path, json=payload, headers=headers)

        with ThreadPoolExecutor(max_workers=16) as pool:
            refused = [pool.submit(post, "/v1/completions", body, marked) for _ in range(6)]
            refused += [pool.submit(post, "/v1/chat/completions", chat, marked) for _ in range(2)]
            # Unmarked short requests join the queue at the same moment and must be served.
            unmarked = [pool.submit(post, "/v1/completions", body, keyed) for _ in range(4)]
            not_inference = post("/tokenize", {"model": SERVED_NAME, "prompt": "hello"}, marked)
            no_key = post("/v1/completions", body, {OVERFLOW_HEADER: "1"})
            answers = [f.result() for f in refused]
            waiting_after = _waiting(server.api_url)
            served = [f.result() for f in unmarked]
        out, _ = load.communicate(timeout=600)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(30)
        client.close()
    load_failures = json.loads(out.strip().splitlines()[-1])
    deadline = time.monotonic() + 60
    while _waiting(server.api_url) > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    # The queue empty again: the gateway's requests are served here.
    after = httpx.post(f"{server.api_url}/v1/completions", json=body, headers=marked, timeout=120)
    metrics = httpx.get(f"{server.api_url}/metrics", timeout=30).text
    refused_total = [s.value for f in text_string_to_metric_families(metrics)
                     if f.name == "llm_fleet_overflow_refused" for s in f.samples if s.name.endswith("_total")]

    statuses = [a.status_code for a in answers]
    REPORT["overflow"] = (
        f"overflow (depth {OVERFLOW_DEPTH}, {MAX_NUM_SEQS} slots): {statuses.count(429)} of {len(answers)} marked "
        f"requests refused with 429 at {waiting_before:.0f}..{waiting_after:.0f} waiting; unmarked "
        f"{LONG_REQUESTS - len(load_failures)} of {LONG_REQUESTS} long + "
        f"{sum(r.status_code == 200 for r in served)} of 4 short completed; "
        f"marked request once the queue emptied: {after.status_code}; refusals counted: {refused_total}"
    )
    print("\n" + REPORT["overflow"])
    report = REPORT["overflow"]
    assert waiting_after > OVERFLOW_DEPTH, f"the queue drained before the marked requests were judged: {report}"
    assert statuses == [429] * len(answers), report
    assert all(a.headers["retry-after"] == "1" and a.json()["error"]["code"] == 429 for a in answers)
    assert refused_total == [len(answers)], report
    # Never refused: requests without the header, paths that queue nothing; the key check comes before the overflow.
    assert load_failures == [], load_failures
    assert [r.status_code for r in served] == [200] * 4, [r.text[:200] for r in served]
    assert (not_inference.status_code, no_key.status_code) == (200, 401)
    assert after.status_code == 200, after.text[:200]
def test_a_second_replica_starts_from_the_compile_cache_the_first_published(
    server: Server, tiny_model: Path, tmp_path: Path
) -> None:
    """The first replica publishes once served; a second one, with empty local caches, fetches it before vLLM starts
    and its engine builds no kernel: every compiled kernel in its cache came from the store."""
    deadline = time.monotonic() + 300
    first: dict[str, object] = {}
    while time.monotonic() < deadline and not first.get("publish"):
        first = httpx.get(f"{server.health_url}/status").json()["compile_cache"]
        time.sleep(1)
    assert first["fetch"] == "miss" and first["publish"] == "published", first
    api_port, health_port = free_port(), free_port()
    env = supervised_env(tiny_model, api_port, health_port, SERVING_POLL_INTERVAL_S="1",
                         VLLM_CACHE_ROOT=str(tmp_path / "vllm"), SERVING_COMPILE_CACHE_URL=server.compile_cache_url)
    log = tmp_path / "second.log"
    started_at = time.time()
    with started(supervisor_cmd(), env, log) as proc:
        health_url = f"http://127.0.0.1:{health_port}"
        t0 = time.monotonic()
        observe_startup(health_url, proc, timeout_s=900)
        ready_s = time.monotonic() - t0
        second = httpx.get(f"{health_url}/status").json()["compile_cache"]
    assert second["fetch"] == "hit" and second["key"] == first["key"], second
    kernels = list((tmp_path / "vllm").rglob("*.so"))
    assert kernels, "the fetched cache holds no compiled kernel"
    rebuilt = [k.name for k in kernels if k.stat().st_mtime >= started_at]
    assert rebuilt == [], f"the second engine compiled kernels again: {rebuilt}"
    text = log.read_text(errors="replace")
    # On the CPU build the supervisor turns vLLM's AOT artifact off (serving/compile_cache.py engine_env): Dynamo
    # traces again and Inductor's FX graph cache supplies the compiled graph. Where an AOT artifact loads (GPU), vLLM
    # logs "Directly load AOT compilation".
    how = "AOT artifact loaded" if "Directly load AOT compilation" in text else "traced again, graphs from cache"
    REPORT["compile cache"] = (f"compile cache: 2nd replica ready after {ready_s:.0f}s with the 1st's cache "
                               f"({second['fetched_bytes']} B fetched in {second['fetch_s']}s; {how})")


def test_drain_loses_no_in_flight_request(server: Server) -> None:
    """SIGTERM with >= 16 requests in flight: all finish, unready at once, exit 0 in time."""
    proc = server.proc
    ready_after_signal: list[int] = []
    stop_watch = threading.Event()
    signalled = threading.Event()

    def watch_readiness() -> None:
        # From the signal on, every /readyz answer must be a refusal (or no answer at all once
        # the process is gone).
        with httpx.Client(timeout=2, trust_env=False) as c:
            signalled.wait(120)
            while not stop_watch.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    ready_after_signal.append(c.get(f"{server.health_url}/readyz").status_code)
                time.sleep(0.1)

    watcher = threading.Thread(target=watch_readiness, daemon=True)
    watcher.start()

    def sigterm() -> None:
        proc.send_signal(signal.SIGTERM)  # the supervisor only, as the kubelet would
        signalled.set()

    result = drain_scenario(
        server.api_url, sigterm, lambda: proc.wait(timeout=DRAIN_TIMEOUT_S + 60), api_key=API_KEY
    )
    rc, elapsed = result.returncode, result.stopped_after_s
    stop_watch.set()
    watcher.join(10)

    REPORT["drain 2 supervised"] = (
        f"supervised: {result.lost} of {result.requests} lost "
        f"({result.in_flight_at_signal:.0f} in flight at SIGTERM; exit {rc} after {elapsed:.1f}s)"
    )
    assert result.in_flight_at_signal >= 16, f"need >= 16 in flight; (t, gauges, /load): {result.samples}"
    assert result.failures == [], result.failures
    assert rc == 0
    log = server.log.read_text(errors="replace")
    # The drain ends because the work finished (its own log line), not by timeout; the exit then
    # also waits for vLLM's stop, so the elapsed time alone can pass DRAIN_TIMEOUT_S on a loaded box.
    assert "drain: no requests in flight" in log
    assert "drain timeout" not in log
    assert elapsed < DRAIN_TIMEOUT_S + STOP_TIMEOUT_S
    assert ready_after_signal, "readiness was never observed after the signal"
    assert 200 not in ready_after_signal, ready_after_signal
