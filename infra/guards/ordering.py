"""Ordering: nothing is created before what it needs exists.

Pulumi creates resources in parallel, ordered only by the dependency graph the program declares. What a
resource waits for, as the engine sees it: every URN in its `dependencies` (explicit `depends_on` — a
component there stands for its custom descendants, which is how the Python SDK sends it,
pulumi/runtime/rpc.py `_add_dependency` — and every resource an input came from), its parent (a child is
registered only once its parent's URN has resolved, and a parent's registration waits for the parent's own
dependencies), and its provider (a resource's provider reference is resolved before it registers, so it
waits for the provider and, through it, for everything the provider waits for). The graph is followed
transitively.

The contract:
- every custom resource waits, directly or through its parent or provider, for the release or cluster
  feature that installs its CRD (else a first `up` fails with "no matches for kind");
- a Kubernetes provider on a cluster we build waits for a node pool that can run pods (at least one node
  and no taint), else everything that waits for pods starts on a cluster with no nodes;
- a Helm release that waits for its pods waits for a pool whose labels its nodeSelector matches;
- an IAM member that names a GKE workload pool (`<project>.svc.id.goog[<ns>/<sa>]`) waits for the cluster that
  creates the pool: until that cluster exists (on a project that never had one) IAM answers "Error 400: Identity
  Pool does not exist" and only a re-run succeeds (github.com/terraform-google-modules/
  terraform-google-kubernetes-engine issue #916 and PR #301, github.com/google/kctf issue #193).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pulumi_kubernetes  # noqa: F401  (registers the built-in Kubernetes API groups the guard tells apart)

from infra import sdk
from infra.guards.base import StackPlan, Verdict
from infra.planned import PlannedResource

NAME = "custom-resources-wait-for-their-definitions"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
K8S_PROVIDER = "pulumi:providers:kubernetes"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL_TYPES = ("gcp:container/nodePool:NodePool", "aws:eks/nodeGroup:NodeGroup")
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
# The pool a Workload Identity member names: `serviceAccount:<pool>[<subject>]` (GKE's form), or the federated
# `principal://iam.googleapis.com/projects/<n>/locations/global/workloadIdentityPools/<pool>/subject/<subject>`
# (docs.cloud.google.com/python/docs/reference/securitycenter/latest, ServiceAccountDelegationInfo.principal_subject).
WORKLOAD_POOL = re.compile(r"(?:serviceAccount:|workloadIdentityPools/)([^\[\]/\s]+\.svc\.id\.goog)")


def _chart(name: str) -> Callable[[PlannedResource], bool]:
    return lambda r: r.type == HELM_RELEASE and r.inputs.get("chart") == name


def _gke_managed_prometheus(r: PlannedResource) -> bool:
    config = (r.inputs.get("monitoringConfig") or {}).get("managedPrometheus") or {}
    return r.type == GKE_CLUSTER and config.get("enabled") is True


def _gke_gateway_api(r: PlannedResource) -> bool:
    channel = (r.inputs.get("gatewayApiConfig") or {}).get("channel")
    return r.type == GKE_CLUSTER and channel in ("CHANNEL_STANDARD", "CHANNEL_EXPERIMENTAL")


@dataclass(frozen=True)
class Definer:
    what: str  # how the message names it
    matches: Callable[[PlannedResource], bool]


# API group -> what installs its CRDs, and where that is written down.
DEFINERS: dict[str, tuple[Definer, ...]] = {
    # kedacore/charts keda/templates/crds/ (ScaledObject, TriggerAuthentication, ... ship with the chart)
    "keda.sh": (Definer("the KEDA Helm release", _chart("keda")),),
    # ray-project/kuberay helm-chart/kuberay-operator/crds/ (RayCluster, RayJob, RayService)
    "ray.io": (Definer("the kuberay-operator Helm release", _chart("kuberay-operator")),),
    # prometheus-community/helm-charts charts/kube-prometheus-stack/charts/crds/crds/ (PodMonitor, PrometheusRule)
    "monitoring.coreos.com": (Definer("the kube-prometheus-stack Helm release", _chart("kube-prometheus-stack")),),
    # GKE installs Managed Prometheus's PodMonitoring/Rules CRDs with managed collection
    # (cloud.google.com/stackdriver/docs/managed-prometheus/setup-managed).
    "monitoring.googleapis.com": (Definer("the GKE cluster with managed Prometheus", _gke_managed_prometheus),),
    # GatewayAPIConfig channel STANDARD: "Gateway API support is enabled, standard CRDs are installed"
    # (cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#channel_1).
    "gateway.networking.k8s.io": (Definer("the GKE cluster with the Gateway API enabled", _gke_gateway_api),),
    # ComputeClass is GKE's own CRD, on every cluster from 1.30.3-gke.1451000 (cloud.google.com/kubernetes-engine/
    # docs/concepts/about-custom-compute-classes; see infra/platforms/gke/compute_classes.py).
    "cloud.google.com": (Definer("the GKE cluster", lambda r: r.type == GKE_CLUSTER),),
}


def api_group(r: PlannedResource) -> str | None:
    """The API group of a Kubernetes object of a kind no built-in Pulumi Kubernetes type has (a CRD kind)."""
    if not (r.custom and r.type.startswith("kubernetes:")):
        return None
    module = r.type.split(":")[1]  # "<group>/<version>"
    if sdk.has_resource_module("kubernetes", module):
        return None  # apps/v1, helm.sh/v3, networking.k8s.io/v1, ...: types the provider ships
    return module.rsplit("/", 1)[0]


class Graph:
    """What each resource waits for, transitively: dependencies, parent, provider."""

    def __init__(self, resources: tuple[PlannedResource, ...]) -> None:
        self.by_urn = {r.urn: r for r in resources}
        self._children: dict[str, list[str]] = {}
        for r in resources:
            self._children.setdefault(r.parent, []).append(r.urn)
        self._memo: dict[str, frozenset[str]] = {}

    def _custom_descendants(self, urn: str) -> list[str]:
        out, todo = [], list(self._children.get(urn, []))
        while todo:
            child = self.by_urn[todo.pop()]
            if child.custom:
                out.append(child.urn)
            else:
                todo.extend(self._children.get(child.urn, []))
        return out

    def direct(self, r: PlannedResource) -> set[str]:
        waits: set[str] = set()
        for urn in r.dependencies:
            dep = self.by_urn.get(urn)
            # A component in dependsOn means its custom descendants (the SDK already expands it; a hand-made
            # plan or another engine may not).
            waits.update(self._custom_descendants(urn) if dep is not None and not dep.custom else [urn])
        waits.update(u for u in (r.parent, r.provider) if u)
        return waits

    def waits_for(self, urn: str) -> frozenset[str]:
        if urn in self._memo:
            return self._memo[urn]
        seen: set[str] = set()
        todo = [urn]
        while todo:
            current = self.by_urn.get(todo.pop())
            if current is None:
                continue
            for dep in self.direct(current) - seen:
                seen.add(dep)
                todo.append(dep)
        self._memo[urn] = frozenset(seen)
        return self._memo[urn]


def _object_name(r: PlannedResource) -> str:
    meta = r.inputs.get("metadata") or {}
    name = meta.get("name") or r.name
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else str(name)


def _pool_min(r: PlannedResource) -> int:
    if r.type.startswith("aws:"):
        return int((r.inputs.get("scalingConfig") or {}).get("minSize") or 0)
    autoscaling = r.inputs.get("autoscaling") or {}
    return int(autoscaling.get("totalMinNodeCount") or autoscaling.get("minNodeCount")
               or r.inputs.get("nodeCount") or r.inputs.get("initialNodeCount") or 0)


def _pool_labels(r: PlannedResource) -> dict[str, str]:
    if r.type.startswith("aws:"):
        return dict(r.inputs.get("labels") or {})
    return dict((r.inputs.get("nodeConfig") or {}).get("labels") or {})


def _pool_taints(r: PlannedResource) -> list:
    if r.type.startswith("aws:"):
        return list(r.inputs.get("taints") or [])
    return list((r.inputs.get("nodeConfig") or {}).get("taints") or [])


def schedulable(pool: PlannedResource) -> bool:
    """A pool any pod can land on from the start: at least one node, no taint."""
    return _pool_min(pool) >= 1 and not _pool_taints(pool)


def _crd_problems(plan: StackPlan, graph: Graph) -> list[str]:
    problems = []
    for r in plan.resources:
        group = api_group(r)
        if group is None:
            continue
        kind = r.type.rsplit(":", 1)[1]
        definers = [(d, x) for d in DEFINERS.get(group, ()) for x in plan.resources if d.matches(x)]
        # A CRD object of the stack's own for this group counts as well.
        definers += [(Definer(f"the CustomResourceDefinition {x.name}", lambda _: True), x) for x in plan.resources
                     if x.type == CRD_TYPE and (x.inputs.get("spec") or {}).get("group") == group]
        if not definers:
            problems.append(f"{kind} {_object_name(r)}: nothing in this stack installs the CRDs of {group}; "
                            f"install its chart or CRD in the stack, or drop the object")
            continue
        waits = graph.waits_for(r.urn)
        if not any(x.urn in waits for _, x in definers):
            definer, x = definers[0]
            problems.append(f"{kind} {_object_name(r)} does not wait for {definer.what} ({x.name}) which installs "
                            f"its CRD; add depends_on=[{x.name}]")
    return problems


def _provider_problems(plan: StackPlan, graph: Graph, pools: list[PlannedResource]) -> list[str]:
    if not pools:
        return []  # a cluster someone else runs: its nodes exist before the stack does
    ready = [p for p in pools if schedulable(p)]
    problems = []
    for r in plan.resources:
        if r.type != K8S_PROVIDER:
            continue
        if not any(p.urn in graph.waits_for(r.urn) for p in ready):
            fix = f"add depends_on=[{ready[0].name}]" if ready else "give the system pool min 1 node and no taint"
            problems.append(f"Kubernetes provider {r.name} does not wait for a schedulable node pool (min >= 1 node, "
                            f"no taint): releases that wait for pods start on a cluster with no nodes; {fix}")
    return problems


def _release_problems(plan: StackPlan, graph: Graph, pools: list[PlannedResource]) -> list[str]:
    if not pools:
        return []
    problems = []
    for r in plan.resources:
        if r.type != HELM_RELEASE or r.inputs.get("skipAwait") is True:
            continue
        selector = dict((r.inputs.get("values") or {}).get("nodeSelector") or {})
        fits = [p for p in pools if selector.items() <= _pool_labels(p).items() and (selector or schedulable(p))]
        waits = graph.waits_for(r.urn)
        if not any(p.urn in waits for p in fits):
            where = f"nodes labelled {selector}" if selector else "a schedulable pool"
            fix = f"add depends_on=[{fits[0].name}]" if fits else f"no pool has {where}: fix its nodeSelector"
            problems.append(f"Helm release {r.inputs.get('name') or r.name} waits for its pods but not for {where}; "
                            f"{fix}")
    return problems


def _members(r: PlannedResource) -> list[str]:
    members = r.inputs.get("members")
    return [str(m) for m in (members if isinstance(members, list) else [])] + (
        [str(r.inputs["member"])] if r.inputs.get("member") else [])


def _workload_pool_problems(plan: StackPlan, graph: Graph) -> list[str]:
    clusters = [r for r in plan.resources if r.type == GKE_CLUSTER]
    if not clusters:
        return []  # a cluster someone else runs: its pool exists before the stack does
    creates = {str((c.inputs.get("workloadIdentityConfig") or {}).get("workloadPool")): c for c in clusters}
    problems = []
    for r in plan.resources:
        if not (r.custom and r.type.startswith("gcp:")):
            continue
        for pool in sorted({m.group(1) for member in _members(r) for m in WORKLOAD_POOL.finditer(member)}):
            cluster = creates.get(pool)
            if cluster is None:
                problems.append(f"IAM member {r.name} names workload pool {pool}, which no GKE cluster of this stack "
                                f"creates; set the cluster's workload_identity_config.workload_pool to {pool}")
            elif cluster.urn not in graph.waits_for(r.urn):
                problems.append(f"IAM member {r.name} names workload pool {pool} but does not wait for the GKE "
                                f"cluster {cluster.name} that creates it (a first `up` fails: Identity Pool does "
                                f"not exist); add depends_on=[{cluster.name}]")
    return problems


def custom_resources_wait_for_their_definitions(plan: StackPlan) -> Verdict:
    """Custom resources wait for the release/CRD of their kind; providers and releases for nodes that run pods;
    Workload Identity bindings for the cluster that creates their pool."""
    graph = Graph(plan.resources)
    pools = [r for r in plan.resources if r.type in NODE_POOL_TYPES]
    problems = [*_crd_problems(plan, graph), *_provider_problems(plan, graph, pools),
                *_release_problems(plan, graph, pools), *_workload_pool_problems(plan, graph)]
    if problems:
        return Verdict(NAME, "fail", " | ".join(problems))
    custom = sum(1 for r in plan.resources if api_group(r) is not None)
    return Verdict(NAME, "pass", f"{custom} custom resource(s) wait for their CRDs; providers and releases wait "
                                 f"for nodes that can run their pods; Workload Identity bindings for their cluster")
