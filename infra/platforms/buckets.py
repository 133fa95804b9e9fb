"""Buckets the stack grants access on but does not create: prerequisites the plan names, with the command to make them.

The training checkpoint bucket (`training.checkpointBucket`), bucket model sources and any bucket a workload's
env/command/args name belong to the user: the stack only gives each workload's identity a role on them
(`identity_requests`). On GKE the grant is a bucket IAM member, and granting on a missing bucket fails `pulumi up`
("Error retrieving IAM policy for storage bucket …: googleapi: Error 404: The specified bucket does not exist",
github.com/SygniaLabs/ScallOps issue #23). On EKS the grant is a statement in the workload's IRSA role policy;
the workload still finds nothing to read or write. Config alone decides the notes, like the pool facts.
"""

from __future__ import annotations

import pulumi

from infra.config import StackConfig
from infra.platforms.stack import identity_requests


def _gke_grants(cfg: StackConfig) -> dict[str, list[str]]:
    from infra.platforms.gke import READ_ROLE, WRITE_ROLE, gcp_service_account_id

    assert cfg.gcp is not None
    grants: dict[str, list[str]] = {}
    for request in identity_requests(cfg).values():
        # The same account id GkePlatform._workload_identity gives the workload's Google service account.
        email = f"{gcp_service_account_id('llm-fleet', pulumi.get_stack(), request.name)}@" \
                f"{cfg.gcp.project}.iam.gserviceaccount.com"
        for access in request.buckets:
            if access.scheme == "gs":
                grants.setdefault(f"gs://{access.bucket}", []).append(
                    f"{email} ({request.namespace}/{request.service_account}) "
                    f"{WRITE_ROLE if access.write else READ_ROLE}")
    return grants


def _eks_grants(cfg: StackConfig) -> dict[str, list[str]]:
    from infra.platforms.eks import S3_READ, S3_WRITE

    grants: dict[str, list[str]] = {}
    for request in identity_requests(cfg).values():
        for access in request.buckets:
            if access.scheme == "s3":
                objects = f"objects under {access.prefix}/" if access.prefix else "all objects"
                grants.setdefault(f"s3://{access.bucket}", []).append(
                    f"the IRSA role of {request.namespace}/{request.service_account} (output {request.name}RoleArn) "
                    f"{'+'.join(S3_WRITE if access.write else S3_READ)} ({objects})")
    return grants


def bucket_prerequisite_notes(cfg: StackConfig) -> tuple[str, ...]:
    """One note per bucket the stack grants a workload access on but does not create."""
    if cfg.cloud == "gke":
        assert cfg.gcp is not None
        grants = _gke_grants(cfg)
        # `gcloud storage buckets create` (cloud.google.com/sdk/gcloud/reference/storage/buckets); without
        # --location a bucket lands in the US multi-region (cloud.google.com/storage/docs/creating-buckets).
        create = f"gcloud storage buckets create {{}} --project={cfg.gcp.project} --location={cfg.gcp.region}"
        failure = "granting on a missing bucket fails `pulumi up`"
    elif cfg.cloud == "eks":
        assert cfg.aws is not None
        grants = _eks_grants(cfg)
        # `aws s3 mb <S3Uri> --region <r>` creates a bucket (docs.aws.amazon.com/cli/latest/reference/s3/mb).
        create = f"aws s3 mb {{}} --region {cfg.aws.region}"
        failure = "the workloads that use it fail without it"
    else:
        return ()  # an existing cluster: the stack grants nothing, the user binds identities themselves
    return tuple(f"bucket {bucket} must exist before `pulumi up` (the stack does not create it; {failure}); create "
                 f"it with `{create.format(bucket)}`; the stack grants {'; '.join(who)} on it"
                 for bucket, who in sorted(grants.items()))
