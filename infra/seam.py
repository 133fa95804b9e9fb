"""The seam between clouds and workloads: the types a platform (infra/platforms/) hands to every later layer.

Owns: the `Platform` object (a Kubernetes provider plus facts about each node pool) and the types it is made
of — pool facts and taints, the managed Prometheus, the GPU metrics exporter, workload identities and the
bucket access they grant, the kubeconfig exec plugins. Workload code reads pool labels, taints and sizes from
here and never asks which cloud it is on. Nothing here reads config or creates resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import GpuKind
from infra.names import POOL_LABEL

# A bucket URL as configs, env vars and args name it: gs://bucket[/prefix] or s3://bucket[/prefix].
BUCKET_URL = re.compile(r"\b(gs|s3)://([a-z0-9][a-z0-9._-]*[a-z0-9])(/[^\s\"',;]*)?")
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


def _covers(outer: str, inner: str) -> bool:
    """Whether object prefix `outer` ("" = the whole bucket) contains prefix `inner`."""
    return not outer or inner == outer or inner.startswith(f"{outer}/")


def _widened(a: BucketAccess, b: BucketAccess) -> BucketAccess:
    """One access covering both prefixes of one bucket: their longest common path prefix."""
    common: list[str] = []
    for x, y in zip(a.prefix.split("/"), b.prefix.split("/"), strict=False):
        if x != y or not x:
            break
        common.append(x)
    return BucketAccess("/".join([f"{a.scheme}://{a.bucket}", *common]), a.write)


def bucket_access(reads: Sequence[str], writes: Sequence[str] = ()) -> tuple[BucketAccess, ...]:
    """The bucket access the URLs in `reads`/`writes` (texts: env values, args, sources) need: per bucket at most one
    write and one read (dropped when the write covers it), each widened to the common prefix of its URLs — a model
    source and an adapter store in one bucket are both readable, and a read never widens a write."""
    found: dict[tuple[str, str, bool], BucketAccess] = {}
    for write, texts in ((False, reads), (True, writes)):
        for text in texts:
            for m in BUCKET_URL.finditer(text):
                access = BucketAccess(m.group(0).rstrip("/"), write)
                key = (access.scheme, access.bucket, write)
                found[key] = _widened(found[key], access) if key in found else access
    kept = {k: a for k, a in found.items()
            if k[2] or not ((w := found.get((k[0], k[1], True))) is not None and _covers(w.prefix, a.prefix))}
    return tuple(kept[k] for k in sorted(kept))


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
    # A fleet region's gateway-peers load balancer: the internal address reserved for it, which its Service pins
    # (GKE: a static internal address); None: the cloud picks one (EKS: the NLB's DNS name is the stable handle).
    peer_lb_ip: pulumi.Input[str] | None = None
    # ... and the record of the region's gateway name, written once the load balancer's address is known (EKS: a
    # CNAME to the NLB's DNS name); None: the platform wrote it already, or nobody does.
    peer_dns: Callable[[pulumi.Output[str]], None] | None = None


@dataclass(frozen=True)
class ExecPlugin:
    """A binary a kubeconfig's user execs for its token: whatever runs `pulumi preview`/`up` must have it."""

    command: str
    ci_install: str  # how a GitHub workflow job gets it (the CI prerequisites guard names it in its fix)
