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


# Each size step adds one A100, one H100 and one L4 pool, each serving one model: size 1 → a100-0, h100-0, l4-0
# (3 models, 3 GPU pools); size 3 → those for 0, 1 and 2 (9 and 9). Plus the one CPU rollout pool.
@pytest.mark.parametrize(("size", "models", "gpu_pools"), [(1, 3, 3), (3, 9, 9)])
def test_synthetic_fleet_of_the_plan_benchmark_is_a_valid_stack(size, models, gpu_pools):
    raw = _load("plan_time").synthetic_stack(size)["config"]
    cfg = parse_stack_config({k.split(":", 1)[1]: v for k, v in raw.items()})
    assert len(cfg.models) == models
    assert sum(1 for p in cfg.node_pools if p.gpu) == gpu_pools
    assert [p.name for p in cfg.node_pools if p.gpu is None] == ["rollout"]
