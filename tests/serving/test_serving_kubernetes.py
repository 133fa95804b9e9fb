"""serving.kubernetes: the probe/drain contract the Pulumi workload code imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.kubernetes import (
    STARTUP_SAFETY_FACTOR,
    TERMINATION_MARGIN_S,
    pod_lifecycle,
    startup_budget_seconds,
)
from serving.settings import Settings


def test_startup_budget_grows_with_the_weights() -> None:
    small, big = pod_lifecycle(weights_gb=16), pod_lifecycle(weights_gb=140)
    # (300 s init + 16 GB / 0.2 GB/s) * 1.5 and (300 + 700) * 1.5
    assert small.startup_budget_seconds == 570
    assert big.startup_budget_seconds == 1500
    for lc in (small, big):
        probe = lc.startup_probe
        assert probe.window_seconds >= lc.startup_budget_seconds
        assert probe.window_seconds - lc.startup_budget_seconds < probe.period_seconds


def test_startup_budget_assumptions_are_parameters() -> None:
    fast_disk = startup_budget_seconds(140, load_rate_gb_per_s=2.0, engine_init_s=120)
    assert fast_disk == round((120 + 70) * STARTUP_SAFETY_FACTOR)


def test_a_given_startup_budget_replaces_the_formula() -> None:
    # The Pulumi program passes its time-to-serve breakdown's figure (infra/time_to_serve.py).
    lc = pod_lifecycle(weights_gb=16, startup_budget_s=297)
    assert lc.startup_budget_seconds == 297
    assert lc.startup_probe.failure_threshold == 30 and lc.startup_probe.window_seconds == 300
    with pytest.raises(ValueError, match="startup_budget_s must be >= 10"):
        pod_lifecycle(weights_gb=16, startup_budget_s=5)


def test_long_load_cannot_trip_liveness() -> None:
    lc = pod_lifecycle(weights_gb=140)
    # Kubernetes runs liveness only after the startup probe succeeded; the startup window is
    # what a slow load gets, and it is far longer than liveness would ever allow.
    assert lc.startup_probe.window_seconds > 10 * lc.liveness_probe.window_seconds
    assert {lc.startup_probe.path, lc.readiness_probe.path, lc.liveness_probe.path} == {
        "/startupz",
        "/readyz",
        "/livez",
    }
    assert {p.port for p in (lc.startup_probe, lc.readiness_probe, lc.liveness_probe)} == {lc.health_port}
    for p in (lc.startup_probe, lc.readiness_probe, lc.liveness_probe):
        assert p.timeout_seconds < p.period_seconds


@pytest.mark.parametrize("pre_stop_sleep_s", [0, 10])
def test_grace_period_covers_prestop_drain_and_stop(pre_stop_sleep_s: int) -> None:
    lc = pod_lifecycle(
        weights_gb=16, drain_timeout_s=300, stop_timeout_s=20, pre_stop_sleep_s=pre_stop_sleep_s
    )
    assert lc.termination_grace_period_seconds >= pre_stop_sleep_s + 300 + 20 + TERMINATION_MARGIN_S
    assert lc.pre_stop == (["sleep", "10"] if pre_stop_sleep_s else None)


def test_env_configures_the_supervisor_consistently(monkeypatch: pytest.MonkeyPatch) -> None:
    lc = pod_lifecycle(weights_gb=16, drain_timeout_s=200, canary_interval_s=20, canary_failures=4)
    for key, value in lc.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SERVING_MODEL", "/models/llama")
    s = Settings()  # type: ignore[call-arg]  # the env the pod gets must validate
    assert (s.api_port, s.health_port) == (lc.api_port, lc.health_port)
    assert s.drain_timeout_s == lc.drain_timeout_seconds == 200
    assert s.canary_interval_s == 20 and s.canary_failures == 4
    # Grace covers the supervisor's own worst case: drain timeout then vLLM's stop timeout.
    assert lc.termination_grace_period_seconds >= s.drain_timeout_s + s.stop_timeout_s
    # The kubelet restarts a wedged pod only after /livez has failed long enough.
    assert s.wedge_window_s < lc.startup_budget_seconds


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights_gb": 0},
        {"weights_gb": 16, "drain_timeout_s": 0},
        {"weights_gb": 16, "drain_grace_s": 200, "drain_timeout_s": 100},
        {"weights_gb": 16, "api_port": 8081, "health_port": 8081},
        {"weights_gb": 16, "canary_failures": 0},
    ],
)
def test_rejects_impossible_inputs(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        pod_lifecycle(**kwargs)  # type: ignore[arg-type]


def test_import_is_light() -> None:
    # The Pulumi program imports this module; it must not drag in the serving runtime.
    code = (
        "import sys, serving, serving.kubernetes; "
        "heavy = {'fastapi', 'uvicorn', 'httpx', 'vllm', 'torch', 'prometheus_client'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_supervisor_defaults_match_the_default_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    # An image run without the pod's env (e.g. `docker run`) behaves like the default pod.
    for key in pod_lifecycle(weights_gb=1).env:
        monkeypatch.delenv(key, raising=False)
    defaults = Settings(model="m")
    for key, value in pod_lifecycle(weights_gb=1).env.items():
        field = key.removeprefix("SERVING_").lower()
        assert float(getattr(defaults, field)) == float(value), key
