"""`python -m serving --help` lists every SERVING_* variable with its default and meaning; an unknown SERVING_*
variable exits 2 naming it and the nearest valid name. No engine is started by these tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from serving.environment import docs_block, refresh_docs, unknown_variables
from serving.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    return subprocess.run([sys.executable, "-m", "serving", *args], env={**clean, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_every_variable_with_its_default_and_meaning() -> None:
    done = run("--help")
    assert done.returncode == 0 and done.stderr == ""
    rows = {m[1]: (m[2], m[3]) for m in re.finditer(r"^  (SERVING_\w+)\s+(\S+)\s+(.+)$", done.stdout, re.M)}
    # Every setting of serving/settings.py, each a row; a few defaults as the pod contract fixes them
    # (serving/kubernetes.py: API 8000, health 8081, drain 120 s, 3 canary failures).
    assert set(rows) == {f"SERVING_{name.upper()}" for name in Settings.model_fields}
    assert rows["SERVING_MODEL"][0] == "(required)"
    assert rows["SERVING_API_PORT"][0] == "8000" and rows["SERVING_HEALTH_PORT"][0] == "8081"
    assert rows["SERVING_DRAIN_TIMEOUT_S"] == ("120", "Longest wait, from SIGTERM, for in-flight requests to finish.")
    assert rows["SERVING_CANARY_FAILURES"][0] == "3"
    assert rows["SERVING_LOG_LEVEL"] == ("INFO", "DEBUG, INFO, WARNING or ERROR.")
    assert all(meaning for _, meaning in rows.values())  # no variable without a meaning


def test_a_misspelt_variable_exits_2_naming_the_nearest_valid_one() -> None:
    done = run(SERVING_MODLE="/models/qwen")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "unknown setting: SERVING_MODLE is not a variable of this image; did you mean SERVING_MODEL?"]
    # Reported before the settings are read: not "SERVING_MODEL: required but not set", the misleading consequence.
    done = run(SERVING_MODEL="m", SERVING_DRAIN_TIMEOUT="300")
    assert done.returncode == 2 and "did you mean SERVING_DRAIN_TIMEOUT_S?" in done.stderr


def test_a_name_near_nothing_points_at_the_help() -> None:
    assert unknown_variables({"SERVING_XYZZY": "1"}) == [
        "unknown setting: SERVING_XYZZY is not a variable of this image; python -m serving --help lists the valid ones"]


def test_kubernetes_service_links_are_not_settings() -> None:
    # A Service named `serving` in the namespace makes Kubernetes inject these into every pod (enableServiceLinks).
    injected = {"SERVING_SERVICE_HOST": "10.0.0.7", "SERVING_SERVICE_PORT": "8000", "SERVING_PORT": "tcp://10.0.0.7:80",
                "SERVING_PORT_8000_TCP": "tcp://10.0.0.7:8000", "SERVING_PORT_8000_TCP_ADDR": "10.0.0.7",
                "SERVING_MODEL": "m", "PATH": "/usr/bin"}
    assert unknown_variables(injected) == []


def test_arguments_are_refused_with_a_pointer_to_the_variables() -> None:
    done = run("--model", "m")
    assert done.returncode == 2 and "SERVING_* variables" in done.stderr and done.stderr.count("\n") == 1


def test_docs_show_the_help_as_it_is() -> None:
    text = (ROOT / "docs" / "serving.md").read_text()
    assert docs_block() in text and refresh_docs(text) == text, \
        "docs/serving.md's variables are stale: make docs (python -m serving.environment docs/serving.md)"
    assert "docker run --rm --gpus all --ipc=host -p 8000:8000 -p 8081:8081 -v llm-fleet-cache:/cache" in text
