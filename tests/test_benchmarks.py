"""The benchmark scripts keep working as the config model grows (they are not run by CI otherwise)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from infra.config import parse_stack_config
from tests.conftest import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module's annotations through sys.modules
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


def test_gateway_overhead_table_shows_what_the_gateway_adds():
    bench = _load("gateway_overhead")
    direct = bench.Samples(ttft=[0.010] * 19 + [0.050], stream_e2e=[0.1] * 20, plain_e2e=[0.08] * 20,
                           rps=[10.0, 10.0], tokens_per_s=[640.0, 640.0])
    gateway = bench.Samples(ttft=[0.015] * 19 + [0.090], stream_e2e=[0.11] * 20, plain_e2e=[0.085] * 20,
                            rps=[8.0, 8.0], tokens_per_s=[512.0, 512.0], errors=["500 boom"])
    rows = {line[:36].strip(): line[36:].split() for line in bench.table(direct, gateway).splitlines()[1:]}
    assert rows["failed requests"] == ["0", "1"]
    assert rows["TTFT, streaming p50 (ms)"] == ["10.0", "15.0", "+5.0"]
    assert rows["TTFT, streaming p95 (ms)"] == ["10.0", "15.0", "+5.0"]  # nearest rank: 19th of 20
    assert rows["end to end, non-streaming p50 (ms)"] == ["80.0", "85.0", "+5.0"]
    assert rows[f"requests/s (x{bench.CONCURRENCY} clients)"] == ["10.0", "8.0", "-20%"]
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and bench.percentile([5.0], 95) == 5.0
# vLLM 0.32's own lines (CPU engine), as benchmarks/cold_start.py reads them from the server log.
_EMPTY = """(Worker pid=1) INFO 11-30 08:24:08 [cpu_model_runner.py:87] Warming up model for the compilation...
(Worker pid=1) INFO 11-30 08:26:49 [decorators.py:743] [backbone] saved AOT compiled function to /c/rank_0_0/model
(Worker pid=1) INFO 11-30 08:26:51 [cpu_model_runner.py:91] Warming up done.
(EngineCore pid=2) INFO 11-30 08:26:53 [core.py:402] init engine (profile, create kv cache, warmup model) took 165.15 s
"""
_WARM = """(Worker pid=1) INFO 11-30 08:30:48 [cpu_model_runner.py:87] Warming up model for the compilation...
(Worker pid=1) WARNING 11-30 08:30:57 [decorators.py:333] [backbone] Compiling model again due to a load failure from \
/c/rank_0_0/model, reason: 'function' object has no attribute 'finalize_loading'
(Worker pid=1) INFO 11-30 08:32:07 [cpu_model_runner.py:91] Warming up done.
(EngineCore pid=2) INFO 11-30 08:32:10 [core.py:402] init engine (profile, create kv cache, warmup model) took 81.98 s
"""


def test_cold_start_benchmark_reads_vllm_logs_and_prints_the_runs_side_by_side():
    bench = _load("cold_start")
    empty, warm = bench.parse_engine_log(_EMPTY), bench.parse_engine_log(_WARM)
    assert (empty.compile_s, empty.init_engine_s, empty.aot) == (163.0, 165.15, "compiled and saved")
    assert warm.compile_s == 79.0 and warm.aot.startswith("load failed, recompiled: 'function' object")
    runs = [bench.Run("empty cache", 431.3, empty, {"fetch": "miss", "publish": "published"}),
            bench.Run("warm cache (from the store)", 314.8, warm,
                      {"fetch": "hit", "fetched_bytes": 1843200, "fetch_s": 0.05, "publish": "skipped"})]
    table = bench.render(runs, {"disk": 0.004, "bucket": 0.031}).splitlines()
    assert table[0].split("|")[1].strip() == "empty cache" and table[0].split("|")[2].strip().startswith("warm cache")
    ready = next(line for line in table if line.startswith("time to ready"))
    assert [c.strip() for c in ready.split("|")[1:]] == ["431.3 s", "314.8 s"]
    assert "hit (1843200 B in 0.05 s); publish: skipped" in "\n".join(table)
    assert table[-1].endswith("disk 4 ms, bucket 31 ms")


def test_cold_start_benchmark_writes_the_figures_the_plan_copies():
    from infra.time_to_serve_facts import MEASURED_HERE

    bench = _load("cold_start")
    runs = [bench.Run("empty cache", 431.27, bench.parse_engine_log(_EMPTY)),
            bench.Run("warm cache (from the store)", 314.81, bench.parse_engine_log(_WARM))]
    out = bench.measured(runs, {"disk": 0.0042, "bucket (Run:ai streamer, S3 on loopback)": 0.0311})
    assert set(MEASURED_HERE) <= set(out)  # every key the plan shows, under the same name
    assert [out[k] for k in ("compileCacheColdSeconds", "compileCacheWarmSeconds", "loadFromDiskSeconds",
                             "loadFromBucketSeconds")] == [431.3, 314.8, 0.004, 0.031]
    assert (out["compileColdSeconds"], out["compileWarmSeconds"]) == (163.0, 79.0)
    assert out["command"].startswith("python benchmarks/cold_start.py")
    # Without the bucket run (no moto, or --no-stream) the load figures stay unmeasured, not zero.
    assert bench.measured(runs, None)["loadFromBucketSeconds"] is None
