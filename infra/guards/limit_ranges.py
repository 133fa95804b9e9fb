"""Every pod the stack declares is admitted by its namespace's LimitRange.

A LimitRange `default` is a LIMIT the API server writes into every container that states none. A container that
requests more than that default and sets no limit of its own then has request > limit, and the API server refuses
the pod ("must be less than or equal to cpu limit"): kubernetes/website content/en/docs/concepts/policy/
limit-range.md, "LimitRange and admission checks for Pods" (read 2026-11-30). Mocks never run admission, so the plan
replays it: `default` fills missing limits, `defaultRequest` missing requests; then every request must fit its
limit and the range's `min`/`max`.
"""

from __future__ import annotations

from typing import Any

from kubernetes.utils.quantity import parse_quantity

from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import pod_templates
from infra.guards.verdicts import severity


def _q(value: object) -> float:
    return float(parse_quantity(str(value)))


def admission_problems(container: dict[str, Any], item: dict[str, Any]) -> list[str]:
    """Why a LimitRange item of type Container refuses this container (empty: admitted), after its defaults."""
    resources = container.get("resources") or {}
    limits = {**(item.get("default") or {}), **(resources.get("limits") or {})}
    requests = {**(item.get("defaultRequest") or {}), **(resources.get("requests") or {})}
    problems = []
    for resource, request in requests.items():
        if resource in limits and _q(request) > _q(limits[resource]):
            given = "the LimitRange's default" if resource not in (resources.get("limits") or {}) else "its"
            problems.append(f"{resource} request {request} > {given} limit {limits[resource]}")
    for resource, most in (item.get("max") or {}).items():
        if resource not in limits or _q(limits[resource]) > _q(most):
            problems.append(f"{resource} limit {limits.get(resource, 'unset')} above the LimitRange's max {most}")
    for resource, least in (item.get("min") or {}).items():
        if resource not in requests or _q(requests[resource]) < _q(least):
            problems.append(f"{resource} request {requests.get(resource, 'unset')} below the LimitRange's min {least}")
    return problems


def limit_ranges_admit_every_pod(plan: StackPlan) -> Verdict:
    name = "limit-ranges-admit-every-pod"
    ranges: dict[str, list[dict[str, Any]]] = {}
    for r in plan.resources:
        if r.is_kubernetes_object and r.inputs.get("kind") == "LimitRange":
            namespace = (r.inputs.get("metadata") or {}).get("namespace", "")
            items = ((r.inputs.get("spec") or {}).get("limits")) or []
            ranges.setdefault(namespace, []).extend(i for i in items if i.get("type") == "Container")
    problems = []
    for pod in pod_templates(plan.resources):
        for item in ranges.get(pod.namespace, []):
            for c in [*(pod.spec.get("initContainers") or []), *(pod.spec.get("containers") or [])]:
                problems += [f"{pod.workload} container {c.get('name')}: {why}" for why in admission_problems(c, item)]
    if problems:
        return Verdict(name, severity(name, plan.cfg.tier), "the API server would refuse these pods: "
                       + "; ".join(problems) + " — set the container's own limit, or drop that resource from the "
                       "LimitRange's default (infra/cluster/namespaces.py)")
    return Verdict(name, "pass", f"every pod fits the LimitRange of its namespace ({len(ranges)} with one)")
