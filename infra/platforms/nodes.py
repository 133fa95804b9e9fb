"""Node arithmetic: what pods can use on a node, and the facts of a pool whose machines the catalog knows.

Owns the kubelet reservations, boot disk sizes, taint spellings, the pool facts computed from config and
catalog alone (what cost and guards see, with no cloud call), and what a cloud's node pool is built from:
its node labels and machine extras (`NodePoolSpec`), the same for GKE and EKS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from infra.catalog import GPUS, GpuSpec, MachineShape, parse_cpu_machine
from infra.config import NodePool, StackConfig, Taint, gpu_pool_shape
from infra.names import GPU_LABEL, GPU_TAINT_KEY, POOL_LABEL, PURPOSE_LABEL
from infra.seam import NodeTaint, PoolFacts

# Taint effects as the GKE and EKS APIs spell them.
CLOUD_TAINT_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                      "NoExecute": "NO_EXECUTE"}
# The boot disk also holds the OS and container images (a vLLM image alone is ~10 GB).
BOOT_DISK_RESERVED_GIB = 60
SYSTEM_DISK_GB = 100


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


def node_labels(facts: PoolFacts, own: dict[str, str], cloud: dict[str, str] | None = None) -> dict[str, str]:
    """A pool's node labels: what pods select on (pool, purpose, GPU kind), the cloud's own, then the pool's own."""
    labels = {POOL_LABEL: facts.name, PURPOSE_LABEL: facts.purpose}
    if facts.gpu:
        labels[GPU_LABEL] = facts.gpu.value.lower()
    return {**labels, **(cloud or {}), **own}


@dataclass(frozen=True)
class NodePoolSpec:
    """What a cloud's node pool (GKE node pool, EKS node group) is built from: its facts and node-only settings."""

    facts: PoolFacts
    labels: dict[str, str]
    disk_gb: int
    reservation: str | None = None
    zones: tuple[str, ...] = ()  # (): every zone of the cluster
    local_ssds: int = 0  # bundled local NVMe disks of the machine (GKE attaches them by count)


CloudLabels = Callable[[PoolFacts], dict[str, str]]


def node_pool_specs(cfg: StackConfig, cloud: str, facts: dict[str, PoolFacts],
                    cloud_labels: CloudLabels | None = None) -> tuple[NodePoolSpec, ...]:
    """The system pool, then each configured pool, as the cloud builds them (facts from `catalog_pool_facts`)."""
    def labels(pool_facts: PoolFacts, own: dict[str, str]) -> dict[str, str]:
        return node_labels(pool_facts, own, cloud_labels(pool_facts) if cloud_labels else None)

    system = facts["system"]
    specs = [NodePoolSpec(system, labels(system, {}), SYSTEM_DISK_GB)]
    for pool in cfg.node_pools:
        shape = gpu_pool_shape(pool, cloud) if pool.gpu is not None else None
        specs.append(NodePoolSpec(facts[pool.name], labels(facts[pool.name], pool.labels), pool.disk_size_gb,
                                  pool.reservation, tuple(pool.zones or ()), shape.local_ssds if shape else 0))
    return tuple(specs)
