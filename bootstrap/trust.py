"""Who may act as which cloud identity: the GitHub OIDC claims each one trusts (no Pulumi here: tested directly).

Per llm-fleet stack S the repository has three GitHub environments (docs/shipping.md), and each cloud identity trusts
the token of exactly one of them, from this repository only:
  S            deploy   `pulumi up`, main only (deployment branch policy), required reviewers on staging and prod
  preview-S    preview  `pulumi preview` of a pull request, after a reviewer other than its author approves; read-only
  promote-S    promote  copies promoted images into S's registry, main only
GitHub's subject claim for a job that names an environment is `repo:<owner>/<repo>:environment:<name>` — no ref,
no event (docs.github.com/en/actions/reference/security/oidc, "Filtering for a specific environment", read
2026-11-30); a pull request job without one is `repo:<owner>/<repo>:pull_request`. A token from a fork, another
repository, a branch job without the environment, or another environment's job carries another subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ISSUER = "https://token.actions.githubusercontent.com"
ISSUER_HOST = "token.actions.githubusercontent.com"
# The audience aws-actions/configure-aws-credentials asks for (docs.github.com "Configuring OpenID Connect in Amazon
# Web Services": "For the Audience: use sts.amazonaws.com if you are using the official action").
AWS_AUDIENCE = "sts.amazonaws.com"
MAIN = "refs/heads/main"
Role = Literal["deploy", "preview", "promote"]
ROLES: tuple[Role, ...] = ("deploy", "preview", "promote")


@dataclass(frozen=True)
class Settings:
    """One bootstrap stack: the cloud side of the CI trust for one llm-fleet stack."""

    repository: str  # owner/name of the repository whose workflows deploy the stack
    stack: str  # the llm-fleet stack (its GitHub environments are named after it)
    cloud: Literal["gke", "eks"]
    gcp_project: str | None = None  # gke: the stack's project (pool, service accounts and KMS key live there)
    aws_region: str | None = None  # eks: the region of the stack's KMS key
    promote: bool = True  # whether anything is promoted into this stack (staging, prod: yes; dev: no)

    def roles(self) -> tuple[Role, ...]:
        return ROLES if self.promote else ("deploy", "preview")


def environment(stack: str, role: Role) -> str:
    return stack if role == "deploy" else f"{role}-{stack}"


def subject(repository: str, env: str) -> str:
    """GitHub's `sub` claim for a job of `repository` that names environment `env`."""
    return f"repo:{repository}:environment:{env}"


def aws_trust_policy(provider_arn: str, repository: str, env: str) -> dict[str, Any]:
    """The role trust policy: GitHub's OIDC provider, our audience, and exactly one environment's subject.

    StringEquals, not StringLike: no wildcard can widen it to another environment or repository. AWS evaluates only
    `aud` and `sub` here ("Support for custom claims for OIDC is unavailable in AWS", docs.github.com "Configuring
    OpenID Connect in Amazon Web Services", read 2026-11-30), so "main only" rests on the environment's deployment
    branch policy in GitHub; on GCP the provider's condition also checks the ref.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{ISSUER_HOST}:aud": AWS_AUDIENCE,
                                           f"{ISSUER_HOST}:sub": subject(repository, env)}},
        }],
    }


# google.subject is the token's sub: each binding names one subject (principal://.../subject/<sub>), so a token is
# accepted for a service account only when its sub is exactly that environment's. The other attributes are for audit
# logs and the provider's condition.
GCP_ATTRIBUTE_MAPPING = {
    "google.subject": "assertion.sub",
    "attribute.repository": "assertion.repository",
    "attribute.ref": "assertion.ref",
}


def gcp_attribute_condition(settings: Settings) -> str:
    """CEL the provider checks on every token before any binding: this repository only, and the environments that
    deploy or promote only from main (a second lock beside GitHub's deployment branch policy)."""
    main_only = ", ".join(f"'{subject(settings.repository, environment(settings.stack, r))}'"
                          for r in settings.roles() if r != "preview")
    return (f"assertion.repository == '{settings.repository}' && "
            f"(!(assertion.sub in [{main_only}]) || assertion.ref == '{MAIN}')")


def gcp_member(pool_name: str, repository: str, env: str) -> str:
    """The IAM member for one environment's token. Format: pulumi_gcp 10.2.0 iam/workload_identity_pool_provider.py
    docstring, `principal://iam.googleapis.com/projects/{project}/locations/{location}/workloadIdentityPools/{pool}/
    subject/{value}`; pool_name is the pool's `name` output (projects/<number>/locations/global/...)."""
    return f"principal://iam.googleapis.com/{pool_name}/subject/{subject(repository, env)}"


# What each identity may do in the stack's own project/account. Preview reads; deploy manages the tier (its own
# project/account: separate per tier); promote writes images only.
GCP_PROJECT_ROLES: dict[Role, tuple[str, ...]] = {
    "deploy": ("roles/editor", "roles/resourcemanager.projectIamAdmin", "roles/container.admin"),
    "preview": ("roles/viewer", "roles/iam.securityReviewer"),
    "promote": ("roles/artifactregistry.writer",),
}
GCP_KMS_ROLES: dict[Role, str | None] = {
    "deploy": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
    "preview": "roles/cloudkms.cryptoKeyDecrypter",  # preview reads the stack's secrets, never writes them
    "promote": None,
}
AWS_MANAGED_POLICIES: dict[Role, str] = {
    "deploy": "arn:aws:iam::aws:policy/AdministratorAccess",
    "preview": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "promote": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser",
}
AWS_KMS_ACTIONS: dict[Role, tuple[str, ...]] = {
    "deploy": ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
    "preview": ("kms:Decrypt",),
    "promote": (),
}
KMS_KEY_RING = "llm-fleet-pulumi"


def gcp_secrets_provider(project: str, stack: str) -> str:
    """The stack's Pulumi secrets provider URL (pulumi.com/docs/iac/cli/commands/pulumi_stack_change-secrets-provider:
    gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>)."""
    return f"gcpkms://projects/{project}/locations/global/keyRings/{KMS_KEY_RING}/cryptoKeys/{stack}"


def aws_key_alias(stack: str) -> str:
    return f"alias/llm-fleet-{stack}-pulumi"


def aws_secrets_provider(stack: str, region: str) -> str:
    """awskms://alias/<name>?region=<region> (same page as gcp_secrets_provider)."""
    return f"awskms://{aws_key_alias(stack)}?region={region}"
