"""Node arithmetic: what pods can use on a node, and the facts of a pool whose machines the catalog knows.

Owns the kubelet reservations, boot disk sizes, taint spellings and the pool facts computed from config and
catalog alone (what cost and guards see, with no cloud call).
"""

from __future__ import annotations

from collections.abc import Callable

from infra.catalog import GPUS, GpuSpec, MachineShape, parse_cpu_machine
from infra.config import NodePool, StackConfig, Taint, gpu_pool_shape
from infra.names import GPU_TAINT_KEY, POOL_LABEL
from infra.platforms.seam import NodeTaint, PoolFacts

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
