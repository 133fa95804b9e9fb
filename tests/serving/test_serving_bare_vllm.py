"""The drain scenario against bare vLLM with its default shutdown behaviour, for comparison.

Nothing of ours runs here: this measures what the supervisor protects against. The count is
printed next to the supervised one at the end of the run (conftest's terminal summary).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from serving_testkit import (
    REPORT,
    bare_vllm_cmd,
    drain_scenario,
    engine_env,
    free_port,
    started,
    wait_http_ok,
)

pytestmark = pytest.mark.vllm

GRACE_S = 30  # Kubernetes' default terminationGracePeriodSeconds


def test_bare_vllm_sigterm_with_requests_in_flight(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_port()
    log = tmp_path_factory.mktemp("bare") / "vllm.log"
    with started(bare_vllm_cmd(tiny_model, port), engine_env(), log) as proc:
        api_url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{api_url}/v1/models", timeout_s=420, proc=proc)

        def kubelet_wait() -> int:
            # vLLM can hang in its HTTP shutdown while clients of aborted requests stay
            # connected; the kubelet SIGKILLs it when Kubernetes' default 30 s grace is over.
            try:
                return proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(timeout=60)

        result = drain_scenario(api_url, lambda: proc.send_signal(signal.SIGTERM), kubelet_wait)
    killed = " (SIGKILLed at the end of the grace period)" if result.returncode == -9 else ""
    REPORT["drain 1 bare"] = (
        f"bare vLLM (defaults): {result.lost} of {result.requests} lost "
        f"({result.in_flight_at_signal:.0f} in flight at SIGTERM; exit {result.returncode} after "
        f"{result.stopped_after_s:.1f}s{killed})"
    )
    # The comparison is only meaningful if the same load was in flight when the signal came.
    assert result.in_flight_at_signal >= 16, f"(t, gauges, /load): {result.samples}"
