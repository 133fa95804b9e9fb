"""`python -m serving` with bad settings: exit 2, one clear line, vLLM never started."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest


def run_supervisor(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "serving"], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    return done, time.monotonic() - start


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "SERVING_MODEL: required but not set"),
        ({"SERVING_MODEL": "m", "SERVING_TENSOR_PARALLEL_SIZE": "zero"}, "SERVING_TENSOR_PARALLEL_SIZE"),
        ({"SERVING_MODEL": "m", "SERVING_CANARY_FAILURES": "0"}, "SERVING_CANARY_FAILURES"),
        ({"SERVING_MODEL": "m", "SERVING_EXTRA_ARGS": "--port 1"}, "SERVING_EXTRA_ARGS: must not set --port"),
        ({"SERVING_MODEL": "m", "SERVING_API_KEY_FILE": "/nonexistent"}, "SERVING_API_KEY_FILE"),
        ({"SERVING_MODEL": "m", "SERVING_LOG_LEVEL": "loud"}, "SERVING_LOG_LEVEL"),
    ],
)
def test_bad_settings_exit_2_with_one_line(env: dict[str, str], expected: str) -> None:
    done, took = run_supervisor(env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("invalid settings: ") and expected in lines[0]
    assert done.stdout == ""
    # Validation happens before anything is started: no vLLM log line, and no model-load time.
    assert "vLLM" not in done.stderr and "starting" not in done.stderr
    assert took < 30
