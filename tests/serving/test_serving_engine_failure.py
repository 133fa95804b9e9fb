"""Engine failures against a real vLLM CPU engine: a wedged engine and a dead one.

Also SIGTERM during start-up, each on a server of its own: while the model loads (nothing to
drain) and in the API's first second of serving (a burst to drain).

One supervised server with fast canary timings. First the engine-core process is frozen
(SIGSTOP): vLLM's own /health still says 200, so only the canary can notice. Then it is killed:
/livez must fail within the configured window and the supervisor must exit non-zero, even
though vLLM itself may exit 0.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving_testkit import (
    REPORT,
    burst_result,
    engine_core,
    free_port,
    observe_startup,
    read_burst_start,
    start_burst_at_first_answer,
    started,
    supervised_env,
    supervisor_cmd,
)

from serving.settings import Settings

pytestmark = pytest.mark.vllm

TIMINGS = {
    "SERVING_CANARY_INTERVAL_S": "2",
    "SERVING_CANARY_TIMEOUT_S": "3",
    "SERVING_CANARY_FAILURES": "2",
    "SERVING_POLL_INTERVAL_S": "1",
    "SERVING_CHECK_TIMEOUT_S": "2",
}
# The detection windows the supervisor promises for these timings (see serving.settings).
CONFIGURED = Settings(model="m", **{k.removeprefix("SERVING_").lower(): v for k, v in TIMINGS.items()})
# Scheduling noise on a loaded 2-core machine; small next to the windows themselves.
SLACK_S = 3.0


@pytest.fixture(scope="module")
def supervised(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    tmp = tmp_path_factory.mktemp("failure")
    api_port, health_port = free_port(), free_port()
    env = supervised_env(tiny_model, api_port, health_port, **TIMINGS)
    with started(supervisor_cmd(), env, tmp / "supervisor.log") as proc:
        health_url = f"http://127.0.0.1:{health_port}"
        observe_startup(health_url, proc, timeout_s=420)
        yield proc, health_url


def test_sigterm_during_model_load_stops_cleanly(tiny_model: Path, tmp_path: Path) -> None:
    """A pod deleted while its model loads: no drain to wait for, vLLM stopped, exit 0."""
    api_port, health_port = free_port(), free_port()
    env = supervised_env(tiny_model, api_port, health_port, SERVING_DRAIN_TIMEOUT_S="120")
    with started(supervisor_cmd(), env, tmp_path / "supervisor.log") as proc:
        health_url = f"http://127.0.0.1:{health_port}"
        seconds_until(lambda: _status(f"{health_url}/startupz") == 503, 60)
        # Signal while the engine itself is being built (its process exists), not before.
        seconds_until(lambda: _has_engine_core(proc.pid), 180)
        assert _status(f"{health_url}/readyz") == 503
        # vLLM truly cannot take a request yet: its API port refuses connections.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", api_port), timeout=2).close()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        assert rc == 0
    log = (tmp_path / "supervisor.log").read_text(errors="replace")
    assert "vLLM stopped after drain" in log
    assert "API is not listening yet" in log  # stopped at once, as vLLM's port showed
    assert "drain timeout" not in log


BURST_REQUESTS = 128  # the measured case of issue 10, finding 22
BURST_MAX_TOKENS = 32  # 32 waves of MAX_NUM_SEQS=4: ~1000 decode steps, well inside the drain timeout
BURST_DRAIN_TIMEOUT_S = 180
SIGNAL_AFTER_API_S = 0.5


def test_sigterm_in_the_first_second_of_serving_drains_the_burst(tiny_model: Path, tmp_path: Path) -> None:
    """vLLM's API answers before the supervisor has seen it do so: the drain must still wait.

    A client fires 128 requests the moment /v1/models first answers; SIGTERM follows 0.5 s
    later. Whatever the supervisor believes about start-up (a warm-up prompt makes that belief
    lag for certain: its completion queues behind the burst), every request must finish and the
    exit code must be the drained-on-request one (0). Its own server: the signal has to land in
    that server's first second of serving, which no already-started shared server can offer.
    """
    api_port, health_port = free_port(), free_port()
    env = supervised_env(
        tiny_model,
        api_port,
        health_port,
        SERVING_WARMUP_PROMPT="hello world",
        SERVING_DRAIN_TIMEOUT_S=str(BURST_DRAIN_TIMEOUT_S),
    )
    api_url = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "supervisor.log"
    burst = start_burst_at_first_answer(api_url, "none", BURST_REQUESTS, BURST_MAX_TOKENS)
    try:
        with started(supervisor_cmd(), env, log) as proc:
            answered_at = read_burst_start(burst)
            time.sleep(max(0.0, answered_at + SIGNAL_AFTER_API_S - time.monotonic()))
            signalled_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)  # the supervisor only, as the kubelet would
            rc = proc.wait(timeout=BURST_DRAIN_TIMEOUT_S + 60)
            stopped_after = time.monotonic() - signalled_at
        result = burst_result(burst, BURST_REQUESTS, answered_at)
    finally:
        if burst.poll() is None:
            burst.kill()
            burst.wait(30)
    in_flight = sum(1 for t in result.finished_at if t > signalled_at) + result.lost
    REPORT["drain 3 first second"] = (
        f"supervised, SIGTERM {signalled_at - answered_at:.2f}s after the API first answered: "
        f"{result.lost} of {result.requests} lost ({in_flight} unfinished at SIGTERM; exit {rc} "
        f"after {stopped_after:.1f}s)"
    )
    assert signalled_at - answered_at < 1.0, "the signal must land in the API's first second"
    assert in_flight >= BURST_REQUESTS // 2, "the burst must still be in flight when the signal lands"
    assert result.failures == [], result.failures[:5]
    assert rc == 0
    text = log.read_text(errors="replace")
    assert "drain: no requests in flight" in text, "the drain must end because the work finished"


def _has_engine_core(pid: int) -> bool:
    try:
        engine_core(pid)
    except LookupError:
        return False
    return True


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code
    except httpx.HTTPError:
        return None


def livez(health_url: str) -> int | None:
    """/livez status, or None when nothing answers (the container is gone: equally a failure)."""
    return _status(f"{health_url}/livez")


def seconds_until(predicate: object, limit_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.2)
    raise TimeoutError(f"condition not met within {limit_s:.1f}s")


def test_wedged_engine_fails_liveness_within_the_canary_window(supervised: tuple[object, str]) -> None:
    proc, health_url = supervised
    assert livez(health_url) == 200
    core = engine_core(proc.pid)  # type: ignore[attr-defined]
    core.send_signal(signal.SIGSTOP)
    try:
        took = seconds_until(lambda: livez(health_url) == 503, CONFIGURED.wedge_window_s + SLACK_S)
        body = httpx.get(f"{health_url}/livez", timeout=2).json()
        assert "wedged" in body["reason"]
        assert httpx.get(f"{health_url}/readyz", timeout=2).status_code == 503
    finally:
        core.send_signal(signal.SIGCONT)
    REPORT["failure 1 wedge"] = (
        f"wedged engine (SIGSTOP): /livez failed after {took:.1f}s (window {CONFIGURED.wedge_window_s:.0f}s)"
    )
    # A thawed engine answers the next canary; liveness recovers by itself.
    seconds_until(lambda: livez(health_url) == 200, CONFIGURED.wedge_window_s + 30)


def test_engine_death_fails_liveness_and_exits_non_zero(supervised: tuple[object, str]) -> None:
    proc, health_url = supervised
    assert livez(health_url) == 200
    engine_core(proc.pid).kill()  # type: ignore[attr-defined]
    took = seconds_until(lambda: livez(health_url) != 200, CONFIGURED.engine_death_window_s + SLACK_S)
    REPORT["failure 2 death"] = (
        f"dead engine (SIGKILL): /livez failed after {took:.1f}s "
        f"(window {CONFIGURED.engine_death_window_s:.0f}s)"
    )
    try:
        rc = proc.wait(timeout=120)  # type: ignore[attr-defined]
    except subprocess.TimeoutExpired:
        with contextlib.suppress(Exception):
            proc.kill()  # type: ignore[attr-defined]
        pytest.fail("supervisor did not exit after the engine died")
    assert rc != 0
