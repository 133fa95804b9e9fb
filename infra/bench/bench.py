"""A bench run end to end: per endpoint the idle probe then the load, priced, saved as JSON + PNG, printed.

Files for `--out results/run.json`: run.json (ours), run.<endpoint>.vllm-bench.json (the generator's raw result,
kept beside ours), run.<endpoint>.log (its output), run.png (the plot).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from pathlib import Path

from infra.bench.cost import cost
from infra.bench.report import plot, rankings, row, write_json
from infra.bench.run import GENERATOR_GRACE_S, measured, probe, run_generator
from infra.bench.spec import BenchSpec


def workload_line(spec: BenchSpec) -> str:
    w = spec.workload
    return (f"{w.prompt_tokens} in / {w.output_tokens} out tokens, concurrency {w.concurrency}, "
            f"{w.requests} requests or {w.max_seconds:g} s")


def run_bench(spec: BenchSpec, out: Path) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    endpoints, rows = [], []
    for e in spec.endpoints:
        raw_path = out.with_name(f"{out.stem}.{e.name}.vllm-bench.json")
        cold = asdict(probe(e, spec.workload))
        raw = run_generator(e, spec.workload, raw_path, out.with_name(f"{out.stem}.{e.name}.log"))
        figures = measured(raw)
        m, c = figures.as_json(), asdict(cost(e.price, figures))
        endpoints.append({"name": e.name, "base_url": e.base_url, "model": e.model,
                          "price": e.price.model_dump(by_alias=True, exclude_none=True),
                          "first_request_after_idle": cold,
                          "measured": m, "cost": c, "raw": raw_path.name,
                          "generator": f"vllm bench serve, vLLM {raw.get('generator_version', '?')}"})
        rows.append(row(e.name, cold, m, c))
    result = {
        "bench": "python -m infra bench", "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "workload": spec.workload.model_dump(by_alias=True), "workload_line": workload_line(spec),
        "generator_grace_s": GENERATOR_GRACE_S, "endpoints": endpoints, "rows": rows, "rankings": rankings(rows),
    }
    write_json(result, out)
    plot(result, out.with_suffix(".png"))
    return result

