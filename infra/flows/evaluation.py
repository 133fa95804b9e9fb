"""Whether each needed path is allowed: both ends' NetworkPolicies (egress at the source, ingress at the
destination), then the cloud firewall for sources outside the pod network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.config import StackConfig
from infra.flows.firewalls import cloud_firewall
from infra.flows.model import Addresses, Flow, FlowResult, Pods
from infra.flows.needed import needed_flows
from infra.flows.network_policy import Policy, policy_verdict
from infra.flows.rendered import k8s_objects, namespace_of, of_type
from infra.planned import PlannedResource


@dataclass(frozen=True)
class _Network:
    policies: tuple[Policy, ...]
    ns_labels: Mapping[str, Mapping[str, str]]
    resources: Sequence[PlannedResource]


def _network(resources: Sequence[PlannedResource]) -> _Network:
    policies = tuple(Policy(namespace_of(r), str((r.inputs.get("metadata") or {}).get("name", r.name)),
                            r.inputs.get("spec") or {}) for r in k8s_objects(resources, "NetworkPolicy"))
    ns_labels = {str(r.inputs["metadata"]["name"]): dict(r.inputs["metadata"].get("labels") or {})
                 for r in k8s_objects(resources, "Namespace") if (r.inputs.get("metadata") or {}).get("name")}
    return _Network(policies, ns_labels, resources)


def evaluate(cfg: StackConfig, resources: Sequence[PlannedResource]) -> list[FlowResult]:
    net = _network(resources)
    return [_evaluate(net, flow) for flow in needed_flows(cfg, resources)]


def _evaluate(net: _Network, flow: Flow) -> FlowResult:
    dst, src = flow.destination, flow.source
    if isinstance(flow.port, int):
        port: int | None = flow.port
    else:
        port = dst.ports.get(flow.port) if isinstance(dst, Pods) else None
        if port is None:
            return FlowResult(flow, None, False, (f"{dst} declares no container port named {flow.port!r}",))
    if isinstance(src, Addresses) and src.kind == "gateway-proxies" and not src.cidrs \
            and not of_type(net.resources, "gcp:container/cluster:Cluster"):
        # Off-GKE GatewayClasses: where their proxies connect from is the controller's business.
        return FlowResult(flow, port, None, (
            f"{src.name} connect from addresses llm-fleet does not know: an in-cluster gateway (istio, envoy-gateway) "
            "is admitted by listing its namespace in serving.apiAccessFrom; an off-cluster one (VPC Lattice) needs its "
            "range admitted to the serve port, which no config key offers yet",))
    by: list[str] = []
    named = dst.ports if isinstance(dst, Pods) else {}
    for pods, direction, other in ((src, "Egress", dst), (dst, "Ingress", src)):
        if isinstance(pods, Pods):
            ok, why = policy_verdict(net.policies, pods, direction, other, port, flow.protocol, named, net.ns_labels)
            if not ok:
                return FlowResult(flow, port, False, (why, f"fix: {flow.fix}"))
            by.append(why)
    if isinstance(src, Addresses) and src.kind != "internet":
        ok, why = cloud_firewall(net.resources, src, port)
        if ok is not True:
            return FlowResult(flow, port, ok, (why, *((f"fix: {flow.fix}",) if ok is False else ())))
        by.append(why)
    return FlowResult(flow, port, True, tuple(by))
