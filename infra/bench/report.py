"""The bench result: one row per endpoint side by side, the rankings, the JSON file, the table and the plot.

Owns the result's JSON shape (what --to-throughput reads back), the table (rich when installed, else plain text)
and the PNG (matplotlib's headless Agg backend: no display on a server or in CI).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infra.bench.cost import ranking

COLUMNS = [  # (row key, header, format)
    ("name", "endpoint", "{}"),
    ("cold_start_s", "first req after idle s", "{:.2f}"),
    ("ttft_p50_ms", "TTFT p50 ms", "{:.0f}"),
    ("ttft_p95_ms", "TTFT p95 ms", "{:.0f}"),
    ("e2e_p50_ms", "e2e p50 ms", "{:.0f}"),
    ("e2e_p95_ms", "e2e p95 ms", "{:.0f}"),
    ("output_tokens_per_s", "output tok/s", "{:.1f}"),
    ("success", "ok / sent", "{}"),
    ("usd_per_1m_output", "$ / 1M output tok", "{:.2f}"),
    ("usd_per_inference", "$ / inference", "{:.6f}"),
]


def row(name: str, probe: dict, m: dict, c: dict) -> dict[str, Any]:
    """The figures of one endpoint as the table, the rankings and the plot read them."""
    rate = f"{m['completed']}/{m['sent']} ({m['success_rate']:.0%})"
    return {"name": name, "cold_start_s": probe["seconds"] if probe["ok"] else None,
            "ttft_p50_ms": m["ttft_p50_ms"], "ttft_p95_ms": m["ttft_p95_ms"], "e2e_p50_ms": m["e2e_p50_ms"],
            "e2e_p95_ms": m["e2e_p95_ms"], "output_tokens_per_s": m["output_tokens_per_s"], "success": rate,
            "success_rate": m["success_rate"], **c}


def rankings(rows: list[dict]) -> dict[str, list[str]]:
    return {"by_usd_per_1m_output": ranking(rows, "usd_per_1m_output"), "by_e2e_p95_ms": ranking(rows, "e2e_p95_ms")}


def _cells(r: dict) -> list[str]:
    return ["-" if r[key] is None else fmt.format(r[key]) for key, _, fmt in COLUMNS]


def plain_table(rows: list[dict]) -> str:
    table = [[h for _, h, _ in COLUMNS], *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
             for line in table]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def print_report(result: dict) -> None:
    rows = result["rows"]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is None or not sys.stdout.isatty():  # plain text in pipes, CI logs and the README
        print(plain_table(rows))
    else:
        table = Table(*(h for _, h, _ in COLUMNS), title=f"bench {result['workload_line']}")
        for r in rows:
            table.add_row(*_cells(r))
        Console(width=200).print(table)
    rk = result["rankings"]
    print(f"cheapest per output token first: {', '.join(rk['by_usd_per_1m_output'])}")
    print(f"lowest p95 end-to-end latency first: {', '.join(rk['by_e2e_p95_ms'])}")
    for e in result["endpoints"]:
        for error, n in e["measured"]["errors"].items():
            print(f"{e['name']}: {n} x {error}")
        if e["measured"]["not_sent"]:
            print(f"{e['name']}: {e['measured']['not_sent']} requests not sent (maxSeconds reached)")


def write_json(result: dict, path: Path) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")


def plot(result: dict, path: Path) -> None:
    """Latency (TTFT and e2e, p50 bars with p95 marks) and $ per 1M output tokens, one bar group per endpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    names = [r["name"] for r in rows]
    xs = range(len(rows))
    fig, (lat, usd) = plt.subplots(1, 2, figsize=(10, 4))
    for offset, key, label in ((-0.2, "ttft", "TTFT"), (0.2, "e2e", "end-to-end")):
        p50 = [r[f"{key}_p50_ms"] or 0 for r in rows]
        p95 = [r[f"{key}_p95_ms"] or 0 for r in rows]
        lat.bar([x + offset for x in xs], p50, width=0.4, label=f"{label} p50")
        lat.scatter([x + offset for x in xs], p95, marker="_", s=400, color="black", zorder=3)
    lat.scatter([], [], marker="_", color="black", label="p95")
    lat.set_xticks(list(xs), names)
    lat.set_ylabel("ms")
    lat.set_title("latency (bars p50, marks p95)")
    lat.legend(fontsize=8)
    usd.bar(list(xs), [r["usd_per_1m_output"] or 0 for r in rows], color="tab:green")
    usd.set_xticks(list(xs), names)
    usd.set_ylabel("USD per 1M output tokens")
    usd.set_title("cost per output token")
    for x, r in zip(xs, rows, strict=True):
        usd.annotate(r["success"], (x, 0), ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"python -m infra bench: {result['workload_line']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
