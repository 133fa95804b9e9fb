"""What every guard reads and returns: the stack plan (config, pools, cost, fleet, resources) and the verdict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from infra.config import StackConfig
from infra.cost import CostReport
from infra.fleet import Fleet, resolve_fleet
from infra.planned import PlannedResource
from infra.seam import PoolFacts

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class StackPlan:
    """What guards may look at: the config, the pools as the platform builds them, the cost, the resources, and
    the fleet (every workload placed on its pool)."""

    cfg: StackConfig
    pools: Mapping[str, PoolFacts]
    cost: CostReport
    resources: tuple[PlannedResource, ...] = ()
    # The fleet as the program resolved it (infra.program.stack_plan); None: resolved from cfg and pools when a
    # guard first asks for it (a plan some guards see with no pools at all).
    resolved: Fleet | None = field(default=None, repr=False)

    @cached_property
    def fleet(self) -> Fleet:
        return self.resolved if self.resolved is not None else resolve_fleet(self.cfg, self.pools)


@dataclass(frozen=True)
class Verdict:
    guard: str
    status: Status
    message: str


Guard = Callable[[StackPlan], Verdict]
