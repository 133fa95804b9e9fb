"""The registry of platform modules: which module builds the stack's `Platform`, and what each says about itself
from config alone (pool facts, plan notes, the binaries its kubeconfig execs).

One `PlatformModule` per cloud in `PLATFORMS`; the functions below dispatch on `cfg.cloud` through it and
nowhere else. The seam types the platforms hand on live in `seam`, node arithmetic in `nodes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from infra.config import ANY_ADDRESS, RUNNER_ADVICE, StackConfig
from infra.platforms import eks, existing, gke
from infra.platforms.prerequisites import existing_cluster_notes
from infra.platforms.purchases import purchase_notes
from infra.platforms.stack import identity_requests
from infra.seam import ExecPlugin, Platform, PoolFacts

__all__ = ["PLATFORMS", "PlatformModule", "build_platform", "control_plane_notes", "identity_requests",
           "kubeconfig_exec_plugins", "platform_notes", "pool_facts"]

Notes = Callable[[StackConfig], tuple[str, ...]]


@dataclass(frozen=True)
class PlatformModule:
    """What the rest of the program asks of one cloud's platform module."""

    build: Callable[[StackConfig], Platform]  # creates its component (from its own narrow Args)
    pool_facts: Callable[[StackConfig], dict[str, PoolFacts]]  # from config and catalog alone
    notes: Notes  # what the plan must say about this cloud
    prerequisite_notes: Notes  # what the plan cannot check (zones, the cluster's own add-ons)
    bucket_notes: Notes  # buckets the stack grants on but does not create
    # What the stack's kubeconfig execs (None: not knowable offline).
    kubeconfig_execs: Callable[[StackConfig], tuple[ExecPlugin, ...] | None]
    builds_control_plane: bool  # False: someone else's cluster, its API endpoint is not ours to restrict


def _build_gke(cfg: StackConfig) -> Platform:
    return gke.GkePlatform("gke", gke.args_from(cfg)).platform


def _build_eks(cfg: StackConfig) -> Platform:
    return eks.EksPlatform("eks", eks.args_from(cfg)).platform


def _build_existing(cfg: StackConfig) -> Platform:
    return existing.ExistingCluster("existing", existing.args_from(cfg)).platform


def _no_notes(cfg: StackConfig) -> tuple[str, ...]:
    return ()


PLATFORMS: dict[str, PlatformModule] = {
    "gke": PlatformModule(
        build=_build_gke, pool_facts=gke.gke_pool_facts, notes=gke.gke_notes,
        prerequisite_notes=gke.gke_prerequisite_notes, bucket_notes=gke.gke_bucket_notes,
        kubeconfig_execs=lambda cfg: (gke.KUBECONFIG_EXEC,), builds_control_plane=True),
    "eks": PlatformModule(
        build=_build_eks, pool_facts=eks.eks_pool_facts, notes=eks.eks_notes,
        prerequisite_notes=eks.eks_prerequisite_notes, bucket_notes=eks.eks_bucket_notes,
        kubeconfig_execs=lambda cfg: (eks.KUBECONFIG_EXEC,), builds_control_plane=True),
    # An existing cluster: the stack grants no bucket access (the user binds identities themselves).
    "existing": PlatformModule(
        build=_build_existing, pool_facts=existing.existing_pool_facts, notes=existing.existing_notes,
        prerequisite_notes=existing_cluster_notes, bucket_notes=_no_notes,
        kubeconfig_execs=existing.existing_kubeconfig_execs, builds_control_plane=False),
}


def build_platform(cfg: StackConfig) -> Platform:
    return PLATFORMS[cfg.cloud].build(cfg)


def pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone: what cost and guards see, with no cloud call."""
    return PLATFORMS[cfg.cloud].pool_facts(cfg)


def kubeconfig_exec_plugins(cfg: StackConfig) -> tuple[ExecPlugin, ...] | None:
    """What the stack's kubeconfig execs, from the same constants its builder uses (None: not knowable offline)."""
    return PLATFORMS[cfg.cloud].kubeconfig_execs(cfg)


def platform_notes(cfg: StackConfig) -> tuple[str, ...]:
    """What the plan must say about this platform (from config alone, like the pool facts)."""
    module = PLATFORMS[cfg.cloud]
    return (*module.notes(cfg), *module.prerequisite_notes(cfg), *control_plane_notes(cfg), *module.bucket_notes(cfg),
            *purchase_notes(cfg))


def control_plane_notes(cfg: StackConfig) -> tuple[str, ...]:
    networks = cfg.control_plane.authorized_networks
    if not PLATFORMS[cfg.cloud].builds_control_plane or networks is None or ANY_ADDRESS not in networks:
        return ()
    return (f"the cluster API endpoint accepts connections from any address (controlPlane.authorizedNetworks = "
            f"{networks}; every request still needs cloud IAM credentials): {RUNNER_ADVICE}, and set them there "
            "(required in prod)",)
