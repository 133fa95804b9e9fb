"""The stack's configuration: one typed, validated model, read once.

Owns: the schema of every `llm-fleet:*` key in `Pulumi.<stack>.yaml`, the tier profiles
(every tier default lives in `TIER_PROFILES` and nowhere else), the cross-field checks that
stop a bad stack before any resource is declared, and the one-line error format.

Nothing else in the project reads Pulumi config.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra import sdk
from infra.catalog import (
    ALTERNATIVES,
    CATALOG_CLOUDS,
    CPU_MACHINE_SYNTAX,
    GPUS,
    INTERNAL_GATEWAY_CLASS,
    PRICE_SOURCES,
    SYSTEM_MACHINE_TYPE,
    GpuKind,
    GpuSpec,
    MachineShape,
    alternative,
    parse_cpu_machine,
    zones_selling,
)

NAMESPACE = "llm-fleet"
ANY_ADDRESS = "0.0.0.0/0"

# vLLM's default --gpu-memory-utilization: the share of each GPU vLLM allows itself.
GPU_MEMORY_UTILIZATION = 0.90
# Weights must leave this share of vLLM's budget free for the KV cache, activations and CUDA
# graphs; below ~20 % vLLM starts but serves only a handful of concurrent sequences.
WEIGHT_HEADROOM = 0.20
BYTES_PER_PARAMETER = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


class ConfigError(pulumi.RunError):
    """A stack config that must not be deployed. Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Model(BaseModel):
    # camelCase keys in the stack file (Pulumi's convention), snake_case in Python.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


Tier = Literal["dev", "staging", "prod"]
Cloud = Literal["gke", "eks", "existing"]
Capacity = Literal["spot", "on-demand", "reservation"]
Name = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")]


@dataclass(frozen=True)
class TierProfile:
    """Everything that differs between tiers by default. Explicit stack values win."""

    capacity: Capacity
    min_nodes: int  # GPU and rollout pools
    min_replicas: int  # per model
    protect: bool  # `protect` on stateful resources, deletion protection on the cluster
    budget_required: bool
    default_budget_usd: float | None
    over_budget_is_error: bool
    release_channel: Literal["RAPID", "REGULAR", "STABLE"]
    ray_idle_timeout_s: int  # KubeRay mode: how long an idle Ray worker pod (and its GPUs) lingers
    # KubeRay mode: how a RayService rolls out a new cluster. Blue/green (NewCluster) needs twice the
    # serving GPUs during the switch; the incremental upgrade shifts traffic step by step within a
    # small surge, but needs the Gateway API and an alpha operator feature gate.
    ray_upgrade: Literal["NewCluster", "NewClusterWithIncrementalUpgrade"]
    # Who may reach the cluster's public API endpoint when controlPlane.authorizedNetworks is not set.
    # GitHub-hosted runners have no fixed address range (GitHub: "We do not recommend allowing by IP
    # address", docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-githubs-ip-addresses),
    # so dev and staging stay reachable from anywhere (still behind IAM); prod must name its runners and VPN.
    authorized_networks: tuple[str, ...] | None = (ANY_ADDRESS,)


TIER_PROFILES: dict[str, TierProfile] = {
    "dev": TierProfile("spot", 0, 0, False, False, 1000.0, False, "REGULAR", 60, "NewCluster"),
    "staging": TierProfile("spot", 1, 1, False, False, 5000.0, False, "REGULAR", 300, "NewCluster"),
    "prod": TierProfile("on-demand", 1, 1, True, True, None, True, "STABLE", 900,
                        "NewClusterWithIncrementalUpgrade", authorized_networks=None),
}


class Taint(_Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


def _cloud(info: ValidationInfo) -> str:
    """The stack's cloud, handed to nested models as validation context (pools are checked against it)."""
    return (info.context or {}).get("cloud", "gke")


class NodePool(_Model):
    """A node pool. `gpu` makes it a GPU pool; otherwise `machineType` names a CPU shape.

    GPU pools are sized in nodes: `minNodes`/`maxNodes` count machines of `gpusPerNode` GPUs each,
    and `gpusPerNode` must be a node size the cloud sells (its default: the smallest one). A GPU is
    paid for a whole node at a time: on EKS an A100 pool grows 8 GPUs at a time (p4d.24xlarge).
    On GKE and EKS `machineType` may name the catalog's instance type for the GPU kind instead
    (e.g. `g6.4xlarge` for more host CPU per L4); on an existing cluster it describes nothing
    for GPU pools (see `existing.gpuNodes`) and, for CPU pools, names a catalog shape of the size
    of the cluster's nodes.
    """

    name: Name
    gpu: GpuKind | None = None
    gpus_per_node: int | None = Field(default=None, ge=1)  # defaulted per cloud in apply_defaults
    machine_type: str | None = None
    purpose: Literal["serving", "training", "rollout"] = "serving"
    min_nodes: int = Field(ge=0)
    max_nodes: int = Field(ge=0)
    capacity: Capacity
    reservation: str | None = None
    # Where the pool's nodes may run: a subset of the platform's zones (gcp.zones / aws.zones); None: all of
    # them. A capacity reservation lives in one zone: on EKS a reservation pool names exactly that one.
    zones: list[str] | None = Field(default=None, min_length=1)
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    disk_size_gb: int = Field(default=200, ge=50)

    @model_validator(mode="after")
    def _shape(self, info: ValidationInfo) -> NodePool:
        cloud = _cloud(info)
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes={self.min_nodes} is above maxNodes={self.max_nodes}")
        if self.capacity == "reservation" and not self.reservation:
            raise ValueError("capacity 'reservation' needs `reservation: <reservation name>`")
        if self.reservation is not None and self.capacity != "reservation":
            raise ValueError(f"reservation={self.reservation!r} is set but capacity={self.capacity!r}; a reservation "
                             "is consumed only by capacity: reservation; allowed: capacity: reservation, or no "
                             "reservation")
        if cloud == "eks" and self.max_nodes < 1:
            raise ValueError(f"maxNodes={self.max_nodes}: an EKS managed node group needs maxNodes >= 1; "
                             "remove the pool instead")
        if (cloud == "eks" and self.reservation is not None
                and not re.fullmatch(r"cr-[0-9a-f]{8,17}", self.reservation)):
            raise ValueError(f"reservation={self.reservation!r} is not an EC2 capacity reservation id "
                             "(cr-0123456789abcdef0)")
        if self.gpu is None:
            if not self.machine_type:
                raise ValueError("a pool needs `gpu` (a GPU kind) or `machineType` (a CPU machine type)")
            if parse_cpu_machine(self.machine_type, None if cloud == "existing" else cloud) is None:
                clouds = CATALOG_CLOUDS if cloud == "existing" else (cloud,)
                raise ValueError(
                    f"machineType={self.machine_type!r} is not a CPU shape the {'/'.join(clouds)} catalog prices; "
                    f"allowed: {' or '.join(CPU_MACHINE_SYNTAX[c] for c in clouds)}"
                )
        elif cloud == "existing":
            if self.machine_type is not None:
                raise ValueError("on an existing cluster a GPU pool takes no `machineType`; describe the cluster's "
                                 f"{self.gpu.value} nodes in existing.gpuNodes.{self.gpu.value}")
        else:
            gpu_pool_shape(self, cloud)  # raises with the allowed node sizes or instance types
        return self

    @property
    def max_gpus(self) -> int:
        return self.max_nodes * (self.gpus_per_node or 0) if self.gpu else 0


def gpu_pool_shape(pool: NodePool, cloud: str) -> MachineShape:
    """The catalog machine of a GPU pool on `cloud`; ValueError (one finished sentence) if there is none."""
    assert pool.gpu is not None and pool.gpus_per_node is not None
    spec = GPUS[pool.gpu]
    sizes = spec.gpus_per_node(cloud)
    if not sizes:
        sold = [kind.value for kind, other in GPUS.items() if other.gpus_per_node(cloud)]
        raise ValueError(f"gpu={pool.gpu.value!r} has no instance type on {cloud}; allowed on {cloud}: "
                         f"{', '.join(sold)}")
    if pool.machine_type is not None:
        named = spec.shape_named(cloud, pool.machine_type)
        if named is None:
            raise ValueError(
                f"machineType={pool.machine_type!r} is not a {cloud} instance type with {pool.gpu.value} GPUs "
                f"the catalog knows; allowed: {', '.join(spec.machine_types(cloud))}")
        if named.gpus != pool.gpus_per_node:
            raise ValueError(f"gpusPerNode={pool.gpus_per_node} does not match machineType={pool.machine_type!r}, "
                             f"which has {named.gpus} x {pool.gpu.value}")
    shape = spec.shape(cloud, pool.gpus_per_node, pool.machine_type)
    if shape is None:
        only = (f"{cloud} sells {pool.gpu.value} only in nodes of {sizes[0]} ({spec.machine_types(cloud)[0]}), "
                f"so GPUs are added {sizes[0]} at a time; ") if len(sizes) == 1 else ""
        raise ValueError(f"gpusPerNode={pool.gpus_per_node} is not offered for {pool.gpu.value} on {cloud}; "
                         f"{only}allowed: {', '.join(map(str, sizes))}")
    if shape.spot_only and pool.capacity != "spot":
        raise ValueError(
            f"{shape.machine_type} ({pool.gpus_per_node} x {pool.gpu.value}) is sold as spot capacity "
            f"only; set capacity: spot or gpusPerNode: {max(sizes)}"
        )
    return shape


class Replicas(_Model):
    min: int = Field(ge=0)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _order(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min={self.min} is above max={self.max}")
        return self


_PARAMS = re.compile(r"^\s*(?P<n>\d+(\.\d+)?)\s*(?P<unit>[KMBT]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _parse_parameters(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _PARAMS.match(str(value))
    if not m:
        raise ValueError("parameters must be a number or a count like '8B', '70B', '350M'")
    return float(m["n"]) * _UNITS[m["unit"].upper()]


class ModelAutoscaling(_Model):
    """KEDA triggers: queued requests per replica, and optionally KV-cache pressure."""

    waiting_requests_per_replica: float = Field(default=4, gt=0)
    kv_cache_usage_threshold: float | None = Field(default=None, gt=0, le=1)


class Model(_Model):
    """A model to serve. Its revision is pinned in `artifacts.modelRevisions`, so promotion moves it."""

    name: Name
    source: str = Field(
        description="'hf://<org>/<repo>' (Hugging Face) or 'gs://…' / 's3://…' (a bucket path)",
        pattern=r"^(hf://[\w.-]+/[\w.-]+|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$",
    )
    parameters: float
    dtype: Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4"] = "bfloat16"
    gpu: GpuKind
    pool: Name | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_model_len: int = Field(default=8192, ge=256)
    replicas: Replicas  # min defaults to the tier's
    autoscaling: ModelAutoscaling = ModelAutoscaling()

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_params(cls, value: Any) -> float:
        return _parse_parameters(value)

    @property
    def weights_gb(self) -> float:
        return self.parameters * BYTES_PER_PARAMETER[self.dtype] / 1e9

    @property
    def is_huggingface(self) -> bool:
        return self.source.startswith("hf://")


class Budget(_Model):
    monthly_amount: float = Field(gt=0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    # Shares of the monthly amount. Actual spend alerts at each; forecast at each of the second list.
    thresholds: list[Annotated[float, Field(gt=0, le=2)]] = [0.5, 0.9, 1.0]
    forecast_thresholds: list[Annotated[float, Field(gt=0, le=2)]] = [1.0]
    emails: list[EmailStr] = Field(default=[], max_length=5)  # GCP allows 5 channels per budget

    @field_validator("thresholds", "forecast_thresholds")
    @classmethod
    def _distinct(cls, value: list[float]) -> list[float]:
        # Alerts are at whole hundredths of a percent; the same one twice is refused by AWS and pointless on GCP.
        percents = [round(t * 100, 2) for t in value]
        twice = sorted({t for t, p in zip(value, percents, strict=True) if percents.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(str, twice))} listed twice; allowed: distinct shares of the amount")
        return value


class AlertEmail(_Model):
    """Alert e-mails. Alertmanager delivers mail itself, through an SMTP relay: it has no mail service of its own."""

    smarthost: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]  # host:port of the relay
    from_: EmailStr = Field(alias="from")
    to: list[EmailStr] = Field(default=[], max_length=10)  # default: budget.emails
    username: str | None = None
    # A secret: pulumi config set --secret --path 'llm-fleet:alerts.email.password' …
    password: str | None = None
    require_tls: bool = True


class Alerts(_Model):
    """Where firing alerts go (Alertmanager receivers). Values marked secret are set with --secret --path."""

    email: AlertEmail | None = None
    slack_webhook_url: str | None = None  # a secret
    slack_channel: str | None = None  # default: the webhook's own channel
    webhook_url: str | None = None  # a secret: any Alertmanager webhook consumer (chat bridge, incident tool)
    pagerduty_routing_key: str | None = None  # a secret: PagerDuty Events API v2 key; pages on critical alerts


class Gcp(_Model):
    project: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
    region: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]$")]
    zones: list[str] = Field(min_length=1)
    billing_account: Annotated[str, Field(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")] | None = None
    private_nodes: bool = True
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] | None = None
    # VPC-native ranges: nodes, pods and services.
    subnet_cidr: str = "10.10.0.0/20"
    pods_cidr: str = "10.16.0.0/14"
    services_cidr: str = "10.20.0.0/20"
    # Private nodes: the control plane's range (GKE wants a /28), the source of its calls to nodes and webhooks.
    master_cidr: str = "172.16.0.0/28"
    # A regional internal Gateway (gke-l7-rilb) runs its Envoy proxies in this proxy-only subnet
    # (GCP recommends a /23: cloud.google.com/load-balancing/docs/proxy-only-subnets).
    proxy_only_subnet_cidr: str = "10.30.0.0/23"

    @model_validator(mode="after")
    def _zones_in_region(self) -> Gcp:
        for zone in self.zones:
            if not re.fullmatch(rf"{re.escape(self.region)}-[a-z]", zone):
                raise ValueError(f"zone {zone!r} is not a zone of region {self.region!r} (e.g. {self.region}-a)")
        return self

    @model_validator(mode="after")
    def _ranges_apart(self) -> Gcp:
        """The VPC's ranges must not overlap: GCP refuses a subnet or cluster whose range collides with another."""
        keys = ("subnet_cidr", "pods_cidr", "services_cidr", "master_cidr", "proxy_only_subnet_cidr")
        nets: dict[str, ipaddress.IPv4Network] = {}
        for key in keys:
            value = getattr(self, key)
            try:
                nets[key] = ipaddress.IPv4Network(value, strict=True)
            except ValueError:
                raise ValueError(f"{to_camel(key)}={value!r} is not an IPv4 network address; allowed: a private "
                                 "range with no host bits, e.g. 10.30.0.0/23") from None
        if nets["master_cidr"].prefixlen != 28:
            raise ValueError(f"masterCidr={self.master_cidr!r}: GKE's control plane range is a /28; allowed: a "
                             "private /28 such as 172.16.0.0/28")
        for i, key in enumerate(keys):
            for other in keys[:i]:  # name the later (usually newer) range as the one to move
                if nets[key].overlaps(nets[other]):
                    raise ValueError(f"{to_camel(key)}={getattr(self, key)!r} overlaps {to_camel(other)}="
                                     f"{getattr(self, other)!r}; allowed: ranges that overlap none of "
                                     f"{', '.join(to_camel(k) for k in keys if k != key)}")
        return self


class Aws(_Model):
    """EKS: where the cluster runs and how its network is laid out."""

    # Commercial partition only: ARNs here are arn:aws:… (GovCloud and China use arn:aws-us-gov / arn:aws-cn).
    region: str
    # At least two zones: EKS requires subnets in two, and GPU capacity is found in whichever has it.
    zones: list[str] = Field(min_length=2, max_length=6)
    vpc_cidr: str = "10.40.0.0/16"  # a private /19 per zone, small public subnets (NAT, load balancers)
    nat_gateway_per_zone: bool = False  # one NAT per zone survives a zone outage; one shared costs less
    cluster_version: Annotated[str, Field(pattern=r"^1\.[0-9]{2}$")] = "1.33"
    # Private, versioned, encrypted; serving pods read it through their service account's role.
    # Default: a name Pulumi derives from llm-fleet-<stack>-weights (S3 names are global).
    weights_bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None
    # IAM principals (users, roles) given cluster-admin through EKS access entries, besides the deployer.
    # Not the identity that runs `pulumi up`: it is the cluster's admin already (bootstrap cluster creator
    # admin permissions), and a second access entry for the same principal fails the deployment.
    admins: list[Annotated[str, Field(pattern=r"^arn:aws:iam::[0-9]{12}:(role|user)/\S+$")]] = []

    @field_validator("region")
    @classmethod
    def _commercial_region(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z]{2}-[a-z]+-[0-9]", value) or value.startswith(("cn-", "us-gov-")):
            raise ValueError("allowed: a commercial AWS region such as us-east-1; GovCloud and China need other "
                             "ARNs, not supported")
        return value

    @model_validator(mode="after")
    def _network(self) -> Aws:
        for zone in self.zones:
            if not re.fullmatch(rf"{re.escape(self.region)}[a-z]", zone):
                raise ValueError(f"zone {zone!r} is not a zone of region {self.region!r} (e.g. {self.region}a)")
        allowed = "allowed: an IPv4 /16../20 network with no host bits, e.g. 10.40.0.0/16"
        try:
            net = ipaddress.IPv4Network(self.vpc_cidr, strict=True)
        except ValueError:
            raise ValueError(f"vpcCidr={self.vpc_cidr!r} is not an IPv4 network address; {allowed}") from None
        if not 16 <= net.prefixlen <= 20:
            raise ValueError(f"vpcCidr={self.vpc_cidr!r} has prefix /{net.prefixlen} (a private /+3 per zone); "
                             f"{allowed}")
        return self


class GpuNodes(_Model):
    """How an existing cluster exposes one GPU kind: the labels and taints its nodes carry, and their size."""

    labels: dict[str, str] | None = None  # None: the preset's label for this GPU kind
    taints: list[Taint] | None = None  # None: the preset's (none for both presets)
    # One node's size; default: the catalog machine with the same GPUs (EKS's, else GKE's).
    vcpus: int | None = Field(default=None, ge=1)
    memory_gib: float | None = Field(default=None, gt=0)
    ephemeral_storage_gib: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class ExistingPreset:
    """Node labels of a cluster family, so a stack on it needs no per-GPU-kind config."""

    label_key: str
    gpus_per_node: int  # default gpusPerNode of GPU pools on such a cluster

    def label_value(self, spec: GpuSpec) -> str | None:
        return spec.coreweave_class if self.label_key == "gpu.nvidia.com/class" else spec.gpu_operator_product


EXISTING_PRESETS: dict[str, ExistingPreset] = {
    # GPU feature discovery (part of the NVIDIA GPU operator) labels nodes nvidia.com/gpu.product.
    "nvidia-gpu-operator": ExistingPreset("nvidia.com/gpu.product", 1),
    # CoreWeave labels nodes gpu.nvidia.com/class and sells 8-GPU HGX nodes.
    "coreweave": ExistingPreset("gpu.nvidia.com/class", 8),
}


class Existing(_Model):
    """A Kubernetes cluster we did not build (CoreWeave, on-prem, kind): we create no cloud resources."""

    # A secret, set inside the `existing` object (hence --path):
    # pulumi config set --path --secret 'llm-fleet:existing.kubeconfig' "$(cat kubeconfig)"
    kubeconfig: str | None = None
    context: str | None = None  # a context of the deployer's own kubeconfig, when no kubeconfig is given
    preset: Literal["nvidia-gpu-operator", "coreweave"] = "nvidia-gpu-operator"
    gpu_nodes: dict[GpuKind, GpuNodes] = {}
    system_node_labels: dict[str, str] = {}  # where cluster services (KEDA, operators) run; {}: anywhere
    storage_class: str | None = None  # None: the cluster's default StorageClass
    registry: str | None = None  # where the serving image lives; default: the registry of artifacts.servingImage
    # Annotations binding a workload's service account ("<namespace>/<name>", e.g. llm-training/trainer) to a
    # cloud identity this cluster already has (we cannot create one here); the plan says which buckets each needs.
    service_account_annotations: dict[Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")],
                                      dict[str, str]] = {}
    # The price list the configured GPUs are costed at (nothing is billed through us).
    price_as: Literal[PRICE_SOURCES] | None = None  # type: ignore[valid-type]

    @property
    def preset_facts(self) -> ExistingPreset:
        return EXISTING_PRESETS[self.preset]

    def gpu_labels(self, kind: GpuKind) -> dict[str, str] | None:
        configured = self.gpu_nodes.get(kind)
        if configured is not None and configured.labels is not None:
            return configured.labels
        value = self.preset_facts.label_value(GPUS[kind])
        return {self.preset_facts.label_key: value} if value else None

    def gpu_taints(self, kind: GpuKind) -> list[Taint]:
        configured = self.gpu_nodes.get(kind)
        return list(configured.taints) if configured is not None and configured.taints is not None else []


def existing_node_size(existing: Existing, kind: GpuKind, gpus_per_node: int) -> tuple[int, float, int] | None:
    """(vCPUs, GiB, ephemeral GiB) of one GPU node: as configured, else the catalog's machine with as many GPUs."""
    configured = existing.gpu_nodes.get(kind) or GpuNodes()
    spec = GPUS[kind]
    shape = next((s for c in ("eks", "gke") if (s := spec.shape(c, gpus_per_node)) is not None), None)
    vcpus = configured.vcpus or (shape.vcpus if shape else None)
    memory = configured.memory_gib or (shape.memory_gib if shape else None)
    disk = configured.ephemeral_storage_gib or (shape.local_nvme_gib if shape and shape.local_ssds else 200)
    if vcpus is None or memory is None:
        return None
    return vcpus, memory, disk


class Charts(_Model):
    keda: str
    kuberay: str
    kube_prometheus_stack: str
    # EKS only: node autoscaling and the GPU device plugin (AL2023 NVIDIA nodes ship drivers, not the plugin).
    cluster_autoscaler: str | None = None
    nvidia_device_plugin: str | None = None
    dcgm_exporter: str | None = None  # EKS only: GPU utilisation and memory for the dashboard
    metrics_server: str | None = None  # EKS only: the resource metrics API the CPU autoscalers read


Image = Annotated[str, Field(pattern=r"^[\w.\-/:]+(:[\w.\-]+)?(@sha256:[0-9a-f]{64})?$")]


class Artifacts(_Model):
    """Every version pulled at deploy time. Promotion copies this block, and only it, between tiers."""

    serving_image: Image
    ray_image: Image | None = None  # KubeRay mode: a Ray image with vLLM (e.g. rayproject/ray-llm)
    ray_version: str | None = None
    rollout_image: Image | None = None
    training_image: Image | None = None
    vllm_version: str
    charts: Charts
    model_revisions: dict[str, str] = {}


class PriceOverride(_Model):
    on_demand: float | None = Field(default=None, gt=0)
    spot: float | None = Field(default=None, gt=0)


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Training(_Model):
    """The single-GPU-node training job. Its image is `artifacts.trainingImage`."""

    gpu: GpuKind
    gpus: int = Field(default=1, ge=1)
    pool: Name | None = None
    command: list[str] = []
    args: list[str] = []
    env: dict[EnvName, str] = {}
    # Where checkpoints go: a bucket path (handed to the job as CHECKPOINT_DIR) or, without one,
    # a persistent volume of this size mounted at /checkpoints.
    checkpoint_bucket: Annotated[str, Field(pattern=r"^(gs|s3)://[\w.-]+(/\S*)?$")] | None = None
    checkpoint_volume_gb: int = Field(default=500, ge=10)
    # Suspended by default: `pulumi up` never starts GPU spend nobody asked for.
    suspend: bool = True


class Rollout(_Model):
    """CPU rollout workers. Their image is `artifacts.rolloutImage`."""

    pool: Name
    replicas: Replicas
    cpu_per_worker: float = Field(default=1.0, gt=0)
    memory_gib_per_worker: float = Field(default=2.0, gt=0)
    command: list[str] = []
    args: list[str] = []
    env: dict[EnvName, str] = {}
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)


class WorkingHours(_Model):
    """When GPU models may run; outside these hours KEDA scales them to zero (dev tier)."""

    timezone: str = "UTC"
    start: str = "0 8 * * 1-5"
    end: str = "0 20 * * 1-5"

    @field_validator("start", "end")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a 5-field cron expression, e.g. '0 8 * * 1-5'")
        return value


def _ipv4_networks(value: list[str] | None, *, example: str) -> list[str] | None:
    """A list of IPv4 CIDRs without host bits (what firewalls and NetworkPolicy ipBlocks accept)."""
    for cidr in value or []:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise ValueError(f"{cidr!r} is not an IPv4 network address; allowed: CIDRs such as {example} "
                             "(no host bits)") from None
    return value


class Serving(_Model):
    """How models are served and who may reach them."""

    mode: Literal["vllm", "kuberay"] = "vllm"
    expose: Literal["cluster-ip", "internal-load-balancer"] = "cluster-ip"
    # Namespaces allowed to call the OpenAI API besides the rollout workers' (e.g. a gateway).
    api_access_from: list[Name] = []
    # expose: internal-load-balancer: the address ranges whose clients may call the API through the load
    # balancer (the Service's loadBalancerSourceRanges and the NetworkPolicy's ipBlocks). Default: the
    # stack's own network (GKE: gcp.subnetCidr, EKS: aws.vpcCidr), which is all an internal load balancer
    # can be reached from without peering; list peered or on-prem ranges here.
    api_client_cidrs: list[str] | None = None
    monitoring: Literal["platform", "self-hosted"] = "platform"  # platform: GKE Managed Prometheus
    drain_timeout_seconds: int = Field(default=120, ge=10, le=3600)
    working_hours: WorkingHours | None = None
    # KubeRay mode: the GatewayClass the incremental upgrade routes through (GKE: internal L7).
    gateway_class: str | None = None  # default per cloud: catalog.INTERNAL_GATEWAY_CLASS
    ray_target_ongoing_requests: int = Field(default=16, ge=1)

    @field_validator("api_client_cidrs")
    @classmethod
    def _client_cidrs(cls, value: list[str] | None) -> list[str] | None:
        return _ipv4_networks(value, example="10.10.0.0/20")


class ControlPlane(_Model):
    """Who may reach the cluster's API endpoint (GKE master authorized networks, EKS public access CIDRs)."""

    # CIDRs of the CI runners' egress and the VPN. [] turns the public endpoint off (CI must run inside the VPC).
    # Default: the tier's (TierProfile.authorized_networks): anywhere in dev/staging, none (required) in prod.
    authorized_networks: list[str] | None = None

    @field_validator("authorized_networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return _ipv4_networks(value, example="203.0.113.0/24")


class SystemPool(_Model):
    """The small CPU pool for cluster services (KEDA, operators, monitoring)."""

    machine_type: str | None = None  # default per cloud: catalog.SYSTEM_MACHINE_TYPE (set by apply_defaults)
    min_nodes: int = Field(default=1, ge=1)
    max_nodes: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _shape(self, info: ValidationInfo) -> SystemPool:
        cloud = _cloud(info)
        if cloud != "existing" and (self.machine_type is None or parse_cpu_machine(self.machine_type, cloud) is None):
            raise ValueError(f"machineType={self.machine_type!r} is not a CPU shape the {cloud} catalog prices; "
                             f"allowed: {CPU_MACHINE_SYNTAX[cloud]}")
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes={self.min_nodes} is above maxNodes={self.max_nodes}")
        return self


class StackConfig(_Model):
    tier: Tier
    cloud: Cloud = "gke"
    gcp: Gcp | None = None
    aws: Aws | None = None
    existing: Existing | None = None
    node_pools: list[NodePool] = Field(min_length=1)
    # Filled per cloud by apply_defaults; an existing cluster has none of ours.
    system_pool: SystemPool = Field(default_factory=SystemPool.model_construct)
    models: list[Model] = []
    training: Training | None = None
    rollout: Rollout | None = None
    budget: Budget | None = None
    alerts: Alerts = Alerts()
    serving: Serving = Serving()
    control_plane: ControlPlane = ControlPlane()
    hf_token: str | None = None  # a secret: `pulumi config set --secret llm-fleet:hfToken hf_…`
    artifacts: Artifacts
    pricing: dict[GpuKind, PriceOverride] = {}

    @property
    def profile(self) -> TierProfile:
        return TIER_PROFILES[self.tier]

    def pool(self, name: str) -> NodePool:
        return next(p for p in self.node_pools if p.name == name)

    def pool_for(self, gpu: GpuKind, pool: str | None, purpose: str) -> NodePool | None:
        """The pool a GPU workload lands on: the named one, else the first of that GPU kind and purpose."""
        if pool is not None:
            return next((p for p in self.node_pools if p.name == pool), None)
        candidates = [p for p in self.node_pools if p.gpu == gpu]
        return next((p for p in candidates if p.purpose == purpose), candidates[0] if candidates else None)

    def model_pool(self, model: Model) -> NodePool:
        pool = self.pool_for(model.gpu, model.pool, "serving")
        assert pool is not None, "validated in _cross_checks"
        return pool


def _check_placement(
    cfg: StackConfig, where: str, gpu: GpuKind, pool_name: str | None, purpose: str
) -> tuple[NodePool | None, list[str]]:
    pool = cfg.pool_for(gpu, pool_name, purpose)
    if pool is None and pool_name is not None:
        names = ", ".join(p.name for p in cfg.node_pools)
        return None, [f"{where}.pool = {pool_name!r}: no such node pool; defined: {names}"]
    if pool is None:
        kinds = sorted({p.gpu.value for p in cfg.node_pools if p.gpu}) or ["none"]
        return None, [f"{where}.gpu = {gpu.value!r}: no node pool provides this GPU kind; pools provide: "
                      f"{', '.join(kinds)}"]
    if pool.gpu != gpu:
        got = pool.gpu.value if pool.gpu else "no GPU"
        return None, [f"{where}.pool = {pool.name!r}: that pool has {got}, not {gpu.value!r}"]
    return pool, []


def _cross_checks(cfg: StackConfig) -> list[str]:
    """Checks that span more than one block of the config. Each problem is one finished line."""
    problems: list[str] = []
    profile = cfg.profile
    names = [p.name for p in cfg.node_pools]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"nodePools: pool name {dup!r} is used twice; pool names must be unique")
    model_names = [m.name for m in cfg.models]
    for dup in sorted({n for n in model_names if model_names.count(n) > 1}):
        problems.append(f"models: model name {dup!r} is used twice; model names must be unique")

    problems += _platform_checks(cfg)
    problems += _pool_zone_checks(cfg)

    for i, model in enumerate(cfg.models):
        where = f"models[{i}]"
        pool, errs = _check_placement(cfg, where, model.gpu, model.pool, "serving")
        problems += errs
        if pool is not None and model.tensor_parallel_size > pool.gpus_per_node:
            problems.append(
                f"{where}.tensorParallelSize = {model.tensor_parallel_size}: larger than the "
                f"{pool.gpus_per_node} GPU(s) per node of pool {pool.name!r}; allowed: 1..{pool.gpus_per_node}"
            )
        elif pool is not None:
            max_gpus = model.replicas.max * model.tensor_parallel_size
            if max_gpus > pool.max_gpus:
                problems.append(
                    f"{where}.replicas.max = {model.replicas.max}: needs {max_gpus} GPUs at tensorParallelSize "
                    f"{model.tensor_parallel_size}, pool {pool.name!r} has at most {pool.max_gpus}"
                )
        gpu_mem = GPUS[model.gpu].memory_gb
        usable = model.tensor_parallel_size * gpu_mem * GPU_MEMORY_UTILIZATION * (1 - WEIGHT_HEADROOM)
        if model.weights_gb > usable:
            problems.append(
                f"{where}.parameters = {model.parameters:.3g}: {model.weights_gb:.1f} GB of {model.dtype} weights do "
                f"not fit {model.tensor_parallel_size} x {model.gpu.value} ({usable:.1f} GB usable after vLLM's "
                f"{GPU_MEMORY_UTILIZATION:.0%} cap and {WEIGHT_HEADROOM:.0%} headroom); raise "
                "tensorParallelSize, pick a larger GPU or a smaller dtype"
            )
        if model.replicas.min == 0 and cfg.serving.working_hours is None and cfg.serving.mode == "vllm":
            problems.append(
                f"{where}.replicas.min = 0: nothing would wake the model again (vLLM's queue metric only exists "
                "while a replica runs); set serving.workingHours to scale to zero outside them, or min >= 1"
            )
        if model.is_huggingface and model.name not in cfg.artifacts.model_revisions:
            problems.append(
                f"artifacts.modelRevisions.{model.name}: missing; a Hugging Face model must be pinned to a "
                "revision (a commit hash) so promotion moves exactly what was tested"
            )
    for name in sorted(set(cfg.artifacts.model_revisions) - set(model_names)):
        problems.append(f"artifacts.modelRevisions.{name}: no model named {name!r}; models: {model_names}")

    if cfg.training is not None:
        pool, errs = _check_placement(cfg, "training", cfg.training.gpu, cfg.training.pool, "training")
        problems += errs
        if pool is not None and cfg.training.gpus > pool.gpus_per_node:
            problems.append(
                f"training.gpus = {cfg.training.gpus}: larger than the {pool.gpus_per_node} GPU(s) per node "
                f"of pool {pool.name!r}"
            )
    if cfg.serving.mode == "kuberay":
        for key in ("ray_image", "ray_version"):
            if getattr(cfg.artifacts, key) is None:
                problems.append(f"artifacts.{to_camel(key)}: missing; serving.mode 'kuberay' runs Ray pods from it")
        if cfg.rollout is None:
            problems.append("rollout: missing; serving.mode 'kuberay' places the Ray head and CPU workers on the "
                            "rollout pool")
        if profile.ray_upgrade == "NewClusterWithIncrementalUpgrade" and cfg.serving.gateway_class is None:
            problems.append(f"serving.gatewayClass: missing; tier {cfg.tier!r} upgrades the RayService incrementally "
                            f"through the Gateway API and cloud {cfg.cloud!r} has no default GatewayClass; name one "
                            "the cluster runs (e.g. amazon-vpc-lattice, istio, envoy-gateway)")
    problems += _network_access_checks(cfg)
    if cfg.training is not None and cfg.artifacts.training_image is None:
        problems.append("artifacts.trainingImage: missing; the training job needs an image (pinned by digest)")
    if cfg.rollout is not None and cfg.artifacts.rollout_image is None:
        problems.append("artifacts.rolloutImage: missing; the rollout workers need an image (pinned by digest)")
    if cfg.rollout is not None:
        if cfg.rollout.pool not in names:
            problems.append(f"rollout.pool = {cfg.rollout.pool!r}: no such node pool; defined: {', '.join(names)}")
        elif cfg.pool(cfg.rollout.pool).gpu is not None:
            problems.append(f"rollout.pool = {cfg.rollout.pool!r}: a GPU pool; rollout workers need a CPU pool")

    if profile.budget_required and cfg.budget is None:
        problems.append(f"budget: missing; tier {cfg.tier!r} requires a budget (budget.monthlyAmount, budget.emails)")
    if cfg.budget is not None and cfg.cloud == "gke" and cfg.gcp is not None and cfg.gcp.billing_account is None:
        problems.append("gcp.billingAccount: missing; a GCP budget is attached to a billing account "
                        "(format XXXXXX-XXXXXX-XXXXXX)")
    return problems


RUNNER_ADVICE = ("GitHub-hosted runners have no fixed address range: list the egress CIDRs of self-hosted runners, "
                 "of larger runners with static IPs, or of the VPN that CI and operators use")


def _network_access_checks(cfg: StackConfig) -> list[str]:
    """Who may reach the cluster API and the model API: named ranges, never the whole internet in prod."""
    problems: list[str] = []
    networks = cfg.control_plane.authorized_networks
    key = "controlPlane.authorizedNetworks"
    if cfg.cloud == "existing":
        if networks is not None:
            problems.append(f"{key} = {networks}: cloud 'existing': llm-fleet does not manage that cluster's API "
                            "endpoint; remove it and restrict the endpoint where the cluster is run")
    elif networks is None:
        problems.append(f"{key}: missing; tier {cfg.tier!r} does not open the cluster API endpoint to the internet; "
                        f"{RUNNER_ADVICE} (e.g. authorizedNetworks: [203.0.113.0/24]), or [] to allow only the VPC")
    elif cfg.tier == "prod" and any(ipaddress.IPv4Network(n).prefixlen == 0 for n in networks):
        problems.append(f"{key} = {networks}: {ANY_ADDRESS} opens the prod cluster API endpoint to any address; "
                        f"allowed: specific CIDRs; {RUNNER_ADVICE}")
    clients = cfg.serving.api_client_cidrs
    if cfg.serving.expose == "internal-load-balancer" and clients is None:
        problems.append("serving.apiClientCidrs: missing; on an existing cluster llm-fleet does not know the network "
                        "behind the internal load balancer; list the clients' CIDRs (e.g. [10.0.0.0/8])")
    elif clients is not None and cfg.serving.expose != "internal-load-balancer":
        problems.append(f"serving.apiClientCidrs = {clients}: set, but serving.expose is {cfg.serving.expose!r}; "
                        "remove it or set serving.expose: internal-load-balancer")
    elif clients is not None and any(ipaddress.IPv4Network(n).prefixlen == 0 for n in clients):
        problems.append(f"serving.apiClientCidrs = {clients}: {ANY_ADDRESS} admits every address to the model API; "
                        "allowed: the ranges of the clients behind the internal load balancer")
    return problems


def _pool_zone_checks(cfg: StackConfig) -> list[str]:
    """A pool's zones are some of the platform's; on EKS a capacity reservation pool names its one zone."""
    block = {"gke": cfg.gcp, "eks": cfg.aws}.get(cfg.cloud)
    key = _PLATFORM_BLOCKS[cfg.cloud]
    problems: list[str] = []
    for i, pool in enumerate(cfg.node_pools):
        where = f"nodePools[{i}].zones"
        if pool.zones is not None and block is None:
            problems.append(f"{where} = {pool.zones}: cloud {cfg.cloud!r} creates no nodes, so a pool has no zones; "
                            "remove it")
            continue
        if block is None:
            continue
        allowed = ", ".join(block.zones)
        if pool.zones is not None:
            outside = [z for z in pool.zones if z not in block.zones]
            if outside or len(set(pool.zones)) != len(pool.zones):
                why = f"{', '.join(outside)} not in {key}.zones" if outside else "a zone is listed twice"
                problems.append(f"{where} = {pool.zones}: {why}; allowed: distinct zones among {allowed}")
                continue
        if cfg.cloud == "eks" and pool.capacity == "reservation" and (pool.zones is None or len(pool.zones) != 1):
            shown = ": missing;" if pool.zones is None else f" = {pool.zones}:"
            problems.append(f"{where}{shown} an EC2 capacity reservation lives in one zone; allowed: exactly the "
                            f"reservation's zone, one of {allowed} (e.g. zones: [{block.zones[0]}])")
        problems += _gpu_zone_checks(cfg, i, pool, block.region, block.zones, key)
    return problems


_SELLER = {"gke": "GCP", "eks": "AWS"}


def _gpu_zone_checks(cfg: StackConfig, i: int, pool: NodePool, region: str, platform_zones: list[str],
                     key: str) -> list[str]:
    """A GPU pool spans only zones the catalog knows sell its machine (node pool creation fails elsewhere)."""
    if pool.gpu is None:
        return []
    machine = gpu_pool_shape(pool, cfg.cloud).machine_type
    selling = zones_selling(cfg.cloud, machine, region)
    if selling is None:
        return []  # the catalog does not know this region: the plan says so (platforms.prerequisites)
    zones = pool.zones or platform_zones
    missing = [z for z in zones if z not in selling]
    if not missing:
        return []
    usable = [z for z in platform_zones if z in selling]
    fix = (f"set nodePools[{i}].zones: [{', '.join(usable)}]" if usable else
           f"add one of them to {key}.zones and set nodePools[{i}].zones to it")
    shown = f" = {pool.zones}:" if pool.zones else f": missing, so it spans {key}.zones {platform_zones};"
    return [f"nodePools[{i}].zones{shown} pool {pool.name!r} runs {machine}, which {_SELLER[cfg.cloud]} does not "
            f"sell in {', '.join(missing)}; zones of {region} that sell it: {', '.join(selling)}; {fix}"]


# Versions known to work together (EKS 1.33), named in errors so a missing pin is one copy-paste away.
CHART_VERSION_EXAMPLES = {"cluster_autoscaler": "9.50.1", "nvidia_device_plugin": "0.17.4", "dcgm_exporter": "4.6.0",
                          "metrics_server": "3.13.0"}
AWS_BUDGET_NOTIFICATIONS = 10  # AWS Budgets: at most 10 notifications per budget

_PLATFORM_BLOCKS = {"gke": "gcp", "eks": "aws", "existing": "existing"}
_PLATFORM_NEEDS = {
    "gke": "gcp.project, gcp.region and gcp.zones",
    "eks": "aws.region and aws.zones (two or more)",
    "existing": "existing.kubeconfig (a secret) or existing.context, and existing.priceAs",
}


def _platform_checks(cfg: StackConfig) -> list[str]:
    """The platform block matches the cloud, and what the cloud needs is there."""
    problems: list[str] = []
    for cloud, block in _PLATFORM_BLOCKS.items():
        present = getattr(cfg, block) is not None
        if cloud == cfg.cloud and not present:
            return [f"{block}: missing; cloud {cfg.cloud!r} needs {_PLATFORM_NEEDS[cloud]}"]
        if cloud != cfg.cloud and present:
            problems.append(f"{block}: set, but cloud is {cfg.cloud!r}; remove it or set cloud: {cloud}")
    if cfg.cloud == "eks":
        charts = cfg.artifacts.charts
        for key in ("cluster_autoscaler", "nvidia_device_plugin", "dcgm_exporter", "metrics_server"):
            if getattr(charts, key) is None:
                problems.append(f"artifacts.charts.{to_camel(key)}: missing; cloud 'eks' installs this chart at the "
                                f"pinned version, e.g. {to_camel(key)}: {CHART_VERSION_EXAMPLES[key]}")
        budget = cfg.budget
        if budget is not None and len(budget.thresholds) + len(budget.forecast_thresholds) > AWS_BUDGET_NOTIFICATIONS:
            problems.append(
                f"budget.thresholds = {budget.thresholds}: with budget.forecastThresholds = "
                f"{budget.forecast_thresholds} that is {len(budget.thresholds) + len(budget.forecast_thresholds)} "
                f"notifications; allowed: at most {AWS_BUDGET_NOTIFICATIONS} per AWS budget, both lists together")
        if cfg.budget is not None and cfg.budget.currency != "USD":
            problems.append(f"budget.currency = {cfg.budget.currency!r}: AWS Budgets track cost in USD; allowed: 'USD'")
    if cfg.cloud == "existing":
        problems += _existing_checks(cfg)
    return problems


def _existing_checks(cfg: StackConfig) -> list[str]:
    existing = cfg.existing
    assert existing is not None
    problems: list[str] = []
    if not existing.kubeconfig and not existing.context:
        problems.append("existing.kubeconfig: missing; set it as a secret (pulumi config set --path --secret "
                        "'llm-fleet:existing.kubeconfig' \"$(cat kubeconfig)\") or name existing.context")
    if existing.price_as is None:
        problems.append(f"existing.priceAs: missing; name the price list the GPUs are costed at; allowed: "
                        f"{', '.join(PRICE_SOURCES)}")
    for i, pool in enumerate(cfg.node_pools):
        if pool.gpu is None:
            continue
        kind = pool.gpu.value
        if existing.gpu_labels(pool.gpu) is None:
            problems.append(f"nodePools[{i}].gpu = {kind!r}: preset {existing.preset!r} has no node label for {kind}; "
                            f"set existing.gpuNodes.{kind}.labels to the labels the cluster's {kind} nodes carry")
        if existing_node_size(existing, pool.gpu, pool.gpus_per_node or 1) is None:
            problems.append(f"existing.gpuNodes.{kind}: missing vcpus and memoryGib; no catalog machine has "
                            f"{pool.gpus_per_node} x {kind} to take a node's size from")
        alt = alternative(existing.price_as) if existing.price_as else None
        override = cfg.pricing.get(pool.gpu)
        if alt is not None and pool.gpu not in alt.per_gpu_hour and not (override and override.on_demand):
            sellers = [a.name.lower() for a in ALTERNATIVES if pool.gpu in a.per_gpu_hour]
            problems.append(f"existing.priceAs = {existing.price_as!r}: {alt.name} has no price for {kind}; "
                            f"allowed for {kind}: {', '.join([*CATALOG_CLOUDS, *sellers])}, or set "
                            f"pricing.{kind}.onDemand")
    return problems


def _default_gpus_per_node(data: dict[str, Any], pool: dict[str, Any]) -> int | None:
    """The node size (in GPUs) a GPU pool gets when it names none: the smallest its cloud sells."""
    cloud = data.get("cloud", "gke")
    try:
        spec = GPUS[GpuKind(pool.get("gpu"))]
    except ValueError:
        return None  # an unknown GPU kind: the schema reports it
    if cloud == "existing":
        existing = data.get("existing") if isinstance(data.get("existing"), dict) else {}
        preset = EXISTING_PRESETS.get(existing.get("preset", "nvidia-gpu-operator"))
        return preset.gpus_per_node if preset else 1
    named = spec.shape_named(cloud, pool["machineType"]) if isinstance(pool.get("machineType"), str) else None
    if named is not None:
        return named.gpus
    sizes = spec.gpus_per_node(cloud)
    return sizes[0] if sizes else 1


def apply_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Fill what the stack file leaves out: the ONE place defaults that depend on the tier or the cloud apply.

    Tier defaults come from the tier's profile; cloud defaults (a GPU pool's node size, the system
    pool's machine) from the catalog.
    """
    data = json.loads(json.dumps(raw))  # deep copy, and proof the input is plain data
    profile = TIER_PROFILES[data["tier"]]
    cloud = data.get("cloud", "gke")
    for pool in data.get("nodePools") or []:
        if isinstance(pool, dict):
            pool.setdefault("capacity", profile.capacity)
            pool.setdefault("minNodes", profile.min_nodes)
            if pool.get("gpu") is not None and "gpusPerNode" not in pool:
                pool["gpusPerNode"] = _default_gpus_per_node(data, pool)
    if cloud in SYSTEM_MACHINE_TYPE:
        system = data.setdefault("systemPool", {})
        if isinstance(system, dict):
            system.setdefault("machineType", SYSTEM_MACHINE_TYPE[cloud])
    for workload in [*(data.get("models") or []), data.get("rollout")]:
        if isinstance(workload, dict) and isinstance(workload.get("replicas"), dict):
            workload["replicas"].setdefault("min", profile.min_replicas)
    if cloud in INTERNAL_GATEWAY_CLASS and isinstance(data.setdefault("serving", {}), dict):
        data["serving"].setdefault("gatewayClass", INTERNAL_GATEWAY_CLASS[cloud])
    if isinstance(data.get("gcp"), dict):
        data["gcp"].setdefault("releaseChannel", profile.release_channel)
    if cloud in ("gke", "eks") and profile.authorized_networks is not None:
        control_plane = data.setdefault("controlPlane", {})
        if isinstance(control_plane, dict):
            control_plane.setdefault("authorizedNetworks", list(profile.authorized_networks))
    serving = data.get("serving")
    if isinstance(serving, dict) and serving.get("expose") == "internal-load-balancer":
        # An internal load balancer is reachable from the stack's own network: that is the default client range.
        block = data.get({"gke": "gcp", "eks": "aws"}.get(cloud, ""))
        if isinstance(block, dict):
            own = block.get("subnetCidr", Gcp.model_fields["subnet_cidr"].default) if cloud == "gke" else \
                block.get("vpcCidr", Aws.model_fields["vpc_cidr"].default)
            serving.setdefault("apiClientCidrs", [own])
    if "budget" not in data and profile.default_budget_usd is not None:
        data["budget"] = {"monthlyAmount": profile.default_budget_usd}
    return data


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(("function-", "constrained-")):
            path += f".{part}" if path else part
    return path


def _describe(error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    # pydantic puts the model class name in the loc of model-level validators; drop it.
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper()))
    path = _key_path(loc) or "(stack)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key; check its spelling against the documented keys"
    if kind == "missing":
        return f"{path}: missing; this key is required"
    value = error.get("input")
    msg = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and isinstance(value, Mapping):
        return f"{path}: {msg}"
    return f"{path} = {value!r}: {msg}"


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate a stack's `llm-fleet:*` config (keys without the namespace). Raises ConfigError."""
    tier = raw.get("tier")
    if tier not in TIER_PROFILES:
        # Every other default hangs off the tier: report it alone rather than its knock-on errors.
        shown = ": missing;" if tier is None else f" = {tier!r}:"
        raise ConfigError([f"config error: {NAMESPACE}:tier{shown} allowed: 'dev', 'staging' or 'prod'"])
    data = apply_defaults(raw)
    try:
        cfg = StackConfig.model_validate(data, context={"cloud": data.get("cloud", "gke")})
    except ValidationError as e:
        raise ConfigError([f"config error: {NAMESPACE}:{_describe(err, data)}" for err in e.errors()]) from None
    problems = _cross_checks(cfg)
    if problems:
        raise ConfigError([f"config error: {NAMESPACE}:{p}" for p in problems])
    return cfg


def _decode(value: str) -> Any:
    # Pulumi hands structured config to the program as JSON text and scalars as plain text.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def load_config() -> StackConfig:
    """Read every `llm-fleet:*` key of the running stack, once, and validate it."""
    # The engine hands config over as the PULUMI_CONFIG environment map or (newer language hosts,
    # and `plan`) through set_all_config; the explicit map wins, as in pulumi.Config itself.
    return parse_engine_config(sdk.engine_config())


def parse_engine_config(values: Mapping[str, Any]) -> StackConfig:
    """Validate config in the engine's shape: `llm-fleet:<key>` → JSON text (structured) or plain text."""
    raw = {
        key.split(":", 1)[1]: _decode(value) if isinstance(value, str) else value
        for key, value in values.items()
        if key.startswith(f"{NAMESPACE}:")
    }
    return parse_stack_config(raw)
