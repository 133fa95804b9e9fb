"""Reading pods out of declared resources: the shared vocabulary of the resource guards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from infra.planned import PlannedResource
from infra.seam import PoolFacts

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# Ray custom resources and where their RayCluster spec sits.
RAY_CLUSTER_FIELD = {"RayService": "rayClusterConfig", "RayJob": "rayClusterSpec"}
GIB = 2**30


@dataclass(frozen=True)
class PodTemplate:
    workload: str  # "Deployment llm-serving/vllm-qwen-7b"
    name: str
    spec: dict[str, Any]
    namespace: str = ""

    def total_request(self, resource: str) -> float:
        """Sum over containers of what the scheduler reserves of one resource.

        Core resources are scheduled by their request (a limit alone implies an equal request);
        extended resources such as GPUs are allocated by their limit.
        """
        total = 0.0
        for c in self.spec.get("containers", []):
            res = c.get("resources", {})
            requests, limits = res.get("requests", {}), res.get("limits", {})
            first, second = (limits, requests) if "/" in resource else (requests, limits)
            value = first.get(resource, second.get(resource))
            if value is not None:
                total += float(parse_quantity(str(value)))
        return total

    @property
    def gpus(self) -> int:
        return int(self.total_request("nvidia.com/gpu"))

    def env(self) -> dict[str, str]:
        return {e["name"]: e.get("value", "") for c in self.spec.get("containers", []) for e in c.get("env", [])}


def pod_templates(resources: tuple[PlannedResource, ...]) -> Iterator[PodTemplate]:
    """Every pod template: of workloads, and of each group (head and workers) of a Ray cluster."""
    for r in resources:
        kind = r.inputs.get("kind")
        if not r.is_kubernetes_object:
            continue
        meta = r.inputs.get("metadata", {})
        name = meta.get("name", r.name)
        ns = meta.get("namespace", "")
        where = f"{kind} {ns}/{name}"
        if kind in WORKLOAD_KINDS:
            yield PodTemplate(where, name, r.inputs.get("spec", {}).get("template", {}).get("spec", {}), ns)
        elif kind in RAY_CLUSTER_FIELD:
            cluster = r.inputs.get("spec", {}).get(RAY_CLUSTER_FIELD[kind], {})
            head = cluster.get("headGroupSpec", {}).get("template", {}).get("spec", {})
            yield PodTemplate(f"{where} head", f"{name}/head", head, ns)
            for group in cluster.get("workerGroupSpecs", []):
                yield PodTemplate(f"{where} group {group.get('groupName')}", f"{name}/{group.get('groupName')}",
                                  group.get("template", {}).get("spec", {}), ns)
            # A RayJob's submitter pod (KubeRay runs a default one when none is given: it is a pod all the same).
            submitter = r.inputs.get("spec", {}).get("submitterPodTemplate")
            if kind == "RayJob":
                yield PodTemplate(f"{where} submitter", f"{name}/submitter", (submitter or {}).get("spec", {}), ns)


def selected_pool(pod: PodTemplate, pools: dict[str, PoolFacts]) -> PoolFacts | None:
    """The pool whose every node label the pod's nodeSelector asks for (the most specific, when several do:
    on an existing cluster a CPU pool may select on no label at all)."""
    selector = pod.spec.get("nodeSelector") or {}
    matches = [p for p in pools.values() if p.node_selector.items() <= selector.items()]
    return max(matches, key=lambda p: len(p.node_selector), default=None)


def _term_labels(term: dict[str, Any]) -> dict[str, str] | None:
    """The labels a nodeSelectorTerm asks for, when it only asks `key In [one value]` (None: anything else)."""
    labels = {}
    for e in term.get("matchExpressions") or []:
        if e.get("operator") != "In" or len(e.get("values") or []) != 1:
            return None
        labels[e["key"]] = e["values"][0]
    return labels if labels and not term.get("matchFields") else None


def selected_pools(pod: PodTemplate, pools: dict[str, PoolFacts]) -> list[PoolFacts | None]:
    """The pool each of the pod's required node-affinity terms selects together with its nodeSelector (a capacity
    ladder: one term per rung); [its nodeSelector's pool] when it has no such terms. None: a term selecting no pool
    (or one this reader cannot tell)."""
    affinity = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
    terms = (affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    if not terms:
        return [selected_pool(pod, pools)]
    selector = pod.spec.get("nodeSelector") or {}
    found: list[PoolFacts | None] = []
    for term in terms:
        labels = _term_labels(term)
        found.append(None if labels is None else
                     selected_pool(PodTemplate(pod.workload, pod.name, {"nodeSelector": {**selector, **labels}}),
                                   pools))
    return found


def preferred_pool(pod: PodTemplate, pools: dict[str, PoolFacts]) -> PoolFacts | None:
    """The pool the pod prefers: its nodeSelector's, or its capacity ladder's first rung it can tell."""
    return next((p for p in selected_pools(pod, pools) if p is not None), None)
