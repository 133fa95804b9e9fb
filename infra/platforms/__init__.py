"""Which platform module builds the stack's `Platform`, and what it says about itself from config alone."""

from __future__ import annotations

from infra.config import ANY_ADDRESS, RUNNER_ADVICE, StackConfig
from infra.platforms.seam import ExecPlugin, Platform, PoolFacts
from infra.platforms.stack import identity_requests, stack_tags

__all__ = ["build_platform", "identity_requests", "kubeconfig_exec_plugins", "platform_notes", "pool_facts",
           "stack_tags"]


def build_platform(cfg: StackConfig) -> Platform:
    if cfg.cloud == "gke":
        from infra.platforms.gke import GkePlatform

        return GkePlatform("gke", cfg).platform
    if cfg.cloud == "eks":
        from infra.platforms.eks import EksPlatform

        return EksPlatform("eks", cfg).platform
    from infra.platforms.existing import ExistingCluster

    return ExistingCluster("existing", cfg).platform


def pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone: what cost and guards see, with no cloud call."""
    if cfg.cloud == "gke":
        from infra.platforms.gke import gke_pool_facts

        return gke_pool_facts(cfg)
    if cfg.cloud == "eks":
        from infra.platforms.eks import eks_pool_facts

        return eks_pool_facts(cfg)
    from infra.platforms.existing import existing_pool_facts

    return existing_pool_facts(cfg)


def kubeconfig_exec_plugins(cfg: StackConfig) -> tuple[ExecPlugin, ...] | None:
    """What the stack's kubeconfig execs, from the same constants its builder uses (None: not knowable offline)."""
    if cfg.cloud == "gke":
        from infra.platforms.gke import KUBECONFIG_EXEC

        return (KUBECONFIG_EXEC,)
    if cfg.cloud == "eks":
        from infra.platforms.eks import KUBECONFIG_EXEC as EKS_KUBECONFIG_EXEC

        return (EKS_KUBECONFIG_EXEC,)
    from infra.platforms.existing import existing_kubeconfig_execs

    return existing_kubeconfig_execs(cfg)


def platform_notes(cfg: StackConfig) -> tuple[str, ...]:
    """What the plan must say about this platform (from config alone, like the pool facts)."""
    from infra.platforms.buckets import bucket_prerequisite_notes
    from infra.platforms.prerequisites import prerequisite_notes

    return (*_cloud_notes(cfg), *prerequisite_notes(cfg), *control_plane_notes(cfg), *bucket_prerequisite_notes(cfg))


def control_plane_notes(cfg: StackConfig) -> tuple[str, ...]:
    networks = cfg.control_plane.authorized_networks
    if cfg.cloud == "existing" or networks is None or ANY_ADDRESS not in networks:
        return ()
    return (f"the cluster API endpoint accepts connections from any address (controlPlane.authorizedNetworks = "
            f"{networks}; every request still needs cloud IAM credentials): {RUNNER_ADVICE}, and set them there "
            "(required in prod)",)


def _cloud_notes(cfg: StackConfig) -> tuple[str, ...]:
    if cfg.cloud == "eks":
        from infra.platforms.eks import eks_notes

        return eks_notes(cfg)
    if cfg.cloud == "existing":
        from infra.platforms.existing import existing_notes

        return existing_notes(cfg)
    if cfg.serving.monitoring == "self-hosted":
        return ("GKE: DCGM GPU metrics go to Managed Prometheus only; with serving.monitoring self-hosted the "
                "dashboard's GPU panel stays empty",)
    return ()
