"""The workloads' egress NetworkPolicies: what every pod group needs (declared in infra/egress.py, rendered here).
Each workload declares its own ingress beside it (the training RayJob's: infra/workloads/ray_access.py).

Each namespace already denies everything both ways (infra/cluster/default_deny.py); these open the exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.egress import PodEgress, egress_of
from infra.names import PART_OF

NS_NAME = "kubernetes.io/metadata.name"  # every namespace carries its own name (Kubernetes >= 1.21)


def namespace_peers(names: list[str]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    """An ingress rule's `from`: every pod of these namespaces (by their immutable name label)."""
    return [k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=k8s.meta.v1.LabelSelectorArgs(
        match_expressions=[k8s.meta.v1.LabelSelectorRequirementArgs(
            key="kubernetes.io/metadata.name", operator="In", values=names)]))]


def egress_policy_spec(group: PodEgress) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for e in group.rules:
        if e.cidr is not None:
            to: dict[str, Any] = {"ipBlock": {"cidr": e.cidr}}
        else:
            to = {"namespaceSelector": {"matchLabels": {NS_NAME: e.namespace}},
                  **({"podSelector": {"matchLabels": dict(e.labels)}} if e.labels else {})}
        rules.append({"to": [to], **({"ports": [{"port": e.port, "protocol": e.protocol}]} if e.port else {})})
    return {"podSelector": {"matchLabels": dict(group.labels)}, "policyTypes": ["Egress"], "egress": rules}


@dataclass(frozen=True)
class WorkloadNetworkArgs:
    egress: tuple[PodEgress, ...]
    namespaces: Mapping[str, pulumi.Input[str]]  # the Namespaces component's names (so policies wait for them)


def workload_network_args(cfg: StackConfig, namespaces: Mapping[str, pulumi.Input[str]]) -> WorkloadNetworkArgs:
    return WorkloadNetworkArgs(egress=egress_of(cfg), namespaces=namespaces)


class WorkloadNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkloadNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:WorkloadNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for group in args.egress:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{group.name}", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=group.name, namespace=args.namespaces[group.namespace], labels=PART_OF),
                spec=egress_policy_spec(group), opts=child)
        self.register_outputs({})
