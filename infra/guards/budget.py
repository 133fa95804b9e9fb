"""The fleet at maximum autoscaling must fit the tier's monthly budget."""

from __future__ import annotations

from infra.cost import HOURS_PER_MONTH
from infra.guards.base import StackPlan, Verdict
from infra.guards.verdicts import severity


def budget_covers_max_fleet(plan: StackPlan) -> Verdict:
    name = "budget-covers-max-fleet"
    budget = plan.cfg.budget
    monthly_max = plan.cost.monthly_max
    expected = plan.cost.expected
    # The maximum is what is checked; the expected figure (at the traffic profile) is shown beside it.
    beside = f"; expected ${expected.monthly:,.0f}/month at the traffic profile" if expected is not None else ""
    if budget is None:
        return Verdict(name, "warn", f"no budget: the fleet can cost up to ${monthly_max:,.0f}/month unwatched{beside}")
    if monthly_max <= budget.monthly_amount:
        return Verdict(name, "pass", f"max fleet ${monthly_max:,.0f}/month fits the budget "
                                     f"{budget.monthly_amount:,.0f} {budget.currency}{beside}")
    status = severity(name, plan.cfg.tier)
    return Verdict(
        name, status,
        f"max fleet ${monthly_max:,.0f}/month ({HOURS_PER_MONTH} h at maximum autoscaling) exceeds "
        f"budget.monthlyAmount "
        f"{budget.monthly_amount:,.0f} {budget.currency}; raise the budget or lower maxNodes{beside}",
    )
