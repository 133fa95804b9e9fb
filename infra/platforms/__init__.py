"""The seam between clouds and workloads.

Owns: the `Platform` object every later layer consumes (a Kubernetes provider plus facts about
each node pool), and the choice of which platform module builds it. Workload code reads pool
labels, taints and sizes from here and never asks which cloud it is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import GpuKind
from infra.config import StackConfig

# Labels every platform puts on its nodes, so workloads select pools the same way everywhere.
POOL_LABEL = "llm-fleet.dev/pool"
GPU_LABEL = "llm-fleet.dev/gpu"
PURPOSE_LABEL = "llm-fleet.dev/purpose"
# Where the cluster services layer installs KEDA's operator: platforms bind cloud identities to it.
KEDA_NAMESPACE, KEDA_OPERATOR_SA = "keda", "keda-operator"
# The taint GPU nodes carry so that only pods that asked for a GPU land there.
GPU_TAINT_KEY = "nvidia.com/gpu"


@dataclass(frozen=True)
class NodeTaint:
    key: str
    value: str
    effect: str  # Kubernetes spelling: NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True)
class PoolFacts:
    """What a workload needs to know to land on a pool and fit on one of its nodes."""

    name: str
    purpose: str  # serving | training | rollout | system
    machine_type: str
    gpu: GpuKind | None
    gpus_per_node: int
    min_nodes: int
    max_nodes: int
    capacity: str
    node_selector: dict[str, str]
    taints: tuple[NodeTaint, ...]
    allocatable_cpu: float  # cores a pod can request on one node
    allocatable_memory_gib: float
    local_ssd_gib: int
    ephemeral_storage_gib: int  # what emptyDirs and image layers may use on one node

    @property
    def max_gpus(self) -> int:
        return self.max_nodes * self.gpus_per_node


@dataclass(frozen=True)
class ManagedPrometheus:
    """A Prometheus the cloud runs for us: where to query it, and how KEDA may."""

    query_url: str
    scraper_namespace: str  # where its collectors run: the source NetworkPolicies must admit
    keda_pod_identity: str  # KEDA TriggerAuthentication `podIdentity.provider`
    keda_operator_annotations: dict[str, pulumi.Input[str]]  # binds KEDA's service account to a cloud identity


@dataclass(frozen=True)
class Platform:
    cloud: str
    provider: k8s.Provider
    pools: dict[str, PoolFacts]
    storage_class: str  # SSD-backed, WaitForFirstConsumer: training checkpoints
    registry: pulumi.Output[str]  # where the serving image is pushed
    managed_prometheus: ManagedPrometheus | None  # None: the cluster services layer installs Prometheus
    internal_lb_annotations: dict[str, str]  # makes a LoadBalancer Service internal on this cloud
    exports: dict[str, object] = field(default_factory=dict)  # stack outputs this platform adds
    notes: tuple[str, ...] = field(default=())  # what the plan must tell the user about this platform


def build_platform(cfg: StackConfig) -> Platform:
    if cfg.cloud == "gke":
        from infra.platforms.gke import GkePlatform

        return GkePlatform("gke", cfg).platform
    raise NotImplementedError(f"cloud {cfg.cloud!r}")  # config validation refuses it first


def pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone: what cost and guards see, with no cloud call."""
    if cfg.cloud == "gke":
        from infra.platforms.gke import gke_pool_facts

        return gke_pool_facts(cfg)
    raise NotImplementedError(f"cloud {cfg.cloud!r}")
