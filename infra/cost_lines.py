"""Every figure of the cost model as a named line, and the per-line delta between two cost reports.

Owns the list of what `plan --compare REF` and the pull-request comment show a change of: each pool's $/day
(minimum, expected, maximum), each pool's commitment (its fixed $/day, paid whether its nodes run or not), each fee
line, the totals in $/day and $/month, each model's cost per token, and the same workload at each alternative.
Rendering stays in infra/report.py (terminal) and .github/scripts/pr.py (markdown, from the JSON written here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.catalog import HOURS_PER_MONTH
from infra.cost import HOURS_PER_DAY, CostReport

COLUMNS = ("min", "expected", "max")
# Digits a unit is shown (and compared) at: a change below them is not a change a reader can see.
DIGITS = {"$/day": 2, "$/month": 2, "$/1M output tokens": 4, "$/inference": 6}


@dataclass(frozen=True)
class Line:
    name: str  # "pool a100-serving", "fee Cloud NAT", "total", "alternative Modal" ...
    unit: str  # a key of DIGITS
    values: tuple[float | None, float | None, float | None]  # min, expected, max (None: not a figure of this line)
    total: bool = False  # totals are shown whether they changed or not


@dataclass(frozen=True)
class LineDelta:
    name: str
    unit: str
    base: tuple[float | None, ...] | None  # None: the line does not exist at the ref
    head: tuple[float | None, ...] | None  # None: the line is gone now
    total: bool = False

    @property
    def changed(self) -> bool:
        def shown(values: tuple[float | None, ...] | None) -> tuple[float | None, ...] | None:
            digits = DIGITS[self.unit]
            return None if values is None else tuple(None if v is None else round(v, digits) for v in values)

        return shown(self.base) != shown(self.head)


def cost_lines(cost: CostReport) -> list[Line]:
    """The report's figures, line by line, in the order a reader takes them."""
    e = cost.expected
    day = HOURS_PER_DAY
    lines: list[Line] = []
    for p in cost.pools:
        expected = None if e is None or p.pool not in e.pools_per_week else e.pools_per_week[p.pool] / 7
        lines.append(Line(f"pool {p.pool}", "$/day", (p.hourly_min * day, expected, p.hourly_max * day)))
        if (c := p.commitment) is not None:  # part of the pool's line above: its fixed share
            fixed = c.fixed_hourly * day
            lines.append(Line(f"commitment {p.pool}", "$/day",
                              (fixed, fixed if e is not None else None, fixed)))
    for f in cost.fees:
        lines.append(Line(f"fee {f.label}", "$/day", (f.daily_min, None, f.daily_max)))
    if (g := cost.gateway) is not None:  # its pods (their share of the system pool's row), its paid backends
        pods = (g.pods_hourly_min * day, g.pods_hourly_min * day if e is not None else None, g.pods_hourly_max * day)
        lines.append(Line("gateway pods (of pool system)", "$/day", pods))
        for b in g.backends:
            lines.append(Line(f"gateway {b.model} on {b.backend}", "$/day", (None, b.daily_expected, None)))
    lines.append(Line("total", "$/day", (cost.daily_min, None if e is None else e.daily, cost.daily_max), True))
    lines.append(Line("total", "$/month", (cost.hourly_min * HOURS_PER_MONTH, None if e is None else e.monthly,
                                           cost.hourly_max * HOURS_PER_MONTH), True))
    for t in e.tokens if e is not None else ():
        lines.append(Line(f"cost per token {t.model}", "$/1M output tokens", (None, t.per_million, None)))
        if t.per_inference is not None:
            lines.append(Line(f"cost per inference {t.model}", "$/inference", (None, t.per_inference, None)))
    for a in cost.alternatives:
        expected = None if a.hourly_expected is None else a.hourly_expected * day  # at the traffic profile
        lines.append(Line(f"alternative {a.name}", "$/day", (a.hourly_min * day, expected, a.hourly_max * day)))
    return lines


def line_deltas(base: CostReport | None, head: CostReport) -> list[LineDelta]:
    """Every line at the ref and now, in the head's order (lines gone since the ref last); base None: a new stack."""
    before = {(line.name, line.unit): line for line in (cost_lines(base) if base is not None else [])}
    after = {(line.name, line.unit): line for line in cost_lines(head)}
    if base is None:  # a new stack: its totals start from $0, not from "no line"
        before.update({key: Line(line.name, line.unit, tuple(None if v is None else 0.0 for v in line.values), True)
                       for key, line in after.items() if line.total})
    keys = [*after, *(k for k in before if k not in after)]
    return [LineDelta(name, unit, before[(name, unit)].values if (name, unit) in before else None,
                      after[(name, unit)].values if (name, unit) in after else None,
                      (after.get((name, unit)) or before[(name, unit)]).total)
            for name, unit in keys]


def shown_deltas(base: CostReport | None, head: CostReport) -> list[LineDelta]:
    """What a reviewer is shown: the lines that changed, and the totals always."""
    return [d for d in line_deltas(base, head) if d.changed or d.total]


def _values_json(values: tuple[float | None, ...] | None, digits: int) -> dict[str, float | None] | None:
    if values is None:
        return None
    return {col: None if v is None else round(v, digits) for col, v in zip(COLUMNS, values, strict=True)}


def deltas_json(base: CostReport | None, head: CostReport) -> list[dict[str, Any]]:
    """`costDelta.lines`: each changed line (and the totals) with its min/expected/max at the ref and now."""
    return [{"line": d.name, "unit": d.unit, "total": d.total, "base": _values_json(d.base, DIGITS[d.unit]),
             "head": _values_json(d.head, DIGITS[d.unit])} for d in shown_deltas(base, head)]
