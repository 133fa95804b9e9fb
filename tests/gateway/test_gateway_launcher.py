"""The launcher (`python -m gateway --spec`) and the rendering of a spec as LiteLLM's config, without LiteLLM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import __main__ as launcher
from gateway.auth import CLIENT_KEY_ENV, decide
from gateway.litellm_config import MASTER_KEY_ENV, OVERFLOW_HEADER, key_env, render
from gateway.spec import Backend, FailoverPolicy, GatewaySpec, Route, local_only, to_json

ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, *, provider_key: str = "provider-secret", overflow: int | None = 8) -> GatewaySpec:
    (tmp_path / "client").write_text("client-secret\n")
    (tmp_path / "provider").write_text(provider_key)
    local = Backend("local", "local", "http://qwen.llm-serving.svc:8000/v1", "qwen-7b", str(tmp_path / "client"))
    modal = Backend("provider-modal", "provider", "https://acme.modal.run/v1", "Qwen/Qwen2.5-7B",
                    str(tmp_path / "provider"), 0.2, 0.6)
    return GatewaySpec(routes=(Route("qwen-7b", (local, modal)), Route("llama-70b", (modal,))),
                       policy=FailoverPolicy(first_byte_timeout_s=3, overflow_queue_depth=overflow),
                       client_key_file=str(tmp_path / "client"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_the_rendered_config_fails_over_in_order_and_names_keys_only_by_env(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    config = render(spec)
    text = json.dumps(config)
    assert "client-secret" not in text and "provider-secret" not in text
    groups = [m["model_name"] for m in config["model_list"]]
    assert groups == ["qwen-7b", "qwen-7b@provider-modal", "qwen-7b@local", "llama-70b"]
    assert config["router_settings"]["fallbacks"] == [{"qwen-7b": ["qwen-7b@provider-modal"]}]
    local, provider, _, only = (m["litellm_params"] for m in config["model_list"])
    assert local["api_key"] == f"os.environ/{key_env(spec.routes[0].backends[0])}"
    assert provider["api_key"] == "os.environ/LLM_FLEET_KEY_PROVIDER_MODAL"
    # LiteLLM's administrator key is one made at start; the model API key is checked by gateway/auth.py
    assert config["general_settings"] == {"master_key": f"os.environ/{MASTER_KEY_ENV}",
                                          "custom_auth": "gateway.auth.user_api_key_auth"}
    # the first-byte timeout bounds a stream; only local replicas get the overflow header
    assert local["stream_timeout"] == 3 and local["extra_headers"] == {OVERFLOW_HEADER: "1"}
    # a route's last backend has nowhere to fail over to: it gets the whole request timeout
    assert provider["stream_timeout"] == only["stream_timeout"] == spec.policy.request_timeout_s
    assert "extra_headers" not in provider and "extra_headers" not in only
    assert [m["model_info"]["id"] for m in config["model_list"]] == [
        "qwen-7b/local", "qwen-7b/provider-modal", "qwen-7b@local/local", "llama-70b/provider-modal"]
    assert config["litellm_settings"]["callbacks"] == ["prometheus"]


def test_a_backend_is_cooled_down_on_its_nth_failure_and_never_for_an_overflow_429(tmp_path: Path) -> None:
    spec = _spec(tmp_path)  # failures_before_cooldown 3 (the default): LiteLLM cools down when fails > allowed_fails
    settings = render(spec)["router_settings"]
    assert settings["allowed_fails"] == 2 and settings["cooldown_time"] == spec.policy.cooldown_s
    policy = settings["allowed_fails_policy"]
    assert policy["TimeoutErrorAllowedFails"] == policy["InternalServerErrorAllowedFails"] == 2
    assert policy["RateLimitErrorAllowedFails"] >= 1_000_000
    # the last resort of each route is never taken out (a cooldown there only means 429s for everyone)
    infos = {m["model_info"]["id"]: m["model_info"] for m in render(spec)["model_list"]}
    assert "allowed_fails" not in infos["qwen-7b/local"]
    assert infos["qwen-7b/provider-modal"]["allowed_fails"] >= 1_000_000
    assert infos["llama-70b/provider-modal"]["allowed_fails"] >= 1_000_000


def test_only_a_routes_last_backend_is_retried_and_only_for_connection_errors_and_5xx(tmp_path: Path) -> None:
    settings = render(_spec(tmp_path))["router_settings"]
    assert settings["num_retries"] == 0  # everything else moves on to the next backend
    retries = settings["model_group_retry_policy"]
    # the last backend of each route (and the peers' local-only route, which has only one), nothing else
    assert set(retries) == {"qwen-7b@provider-modal", "llama-70b", "qwen-7b@local"}
    for policy in retries.values():
        assert policy["DefaultRetries"] == policy["InternalServerErrorRetries"] == 2  # connection errors, 5xx
        assert policy["TimeoutErrorRetries"] == policy["RateLimitErrorRetries"] == policy["BadRequestErrorRetries"] == 0


def test_the_gateway_drops_idle_backend_connections_before_the_serving_image_does(tmp_path: Path) -> None:
    from serving.settings import Settings
    from serving.vllm_command import HTTP_KEEP_ALIVE_S, KEEP_ALIVE_ENV, build_vllm_env

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(to_json(_spec(tmp_path)))
    launch = launcher.prepare(["--spec", str(spec_file)])
    cli, env = launch.cli, launch.env
    pool_idle = int(env["AIOHTTP_KEEPALIVE_TIMEOUT"])
    served = int(build_vllm_env(Settings(model="m"), {})[KEEP_ALIVE_ENV])
    assert served == HTTP_KEEP_ALIVE_S and pool_idle < served
    assert int(cli[cli.index("--keepalive_timeout") + 1]) > pool_idle  # a peer gateway's pool drops first too
    assert build_vllm_env(Settings(model="m"), {KEEP_ALIVE_ENV: "9"})[KEEP_ALIVE_ENV] == "9"  # the operator's


def test_without_an_overflow_depth_local_replicas_queue_instead(tmp_path: Path) -> None:
    config = render(_spec(tmp_path, overflow=None))
    assert all("extra_headers" not in m["litellm_params"] for m in config["model_list"])


def test_prepare_reads_keys_into_env_and_writes_a_private_config_without_them(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(to_json(_spec(tmp_path)))
    launch = launcher.prepare(["--spec", str(spec_file), "--port", "4100"])
    cli, env = launch.cli, launch.env
    assert env[CLIENT_KEY_ENV] == "client-secret"
    assert len(env[MASTER_KEY_ENV]) >= 32 and env[MASTER_KEY_ENV] != launcher.prepare(
        ["--spec", str(spec_file)]).env[MASTER_KEY_ENV]  # made per start, never the client's
    assert env["LLM_FLEET_KEY_PROVIDER_MODAL"] == "provider-secret"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "true" and env["LITELLM_TELEMETRY_DISABLED"] == "true"
    config_path = Path(cli[cli.index("--config") + 1])
    assert oct(config_path.stat().st_mode & 0o777) == "0o600"
    assert "secret" not in config_path.read_text()
    assert cli[cli.index("--port") + 1] == "4100"
    assert not any("secret" in a for a in cli)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.unlink(), "backend 'provider-modal': key file {p} cannot be read"),
        (lambda d: d.write_text("  \n"), "backend 'provider-modal': key file {p} is empty"),
    ],
)
def test_a_missing_or_empty_key_file_is_one_line_naming_the_backend_and_path(tmp_path: Path, mutate,
                                                                            expected: str) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(to_json(_spec(tmp_path)))
    mutate(tmp_path / "provider")
    result = _run("--spec", str(spec_file))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected.format(p=tmp_path / "provider") in lines[0]
    assert "provider-secret" not in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read it"),
        ("{not json", "not a gateway spec (JSONDecodeError"),
        ('{"routes": []}', "not a gateway spec (KeyError"),
        (json.dumps({"routes": [], "policy": {}, "client_key_file": "/k", "port": 4000}), "routes is empty"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_2(tmp_path: Path, content: str | None, expected: str) -> None:
    spec_file = tmp_path / "spec.json"
    if content is not None:
        spec_file.write_text(content)
    result = _run("--spec", str(spec_file))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"--spec {spec_file}" in result.stderr and expected in result.stderr


def test_the_launcher_never_puts_a_key_in_its_own_argv_or_a_childs_env() -> None:
    source = (ROOT / "gateway" / "__main__.py").read_text()
    assert "subprocess" not in source and "os.exec" not in source
    assert os.environ.get(CLIENT_KEY_ENV) is None


def test_a_peer_asks_for_the_local_only_route_which_never_fails_over_again(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    config = render(spec)
    alias = next(m for m in config["model_list"] if m["model_name"] == local_only("qwen-7b"))
    local = config["model_list"][0]
    # the same replicas, with the same key and overflow header (a saturated replica refuses the peer with a 429) ...
    assert alias["litellm_params"] == local["litellm_params"]
    # ... and no fallback of its own: a request that failed over to this region goes no further from here
    fallbacks = config["router_settings"]["fallbacks"]
    assert all(local_only("qwen-7b") not in [first, *rest] for group in fallbacks for first, rest in group.items())
    assert alias["model_info"]["allowed_fails"] > 1000  # alone: never cooled down into 429s for every peer
    assert local_only("llama-70b") not in {m["model_name"] for m in config["model_list"]}  # no replicas, no alias


def test_the_model_api_key_calls_inference_routes_only_and_no_other_key_calls_anything() -> None:
    public = frozenset({"/health/liveliness"})
    for route in ("/v1/chat/completions", "/chat/completions", "/v1/completions", "/v1/models", "/v1/embeddings"):
        assert decide(route, "Bearer k", "k", public) == "caller"
    for route in ("/key/generate", "/model/new", "/config/update", "/cache/flushall", "/health", "/spend/logs"):
        assert decide(route, "k", "k", public) == "forbidden"
    assert decide("/v1/chat/completions", "other", "k", public) == "unauthorized"
    assert decide("/v1/chat/completions", None, "k", public) == "unauthorized"
    assert decide("/v1/chat/completions", "", "", public) == "unauthorized"  # an empty key never matches
    assert decide("/health/liveliness", None, "k", public) == "public"
