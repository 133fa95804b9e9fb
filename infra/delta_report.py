"""How the per-line cost delta (infra/cost_lines.py) is shown in the terminal: one table, the changed lines and the
totals, each with its minimum, expected and maximum at the ref, now, and the change."""

from __future__ import annotations

from rich.table import Table

from infra.compare import CostDelta
from infra.cost_lines import DIGITS, LineDelta, shown_deltas


def _figure(x: float | None, digits: int) -> str:
    return "-" if x is None else f"${x:,.{digits}f}"


def _cell(d: LineDelta, i: int) -> str:
    """'now (change)' for one column; the ref's figure is now minus the change. '-' where neither side has one."""
    digits = DIGITS[d.unit]
    before = None if d.base is None else d.base[i]
    after = None if d.head is None else d.head[i]
    if before is None and after is None:
        return "-"
    if after is None:
        return f"gone (was {_figure(before, digits)})"
    if before is None:
        return f"{_figure(after, digits)} (new)"
    # The change of the figures as shown (as the PR comment computes it from the JSON): 0.32 -> 0.36 reads +0.04.
    change = round(round(after, digits) - round(before, digits), digits)
    if change == 0:
        return _figure(after, digits)
    return f"{_figure(after, digits)} ({'+' if change > 0 else '-'}${abs(change):,.{digits}f})"


def lines_table(delta: CostDelta) -> Table:
    new = " (no stack file: a new stack)" if delta.base is None else ""
    table = Table(title=f"Cost change against {delta.ref}{new}: the lines that changed, and the totals: now (Δ)",
                  title_justify="left")
    for col in ("line", "unit", "min", "expected", "max"):
        table.add_column(col, justify="left" if col in ("line", "unit") else "right")
    for d in shown_deltas(delta.base, delta.head):
        table.add_row(d.name, d.unit, *(_cell(d, i) for i in range(3)), style="bold" if d.total else None)
    return table
