"""IAM roles for service accounts (IRSA) on EKS: a role trusted only by one Kubernetes service account, and a
workload's role allowed exactly the buckets (and prefixes) it named — the serving role also reads the weights
bucket; its ARN becomes the service account's annotation.

A plain class that creates roles as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.platforms.eks.facts import IRSA_ANNOTATION, POLICY, S3_READ, S3_WRITE
from infra.seam import BucketAccess, IdentityRequest, WorkloadIdentity


def _irsa_trust(oidc: aws.iam.OpenIdConnectProvider, namespace: str, service_account: str) -> pulumi.Output[str]:
    """Trust policy: only this one service account, with tokens minted for STS, may assume the role."""
    def policy(args: list[str]) -> str:
        arn, url = args
        issuer = url.removeprefix("https://")
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{issuer}:aud": "sts.amazonaws.com",
            }},
        }]})

    return pulumi.Output.all(oidc.arn, oidc.url).apply(policy)


def s3_statements(access: BucketAccess) -> list[dict[str, object]]:
    """IAM statements for one bucket URL: list under its prefix, read (or read and write) objects under it."""
    bucket = f"arn:aws:s3:::{access.bucket}"
    listing: dict[str, object] = {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket}
    if access.prefix:
        # ListBucket is a bucket action: its prefix is held by the s3:prefix condition key.
        listing["Condition"] = {"StringLike": {"s3:prefix": [access.prefix, f"{access.prefix}/*"]}}
    objects = f"{bucket}/{access.prefix}/*" if access.prefix else f"{bucket}/*"
    return [listing, {"Effect": "Allow", "Action": S3_WRITE if access.write else S3_READ, "Resource": objects}]


class IrsaRoles:
    """Creates the platform's IRSA roles; records each workload role's ARN in the platform's exports."""

    def __init__(self, name: str, oidc: aws.iam.OpenIdConnectProvider, parent: pulumi.Resource,
                 child: pulumi.ResourceOptions, exports: dict[str, object]) -> None:
        self._name, self._oidc, self._parent, self._child, self._exports = name, oidc, parent, child, exports

    def role(self, suffix: str, namespace: str, service_account: str, *, managed: tuple[str, ...] = (),
             inline: pulumi.Input[str] | None = None) -> aws.iam.Role:
        """An IAM role that exactly one Kubernetes service account may assume (IRSA)."""
        name, child = self._name, self._child
        role = aws.iam.Role(f"{name}-{suffix}-role", assume_role_policy=_irsa_trust(self._oidc, namespace,
                                                                                     service_account),
                            description=f"IRSA: {namespace}/{service_account}", opts=child)
        for policy in managed:
            aws.iam.RolePolicyAttachment(f"{name}-{suffix}-{policy.rsplit('/', 1)[-1].lower()}", role=role.name,
                                         policy_arn=POLICY + policy, opts=child)
        if inline is not None:
            # A child of its role, so the plan (and the guards) can tell whose permissions these are; the alias
            # keeps policies declared before that (as children of the platform) from being replaced.
            aws.iam.RolePolicy(f"{name}-{suffix}-policy", role=role.id, policy=inline,
                               opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                   parent=role, aliases=[pulumi.Alias(parent=self._parent)])))
        return role

    def for_workload(self, request: IdentityRequest, weights: aws.s3.Bucket) -> WorkloadIdentity:
        """An IRSA role for one service account, allowed exactly the S3 buckets and prefixes it asked for.

        The role's ARN is exported as `<name>RoleArn` (servingRoleArn, trainingRoleArn).
        """
        buckets = [b for b in request.buckets if b.scheme == "s3"]
        if not buckets and not request.reads_staged_weights:
            return WorkloadIdentity()
        statements = [s for b in buckets for s in s3_statements(b)]

        def document(weights_arn: str | None) -> str:
            staged = ([{"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": weights_arn},
                       {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{weights_arn}/*"}]
                      if weights_arn else [])
            return json.dumps({"Version": "2012-10-17", "Statement": [*staged, *statements]})

        policy = weights.arn.apply(document) if request.reads_staged_weights else document(None)
        role = self.role(request.name, request.namespace, request.service_account, inline=policy)
        self._exports[f"{request.name}RoleArn"] = role.arn
        return WorkloadIdentity({IRSA_ANNOTATION: role.arn}, (role,))
