"""No model is reachable from outside the network unless the stack asked for it, and then only internally."""

from __future__ import annotations

from infra.flows.rendered import is_internal_load_balancer
from infra.guards.base import StackPlan, Verdict


def no_unrequested_load_balancer(plan: StackPlan) -> Verdict:
    name, problems = "no-unrequested-load-balancer", []
    for r in plan.resources:
        if r.inputs.get("kind") != "Service" or r.inputs.get("spec", {}).get("type") != "LoadBalancer":
            continue
        internal = is_internal_load_balancer(r.inputs.get("metadata", {}).get("annotations"))
        if plan.cfg.serving.expose != "internal-load-balancer":
            problems.append(f"Service {r.name} is a LoadBalancer but serving.expose is {plan.cfg.serving.expose!r}")
        elif not internal:
            problems.append(f"Service {r.name} is a LoadBalancer without an internal-load-balancer annotation: "
                            "it would get a public address")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    return Verdict(name, "pass", "no public load balancer")
