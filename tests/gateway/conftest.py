"""Fixtures for the gateway tests: the tiny real model (as tests/serving makes it) and the gateway's own python."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_testkit import GATEWAY_PYTHON_ENV, REPORT, gateway_python


@pytest.fixture(scope="session")
def gateway_py() -> Path:
    python = gateway_python()
    if python is None:
        pytest.skip(f"the gateway venv is not built: run `make gateway-venv` (or set {GATEWAY_PYTHON_ENV})")
    return python


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving_testkit import tiny_model_or_skip

    return tiny_model_or_skip(tmp_path_factory.mktemp("tiny-llama"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("gateway: failover, freeze, overflow, provider-only (figures)")
        for _, line in sorted(REPORT.items()):
            terminalreporter.write_line(line)
