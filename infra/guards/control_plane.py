"""The cluster beside its API endpoint: nodes have no public addresses and nobody is cluster-admin without being
named in the config (issue 17, item 6). The endpoint's allowlist is the network-flows guard's (infra/flows/
unneeded.py: a cluster API open to any address that the stack did not ask for fails it in every tier).

Read from the cluster resources as declared (GKE `gcp:container/cluster:Cluster`, EKS `aws:eks/cluster:Cluster`),
so the policy pack sees what the cloud would get, whatever the config said. An existing cluster is not ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.guards.base import StackPlan, Verdict
from infra.guards.verdicts import severity

NAME = "nodes-private-and-admins-named"
GKE_CLUSTER, EKS_CLUSTER = "gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster"


def _gke_findings(name: str, inputs: dict[str, Any]) -> Iterator[str]:
    private = inputs.get("privateClusterConfig") or {}
    if not private.get("enablePrivateNodes"):
        yield (f"GKE cluster {name}: nodes get public IP addresses (privateClusterConfig.enablePrivateNodes is off); "
               "fix: gcp.privateNodes: true (the default; Cloud NAT gives them egress)")


def _eks_findings(name: str, inputs: dict[str, Any]) -> Iterator[str]:
    # The creator's access entry is invisible in code and outlives whoever ran the first `up` (EKS API
    # CreateAccessConfigRequest.bootstrapClusterCreatorAdminPermissions, default true).
    if (inputs.get("accessConfig") or {}).get("bootstrapClusterCreatorAdminPermissions", True):
        yield (f"EKS cluster {name}: its creator is cluster-admin through an access entry nobody declared "
               "(accessConfig.bootstrapClusterCreatorAdminPermissions); name admins in aws.admins instead")


def nodes_private_and_admins_named(plan: StackPlan) -> Verdict:
    findings: list[str] = []
    for r in plan.resources:
        if r.type == GKE_CLUSTER:
            findings += _gke_findings(r.name, r.inputs)
        elif r.type == EKS_CLUSTER:
            findings += _eks_findings(r.name, r.inputs)
    if findings:
        return Verdict(NAME, severity(NAME, plan.cfg.tier), "; ".join(findings))
    clusters = sum(r.type in (GKE_CLUSTER, EKS_CLUSTER) for r in plan.resources)
    if not clusters:
        return Verdict(NAME, "pass", "no cluster built here: its nodes and admins are managed where it is run")
    return Verdict(NAME, "pass", "nodes have private addresses only; every cluster-admin is named in the config")
