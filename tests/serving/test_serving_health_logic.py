"""The pure parts of health: phase machine, exit codes, metric parsing, probe decisions.

The health endpoints answer from `HealthState`; these tests drive that state the way the
monitor and supervisor do and check what a kubelet would see through the real FastAPI app.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from serving.health import HealthState, create_app, liveness, readiness
from serving.phase import InvalidTransition, Phase, PhaseMachine, exit_code
from serving.supervisor import count_start
from serving.vllm_metrics import EngineLoad, parse_engine_load

# Shape of vLLM 0.32's /metrics (names, labels, HELP/TYPE lines), two engines for the sums.
METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny-llama"} 3.0
vllm:num_requests_running{engine="1",model_name="tiny-llama"} 1.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny-llama"} 5.0
vllm:num_requests_waiting{engine="1",model_name="tiny-llama"} 0.0
# HELP vllm:num_requests_waiting_by_reason Number of waiting requests by reason.
# TYPE vllm:num_requests_waiting_by_reason gauge
vllm:num_requests_waiting_by_reason{engine="0",model_name="tiny-llama",reason="capacity"} 5.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="tiny-llama"} 120.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="tiny-llama"} 880.0
vllm:generation_tokens_created{engine="0",model_name="tiny-llama"} 1.7e9
"""


def test_metrics_sum_over_engines_and_ignore_other_series() -> None:
    load = parse_engine_load(METRICS)
    assert load == EngineLoad(running=4.0, waiting=5.0, tokens_processed=1000.0)
    assert load.in_flight == 9.0


def test_metrics_without_the_gauges_are_not_idle() -> None:
    with pytest.raises(ValueError, match="num_requests_running"):
        parse_engine_load("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.0\n")


def test_phase_machine_allows_only_forward_moves() -> None:
    m = PhaseMachine()
    assert m.phase is Phase.STARTING
    m.to(Phase.READY)
    m.to(Phase.DRAINING)
    m.to(Phase.STOPPED)
    assert m.terminal
    with pytest.raises(InvalidTransition):
        m.to(Phase.READY)
    failed = PhaseMachine()
    failed.to(Phase.FAILED)
    with pytest.raises(InvalidTransition):
        failed.to(Phase.STOPPED)  # a crash must never be reported as a clean stop
    drain = PhaseMachine()
    drain.to(Phase.DRAINING)  # SIGTERM during model load
    with pytest.raises(InvalidTransition):
        drain.to(Phase.READY)


@pytest.mark.parametrize(
    ("phase", "returncode", "expected"),
    [
        (Phase.STOPPED, 0, 0),
        (Phase.STOPPED, -15, 0),
        (Phase.FAILED, 0, 1),  # vLLM exited 0 after an engine crash: still a failure
        (Phase.FAILED, 3, 3),
        (Phase.FAILED, -9, 137),
        (Phase.FAILED, None, 1),
    ],
)
def test_exit_code(phase: Phase, returncode: int | None, expected: int) -> None:
    assert exit_code(phase, returncode) == expected


def served_state(**kw: object) -> HealthState:
    s = HealthState(model="m", canary_failures_allowed=3, stale_after_s=10, warmup_required=True)
    s.vllm_health_status, s.model_listed, s.warmed_up, s.observed_at = 200, True, True, 100.0
    s.startup_complete = True
    s.phase.to(Phase.READY)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_ready_needs_health_model_warmup_and_fresh_observations() -> None:
    assert readiness(served_state(), now=101) == (True, "ok")
    assert readiness(served_state(model_listed=False), now=101)[1] == "model 'm' not listed by /v1/models"
    assert not readiness(served_state(warmed_up=False), now=101)[0]
    assert not readiness(served_state(vllm_health_status=None), now=101)[0]
    assert readiness(served_state(), now=200)[1] == "no recent answer from vllm /health"


def test_draining_is_unready_but_alive() -> None:
    s = served_state()
    s.phase.to(Phase.DRAINING)
    assert readiness(s, now=101) == (False, "draining")
    assert liveness(s, now=101)[0]


def test_liveness_fails_on_hard_evidence_only() -> None:
    assert liveness(served_state())[0]
    assert liveness(served_state(canary_failures_in_a_row=2))[0]  # below the threshold
    assert "wedged" in liveness(served_state(canary_failures_in_a_row=3))[1]
    assert "engine dead" in liveness(served_state(vllm_health_status=503))[1]
    assert "not running" in liveness(served_state(process_alive=lambda: False))[1]
    # Before start-up completes, unanswered /health polls are just a model still loading.
    loading = HealthState(model="m", canary_failures_allowed=3, stale_after_s=10, warmup_required=False)
    loading.health_errors_in_a_row = 50
    assert liveness(loading)[0]


def test_endpoints_serve_the_decisions() -> None:
    state = HealthState(model="m", canary_failures_allowed=2, stale_after_s=10, warmup_required=False)
    app = create_app(state)

    async def codes() -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://health") as c:
            return {p: (await c.get(p)).status_code for p in ("/startupz", "/readyz", "/livez", "/status")}

    assert asyncio.run(codes()) == {"/startupz": 503, "/readyz": 503, "/livez": 200, "/status": 200}
    state.vllm_health_status, state.model_listed, state.startup_complete = 200, True, True
    state.observed_at = time.monotonic()
    state.phase.to(Phase.READY)
    assert asyncio.run(codes()) == {"/startupz": 200, "/readyz": 200, "/livez": 200, "/status": 200}
    state.canary_failures_in_a_row = 2
    assert asyncio.run(codes()) == {"/startupz": 200, "/readyz": 503, "/livez": 503, "/status": 200}


def test_metrics_endpoint_exposes_the_supervisors_state() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    state = served_state(restarts=2, last_canary_latency_s=0.25, canary_failures_in_a_row=1)
    state.observed_at = time.monotonic()

    async def scrape() -> str:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://health") as c:
            return (await c.get("/metrics")).text

    samples = {(s.name, s.labels.get("phase")): s.value
               for f in text_string_to_metric_families(asyncio.run(scrape())) for s in f.samples}
    assert samples[("llm_fleet_serving_phase", "ready")] == 1
    assert samples[("llm_fleet_serving_phase", "draining")] == 0
    assert samples[("llm_fleet_serving_ready", None)] == 1
    assert samples[("llm_fleet_serving_restarts_total", None)] == 2
    assert samples[("llm_fleet_serving_canary_latency_seconds", None)] == 0.25
    state.phase.to(Phase.DRAINING)
    samples = {(s.name, s.labels.get("phase")): s.value
               for f in text_string_to_metric_families(asyncio.run(scrape())) for s in f.samples}
    assert samples[("llm_fleet_serving_ready", None)] == 0  # unready from the first instant of a drain
    assert samples[("llm_fleet_serving_phase", "draining")] == 1


def test_restarts_are_counted_across_starts(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    assert [count_start(state_dir) for _ in range(3)] == [0, 1, 2]
    assert count_start(None) == 0
