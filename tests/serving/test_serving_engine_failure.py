"""Engine failures against a real vLLM CPU engine: a wedged engine and a dead one.

One supervised server with fast canary timings. First the engine-core process is frozen
(SIGSTOP): vLLM's own /health still says 200, so only the canary can notice. Then it is killed:
/livez must fail within the configured window and the supervisor must exit non-zero, even
though vLLM itself may exit 0.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving_testkit import (
    REPORT,
    engine_core,
    free_port,
    observe_startup,
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
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        assert rc == 0
    log = (tmp_path / "supervisor.log").read_text(errors="replace")
    assert "vLLM stopped after drain" in log
    assert "drain timeout" not in log


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
