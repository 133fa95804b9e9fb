"""Guards: invariants checked on the whole plan, the same functions wherever they run.

A guard is a plain function of a `StackPlan` that returns a `Verdict`. `plan` prints every
verdict; `pulumi up` refuses to declare anything when one fails; the policy pack (later) calls
the same functions. Severity can depend on the tier: an over-budget fleet is an error in prod
and a warning elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from infra.config import StackConfig
from infra.cost import CostReport
from infra.platforms import PoolFacts

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class StackPlan:
    """What guards may look at: the validated config, the pools as the platform will build them, the cost."""

    cfg: StackConfig
    pools: dict[str, PoolFacts]
    cost: CostReport


@dataclass(frozen=True)
class Verdict:
    guard: str
    status: Status
    message: str


Guard = Callable[[StackPlan], Verdict]


def all_guards() -> list[Guard]:
    from infra.guards.budget import budget_covers_max_fleet
    from infra.guards.pools import every_gpu_pool_is_used

    return [budget_covers_max_fleet, every_gpu_pool_is_used]


def run_guards(plan: StackPlan) -> list[Verdict]:
    return [guard(plan) for guard in all_guards()]
