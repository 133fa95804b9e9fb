"""No model is reachable from outside the network unless the stack asked for it, and then only internally."""

from __future__ import annotations

from infra.flows.rendered import is_internal_load_balancer
from infra.guards.base import StackPlan, Verdict
from infra.guards.verdicts import severity
from infra.names import GATEWAY_APP, GATEWAY_NAMESPACE

PEER_SERVICE = (GATEWAY_NAMESPACE, f"{GATEWAY_APP}-peers")


def no_unrequested_load_balancer(plan: StackPlan) -> Verdict:
    name, problems = "no-unrequested-load-balancer", []
    for r in plan.resources:
        if r.inputs.get("kind") != "Service" or r.inputs.get("spec", {}).get("type") != "LoadBalancer":
            continue
        meta = r.inputs.get("metadata", {})
        internal = is_internal_load_balancer(meta.get("annotations"))
        # A fleet region's gateway has one for its peers (infra/workloads/gateway.py): asked for by `regions`, and
        # open only to the peers' ranges.
        if (meta.get("namespace"), meta.get("name")) == PEER_SERVICE and plan.cfg.peer_networks():
            ranges = r.inputs.get("spec", {}).get("loadBalancerSourceRanges") or []
            if not internal or not ranges or set(ranges) - set(plan.cfg.peer_networks()):
                problems.append(f"Service {r.name} (the peers' way to the gateway) must be internal and admit only the "
                                f"peer regions' ranges {list(plan.cfg.peer_networks())}; it admits {ranges or 'any'}")
        elif plan.cfg.serving.expose != "internal-load-balancer":
            problems.append(f"Service {r.name} is a LoadBalancer but serving.expose is {plan.cfg.serving.expose!r}")
        elif not internal:
            problems.append(f"Service {r.name} is a LoadBalancer without an internal-load-balancer annotation: "
                            "it would get a public address")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    return Verdict(name, "pass", "no public load balancer")


# Objects that route traffic into the cluster from outside it. No config key asks for any of them (serving.expose
# is cluster-ip or internal-load-balancer), so each one the stack declares is one nobody asked for. The Gateway and
# HTTPRoute that the KubeRay operator itself makes for an incremental upgrade are not declared here: they take
# serving.gatewayClass, an internal class by default (infra/config/serving.py).
ENTRY_POINT_KINDS = frozenset({"Ingress", "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"})


def no_unrequested_entry_points(plan: StackPlan) -> Verdict:
    """No NodePort Service (a port on every node's address, outside any load balancer's source ranges) and no
    Ingress or Gateway API object: the stack exposes models only as serving.expose says."""
    name, problems = "no-unrequested-entry-points", []
    for r in plan.resources:
        if not r.is_kubernetes_object:
            continue
        kind, meta = r.inputs.get("kind"), r.inputs.get("metadata") or {}
        where = f"{kind} {meta.get('namespace', 'default')}/{meta.get('name', r.name)}"
        if kind == "Service" and (r.inputs.get("spec") or {}).get("type") == "NodePort":
            problems.append(f"{where} is a NodePort: it opens its port on every node")
        elif kind in ENTRY_POINT_KINDS:
            problems.append(f"{where} routes traffic in from outside the cluster")
    if problems:
        return Verdict(name, severity(name, plan.cfg.tier), "; ".join(problems) + f" — serving.expose is "
                       f"{plan.cfg.serving.expose!r}; remove it, or expose through serving.expose")
    return Verdict(name, "pass", "no NodePort, Ingress or Gateway route")
