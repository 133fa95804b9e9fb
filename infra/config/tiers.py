"""The tier profiles: every default that differs between dev, staging and prod, and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infra.config.base import Capacity, ReleaseChannel


@dataclass(frozen=True, kw_only=True)
class TierProfile:
    """Everything that differs between tiers by default. Explicit stack values win."""

    capacity: Capacity  # GPU and rollout pools
    min_nodes: int  # GPU and rollout pools
    min_replicas: int  # per model, and the rollout workers
    protect: bool  # `protect` on stateful resources, deletion protection on the cluster
    budget_required: bool
    default_budget_usd: float | None
    over_budget_is_error: bool
    release_channel: ReleaseChannel
    ray_idle_timeout_s: int  # KubeRay mode: how long an idle Ray worker pod (and its GPUs) lingers
    # KubeRay mode: how a RayService rolls out a new cluster. Blue/green (NewCluster) needs twice the
    # serving GPUs during the switch; the incremental upgrade shifts traffic step by step within a
    # small surge, but needs the Gateway API and an alpha operator feature gate.
    ray_upgrade: Literal["NewCluster", "NewClusterWithIncrementalUpgrade"]
    # The gateway's fewest pods (serving.gateway.replicas.min): two in prod, so its PodDisruptionBudget can keep one
    # serving through a node drain.
    gateway_min_replicas: int = 1
    # No tier defaults controlPlane.authorizedNetworks any more (issue 17: public control planes with no allowlist):
    # every stack on GKE/EKS names who reaches its cluster API (infra/config/access.py).


TIER_PROFILES: dict[str, TierProfile] = {
    "dev": TierProfile(
        capacity="spot", min_nodes=0, min_replicas=0, protect=False, budget_required=False,
        default_budget_usd=1000.0, over_budget_is_error=False, release_channel="REGULAR", ray_idle_timeout_s=60,
        ray_upgrade="NewCluster",
    ),
    "staging": TierProfile(
        capacity="spot", min_nodes=1, min_replicas=1, protect=False, budget_required=False,
        default_budget_usd=5000.0, over_budget_is_error=False, release_channel="REGULAR", ray_idle_timeout_s=300,
        ray_upgrade="NewCluster",
    ),
    "prod": TierProfile(
        capacity="on-demand", min_nodes=1, min_replicas=1, protect=True, budget_required=True,
        default_budget_usd=None, over_budget_is_error=True, release_channel="STABLE", ray_idle_timeout_s=900,
        ray_upgrade="NewClusterWithIncrementalUpgrade", gateway_min_replicas=2,
    ),
}
