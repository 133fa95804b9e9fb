"""How a pod lands on a pool and what it may ask of one node: shared by every workload.

A model on a capacity ladder (`models[].pools`) may land on any rung: `ladder_scheduling` turns the rungs into one
pod's placement — the labels every rung shares as its nodeSelector, one required nodeSelectorTerm per rung (the
terms are ORed: kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node "If you specify multiple terms in
nodeSelectorTerms ... the Pod can be scheduled onto a node if one of the specified terms can be satisfied"),
preferred terms weighted by rung order, and the union of the rungs' taints as tolerations. A model with one pool
gets exactly its pool's nodeSelector and tolerations, as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi_kubernetes as k8s

from infra.seam import NodeTaint, PoolFacts

# What GKE's own DaemonSets (device plugin, DCGM, metrics and log agents, CSI) take on a GPU node.
DAEMONSET_CPU, DAEMONSET_MEMORY_GIB = 1.0, 3.0
# preferredDuringScheduling weights must be in 1..100 (kubernetes.io/docs/concepts/scheduling-eviction/
# assign-pod-node#node-affinity-weight); the first rung gets the most, each later rung a step less.
TOP_WEIGHT, WEIGHT_STEP = 100, 10


def gpu_pod_resources(pool: PoolFacts, gpus: int) -> tuple[float, int]:
    """CPU cores and GiB a GPU pod requests: its share of the node, by GPUs, after the DaemonSets."""
    share = gpus / pool.gpus_per_node
    cpu = math.floor((pool.allocatable_cpu - DAEMONSET_CPU) * share * 2) / 2
    memory = math.floor((pool.allocatable_memory_gib - DAEMONSET_MEMORY_GIB) * share)
    return cpu, memory


def ladder_pod_resources(rungs: Sequence[PoolFacts], gpus: int) -> tuple[float, int]:
    """What a GPU pod that may land on any rung requests: the smallest rung's share, so it fits a node of each."""
    shares = [gpu_pod_resources(p, gpus) for p in rungs]
    return min(cpu for cpu, _ in shares), min(memory for _, memory in shares)


def tolerations(pool: PoolFacts) -> list[k8s.core.v1.TolerationArgs]:
    return [k8s.core.v1.TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
            for t in pool.taints]


@dataclass(frozen=True)
class Placement:
    """Where a pod may run, as plain Kubernetes dicts (camelCase): what the pod spec carries."""

    node_selector: dict[str, str]
    affinity: dict[str, Any] | None  # None: one pool, its nodeSelector says it all
    tolerations: list[dict[str, str]]


def _taints(rungs: Sequence[PoolFacts]) -> list[NodeTaint]:
    seen: dict[NodeTaint, None] = {}
    for pool in rungs:
        for taint in pool.taints:
            seen.setdefault(taint, None)
    return list(seen)


def _term(labels: dict[str, str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(labels.items())]}


def ladder_scheduling(rungs: Sequence[PoolFacts]) -> Placement:
    """The nodeSelector, node affinity and tolerations of a pod that may run on any of `rungs` (preferred first)."""
    assert rungs, "a placement has at least one pool"
    common = {k: v for k, v in rungs[0].node_selector.items()
              if all(p.node_selector.get(k) == v for p in rungs[1:])}
    tolerated = [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in _taints(rungs)]
    if len(rungs) == 1:
        return Placement(dict(rungs[0].node_selector), None, tolerated)
    rest = [{k: v for k, v in p.node_selector.items() if k not in common} for p in rungs]
    assert all(rest), "two rungs with the same node labels could not be told apart"
    affinity = {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [_term(r) for r in rest]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": max(1, TOP_WEIGHT - WEIGHT_STEP * i), "preference": _term(r)} for i, r in enumerate(rest)],
    }}
    return Placement(common, affinity, tolerated)


def _requirement_args(term: dict[str, Any]) -> k8s.core.v1.NodeSelectorTermArgs:
    return k8s.core.v1.NodeSelectorTermArgs(match_expressions=[
        k8s.core.v1.NodeSelectorRequirementArgs(key=e["key"], operator=e["operator"], values=e["values"])
        for e in term["matchExpressions"]])


def affinity_args(placement: Placement) -> k8s.core.v1.AffinityArgs | None:
    """The placement's node affinity as typed arguments of a pod spec (None: it has none)."""
    if placement.affinity is None:
        return None
    node = placement.affinity["nodeAffinity"]
    required = node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return k8s.core.v1.AffinityArgs(node_affinity=k8s.core.v1.NodeAffinityArgs(
        required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(
            node_selector_terms=[_requirement_args(t) for t in required]),
        preferred_during_scheduling_ignored_during_execution=[
            k8s.core.v1.PreferredSchedulingTermArgs(weight=p["weight"], preference=_requirement_args(p["preference"]))
            for p in node["preferredDuringSchedulingIgnoredDuringExecution"]]))


def toleration_args(placement: Placement) -> list[k8s.core.v1.TolerationArgs]:
    return [k8s.core.v1.TolerationArgs(**t) for t in placement.tolerations]
