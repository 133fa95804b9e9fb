"""What every guard reads and returns: the planned resources, the stack plan, the verdict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from infra.config import StackConfig
from infra.cost import CostReport
from infra.fleet import Fleet, resolve_fleet
from infra.seam import PoolFacts

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str  # parent URN ("" for the stack's direct children)
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    # What the engine waits for before creating this resource, as it received them: every URN in
    # `dependsOn` (a component there stands for its custom descendants: the SDK expands it) and every
    # resource an input came from (`property_dependencies`, per input); the explicit provider's URN
    # ("" for a default provider); custom timeouts in seconds ("create", "update", "delete") when set.
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    provider: str = ""
    custom_timeouts: dict[str, float] = field(default_factory=dict)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and "helm.sh" not in self.type


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
