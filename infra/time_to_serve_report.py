"""How the plan shows time to serve: a table per model (like the cost table), what each missing mechanism costs in
seconds, the notes on what must exist first, and the same in --json with every figure's source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from infra.config import StackConfig
from infra.time_to_serve import (
    PARTS,
    STARTUP_MARGIN,
    TimeToServe,
    scale_down_window_seconds,
    stack_time_to_serve,
    startup_budget_seconds,
)
from infra.time_to_serve_facts import DISK_IMAGE_BUILDER, FACTS, MEASURED_HERE, MEASURED_RUN, READ_ON


def _s(seconds: float) -> str:
    return f"{seconds:,.0f} s"


def time_to_serve_table(cfg: StackConfig) -> Table | None:
    """Per model: each part's seconds and how it happens, the total, and the two settings derived from it."""
    rows = stack_time_to_serve(cfg)
    if not rows:
        return None
    table = Table(title=f"Time to serve a new replica (seconds, from the autoscaler's ask to the first answer; "
                        f"{cfg.cloud})", title_justify="left")
    table.add_column("model")
    for part in PARTS:
        table.add_column(part, justify="right")
    for col in ("total", "probe budget", "scale-in delay"):
        table.add_column(col, justify="right")
    for t in rows:
        cells = [f"{_s(s.seconds)}\n[dim]{s.how}[/]" for s in t.steps]
        table.add_row(t.inputs.model, *cells, f"[bold]{_s(t.total)}[/]", _s(startup_budget_seconds(t)),
                      _s(scale_down_window_seconds(t)))
    table.caption = (f"Probe budget: (weights + engine + a cold compile) x {STARTUP_MARGIN:g}, on a node that is "
                     "there; scale-in delay: at least the total. Published figures (infra/time_to_serve_facts.py, read "
                     f"{READ_ON}; each source in --json). {measured_line()}")
    return table


def missing_lines(cfg: StackConfig) -> list[str]:
    """One line per model and mechanism the stack lacks: what it costs each new replica, and the setting."""
    return [f"{t.inputs.model}: no {m.mechanism}: +{_s(m.seconds)} per new replica; {m.fix}"
            for t in stack_time_to_serve(cfg) for m in t.missing]


def cold_start_notes(cfg: StackConfig) -> list[str]:
    """What must exist before `pulumi up` for the mechanisms the stack turns on."""
    notes: list[str] = []
    preload = cfg.serving.cold_start.preload_image
    if preload is not None and cfg.models:
        notes.append(f"serving.coldStart.preloadImage: disk image {preload.disk_image} must exist before `pulumi up` "
                     f"and hold {cfg.artifacts.serving_image}: build it with gke-disk-image-builder "
                     f"({DISK_IMAGE_BUILDER}); rebuild it for every new servingImage (GKE attaches it to new nodes "
                     "only: a changed disk image replaces the serving node pools)")
    return notes


def _json(t: TimeToServe) -> dict[str, Any]:
    return {
        "model": t.inputs.model, "cloud": t.inputs.cloud, "pool": t.inputs.pool,
        "parts": [{"part": s.part, "seconds": round(s.seconds, 2), "how": s.how,
                   "sources": [{"fact": key, **FACTS[key].as_json()} for key in s.facts]} for s in t.steps],
        "totalSeconds": round(t.total, 2),
        "coldCompileSeconds": t.cold_compile_seconds,
        # The startup probe's budget and KEDA's scale-down stabilization window, as rendered.
        "startupBudgetSeconds": startup_budget_seconds(t),
        "scaleDownWindowSeconds": scale_down_window_seconds(t),
        "missing": [{"mechanism": m.mechanism, "seconds": round(m.seconds, 2), "fix": m.fix} for m in t.missing],
    }


def time_to_serve_json(cfg: StackConfig) -> dict[str, Any]:
    return {"models": [_json(t) for t in stack_time_to_serve(cfg)], "startupMargin": STARTUP_MARGIN,
            "measuredHere": MEASURED_HERE}


def measured_line() -> str:
    """What this repository's cold-start benchmark measured (MEASURED_HERE), in one sentence."""
    m, run = MEASURED_HERE, MEASURED_RUN
    if m["compileCacheColdSeconds"] is None or m["compileCacheWarmSeconds"] is None:
        return "Measured here: not yet (benchmarks/cold_start.py fills infra/time_to_serve_facts.py MEASURED_HERE)."
    line = (f"Measured here ({run['on']}, `{run['command']}`; real CPU vLLM, tiny Llama, {run['machine']}): "
            f"ready after {m['compileCacheColdSeconds']:g} s with an empty shared compile cache, "
            f"{m['compileCacheWarmSeconds']:g} s with the cache the first replica published")
    if m.get("compileColdSeconds") is not None and m.get("compileWarmSeconds") is not None:
        line += (f"; vLLM's compile step {m['compileColdSeconds']:g} s vs {m['compileWarmSeconds']:g} s (the rest of "
                 "a start is process start-up on shared cores, which moves by minutes between runs)")
    if m["loadFromDiskSeconds"] is not None and m["loadFromBucketSeconds"] is not None:
        line += (f"; the weights alone: {m['loadFromDiskSeconds'] * 1000:.0f} ms from disk, "
                 f"{m['loadFromBucketSeconds'] * 1000:.0f} ms streamed from S3 on loopback (moto)")
    return line + "."


def readme_markdown(stacks: Sequence[tuple[str, StackConfig]]) -> str:
    """The README's breakdown: per stack (one per platform) and model, each part's seconds, the total and the two
    settings derived from it, then what was measured here."""
    lines = ["| stack (platform) | model | " + " | ".join(PARTS) + " | total | probe budget | scale-in delay |",
             "|---|---|" + "---:|" * (len(PARTS) + 3)]
    for name, cfg in stacks:
        for t in stack_time_to_serve(cfg):
            parts = " | ".join(f"{_s(s.seconds)}" + (f": {s.how}" if s.part in ("node", "image") else "")
                               for s in t.steps)
            lines.append(f"| {name} ({cfg.cloud}) | {t.inputs.model} | {parts} | **{_s(t.total)}** | "
                         f"{_s(startup_budget_seconds(t))} | {_s(scale_down_window_seconds(t))} |")
    return "\n".join(lines) + "\n\n" + measured_line() + "\n"
