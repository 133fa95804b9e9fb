"""Issue 17, item 6 (Medium): public control planes with no allowlist by default, dev nodes with public IPs, the EKS
deploy role left cluster-admin. Every tier names who reaches the cluster API, nodes are private by default in every
tier (dev too), and on EKS only the principals in `aws.admins` are cluster-admin (no lasting creator entry)."""

from __future__ import annotations

import dataclasses

import pytest

from infra.guards.base import StackPlan
from infra.guards.control_plane import EKS_CLUSTER, GKE_CLUSTER, nodes_private_and_admins_named
from infra.program import stack_plan
from tests.conftest import assert_one_config_error, stack_config

# examples/Pulumi.eks-prod.yaml aws.admins: the deploy role and the operators' role
ADMINS = ["arn:aws:iam::123456789012:role/llm-fleet-deploy", "arn:aws:iam::123456789012:role/ml-platform-admin"]


def cluster_inputs(plan, type_: str) -> dict:
    (cluster,) = plan.of_type(type_)
    return cluster.inputs


def guard_with(plan, type_: str, edit) -> object:
    """The guard on `plan` with its cluster resource's inputs changed by `edit`."""
    resources = [dataclasses.replace(r, inputs=edit(dict(r.inputs))) if r.type == type_ else r
                 for r in plan.resources]
    base = stack_plan(plan.cfg)
    return nodes_private_and_admins_named(StackPlan(plan.cfg, base.pools, base.cost, tuple(resources)))


@pytest.mark.parametrize("tier", ["dev", "staging"])
def test_no_tier_opens_the_cluster_api_by_default(tier):
    # Finding "public control-plane endpoints with no allowlist": dev and staging used to default to 0.0.0.0/0
    # when controlPlane was left out; now every tier on GKE/EKS must name its ranges.
    raw = stack_config(tier)
    raw.pop("controlPlane", None)
    assert_one_config_error(raw, ["controlPlane.authorizedNetworks: missing", f"tier {tier!r}"])


def test_dev_nodes_are_private(plan_of):
    # Finding "dev nodes with public IPs": Pulumi.dev.yaml set privateNodes: false; the default is private nodes
    # (with Cloud NAT for egress) and dev keeps it.
    private = cluster_inputs(plan_of("dev"), GKE_CLUSTER)["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True
    assert any(r.type == "gcp:compute/routerNat:RouterNat" for r in plan_of("dev").resources)


def test_eks_admins_are_named_and_the_creator_keeps_no_admin_entry(plan_of):
    # Finding "EKS deploy role left cluster-admin": the creator's bootstrap entry is off; the admins (the deploy role
    # among them) are the access entries declared from aws.admins, and the Kubernetes provider waits for them.
    plan = plan_of("eks-prod")
    access = cluster_inputs(plan, EKS_CLUSTER)["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    entries = [r.inputs["principalArn"] for r in plan.of_type("aws:eks/accessEntry:AccessEntry")]
    assert entries == ADMINS
    policies = plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert [p.inputs["policyArn"] for p in policies] == \
        ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"] * 2
    (provider,) = [r for r in plan.resources if r.type == "pulumi:providers:kubernetes" and r.name == "eks-k8s"]
    assert {p.urn for p in policies} <= set(provider.dependencies)


def test_eks_needs_at_least_one_named_admin():
    raw = stack_config("eks-prod")
    raw["aws"]["admins"] = []
    assert_one_config_error(raw, ["aws.admins = []", "list the deploy role"])
    del raw["aws"]["admins"]  # left out: the same, not a silent empty list
    assert_one_config_error(raw, ["aws.admins", "list the deploy role"])


def test_guard_fails_public_nodes_in_prod_and_warns_in_dev(plan_of):
    def public_nodes(inputs):
        return {k: v for k, v in inputs.items() if k != "privateClusterConfig"}

    prod = guard_with(plan_of("prod"), GKE_CLUSTER, public_nodes)
    assert prod.status == "fail" and "nodes get public IP addresses" in prod.message
    assert guard_with(plan_of("dev"), GKE_CLUSTER, public_nodes).status == "warn"
    assert guard_with(plan_of("prod"), GKE_CLUSTER, lambda i: i).status == "pass"


def test_guard_fails_an_eks_creator_admin_entry(plan_of):
    def creator_admin(inputs):
        return {**inputs, "accessConfig": {"authenticationMode": "API"}}  # EKS's default: true

    verdict = guard_with(plan_of("eks-prod"), EKS_CLUSTER, creator_admin)
    assert verdict.status == "fail" and "bootstrapClusterCreatorAdminPermissions" in verdict.message
