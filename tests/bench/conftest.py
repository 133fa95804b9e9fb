"""Fixtures for the bench tests: the tiny real model (as tests/serving makes it); serving_testkit on the path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving_testkit import tiny_model_or_skip

    return tiny_model_or_skip(tmp_path_factory.mktemp("tiny-llama"))
