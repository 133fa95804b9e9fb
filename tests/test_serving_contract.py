"""The serving contract whole: every model Deployment's env is read back by the image's own `Settings`.

The supervisor's settings ignore unknown variables (serving/settings.py: `extra="ignore"`), so a misspelt
`SERVING_*` name in the pod spec would silently fall back to a default inside the pod. These tests parse each
rendered Deployment's env exactly as the image does (pydantic-settings reading the process environment) and
compare every `SERVING_*` name with the fields `Settings` knows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from infra.plan import run_plan
from infra.workloads.vllm import MODEL_LABEL
from serving.kubernetes import model_env, overflow_env
from serving.settings import ENV_PREFIX, Settings
from tests.conftest import EXAMPLES, STACKS, with_mode

KNOWN = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def settings_from_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """`Settings` as the image builds it from exactly `env`; a SERVING_* name it has no field for is an error."""
    unknown = sorted(n for n in env if n.upper().startswith(ENV_PREFIX) and n not in KNOWN)
    if unknown:
        raise AssertionError(f"SERVING_* variables the image ignores (misspelt?): {unknown}")
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()  # type: ignore[call-arg]  # from the environment, like serving.settings.load_or_exit


def model_deployments(plan) -> dict[str, dict[str, Any]]:
    """Model name -> the rendered Deployment serving it."""
    return {o["metadata"]["labels"][MODEL_LABEL]: o for o in plan.manifests()
            if o["kind"] == "Deployment" and MODEL_LABEL in o["metadata"].get("labels", {})}


def plain_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's env with plain values; a variable naming a file in one of its volume mounts (the API key)
    points at a stand-in file instead, as the image reads it at start (which volume feeds that mount is the
    serving-apis-require-a-key guard's check)."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    mounts = [m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", [])]
    for name in ("SERVING_API_KEY_FILE",):
        if name in env:
            assert env[name].startswith(tuple(mounts)), f"{name}={env[name]} is in none of the mounts {mounts}"
            stand_in = Path(tempfile.mkdtemp()) / "file"
            stand_in.write_text("stand-in\n")
            env[name] = str(stand_in)
    return env


@pytest.mark.parametrize("stack", STACKS + EXAMPLES)
def test_every_model_deployment_env_parses_through_the_images_settings(plan_of, stack, monkeypatch):
    plan = plan_of(stack)
    cfg = plan.cfg
    assert cfg.serving.mode == "vllm"
    deployments = model_deployments(plan)
    assert sorted(deployments) == sorted(m.name for m in cfg.models)
    for model in cfg.models:
        spec = deployments[model.name]["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        settings = settings_from_env(plain_env(container), monkeypatch)
        # What vLLM loads and under which name the API lists it.
        assert settings.model == model.source.removeprefix("hf://")
        assert settings.served_name == model.name
        assert settings.tensor_parallel_size == model.tensor_parallel_size
        assert settings.max_model_len == model.max_model_len
        # The pinned revision is what promotion moves: vLLM must load exactly that commit.
        assert settings.extra_args == ["--revision", cfg.artifacts.model_revisions[model.name]]
        assert settings.drain_timeout_s == cfg.serving.drain_timeout_seconds
        # The ports the supervisor serves are the ones the Service and the probes use.
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert settings.api_port == ports["http"]
        assert settings.health_port == ports["health"] == container["livenessProbe"]["httpGet"]["port"]
        # The kubelet waits out the whole drain and stop before SIGKILL.
        assert spec["terminationGracePeriodSeconds"] > settings.drain_timeout_s + settings.stop_timeout_s


def test_a_bucket_model_streams_its_weights(make_stack, monkeypatch):
    def bucket(c: dict) -> None:
        c["models"][0]["source"] = "gs://acme-models/qwen2.5-7b"
        c["artifacts"]["modelRevisions"].pop(c["models"][0]["name"])

    root, name = make_stack("prod", bucket)
    plan = run_plan(name, root)
    model = plan.cfg.models[0]
    (container,) = model_deployments(plan)[model.name]["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(plain_env(container), monkeypatch)
    assert settings.model == "gs://acme-models/qwen2.5-7b"
    # vLLM's Run:ai streamer reads safetensors straight from the bucket (vllm/config/load.py, load_format).
    assert settings.extra_args == ["--load-format", "runai_streamer"]


def test_a_misspelt_serving_variable_fails(monkeypatch):
    env = model_env(model="Qwen/Qwen2.5-7B-Instruct", served_model_name="qwen-7b", tensor_parallel_size=2,
                    max_model_len=4096)
    assert settings_from_env(env, monkeypatch).max_model_len == 4096
    env["SERVING_MAX_MODEL_LENGTH"] = env.pop("SERVING_MAX_MODEL_LEN")
    with pytest.raises(AssertionError, match="SERVING_MAX_MODEL_LENGTH"):
        settings_from_env(env, monkeypatch)


def test_the_overflow_depth_reaches_the_image(monkeypatch):
    """What infra sets from `serving.gateway.overflowQueueDepth` is the depth the image's middleware enforces."""
    base = model_env(model="m", served_model_name="m", tensor_parallel_size=1, max_model_len=4096)
    assert settings_from_env({**base, **overflow_env(8)}, monkeypatch).overflow_queue_depth == 8
    assert settings_from_env({**base, **overflow_env(0)}, monkeypatch).overflow_queue_depth == 0
    assert overflow_env(None) == {}
    assert settings_from_env(base, monkeypatch).overflow_queue_depth is None  # unset: never a 429
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="overflow queue depth must be an integer >= 0"):
            overflow_env(bad)


def test_a_managed_flag_in_the_extra_args_is_refused_by_the_image(monkeypatch):
    """Two sources for --max-model-len: the image exits at start-up (code 2), and the contract test sees it too."""
    env = model_env(model="m", served_model_name="m", tensor_parallel_size=1, max_model_len=4096,
                    extra_args=["--max-model-len", "8192"])
    with pytest.raises(ValidationError, match="max-model-len"):
        settings_from_env(env, monkeypatch)


@pytest.mark.parametrize("source", ["hf://Qwen/Qwen2.5-7B-Instruct", "gs://acme-models/qwen2.5-7b"])
def test_both_modes_load_the_same_weights_the_same_way(make_stack, monkeypatch, source):
    """vllm mode's flags and KubeRay mode's engine_kwargs name the same model, revision and load format."""

    def with_source(mode: str):
        def edit(c: dict) -> None:
            c["models"][0]["source"] = source
            if not source.startswith("hf://"):
                c["artifacts"]["modelRevisions"].pop(c["models"][0]["name"])
            with_mode(c, mode)
        return edit

    plain = run_plan(*reversed(make_stack("prod", with_source("vllm"), name="plain")))
    ray = run_plan(*reversed(make_stack("prod", with_source("kuberay"), name="ray")))
    model = plain.cfg.models[0]
    (container,) = model_deployments(plain)[model.name]["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(plain_env(container), monkeypatch)
    (service,) = [o for o in ray.manifests() if o["kind"] == "RayService"]
    (llm,) = [c for app in yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
              for c in app["args"]["llm_configs"] if c["model_loading_config"]["model_id"] == model.name]
    assert llm["model_loading_config"]["model_source"] == settings.model
    engine = llm["engine_kwargs"]
    assert engine["tensor_parallel_size"] == settings.tensor_parallel_size
    assert engine["max_model_len"] == settings.max_model_len
    # Every other engine option, written as vLLM's flag for that EngineArgs field.
    flags = [a for k, v in engine.items() if k not in ("tensor_parallel_size", "max_model_len")
             for a in (f"--{k.replace('_', '-')}", str(v))]
    assert flags == settings.extra_args
