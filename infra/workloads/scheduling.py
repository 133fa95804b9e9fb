"""How a pod lands on a pool and what it may ask of one node: shared by every workload."""

from __future__ import annotations

import math

import pulumi_kubernetes as k8s

from infra.seam import PoolFacts

# What GKE's own DaemonSets (device plugin, DCGM, metrics and log agents, CSI) take on a GPU node.
DAEMONSET_CPU, DAEMONSET_MEMORY_GIB = 1.0, 3.0


def gpu_pod_resources(pool: PoolFacts, gpus: int) -> tuple[float, int]:
    """CPU cores and GiB a GPU pod requests: its share of the node, by GPUs, after the DaemonSets."""
    share = gpus / pool.gpus_per_node
    cpu = math.floor((pool.allocatable_cpu - DAEMONSET_CPU) * share * 2) / 2
    memory = math.floor((pool.allocatable_memory_gib - DAEMONSET_MEMORY_GIB) * share)
    return cpu, memory


def tolerations(pool: PoolFacts) -> list[k8s.core.v1.TolerationArgs]:
    return [k8s.core.v1.TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
            for t in pool.taints]
