"""LoRA settings, the vLLM flags they turn on, and what /readyz, /status and /metrics say about the adapter.

The engine side (loads, unloads, failures) is in test_serving_lora.py against the real vLLM.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from serving.adapter_status import AdapterStatus
from serving.health import HealthCollector, HealthState, readiness, status
from serving.phase import Phase
from serving.settings import Settings, describe_error
from serving.vllm_command import build_vllm_command, build_vllm_env


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in {"SERVING_MODEL": "meta-llama/Llama-3.1-8B-Instruct", **env}.items():
        monkeypatch.setenv(key, value)
    return Settings()  # type: ignore[call-arg]


@pytest.mark.parametrize("root", ["s3://ckpt/runs/policy", "gs://ckpt/runs/policy", "file:///mnt/adapters"])
def test_an_adapter_root_turns_on_lora_with_the_limits_and_the_runtime_api(monkeypatch: pytest.MonkeyPatch,
                                                                           root: str) -> None:
    s = settings(monkeypatch, SERVING_ADAPTER_ROOT=root, SERVING_MAX_LORA_RANK="64",
                 SERVING_MAX_LORAS="3")
    cmd = build_vllm_command(s, python="python")
    assert "--enable-lora" in cmd
    assert cmd[cmd.index("--max-lora-rank") + 1] == "64"
    assert cmd[cmd.index("--max-loras") + 1] == "3"
    assert cmd[cmd.index("--max-cpu-loras") + 1] == "4"  # the versions plus the `policy` alias
    assert build_vllm_env(s, {})["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert s.adapter_name == "policy" and s.adapter_poll_s == 10


def test_without_an_adapter_root_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch)
    assert not {"--enable-lora", "--max-loras"} & set(build_vllm_command(s, python="python"))
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in build_vllm_env(s, {})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SERVING_ADAPTER_ROOT": "http://b/p"},
         "SERVING_ADAPTER_ROOT: must be file:///absolute/path, s3://bucket/prefix or gs://bucket/prefix"),
        ({"SERVING_MAX_LORAS": "1"}, "SERVING_MAX_LORAS: Input should be greater than or equal to 2"),
        ({"SERVING_ADAPTER_NAME": "policy@3"}, "SERVING_ADAPTER_NAME: String should match pattern"),
    ],
)
def test_bad_adapter_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                expected: str) -> None:
    with pytest.raises(ValidationError) as err:
        settings(monkeypatch, **env)
    assert expected in describe_error(err.value)


def serving_state(adapter: AdapterStatus) -> HealthState:
    import time

    s = HealthState(model="m", canary_failures_allowed=3, stale_after_s=10, warmup_required=False, adapter=adapter)
    s.phase.to(Phase.READY)
    s.vllm_health_status, s.model_listed, s.observed_at = 200, True, time.monotonic()
    return s


def test_ready_only_once_the_published_version_is_served() -> None:
    a = AdapterStatus(root="file:///store", name="policy")
    state = serving_state(a)
    assert readiness(state) == (False, "adapter store not read yet (first read pending)")
    a.pointer_read, a.pointer_step = True, 7
    a.last_error = "rank 128 is above SERVING_MAX_LORA_RANK=64; raise the limit"
    ok, why = readiness(state)
    assert not ok and why.startswith("adapter 'policy' (step 7) not loaded yet: rank 128 is above")
    a.step, a.published_at = 7, datetime.now(UTC)
    assert readiness(state) == (True, "ok")
    # Nothing published yet: the base model serves, the replica is ready.
    assert readiness(serving_state(AdapterStatus(root="file:///s", name="policy", pointer_read=True)))[0]


def test_status_and_metrics_show_version_age_load_time_and_failures() -> None:
    a = AdapterStatus(root="s3://ckpt/p", name="policy", pointer_read=True, pointer_step=9, step=8,
                      published_at=datetime.now(UTC) - timedelta(seconds=90), resident=[7, 8], loads=2,
                      load_failures=1, last_load_s=0.06, last_fetch_s=0.01, last_error="sha256 mismatch",
                      last_error_step=9)
    state = serving_state(a)
    shown = status(state)["adapter"]
    assert shown["served_as"] == ["policy", "policy@8"] and shown["latest_step"] == 9
    assert 89 < shown["age_s"] < 100 and shown["last_error"] == "sha256 mismatch"

    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(state))
    text = generate_latest(registry).decode()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith("llm_")}
    assert values['llm_fleet_adapter_step{adapter="policy"}'] == 8
    assert values['llm_fleet_adapter_latest_step{adapter="policy"}'] == 9
    assert values['llm_fleet_adapter_failing{adapter="policy"}'] == 1
    assert values['llm_fleet_adapter_load_failures_total{adapter="policy"}'] == 1
    assert values['llm_fleet_adapter_load_seconds{adapter="policy"}'] == 0.06
    assert values['llm_fleet_adapter_resident{adapter="policy"}'] == 2
    assert 89 < values['llm_fleet_adapter_published_age_seconds{adapter="policy"}'] < 100
