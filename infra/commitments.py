"""Committed and reserved prices: the plans a GPU pool may commit to, their published discounts, and the arithmetic.

A commitment buys `nodes` of a pool for a term at a lower rate and is billed whether the nodes run or not: its fixed
cost counts at the pool's minimum too, even when minNodes is 0. Nodes beyond the commitment are billed at the pool's
own capacity price (infra/cost.py). Data and arithmetic only: the config block is infra/config/commitments.py.

The published figures are discounts off on-demand. Where the provider publishes only a ceiling ("up to"), that
ceiling is what the plan uses, and the cost notes say so: a stack states its contract's figure with `rate` or
`discount`. A plan without a published GPU figure needs one of them. Searched again 2026-11-30 for per-GPU
commitment prices (cloud.google.com/compute/gpus-pricing "Commitment price" for A2/A3; AWS Savings Plans rates for
p4d/p5/g6): no per-GPU figure was readable through the search tools, so the ceilings stay, named as ceilings.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMITMENTS_AS_OF = "2026-11-29"


@dataclass(frozen=True)
class Plan:
    """A way to commit to capacity: where it is sold, and its published discount off on-demand (None: none)."""

    clouds: tuple[str, ...]  # the stack clouds it applies on: "gke", "eks", "existing"
    discount: float | None
    ceiling: bool  # the published figure is an "up to": the best case, not a quote
    source: str
    needs_reservation: bool = False  # only for a pool with `capacity: reservation`


_GCP_CUD = "cloud.google.com/compute/docs/instances/signing-up-committed-use-discounts (read 2026-11-29)"
_AWS_SP = "aws.amazon.com/savingsplans/faqs (read 2026-11-29)"
_GPU_CUD_NEEDS_RESERVATION = True  # "to get CUDs for GPUs, define a reservation when purchasing the commitment"
# (cloud.google.com/compute/gpus-pricing, zh-TW edition, read 2026-11-29)
PLANS: dict[str, Plan] = {
    # Resource-based CUDs on GPUs (GCP attaches them to a reservation). 1 year: the Cloud Billing catalog's H100
    # "Commitment v1: 1 year" SKU, $6.79880857 vs $9.796550569 on demand per GPU-hour in us-central1 (30.6 % off),
    # as captured by a pricing scraper's SKU fixture; not confirmed on Google's own page on 2026-11-29.
    "gcp-cud-1y": Plan(("gke",), 0.306, False, "Cloud Billing catalog, H100 1-year commitment SKU (us-central1)",
                       _GPU_CUD_NEEDS_RESERVATION),
    # 3 years: "up to 57% for most resources like machine types or GPUs" (the page names no per-GPU figure).
    "gcp-cud-3y": Plan(("gke",), 0.57, True, _GCP_CUD, _GPU_CUD_NEEDS_RESERVATION),
    # Savings Plans: "Compute Savings Plans ... up to 66%", "EC2 Instance Savings Plans ... up to 72%" (3 years, all
    # upfront, the best case); Reserved Instances likewise up to 72 %. No 1-year figure is published for p4d/p5.
    "aws-compute-savings-plan-1y": Plan(("eks",), None, False, _AWS_SP),
    "aws-compute-savings-plan-3y": Plan(("eks",), 0.66, True, _AWS_SP),
    "aws-instance-savings-plan-1y": Plan(("eks",), None, False, _AWS_SP),
    "aws-instance-savings-plan-3y": Plan(("eks",), 0.72, True, _AWS_SP),
    "aws-reserved-instance-1y": Plan(("eks",), None, False, "aws.amazon.com/ec2/pricing/reserved-instances"),
    "aws-reserved-instance-3y": Plan(("eks",), 0.72, True, "aws.amazon.com/ec2/pricing/reserved-instances"),
    # A reserved contract on a cluster we did not build (e.g. CoreWeave reserved capacity): its terms are private.
    "contract": Plan(("existing",), None, False, "the stack's contract"),
    # A capacity reservation without a commitment: billed at on-demand for every reserved node, used or not. GCP:
    # "without a commitment you pay the regular on-demand price" (cloud.google.com/compute/gpus-pricing, zh-TW,
    # read 2026-11-29); AWS On-Demand Capacity Reservations "billed at the On-Demand rate ... whether or not an
    # instance is running in it" (as quoted by help.nops.io, read 2026-11-29).
    "reservation": Plan(("gke", "eks"), 0.0, False, "on-demand, billed used or not", needs_reservation=True),
}
PLAN_NAMES = tuple(PLANS)


@dataclass(frozen=True)
class CommitmentCost:
    """A pool's commitment, priced: `nodes` nodes at `gpu_hourly` per GPU-hour, paid whether they run or not."""

    plan: str
    nodes: int
    gpu_hourly: float  # the committed USD per GPU-hour
    node_hourly: float  # the committed USD per node-hour
    discount: float  # off the on-demand price, 0..1
    basis: str  # where the rate comes from: the stack's `rate`/`discount`, or the published figure and its source

    @property
    def fixed_hourly(self) -> float:
        """What the commitment costs every hour of its term, used or not."""
        return self.nodes * self.node_hourly

    def hourly(self, running_nodes: int, pool_node_hourly: float) -> float:
        """The pool's cost per hour with `running_nodes` running: the commitment, plus any nodes beyond it."""
        return self.fixed_hourly + max(0, running_nodes - self.nodes) * pool_node_hourly


def commitment_cost(plan: str, nodes: int, gpus_per_node: int, on_demand_gpu_hourly: float,
                    rate: float | None = None, discount: float | None = None) -> CommitmentCost:
    """Prices a commitment: the stack's `rate`, else its `discount`, else the plan's published discount."""
    published = PLANS[plan]
    if rate is not None:
        gpu_hourly, basis = rate, "the stack's rate"
    elif discount is not None:
        gpu_hourly, basis = on_demand_gpu_hourly * (1 - discount), f"the stack's discount ({discount:.0%})"
    else:
        assert published.discount is not None, "validated by config: a plan without a published figure needs one"
        gpu_hourly = on_demand_gpu_hourly * (1 - published.discount)
        basis = f"{'up to ' if published.ceiling else ''}{published.discount:.1%} off: {published.source}"
    off = 1 - gpu_hourly / on_demand_gpu_hourly if on_demand_gpu_hourly else 0.0
    return CommitmentCost(plan, nodes, gpu_hourly, gpus_per_node * gpu_hourly, off, basis)


def commitment_note(pool: str, capacity: str, cost: CommitmentCost | None) -> str | None:
    """Plain words when the rate is a published ceiling, or when a reservation's idle nodes are not counted."""
    if cost is None:
        if capacity != "reservation":
            return None
        return (f"pool {pool}: a reservation bills every reserved node whether it runs or not, and the plan counts "
                "only running ones; set commitment: {plan: reservation, nodes: <reserved nodes>} (or the CUD / "
                "Savings Plan attached to it) so the minimum counts them")
    published = PLANS[cost.plan]
    if not published.ceiling or not cost.basis.startswith("up to"):
        return None
    return (f"pool {pool}: {cost.plan} is priced at its published best case ({published.discount:.0%} off on-demand, "
            f"{published.source}); set commitment.rate or commitment.discount to your contract's figure")


def commitment_json(cost: CommitmentCost | None) -> dict[str, object]:
    """The `commitment` entry of a `cost.pools[]` item; none when the pool has no commitment."""
    if cost is None:
        return {}
    return {"commitment": {"plan": cost.plan, "nodes": cost.nodes, "gpuHourly": round(cost.gpu_hourly, 4),
                           "nodeHourly": round(cost.node_hourly, 4), "discount": round(cost.discount, 4),
                           "fixedDaily": round(cost.fixed_hourly * 24, 2), "basis": cost.basis}}
