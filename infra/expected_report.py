"""How the expected cost and the cost per token are shown: terminal tables, JSON, and the delta against a git ref.

Owns rendering only; the figures come from infra/expected.py and infra/tokens.py.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from infra.cost import HOURS_PER_MONTH, CostReport
from infra.expected import ExpectedCost
from infra.tokens import ASSUMPTION, TARGET_PER_INFERENCE, TokenCost


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _signed(x: float) -> str:
    return f"{'+' if x >= 0.005 else '-' if x <= -0.005 else '±'}${abs(x):,.2f}"


def expected_summary(cost: CostReport) -> str | None:
    """One line: expected $/day (weekday, weekend day, average) and $/month, beside min and max."""
    e = cost.expected
    if e is None:
        return None
    return (f"Expected at the traffic profile: {_money(e.weekday_daily)}/weekday, {_money(e.weekend_daily)}/weekend "
            f"day, {_money(e.daily)}/day on average, {_money(e.monthly)}/month ({HOURS_PER_MONTH} h); "
            f"min {_money(cost.daily_min)}/day, max {_money(cost.daily_max)}/day"
            + (f". Counted without a profile: {'; '.join(e.leaves_out)}" if e.leaves_out else ""))


def _price(x: float | None, digits: int) -> str:
    return "-" if x is None else f"${x:,.{digits}f}"


def tokens_table(expected: ExpectedCost) -> Table | None:
    if not expected.tokens:
        return None
    table = Table(title=f"Cost per token at expected load, a lower bound (target < ${TARGET_PER_INFERENCE} per "
                        "inference)",
                  title_justify="left")
    for col in ("model", "tok/s per replica @ concurrency", "output tokens/day", "$/day (share of pool)",
                "$/1M output tokens", "tokens/inference", "$/inference"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for t in expected.tokens:
        per_inference = _price(t.per_inference, 6)
        table.add_row(t.model, f"{t.output_tokens_per_second:,.0f} @ {t.concurrency}", f"{t.tokens_per_week / 7:,.0f}",
                      _money(t.cost_per_week / 7), _price(t.per_million, 4),
                      "-" if t.tokens_per_inference is None else str(t.tokens_per_inference),
                      f"[red]{per_inference} above target[/]" if t.above_target else per_inference)
    table.caption = f"Assumes {ASSUMPTION}."
    return table


def _token_json(t: TokenCost) -> dict[str, Any]:
    return {"model": t.model, "outputTokensPerSecond": t.output_tokens_per_second, "concurrency": t.concurrency,
            "source": t.source or None, "outputTokensPerDay": round(t.tokens_per_week / 7),
            "dailyCost": round(t.cost_per_week / 7, 2),
            "perMillionOutputTokens": None if t.per_million is None else round(t.per_million, 4),
            "tokensPerInference": t.tokens_per_inference,
            "perInference": None if t.per_inference is None else round(t.per_inference, 6),
            "targetPerInference": TARGET_PER_INFERENCE, "aboveTarget": t.above_target}


def expected_json(cost: CostReport) -> dict[str, Any] | None:
    """`cost.expected`: the week of the traffic profile in USD, per pool and per model, and the cost per token."""
    e = cost.expected
    if e is None:
        return None
    return {
        "daily": {"weekday": round(e.weekday_daily, 2), "weekendDay": round(e.weekend_daily, 2),
                  "average": round(e.daily, 2)},
        "hourly": round(e.hourly, 4),
        "monthly": round(e.monthly, 2),
        "pools": [{"pool": name, "daily": round(week / 7, 2)} for name, week in e.pools_per_week.items()],
        "models": [{"model": m.name, "pool": m.pool, "replicaHoursPerDay": round(m.replica_hours_per_week / 7, 2),
                    "dailyCost": round(m.cost_per_week / 7, 2)} for m in e.models],
        "tokens": [_token_json(t) for t in e.tokens],
        "tokensAssumption": ASSUMPTION if e.tokens else None,
        "leavesOut": list(e.leaves_out),  # what counts without a profile (no traffic.training / traffic.rollout)
    }


def _expected_daily(cost: CostReport | None) -> float | None:
    return cost.expected.daily if cost is not None and cost.expected is not None else None


def expected_delta_line(base: CostReport | None, head: CostReport) -> str | None:
    """The change of the expected $/day against the ref; a side without a traffic profile shows none."""
    before, after = _expected_daily(base), _expected_daily(head)
    if before is None and after is None:
        return None
    shown = "none" if before is None else _money(before)
    now = "none" if after is None else _money(after)
    change = f" ({_signed(after - before)}/day)" if before is not None and after is not None else ""
    return f"Expected at the traffic profile: {shown}/day at the ref, {now}/day now{change}"


def expected_delta_json(base: CostReport | None, head: CostReport) -> dict[str, Any] | None:
    before, after = _expected_daily(base), _expected_daily(head)
    if before is None and after is None:
        return None
    return {"base": None if before is None else round(before, 2), "head": None if after is None else round(after, 2),
            "daily": None if before is None or after is None else round(after - before, 2)}
