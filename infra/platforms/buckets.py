"""Buckets the stack grants access on but does not create: prerequisites the plan names, with the command to make them.

The training checkpoint bucket (`training.checkpointBucket`), bucket model sources and any bucket a workload's
env/command/args name belong to the user: the stack only gives each workload's identity a role on them
(`identity_requests`). On GKE the grant is a bucket IAM member, and granting on a missing bucket fails `pulumi up`
("Error retrieving IAM policy for storage bucket …: googleapi: Error 404: The specified bucket does not exist",
github.com/SygniaLabs/ScallOps issue #23). On EKS the grant is a statement in the workload's IRSA role policy;
the workload still finds nothing to read or write. Config alone decides the notes, like the pool facts; each
cloud module says what it grants (`gke_bucket_notes`, `eks_bucket_notes`); an existing cluster grants nothing.
"""

from __future__ import annotations


def bucket_notes(grants: dict[str, list[str]], create: str, failure: str) -> tuple[str, ...]:
    """One note per bucket URL in `grants` (who is granted what on it); `create` formats its creation command."""
    return tuple(f"bucket {bucket} must exist before `pulumi up` (the stack does not create it; {failure}); create "
                 f"it with `{create.format(bucket)}`; the stack grants {'; '.join(who)} on it"
                 for bucket, who in sorted(grants.items()))
