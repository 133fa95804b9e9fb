"""Settings from SERVING_* variables and the vLLM command built from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.settings import Settings, describe_error
from serving.vllm_command import VLLM_MODULE, build_vllm_command, build_vllm_env


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in {"SERVING_MODEL": "meta-llama/Llama-3.1-8B-Instruct", **env}.items():
        monkeypatch.setenv(key, value)
    return Settings()  # type: ignore[call-arg]


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_command_carries_every_typed_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(
        monkeypatch,
        SERVING_SERVED_MODEL_NAME="llama-8b",
        SERVING_TENSOR_PARALLEL_SIZE="2",
        SERVING_MAX_MODEL_LEN="8192",
        SERVING_GPU_MEMORY_UTILIZATION="0.85",
        SERVING_API_PORT="9000",
        SERVING_EXTRA_ARGS="--dtype bfloat16 --chat-template '/etc/t mpl.jinja'",
    )
    cmd = build_vllm_command(s, python="/usr/bin/python3")
    assert cmd[:3] == ["/usr/bin/python3", "-m", VLLM_MODULE]
    assert flag(cmd, "--model") == "meta-llama/Llama-3.1-8B-Instruct"
    assert flag(cmd, "--served-model-name") == "llama-8b"
    assert flag(cmd, "--tensor-parallel-size") == "2"
    assert flag(cmd, "--max-model-len") == "8192"
    assert flag(cmd, "--gpu-memory-utilization") == "0.85"
    assert flag(cmd, "--port") == "9000"
    assert "--enable-server-load-tracking" in cmd  # the drain reads /load
    # Extra args are shell-split (quotes kept together) and come last, in order.
    assert cmd[-4:] == ["--dtype", "bfloat16", "--chat-template", "/etc/t mpl.jinja"]


def test_optional_flags_are_left_to_vllm_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = build_vllm_command(settings(monkeypatch))
    assert "--max-model-len" not in cmd
    assert "--gpu-memory-utilization" not in cmd
    assert flag(cmd, "--served-model-name") == "meta-llama/Llama-3.1-8B-Instruct"


def test_api_key_goes_to_env_not_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    s = settings(monkeypatch, SERVING_API_KEY_FILE=str(key))
    assert all("s3cret" not in a for a in build_vllm_command(s))
    # The package's parent folder goes on vLLM's PYTHONPATH so its `--middleware` import finds serving.api_guard;
    # idle connections are kept 75 s, longer than callers' pools (serving/vllm_command.py HTTP_KEEP_ALIVE_S).
    assert build_vllm_env(s, {"PATH": "/bin"}) == {"PATH": "/bin", "VLLM_HTTP_TIMEOUT_KEEP_ALIVE": "75",
                                                   "VLLM_API_KEY": "s3cret",
                                                   "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    assert flag(build_vllm_command(s), "--middleware") == "serving.api_guard.RequireApiKey"
    # No key, no middleware: it would refuse to start without one.
    monkeypatch.delenv("SERVING_API_KEY_FILE")
    assert "--middleware" not in build_vllm_command(settings(monkeypatch))


def test_overflow_depth_loads_its_middleware_inside_the_key_check(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    s = settings(monkeypatch, SERVING_OVERFLOW_QUEUE_DEPTH="8", SERVING_API_KEY_FILE=str(key))
    cmd = build_vllm_command(s)
    loaded = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--middleware"]
    # The last `--middleware` is the outermost (Starlette's add_middleware inserts at the front): key check first.
    assert loaded == ["serving.overflow.OverflowToNextBackend", "serving.api_guard.RequireApiKey"]
    env = build_vllm_env(s, {"PATH": "/bin"})
    assert env["SERVING_OVERFLOW_QUEUE_DEPTH"] == "8"
    assert env["PYTHONPATH"] == str(Path(__file__).resolve().parents[2])
    # Without a key the overflow alone, still importable; unset, no overflow at all.
    monkeypatch.delenv("SERVING_API_KEY_FILE")
    alone = settings(monkeypatch, SERVING_OVERFLOW_QUEUE_DEPTH="0")
    assert flag(build_vllm_command(alone), "--middleware") == "serving.overflow.OverflowToNextBackend"
    assert "PYTHONPATH" in build_vllm_env(alone, {})
    monkeypatch.delenv("SERVING_OVERFLOW_QUEUE_DEPTH")
    assert "--middleware" not in build_vllm_command(settings(monkeypatch))


@pytest.mark.parametrize(("extra", "refused"), [
    ("--disable_log_stats", "--disable_log_stats (vLLM reads it as --disable-log-stats)"),  # no gauge at all
    ("--api-server-count 2", "--api-server-count"),  # the stats reach one API server process only
    ("-dp=2", "-dp"),
])
def test_overflow_needs_vllms_stats_in_one_api_server(monkeypatch: pytest.MonkeyPatch, extra: str,
                                                      refused: str) -> None:
    with pytest.raises(ValidationError) as exc:
        settings(monkeypatch, SERVING_OVERFLOW_QUEUE_DEPTH="8", SERVING_EXTRA_ARGS=extra)
    assert f"must not set {refused} with SERVING_OVERFLOW_QUEUE_DEPTH" in describe_error(exc.value)
    # Without the overflow they are the operator's business.
    monkeypatch.delenv("SERVING_OVERFLOW_QUEUE_DEPTH")
    assert settings(monkeypatch, SERVING_EXTRA_ARGS=extra).extra_args


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SERVING_TENSOR_PARALLEL_SIZE": "0"}, "SERVING_TENSOR_PARALLEL_SIZE"),
        ({"SERVING_GPU_MEMORY_UTILIZATION": "1.5"}, "SERVING_GPU_MEMORY_UTILIZATION"),
        ({"SERVING_API_PORT": "70000"}, "SERVING_API_PORT"),
        ({"SERVING_DRAIN_TIMEOUT_S": "soon"}, "SERVING_DRAIN_TIMEOUT_S"),
        ({"SERVING_EXTRA_ARGS": "--port 9000"}, "SERVING_EXTRA_ARGS"),
        ({"SERVING_EXTRA_ARGS": "--max-model-len=4096"}, "SERVING_EXTRA_ARGS"),
        ({"SERVING_EXTRA_ARGS": "--dtype 'unclosed"}, "SERVING_EXTRA_ARGS"),
        ({"SERVING_API_KEY_FILE": "/nonexistent/key"}, "SERVING_API_KEY_FILE"),
        ({"SERVING_OVERFLOW_QUEUE_DEPTH": "-1"}, "SERVING_OVERFLOW_QUEUE_DEPTH"),
        ({"SERVING_OVERFLOW_QUEUE_DEPTH": "deep"}, "SERVING_OVERFLOW_QUEUE_DEPTH"),
        ({"SERVING_API_PORT": "8081", "SERVING_HEALTH_PORT": "8081"}, "SERVING_HEALTH_PORT"),
        ({"SERVING_DRAIN_GRACE_S": "30", "SERVING_DRAIN_TIMEOUT_S": "10"}, "SERVING_DRAIN_GRACE_S"),
    ],
)
def test_invalid_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        settings(monkeypatch, **env)
    line = describe_error(exc.value)
    assert "\n" not in line
    assert variable in line


def test_missing_model_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVING_MODEL", raising=False)
    with pytest.raises(ValidationError) as exc:
        Settings()  # type: ignore[call-arg]
    assert describe_error(exc.value) == "invalid settings: SERVING_MODEL: required but not set"


def test_empty_api_key_file_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("  \n")
    with pytest.raises(ValidationError, match="empty"):
        settings(monkeypatch, SERVING_API_KEY_FILE=str(key))


def test_detection_windows_follow_the_timings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(
        monkeypatch,
        SERVING_CANARY_INTERVAL_S="15",
        SERVING_CANARY_TIMEOUT_S="10",
        SERVING_CANARY_FAILURES="3",
        SERVING_CHECK_TIMEOUT_S="2",
        SERVING_POLL_INTERVAL_S="2",
    )
    assert s.wedge_window_s == 3 * (15 + 10 + 2)
    assert s.engine_death_window_s == 2 + 2
