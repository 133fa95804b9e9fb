"""The seam between clouds and workloads.

Owns: the `Platform` object every later layer consumes (a Kubernetes provider plus facts about
each node pool), and the choice of which platform module builds it. Workload code reads pool
labels, taints and sizes from here and never asks which cloud it is on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.catalog import GPUS, GpuKind, GpuSpec, MachineShape, parse_cpu_machine
from infra.config import ANY_ADDRESS, RUNNER_ADVICE, NodePool, StackConfig, Taint, gpu_pool_shape
from infra.names import (
    GPU_TAINT_KEY,
    POOL_LABEL,
    RAY_ROLLOUT_SERVICE_ACCOUNT,
    ROLLOUT_NAMESPACE,
    ROLLOUT_SERVICE_ACCOUNT,
    SERVING_NAMESPACE,
    SERVING_SERVICE_ACCOUNT,
    STACK_TAG,
    TIER_TAG,
    TRAINING_NAMESPACE,
    TRAINING_SERVICE_ACCOUNT,
)

# A bucket URL as configs, env vars and args name it: gs://bucket[/prefix] or s3://bucket[/prefix].
BUCKET_URL = re.compile(r"\b(gs|s3)://([a-z0-9][a-z0-9._-]*[a-z0-9])(/[^\s\"',;]*)?")
# Taint effects as the GKE and EKS APIs spell them.
CLOUD_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                      "NoExecute": "NO_EXECUTE"}
# The boot disk also holds the OS and container images (a vLLM image alone is ~10 GB).
BOOT_DISK_RESERVED_GIB = 60
SYSTEM_DISK_GB = 100


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


# Creates a dashboard of (title, PromQL) panels in the cloud's own console: (name, title, panels, opts) -> resource.
DashboardFactory = Callable[[str, str, list[tuple[str, str]], pulumi.ResourceOptions], pulumi.Resource]


@dataclass(frozen=True)
class ManagedPrometheus:
    """A Prometheus the cloud runs for us: where to query it, and how KEDA may."""

    query_url: str
    scraper_namespace: str  # where its collectors run: the source NetworkPolicies must admit
    keda_pod_identity: str  # KEDA TriggerAuthentication `podIdentity.provider`
    keda_operator_annotations: dict[str, pulumi.Input[str]]  # binds KEDA's service account to a cloud identity
    # Labels every series of this cluster carries in the shared backend (queries filter on them).
    series_labels: dict[str, str] = field(default_factory=dict)
    dashboard: DashboardFactory | None = None  # None: nothing shows the dashboard (the plan says so)


@dataclass(frozen=True)
class GpuMetricsExporter:
    """Where the platform runs NVIDIA's DCGM exporter, so a self-hosted Prometheus can scrape GPU metrics."""

    namespace: str
    match_labels: dict[str, str]
    port: str  # the named container port serving /metrics


@dataclass(frozen=True)
class BucketAccess:
    """What a workload does with one bucket: read its objects, or also write and delete them (checkpoints)."""

    url: str  # gs://bucket[/prefix] or s3://bucket[/prefix]
    write: bool = False

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def bucket(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The object prefix the workload uses ("" for the whole bucket), without slashes at either end."""
        parts = self.url.split("://", 1)[1].split("/", 1)
        return parts[1].strip("/") if len(parts) > 1 else ""


def bucket_access(reads: Sequence[str], writes: Sequence[str] = ()) -> tuple[BucketAccess, ...]:
    """One BucketAccess per bucket URL found in `reads`/`writes` (texts: env values, args, sources); writes win."""
    found: dict[tuple[str, str], BucketAccess] = {}
    for write, texts in ((False, reads), (True, writes)):
        for text in texts:
            for m in BUCKET_URL.finditer(text):
                access = BucketAccess(m.group(0), write)
                key = (access.scheme, access.bucket)
                if write or key not in found:
                    found[key] = access
    return tuple(found[k] for k in sorted(found))


@dataclass(frozen=True)
class IdentityRequest:
    """A workload asks its platform for a cloud identity for one Kubernetes service account."""

    name: str  # short and stable: names the cloud resources ("serving", "training")
    namespace: str
    service_account: str
    buckets: tuple[BucketAccess, ...] = ()
    reads_staged_weights: bool = False  # also read the bucket the platform stages model weights in (if any)


@dataclass(frozen=True)
class WorkloadIdentity:
    """What binds a service account to its cloud identity, and what must exist before its pods start."""

    annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    grants: tuple[pulumi.Resource, ...] = ()


def no_cloud_identity(request: IdentityRequest) -> WorkloadIdentity:
    return WorkloadIdentity()


def identity_requests(cfg: StackConfig) -> dict[str, IdentityRequest]:
    """What each workload's service account needs, from config alone (workloads ask for it; plan notes show it).

    Serving reads its models' bucket sources; the trainer writes its checkpoint bucket; any workload also reads
    every bucket its own env, command or args name.
    """
    requests = {"serving": IdentityRequest(
        "serving", SERVING_NAMESPACE, SERVING_SERVICE_ACCOUNT,
        bucket_access([m.source for m in cfg.models if not m.is_huggingface]), reads_staged_weights=True)}
    if cfg.rollout is not None:
        texts = [*cfg.rollout.env.values(), *cfg.rollout.command, *cfg.rollout.args]
        where = ((SERVING_NAMESPACE, RAY_ROLLOUT_SERVICE_ACCOUNT) if cfg.serving.mode == "kuberay"
                 else (ROLLOUT_NAMESPACE, ROLLOUT_SERVICE_ACCOUNT))
        requests["rollout"] = IdentityRequest("rollout", *where, bucket_access(texts))
    if cfg.training is not None:
        t = cfg.training
        requests["training"] = IdentityRequest(
            "training", TRAINING_NAMESPACE, TRAINING_SERVICE_ACCOUNT,
            bucket_access([*t.env.values(), *t.command, *t.args], [t.checkpoint_bucket or ""]))
    return requests


@dataclass(frozen=True)
class Platform:
    cloud: str
    provider: k8s.Provider
    pools: dict[str, PoolFacts]
    storage_class: str | None  # SSD-backed, WaitForFirstConsumer: training checkpoints (None: cluster default)
    registry: pulumi.Input[str]  # where the serving image is pushed
    managed_prometheus: ManagedPrometheus | None  # None: the cluster services layer installs Prometheus
    internal_lb_annotations: dict[str, str]  # makes a LoadBalancer Service internal on this cloud
    exports: dict[str, object] = field(default_factory=dict)  # stack outputs this platform adds
    notes: tuple[str, ...] = field(default=())  # what the plan must tell the user about this platform
    # A cloud identity for a workload's service account with exactly the bucket access it asks for
    # (GKE: a Google service account through Workload Identity; EKS: an IAM role through IRSA).
    workload_identity: Callable[[IdentityRequest], WorkloadIdentity] = no_cloud_identity
    # Where cluster services (KEDA, operators, Prometheus) run.
    system_node_selector: dict[str, str] = field(default_factory=lambda: {POOL_LABEL: "system"})
    # A DCGM exporter this platform installed (None: the cloud collects GPU metrics itself, or nobody does).
    gpu_metrics: GpuMetricsExporter | None = None
    # Where the Gateway's proxies send traffic to pods from (GKE regional Gateway: the proxy-only subnet).
    gateway_proxy_cidrs: tuple[str, ...] = ()
    # Where the Gateway's load balancer health-checks pods from (GKE: Google's health check ranges).
    gateway_health_check_cidrs: tuple[str, ...] = ()


def kubelet_cpu_reserved(vcpus: int) -> float:
    """Cores the kubelet and system daemons keep (the formula GKE and the EKS AMIs both publish)."""
    reserved = 0.06 * min(vcpus, 1) + 0.01 * min(max(vcpus - 1, 0), 1)
    return reserved + 0.005 * min(max(vcpus - 2, 0), 2) + 0.0025 * max(vcpus - 4, 0)


def gke_allocatable(vcpus: int, memory_gib: float) -> tuple[float, float]:
    """What pods can request on a node, after GKE's documented kubelet/system reservations.

    Also what an existing cluster is assumed to keep: GKE's memory tiers are the larger reservation.
    """
    tiers = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02))
    mem_reserved, left = 0.0, memory_gib
    for size, share in tiers:
        step = min(left, size)
        mem_reserved += step * share
        left -= step
    eviction_gib = 100 / 1024
    return round(vcpus - kubelet_cpu_reserved(vcpus), 3), round(memory_gib - mem_reserved - eviction_gib, 2)


def node_taints(taints: list[Taint]) -> tuple[NodeTaint, ...]:
    return tuple(NodeTaint(t.key, t.value, t.effect) for t in taints)


Allocatable = Callable[[int, float], tuple[float, float]]
GpuSelector = Callable[[GpuSpec, MachineShape], dict[str, str]]


def catalog_pool_facts(cfg: StackConfig, cloud: str, allocatable: Allocatable,
                       gpu_selector: GpuSelector) -> dict[str, PoolFacts]:
    """Pool facts of a cloud whose machines are in the catalog (GKE, EKS): the system pool, then each pool.

    GPU pools carry the GPU taint, select on the pool label plus the cloud's own node label
    (`gpu_selector`), and put emptyDirs on the machine's bundled NVMe where it has some.
    """
    sp = cfg.system_pool
    assert sp.machine_type is not None, "defaulted per cloud by config"
    facts = {"system": cpu_pool_facts("system", "system", sp.machine_type, sp.min_nodes, sp.max_nodes,
                                       "on-demand", SYSTEM_DISK_GB, (), allocatable)}
    for pool in cfg.node_pools:
        if pool.gpu is None:
            facts[pool.name] = configured_cpu_pool_facts(pool, allocatable)
            continue
        configured = node_taints(pool.taints)
        spec = GPUS[pool.gpu]
        shape = gpu_pool_shape(pool, cloud)
        cpu, mem = allocatable(shape.vcpus, shape.memory_gib)
        facts[pool.name] = PoolFacts(
            name=pool.name, purpose=pool.purpose, machine_type=shape.machine_type, gpu=pool.gpu,
            gpus_per_node=shape.gpus, min_nodes=pool.min_nodes, max_nodes=pool.max_nodes, capacity=pool.capacity,
            node_selector={**gpu_selector(spec, shape), POOL_LABEL: pool.name},
            taints=(NodeTaint(GPU_TAINT_KEY, "present", "NoSchedule"), *configured),
            allocatable_cpu=cpu, allocatable_memory_gib=mem, local_ssd_gib=shape.local_nvme_gib,
            # Bundled NVMe becomes ephemeral storage (GKE: local SSD config; EKS: nodeadm RAID0); else the boot disk.
            ephemeral_storage_gib=shape.local_nvme_gib or pool.disk_size_gb - BOOT_DISK_RESERVED_GIB,
        )
    return facts


def cpu_pool_facts(name: str, purpose: str, machine_type: str, min_nodes: int, max_nodes: int, capacity: str,
                    disk_gb: int, taints: tuple[NodeTaint, ...], allocatable: Allocatable,
                    node_selector: dict[str, str] | None = None) -> PoolFacts:
    machine = parse_cpu_machine(machine_type)
    assert machine is not None, "validated by config"
    cpu, mem = allocatable(machine.vcpus, machine.memory_gib)
    return PoolFacts(
        name=name, purpose=purpose, machine_type=machine_type, gpu=None, gpus_per_node=0,
        min_nodes=min_nodes, max_nodes=max_nodes, capacity=capacity,
        node_selector={POOL_LABEL: name} if node_selector is None else node_selector, taints=taints,
        allocatable_cpu=cpu, allocatable_memory_gib=mem, local_ssd_gib=0,
        ephemeral_storage_gib=disk_gb - BOOT_DISK_RESERVED_GIB,
    )


def configured_cpu_pool_facts(pool: NodePool, allocatable: Allocatable,
                              node_selector: dict[str, str] | None = None) -> PoolFacts:
    """Facts of a configured CPU pool (selected by the pool label unless `node_selector` says otherwise)."""
    assert pool.machine_type is not None, "validated by config"
    return cpu_pool_facts(pool.name, pool.purpose, pool.machine_type, pool.min_nodes, pool.max_nodes, pool.capacity,
                          pool.disk_size_gb, node_taints(pool.taints), allocatable, node_selector)


@dataclass(frozen=True)
class ExecPlugin:
    """A binary a kubeconfig's user execs for its token: whatever runs `pulumi preview`/`up` must have it."""

    command: str
    ci_install: str  # how a GitHub workflow job gets it (the CI prerequisites guard names it in its fix)


def exec_kubeconfig(name: str, server: str, ca_data: str, exec_user: dict[str, object]) -> str:
    """A kubeconfig whose user authenticates through a cloud CLI plugin: short-lived tokens, none in state."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"certificate-authority-data": ca_data, "server": server}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                   **exec_user}}}],
    }, sort_keys=False)


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


def stack_tags(cfg: StackConfig) -> dict[str, str]:
    """The labels/tags a stack's cloud resources carry (the budget counts what carries STACK_TAG)."""
    return {STACK_TAG: pulumi.get_stack(), TIER_TAG: cfg.tier}
