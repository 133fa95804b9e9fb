"""The EKS control plane: its role, the KMS key that envelope-encrypts secrets, the cluster with API-mode access
entries (only `aws.admins`, the deploy role among them, are cluster-admin; the creator keeps no entry), the IAM OIDC
provider for IRSA, the nodes' role, and the kubeconfig.

Plain functions that create resources as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.platforms.eks.args import EksArgs
from infra.platforms.eks.facts import KUBECONFIG_EXEC, POLICY
from infra.platforms.kubeconfig import exec_kubeconfig

_ADMIN_ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


@dataclass(frozen=True)
class EksCluster:
    cluster: aws.eks.Cluster
    oidc: aws.iam.OpenIdConnectProvider  # what IRSA roles trust
    node_role: aws.iam.Role
    node_policies: list[aws.iam.RolePolicyAttachment]  # node groups wait for them
    admin_access: list[aws.eks.AccessPolicyAssociation]  # the Kubernetes provider waits for them


def _service_trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def eks_cluster(name: str, args: EksArgs, cluster_name: str, private_subnets: dict[str, aws.ec2.Subnet],
                child: pulumi.ResourceOptions, stateful: pulumi.ResourceOptions) -> EksCluster:
    stack = pulumi.get_stack()
    public_cidrs = args.authorized_networks
    cluster_role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=_service_trust("eks.amazonaws.com"),
                                opts=child)
    cluster_policy = aws.iam.RolePolicyAttachment(f"{name}-cluster-policy", role=cluster_role.name,
                                                  policy_arn=POLICY + "AmazonEKSClusterPolicy", opts=child)
    secrets_key = aws.kms.Key(f"{name}-secrets-key", description=f"llm-fleet {stack}: EKS secrets encryption",
                              enable_key_rotation=True, deletion_window_in_days=30, opts=stateful)
    cluster = aws.eks.Cluster(
        f"{name}-cluster",
        name=cluster_name,
        version=args.cluster_version,
        role_arn=cluster_role.arn,
        vpc_config=aws.eks.ClusterVpcConfigArgs(
            subnet_ids=[s.id for s in private_subnets.values()],
            endpoint_private_access=True,  # nodes reach the API inside the VPC
            # The deployer (CI) and operators reach the public endpoint from these ranges only; EKS's default
            # is 0.0.0.0/0 (EKS API VpcConfigRequest.publicAccessCidrs). [] turns the public endpoint off.
            endpoint_public_access=bool(public_cidrs),
            public_access_cidrs=public_cidrs or None,
        ),
        # Access entries, not the aws-auth ConfigMap. No lasting admin entry for whoever happens to create the
        # cluster (EKS CreateAccessConfigRequest.bootstrapClusterCreatorAdminPermissions, default true): the admins
        # are the named entries below. EKS fixes this at creation: flipping it on a live cluster replaces it.
        access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API",
                                                      bootstrap_cluster_creator_admin_permissions=False),
        encryption_config=aws.eks.ClusterEncryptionConfigArgs(
            resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn)),
        enabled_cluster_log_types=["api", "audit", "authenticator"],
        deletion_protection=args.protect,
        opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[cluster_policy])),
    )
    oidc = aws.iam.OpenIdConnectProvider(
        f"{name}-oidc", url=cluster.identities[0].oidcs[0].issuer, client_id_lists=["sts.amazonaws.com"],
        opts=child)
    admin_access = []
    for i, arn in enumerate(args.admins):
        entry = aws.eks.AccessEntry(f"{name}-admin-{i}", cluster_name=cluster.name, principal_arn=arn,
                                    type="STANDARD", opts=child)
        admin_access.append(aws.eks.AccessPolicyAssociation(
            f"{name}-admin-{i}-policy", cluster_name=cluster.name, principal_arn=entry.principal_arn,
            policy_arn=_ADMIN_ACCESS_POLICY,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), opts=child))

    node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_service_trust("ec2.amazonaws.com"),
                             opts=child)
    # Least privilege for nodes: join the cluster, run the VPC CNI, pull images. Workloads get IRSA roles.
    node_policies = [
        aws.iam.RolePolicyAttachment(f"{name}-node-{policy.lower()}", role=node_role.name,
                                     policy_arn=POLICY + policy, opts=child)
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
    ]
    return EksCluster(cluster, oidc, node_role, node_policies, admin_access)


def eks_kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    # Authenticates through `aws eks get-token`.
    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
        lambda a: exec_kubeconfig(a[0], a[1], a[2], {
            "command": KUBECONFIG_EXEC.command, "args": ["eks", "get-token", "--cluster-name", a[0], "--region", region,
                                       "--output", "json"]}))
