"""A GPU pool's commitment (`nodePools[].commitment`): the plan, how many nodes it covers, and the rate if stated.

The plans and their published discounts are in infra/commitments.py; this module owns the config block and its
rules against the pool (cloud, capacity, node counts).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from infra.commitments import PLAN_NAMES, PLANS
from infra.config.base import ConfigModel


class Commitment(ConfigModel):
    """Capacity bought for a term at a lower rate and billed whether its nodes run or not."""

    plan: Literal[PLAN_NAMES]  # type: ignore[valid-type]
    """How the nodes are committed: `gcp-cud-1y`/`gcp-cud-3y` (GKE committed use discounts on the pool's GPUs),
    `aws-compute-savings-plan-1y|3y`, `aws-instance-savings-plan-1y|3y`, `aws-reserved-instance-1y|3y` (EKS),
    `contract` (a reserved contract on an existing cluster, e.g. CoreWeave reserved capacity), or `reservation`
    (a GKE/EKS capacity reservation without a discount: its nodes at on-demand, used or not). `gcp-cud-*` and
    `reservation` need `capacity: reservation` (GCP attaches GPU commitments to a reservation)."""
    nodes: int = Field(ge=1)
    """Nodes the commitment covers (at most the pool's maxNodes). They are paid every hour of the term, so the
    plan's minimum counts them even when minNodes is 0; nodes beyond them cost the pool's own capacity price."""
    rate: float | None = Field(default=None, gt=0)
    """The committed USD per GPU-hour your contract states. Default: the plan's published discount off the pool's
    on-demand price. Required (or `discount`) for plans without a published GPU figure: `contract` and the
    1-year AWS plans."""
    discount: float | None = Field(default=None, gt=0, lt=1)
    """Instead of `rate`: the share off the pool's on-demand price your contract gives, e.g. 0.6 for 60 % off."""

    @model_validator(mode="after")
    def _priced(self) -> Commitment:
        if self.rate is not None and self.discount is not None:
            raise ValueError(f"rate={self.rate} and discount={self.discount} are both set; allowed: one of them")
        if self.rate is None and self.discount is None and PLANS[self.plan].discount is None:
            raise ValueError(f"plan={self.plan!r} has no published GPU discount; set commitment.rate (USD per "
                             "GPU-hour) or commitment.discount (e.g. 0.6) to your contract's figure")
        return self


def commitment_problem(commitment: Commitment, cloud: str, gpu: bool, capacity: str, max_nodes: int) -> str | None:
    """One line when a pool's commitment does not fit the pool: another cloud's plan, spot, a CPU pool, too many."""
    plan = PLANS[commitment.plan]
    if cloud not in plan.clouds:
        allowed = ", ".join(name for name, p in PLANS.items() if cloud in p.clouds)
        return f"commitment.plan={commitment.plan!r} is not sold on {cloud}; allowed on {cloud}: {allowed}"
    if not gpu:
        return "commitment is set on a CPU pool; commitments price GPU nodes here; remove it or set it on a GPU pool"
    if capacity == "spot":
        return ("commitment is set but capacity='spot'; committed nodes are not spot; allowed: capacity: on-demand "
                "or reservation")
    if plan.needs_reservation and capacity != "reservation":
        why = "GCP attaches GPU commitments to a reservation" if commitment.plan.startswith("gcp") else \
            "a reservation is what it bills"
        return (f"commitment.plan={commitment.plan!r} needs capacity: reservation ({why}), not capacity={capacity!r}; "
                "set capacity: reservation and reservation: <its name>")
    if commitment.nodes > max_nodes:
        return (f"commitment.nodes={commitment.nodes} is above maxNodes={max_nodes}; committed nodes the pool cannot "
                f"run are paid for nothing; allowed: 1..{max_nodes}")
    return None
