"""The side-by-side cost table a user sees: a stack's $/day beside the same GPU workloads at the alternatives, in
markdown (`python -m infra cost-table --stack prod`); the README holds prod's, refreshed by `make docs`.

Owns the compact rendering only: the figures are the plan's (infra/cost.py, infra/alternatives.py), priced from the
stack file without running the mock engine (the cost needs the config and the fleet, not the resources).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infra.config import parse_engine_config
from infra.cost import HOURS_PER_DAY, CostReport
from infra.plan import ROOT, read_stack_file
from infra.program import stack_plan


def stack_cost(stack: str, root: Path = ROOT) -> CostReport:
    """The plan's cost report for `Pulumi.<stack>.yaml` (raises ConfigError for a bad stack file)."""
    return stack_plan(parse_engine_config(read_stack_file(stack, root)[0], stack=stack, root=root)).cost


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.0f}"


def render(stack: str, cost: CostReport, others: Sequence[tuple[str, CostReport]] = ()) -> str:
    """Rows: the stack (all of it, then its GPU pools: what the alternatives price), the other configurations of the
    same workload (`others`, whole stacks), then each alternative, priced for `stack`'s workload."""
    day = HOURS_PER_DAY

    def total(name: str, report: CostReport) -> str:
        expected = report.expected.daily if report.expected is not None else None
        return f"| **{name}** | {_money(report.daily_min)} | {_money(expected)} | {_money(report.daily_max)} |"

    rows = [total(stack, cost),
            f"| its GPU pools | {_money(cost.gpu_hourly_min * day)} | {_money(cost.gpu_daily_expected)} | "
            f"{_money(cost.gpu_hourly_max * day)} |",
            *(total(name, report) for name, report in others)]
    for a in cost.alternatives:
        # A GPU kind the provider does not sell is priced as the nearest it sells: the row says so.
        swaps = [f"as {line.priced_as.value}" for line in a.lines if line.substituted]
        swaps += ["your rate"] if any(line.your_rate for line in a.lines) else []  # `currentRates`, not the list
        swapped = f" ({', '.join(dict.fromkeys(swaps))})" if swaps else ""
        shown = None if a.hourly_expected is None else a.hourly_expected * day
        rows.append(f"| {a.name}{swapped} | {_money(a.hourly_min * day)} | {_money(shown)} | "
                    f"{_money(a.hourly_max * day)} |")
    return "\n".join([
        "| USD/day | min | expected | max |", "|---|--:|--:|--:|", *rows, "",
        f"Prices as of {cost.prices_as_of} (alternatives {cost.alternatives_as_of}, billed their way, for {stack}'s "
        "GPU workloads); expected: at the `traffic` profile" + ("; the other stacks in bold are whole stacks too."
                                                                 if others else "."),
    ]) + "\n"
