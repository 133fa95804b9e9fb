"""The workloads' NetworkPolicies beyond each one's own ingress: the egress every pod group needs (declared in
infra/egress.py, rendered here) and, in KubeRay mode, who may reach the training Ray cluster.

Each namespace already denies everything both ways (infra/cluster/default_deny.py); these open the exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.kuberay import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from infra.config import StackConfig
from infra.egress import RAY_DASHBOARD_PORT, RAY_NODE, SUBMITTER, PodEgress, egress_of
from infra.names import PART_OF, TRAINING_NAMESPACE

NS_NAME = "kubernetes.io/metadata.name"  # every namespace carries its own name (Kubernetes >= 1.21)


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


def ray_training_ingress_spec() -> dict[str, Any]:
    """The training Ray cluster: its own pods to each other; the submitter and the KubeRay operator to the head's
    dashboard API (the operator polls the job's status there: ray-operator rayjob_controller.go v1.7.0, through
    the dashboard client's GetJobInfo)."""
    dashboard = [{"port": RAY_DASHBOARD_PORT, "protocol": "TCP"}]
    return {"podSelector": {"matchLabels": RAY_NODE}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"podSelector": {"matchLabels": RAY_NODE}}]},
        {"from": [{"podSelector": {"matchLabels": SUBMITTER}}], "ports": dashboard},
        {"from": [{"namespaceSelector": {"matchLabels": {NS_NAME: KUBERAY_NAMESPACE}},
                   "podSelector": {"matchLabels": KUBERAY_OPERATOR_LABELS}}], "ports": dashboard},
    ]}


@dataclass(frozen=True)
class WorkloadNetworkArgs:
    egress: tuple[PodEgress, ...]
    namespaces: Mapping[str, pulumi.Input[str]]  # the Namespaces component's names (so policies wait for them)
    ray_training: bool  # KubeRay mode with a training job: its Ray cluster's ingress


def workload_network_args(cfg: StackConfig, namespaces: Mapping[str, pulumi.Input[str]]) -> WorkloadNetworkArgs:
    return WorkloadNetworkArgs(egress=egress_of(cfg), namespaces=namespaces,
                               ray_training=cfg.serving.mode == "kuberay" and cfg.training is not None)


class WorkloadNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkloadNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:WorkloadNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for group in args.egress:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{group.name}", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=group.name, namespace=args.namespaces[group.namespace], labels=PART_OF),
                spec=egress_policy_spec(group), opts=child)
        if args.ray_training:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-ray-trainer", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="ray-trainer", namespace=args.namespaces[TRAINING_NAMESPACE], labels=PART_OF),
                spec=ray_training_ingress_spec(), opts=child)
        self.register_outputs({})
