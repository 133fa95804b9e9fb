"""Default-deny: whether every namespace the stack creates denies all ingress and all egress unless a policy opens
it (issue 17, "default-deny everywhere"), and which namespaces the stack's Helm charts create instead.

A namespace denies a direction by default when one of its NetworkPolicies selects every pod (empty podSelector),
lists that direction in policyTypes and has no rule for it: Kubernetes then drops every connection in that direction
that no other policy allows (kubernetes.io/docs/concepts/services-networking/network-policies, "Default policies").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.flows.rendered import k8s_objects, namespace_of
from infra.planned import PlannedResource

DIRECTIONS = ("Ingress", "Egress")


def _selects_all(spec: Mapping[str, Any]) -> bool:
    selector = spec.get("podSelector") or {}
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def denies(spec: Mapping[str, Any], direction: str) -> bool:
    """Whether this policy spec, alone, denies `direction` for every pod of its namespace."""
    types = spec.get("policyTypes")
    if types is None:  # the API's default: Ingress always, Egress when egress rules are given
        types = ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    rules = spec.get("ingress" if direction == "Ingress" else "egress")
    return _selects_all(spec) and direction in types and not rules


def stack_namespaces(resources: Sequence[PlannedResource]) -> list[str]:
    # A NamespacePatch (a chart's namespace labelled after the fact, infra/restricted.py) is not a namespace we create.
    return sorted(str(r.inputs["metadata"]["name"]) for r in k8s_objects(resources, "Namespace")
                  if (r.inputs.get("metadata") or {}).get("name") and not r.type.endswith("Patch"))


def missing_default_deny(resources: Sequence[PlannedResource]) -> dict[str, list[str]]:
    """{namespace: the directions no policy denies by default}, for every Namespace the plan creates."""
    specs: dict[str, list[Mapping[str, Any]]] = {}
    for r in k8s_objects(resources, "NetworkPolicy"):
        specs.setdefault(namespace_of(r), []).append(r.inputs.get("spec") or {})
    missing = {ns: [d for d in DIRECTIONS if not any(denies(s, d) for s in specs.get(ns, []))]
               for ns in stack_namespaces(resources)}
    return {ns: dirs for ns, dirs in missing.items() if dirs}


def chart_namespaces(resources: Sequence[PlannedResource]) -> list[str]:
    """Namespaces Helm releases create (not Namespace objects of the plan): no default-deny, see
    infra/cluster/default_deny.py for why."""
    own = {*stack_namespaces(resources), "kube-system"}  # kube-system: the cluster's own, never created
    return sorted({str(r.inputs.get("namespace")) for r in resources if r.type == "kubernetes:helm.sh/v3:Release"
                   and r.inputs.get("createNamespace") and str(r.inputs.get("namespace")) not in own})
