"""The plan reads well at any terminal width: no pool, machine or figure of the cost table loses a character, and
no line is wider than the terminal; $/month shows at the minimum, the expected load and the maximum."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from infra.report import print_plan

CUT = "…"  # what rich prints where it truncates a cell


@pytest.mark.parametrize("width", [80, 100, 140, 220])
def test_the_cost_table_cuts_nothing_at_any_width(plan_of, width):
    plan = plan_of("prod")
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=width))
    text = out.getvalue()
    table = text[text.index("Cost (USD"):text.index("Expected at the traffic profile")]
    assert CUT not in table
    assert max(len(line) for line in text.splitlines()) <= width
    for p in plan.cost.pools:
        assert re.search(rf"\b{re.escape(p.pool)}\b", table), p.pool
        assert p.machine_type in table, p.machine_type
    # The totals, whole: e.g. $1,219.35 at maximum.
    assert f"${plan.cost.daily_max:,.2f}" in table and f"${plan.cost.daily_min:,.2f}" in table


def test_the_month_shows_min_expected_and_max(plan_of):
    plan = plan_of("prod")
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=220))
    cost = plan.cost
    # 730 h a month: the minimum $/h x 730, the expected walk's month, the maximum $/h x 730.
    line = " ".join(out.getvalue().split())
    assert (f"per month (730 h): min ${cost.hourly_min * 730:,.2f}, expected ${cost.expected.monthly:,.2f}, max "
            f"${cost.hourly_max * 730:,.2f}") in line
