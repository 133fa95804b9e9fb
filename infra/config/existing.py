"""An existing cluster (CoreWeave, on-prem, kind): the `existing` block, its presets, and its own rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from infra.catalog import CATALOG_CLOUDS, GPUS, GpuKind, GpuSpec
from infra.config.base import ConfigModel
from infra.config.budget import PriceOverride
from infra.config.pools import NodePool, Taint
from infra.config.workloads import Model
from infra.providers import PRICE_LIST_ALTERNATIVES as ALTERNATIVES
from infra.providers import PRICE_SOURCES, alternative


class GpuNodes(ConfigModel):
    """How an existing cluster exposes one GPU kind: the labels and taints its nodes carry, and their size."""

    labels: dict[str, str] | None = None
    """Labels the cluster's nodes of this GPU kind carry. Default: the preset's label for the kind."""
    taints: list[Taint] | None = None
    """Taints those nodes carry. Default: the preset's (none for both presets)."""
    vcpus: int | None = Field(default=None, ge=1)
    """vCPUs of one such node. Default: the catalog machine's with as many GPUs (EKS's, else GKE's)."""
    memory_gib: float | None = Field(default=None, gt=0)
    """Memory of one such node, in GiB. Default: the catalog machine's with as many GPUs."""
    ephemeral_storage_gib: int | None = Field(default=None, ge=1)
    """Ephemeral storage of one such node, in GiB. Default: the catalog machine's local NVMe, else 200."""


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


class Existing(ConfigModel):
    """A Kubernetes cluster we did not build (CoreWeave, on-prem, kind): we create no cloud resources."""

    kubeconfig: str | None = None
    """A secret: the cluster's kubeconfig, set inside the block (hence --path):
    `pulumi config set --path --secret 'llm-fleet:existing.kubeconfig' "$(cat kubeconfig)"`; or name `context`."""
    context: str | None = None
    """A context of the deployer's own kubeconfig, used when no `kubeconfig` is given."""
    preset: Literal["nvidia-gpu-operator", "coreweave"] = "nvidia-gpu-operator"
    """The cluster family, for its GPU node labels: `nvidia-gpu-operator` (default, 1 GPU per node) or
    `coreweave` (8-GPU nodes)."""
    gpu_nodes: dict[GpuKind, GpuNodes] = Field(default={})
    """Per GPU kind, how the cluster's nodes expose it: `{labels, taints, vcpus, memoryGib, ephemeralStorageGib}`."""
    system_node_labels: dict[str, str] = Field(default={})
    """Labels of the nodes cluster services (KEDA, operators) run on; default `{}`: anywhere."""
    storage_class: str | None = None
    """The StorageClass of the volumes we create; default: the cluster's default StorageClass."""
    registry: str | None = None
    """Where the serving image lives; default: the registry of `artifacts.servingImage`."""
    # We cannot create a cloud identity here; the plan says which buckets each account needs.
    service_account_annotations: dict[Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")],
                                      dict[str, str]] = Field(default={})
    """Per workload service account (`"<namespace>/<name>"`, e.g. `llm-training/trainer`), the annotations that
    bind it to a cloud identity the cluster already has, which may read its buckets."""
    # Nothing is billed through us: the price list only costs the plan.
    price_as: Literal[PRICE_SOURCES] | None = None  # type: ignore[valid-type]
    """Required: the price list the configured GPUs are costed at (a catalog cloud or a GPU cloud's list)."""

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


def existing_problems(existing: Existing, node_pools: list[NodePool], pricing: dict[GpuKind, PriceOverride],
                      current_rates: Mapping[str, Mapping[GpuKind, float]] | None = None) -> list[str]:
    """What a stack on an existing cluster needs: a way in, a price list, and each GPU pool's node labels and size."""
    problems: list[str] = []
    if not existing.kubeconfig and not existing.context:
        problems.append("existing.kubeconfig: missing; set it as a secret (pulumi config set --path --secret "
                        "'llm-fleet:existing.kubeconfig' \"$(cat kubeconfig)\") or name existing.context")
    if existing.price_as is None:
        problems.append(f"existing.priceAs: missing; name the price list the GPUs are costed at; allowed: "
                        f"{', '.join(PRICE_SOURCES)}")
    for i, pool in enumerate(node_pools):
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
        override = pricing.get(pool.gpu)
        stated = alt is not None and pool.gpu in (current_rates or {}).get(alt.slug, {})  # the team's rate there
        if alt is not None and pool.gpu not in alt.per_gpu_hour and not (override and override.on_demand) \
                and not stated:
            sellers = [a.name.lower() for a in ALTERNATIVES if pool.gpu in a.per_gpu_hour]
            problems.append(f"existing.priceAs = {existing.price_as!r}: {alt.name} has no price for {kind}; "
                            f"allowed for {kind}: {', '.join([*CATALOG_CLOUDS, *sellers])}, or set "
                            f"pricing.{kind}.onDemand or currentRates.{alt.slug}.{kind}")
    return problems


def existing_rung_problems(node_pools: list[NodePool], models: list[Model]) -> list[str]:
    """On an existing cluster a pod tells a ladder's rungs apart only by the labels their nodes already carry (GKE
    and EKS label each pool themselves): each rung needs a label the ladder's other rungs do not all share."""
    pools = {p.name: p for p in node_pools}
    problems: list[str] = []
    for i, model in enumerate(models):
        rungs = [pools[n] for n in model.pools or [] if n in pools]
        if len(rungs) < 2 or any(models[k].pools == model.pools for k in range(i)):
            continue  # no ladder, or one already checked
        common = {k: v for k, v in rungs[0].labels.items() if all(p.labels.get(k) == v for p in rungs[1:])}
        for rung in rungs:
            if not rung.labels.keys() - common.keys():
                j = node_pools.index(rung)
                problems.append(f"nodePools[{j}].labels = {rung.labels}: pool {rung.name!r} is a rung of "
                                f"models[{i}].pools = {model.pools} but its nodes carry no label the other rungs "
                                f"lack, so pods cannot prefer one rung over another; set a label its nodes alone "
                                f"carry (e.g. the cluster's node-pool label)")
    return problems
