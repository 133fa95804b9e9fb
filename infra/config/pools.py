"""Node pools: the GPU and CPU pools a stack declares, the system pool, and a GPU pool's machine shape.

Owns `NodePool` (with its tier and cloud defaults: capacity, minNodes, gpusPerNode), `SystemPool`
(its machine type per cloud), `Taint`, and `gpu_pool_shape`, the catalog machine of a GPU pool.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from infra.catalog import (
    CATALOG_CLOUDS,
    GPUS,
    SYSTEM_MACHINE_TYPE,
    GpuKind,
    MachineShape,
    parse_cpu_machine,
)
from infra.config.aws import check_eks_pool
from infra.config.base import TIER_DEFAULT, Capacity, ConfigModel, Name
from infra.config.commitments import Commitment, commitment_problem
from infra.config.context import StackContext, cloud_of, stack_context, with_defaults
from infra.config.messages import cpu_machine_words


class Taint(ConfigModel):
    """A Kubernetes node taint: only pods that tolerate it are scheduled on the pool's nodes."""

    key: str
    """The taint's key, e.g. `nvidia.com/gpu`."""
    value: str = ""
    """The taint's value; empty by default."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """What the taint does to pods that do not tolerate it: `NoSchedule` (default), `PreferNoSchedule`, `NoExecute`."""


class NodePool(ConfigModel):
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
    """The pool's name: lowercase letters, digits and dashes, at most 32 characters; unique among the pools."""
    gpu: GpuKind | None = None
    """The GPU kind of a GPU pool (`A100-40GB`, `A100-80GB`, `H100-80GB`, `L4`); leave it out for a CPU pool."""
    gpus_per_node: int | None = Field(default=None, ge=1)
    """GPUs per node of a GPU pool: a node size the cloud sells. Default: the smallest one (on an existing
    cluster: the preset's, 1 for `nvidia-gpu-operator`, 8 for `coreweave`; with a GPU `machineType`: its GPUs)."""
    machine_type: str | None = None
    """A CPU pool's machine type (GKE `n2-standard-32`…, EKS `m7i.8xlarge`…; on an existing cluster either, as
    the size of its nodes), or on GKE/EKS the catalog's instance type for the GPU kind (e.g. `g6.4xlarge`)."""
    purpose: Literal["serving", "training", "rollout"] = "serving"
    """What runs on the pool: `serving` (default), `training` or `rollout`; a workload that names no pool
    lands on the first pool of its GPU kind and purpose."""
    min_nodes: int = Field(ge=0, json_schema_extra=TIER_DEFAULT)
    """Fewest nodes, in total across zones. Default: the tier's (dev 0, so the pool scales to zero; staging and
    prod 1)."""
    max_nodes: int = Field(ge=0)
    """Most nodes, in total across zones; on EKS at least 1."""
    capacity: Capacity = Field(json_schema_extra=TIER_DEFAULT)
    """How nodes are bought: `spot`, `on-demand` or `reservation` (with `reservation`). Default: the tier's
    (`spot` in dev and staging, `on-demand` in prod)."""
    reservation: str | None = None
    """With `capacity: reservation`: the capacity reservation's name (on EKS its `cr-…` id); refused with any
    other capacity."""
    zones: list[str] | None = Field(default=None, min_length=1)
    """Zones the pool's nodes are held to: some of `gcp.zones`/`aws.zones`. Default: all of them. An EKS
    reservation pool names exactly its reservation's zone."""
    labels: dict[str, str] = Field(default={})
    """Kubernetes labels of the pool's nodes (on an existing cluster: labels its nodes already carry)."""
    taints: list[Taint] = Field(default=[])
    """Kubernetes taints of the pool's nodes."""
    disk_size_gb: int = Field(default=200, ge=50)
    """Each node's disk, in GB (at least 50; default 200): the pods' ephemeral storage where the machine has no
    local NVMe."""
    commitment: Commitment | None = None
    """Committed or reserved pricing of some of a GPU pool's nodes: `{plan, nodes, rate?, discount?}` (keys
    below); its nodes are paid whether they run or not. Default: none, every node at `capacity`'s price."""
    warm_headroom: int = Field(default=0, ge=0)
    """Spare GPU nodes kept running beyond what the pool's pods use, so a scale-out waits for a model to load, not
    for a node: low-priority placeholder pods (one per node) hold them and real pods preempt them. Each spare node
    is paid at the minimum too (the maximum is unchanged). Only on a GPU pool that serves a model; needs
    `artifacts.pauseImage`. Default: 0, none."""

    @model_validator(mode="before")
    @classmethod
    def _tier_and_cloud_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None or not isinstance(data, dict):
            return data
        filled = with_defaults(data, {"capacity": context.profile.capacity, "minNodes": context.profile.min_nodes})
        if filled.get("gpu") is not None and "gpusPerNode" not in filled:
            filled["gpusPerNode"] = _default_gpus_per_node(filled, context)
        return filled

    @model_validator(mode="after")
    def _shape(self, info: ValidationInfo) -> NodePool:
        cloud = cloud_of(info)
        if self.min_nodes > self.max_nodes:
            context = stack_context(info)
            default = " (the tier's minNodes, where not set)" \
                if context is not None and context.profile.min_nodes == self.min_nodes else ""
            raise ValueError(f"minNodes={self.min_nodes} is above maxNodes={self.max_nodes}{default}; allowed: "
                             f"maxNodes of minNodes or more; set maxNodes: {self.min_nodes} or minNodes: "
                             f"{self.max_nodes}")
        if self.capacity == "reservation" and not self.reservation:
            raise ValueError("capacity 'reservation' needs `reservation: <reservation name>`")
        if self.reservation is not None and self.capacity != "reservation":
            raise ValueError(f"reservation={self.reservation!r} is set but capacity={self.capacity!r}; a reservation "
                             "is consumed only by capacity: reservation; allowed: capacity: reservation, or no "
                             "reservation")
        if cloud == "eks":
            check_eks_pool(self.max_nodes, self.reservation)
        if self.commitment is not None and (problem := commitment_problem(
                self.commitment, cloud, self.gpu is not None, self.capacity, self.max_nodes)):
            raise ValueError(problem)
        if self.gpu is None:
            if not self.machine_type:
                raise ValueError("a pool needs `gpu` (a GPU kind) or `machineType` (a CPU machine type)")
            if parse_cpu_machine(self.machine_type, None if cloud == "existing" else cloud) is None:
                clouds = CATALOG_CLOUDS if cloud == "existing" else (cloud,)
                raise ValueError(
                    f"machineType={self.machine_type!r} is not a CPU shape the {'/'.join(clouds)} catalog prices; "
                    f"allowed: {' or '.join(cpu_machine_words(c) for c in clouds)}"
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


def _default_gpus_per_node(pool: dict[str, Any], context: StackContext) -> int | None:
    """The node size (in GPUs) a GPU pool gets when it names none: the smallest its cloud sells."""
    try:
        spec = GPUS[GpuKind(pool.get("gpu"))]
    except ValueError:
        return None  # an unknown GPU kind: the schema reports it
    if context.cloud == "existing":
        return context.existing_gpus_per_node
    machine_type = pool.get("machineType")
    named = spec.shape_named(context.cloud, machine_type) if isinstance(machine_type, str) else None
    if named is not None:
        return named.gpus
    sizes = spec.gpus_per_node(context.cloud)
    return sizes[0] if sizes else 1


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


class SystemPool(ConfigModel):
    """The small CPU pool for cluster services (KEDA, operators, monitoring)."""

    machine_type: str | None = None
    """The system pool's CPU machine type. Default per cloud: `e2-standard-4` on GKE, `m7i.xlarge` on EKS;
    an existing cluster has no system pool of ours (see `existing.systemNodeLabels`)."""
    min_nodes: int = Field(default=1, ge=1)
    """Fewest system nodes (at least 1; default 1)."""
    max_nodes: int = Field(default=3, ge=1)
    """Most system nodes (default 3)."""

    @model_validator(mode="before")
    @classmethod
    def _cloud_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None or context.cloud not in SYSTEM_MACHINE_TYPE:
            return data  # an existing cluster has no system pool of ours
        return with_defaults(data, {"machineType": SYSTEM_MACHINE_TYPE[context.cloud]})

    @model_validator(mode="after")
    def _shape(self, info: ValidationInfo) -> SystemPool:
        cloud = cloud_of(info)
        if cloud != "existing" and (self.machine_type is None or parse_cpu_machine(self.machine_type, cloud) is None):
            raise ValueError(f"machineType={self.machine_type!r} is not a CPU shape the {cloud} catalog prices; "
                             f"allowed: {cpu_machine_words(cloud)}")
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"minNodes={self.min_nodes} is above maxNodes={self.max_nodes}")
        return self
