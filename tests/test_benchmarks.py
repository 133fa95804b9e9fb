"""The benchmark scripts keep working as the config model grows (they are not run by CI otherwise)."""

from __future__ import annotations

import importlib.util

import pytest

from infra.config import parse_stack_config
from tests.conftest import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", [1, 3])
def test_synthetic_fleet_of_the_plan_benchmark_is_a_valid_stack(size):
    raw = _load("plan_time").synthetic_stack(size)["config"]
    cfg = parse_stack_config({k.split(":", 1)[1]: v for k, v in raw.items()})
    assert len(cfg.models) == 3 * size and sum(1 for p in cfg.node_pools if p.gpu) == 3 * size
