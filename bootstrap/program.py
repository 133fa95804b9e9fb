"""The bootstrap program: the cloud side of the GitHub OIDC trust for one llm-fleet stack (see trust.py).

GKE stacks (GCP): a Workload Identity pool and GitHub provider in the stack's project, one service account per role
with `roles/iam.workloadIdentityUser` for exactly its environment's token, and the KMS key that encrypts the stack's
Pulumi secrets. EKS stacks (AWS): GitHub's OIDC provider in the stack's account, one role per role whose trust policy
names exactly its environment's token, and the KMS key. Outputs: what the GitHub environments' variables take.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from bootstrap.trust import (
    AWS_AUDIENCE,
    AWS_KMS_ACTIONS,
    AWS_MANAGED_POLICIES,
    GCP_ATTRIBUTE_MAPPING,
    GCP_KMS_ROLES,
    GCP_PROJECT_ROLES,
    ISSUER,
    KMS_KEY_RING,
    Settings,
    aws_key_alias,
    aws_secrets_provider,
    aws_trust_policy,
    environment,
    gcp_attribute_condition,
    gcp_member,
    gcp_secrets_provider,
)


def declare_gcp(s: Settings) -> None:
    assert s.gcp_project, "gke: gcpProject is required"
    project = s.gcp_project
    pool = gcp.iam.WorkloadIdentityPool("github-actions", project=project, workload_identity_pool_id="github-actions",
                                        display_name="GitHub Actions")
    provider = gcp.iam.WorkloadIdentityPoolProvider(
        "github", project=project, workload_identity_pool_id=pool.workload_identity_pool_id,
        workload_identity_pool_provider_id="github", display_name="GitHub",
        attribute_mapping=GCP_ATTRIBUTE_MAPPING, attribute_condition=gcp_attribute_condition(s),
        oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=ISSUER))
    ring = gcp.kms.KeyRing("pulumi-secrets", project=project, name=KMS_KEY_RING, location="global")
    key = gcp.kms.CryptoKey("pulumi-secrets", key_ring=ring.id, name=s.stack, rotation_period="7776000s")
    for role in s.roles():
        env = environment(s.stack, role)
        account = gcp.serviceaccount.Account(f"{role}", project=project, account_id=f"llm-fleet-{role}",
                                             display_name=f"llm-fleet {role} (GitHub environment {env})")
        gcp.serviceaccount.IAMMember(f"{role}-wif", service_account_id=account.name,
                                     role="roles/iam.workloadIdentityUser",
                                     member=pool.name.apply(lambda name, e=env: gcp_member(name, s.repository, e)))
        for granted in GCP_PROJECT_ROLES[role]:
            gcp.projects.IAMMember(f"{role}-{granted.removeprefix('roles/').replace('.', '-')}", project=project,
                                   role=granted, member=account.email.apply(lambda e: f"serviceAccount:{e}"))
        if kms_role := GCP_KMS_ROLES[role]:
            gcp.kms.CryptoKeyIAMMember(f"{role}-kms", crypto_key_id=key.id, role=kms_role,
                                       member=account.email.apply(lambda e: f"serviceAccount:{e}"))
        pulumi.export(f"{role}ServiceAccount", account.email)  # vars.GCP_<ROLE>_SERVICE_ACCOUNT of environment env
    pulumi.export("workloadIdentityProvider", provider.name)  # vars.GCP_WORKLOAD_IDENTITY_PROVIDER
    pulumi.export("secretsProvider", gcp_secrets_provider(project, s.stack))


def declare_aws(s: Settings) -> None:
    assert s.aws_region, "eks: awsRegion is required"
    oidc = aws.iam.OpenIdConnectProvider("github", url=ISSUER, client_id_lists=[AWS_AUDIENCE])
    key = aws.kms.Key("pulumi-secrets", description=f"Pulumi secrets of llm-fleet stack {s.stack}",
                      enable_key_rotation=True)
    aws.kms.Alias("pulumi-secrets", name=aws_key_alias(s.stack), target_key_id=key.key_id)
    for role in s.roles():
        env = environment(s.stack, role)
        iam_role = aws.iam.Role(
            role, name=f"llm-fleet-{s.stack}-{role}", description=f"GitHub environment {env} of {s.repository}",
            assume_role_policy=oidc.arn.apply(lambda arn, e=env: json.dumps(aws_trust_policy(arn, s.repository, e))),
            max_session_duration=3600)
        aws.iam.RolePolicyAttachment(f"{role}-managed", role=iam_role.name, policy_arn=AWS_MANAGED_POLICIES[role])
        if actions := AWS_KMS_ACTIONS[role]:
            aws.iam.RolePolicy(f"{role}-kms", role=iam_role.id, policy=key.arn.apply(lambda arn, a=actions: json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(a), "Resource": arn}]})))
        pulumi.export(f"{role}RoleArn", iam_role.arn)  # vars.AWS_<ROLE>_ROLE_ARN of environment env
    pulumi.export("secretsProvider", aws_secrets_provider(s.stack, s.aws_region))


def declare(settings: Settings) -> None:
    (declare_gcp if settings.cloud == "gke" else declare_aws)(settings)
