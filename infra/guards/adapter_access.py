"""Adapter store access: the trainer's identity may write each LoRA adapter store, the serving pods' only read it.

The identities guard proves every pod can use each bucket it names; this one proves the direction. A serving replica
that could write `<root>/latest` could roll the whole fleet to any adapter — a compromised pod would steer every
rollout — so the serving identity must hold no write on the store; the trainer's must, or its publish fails after
hours of training. What "write" is, per cloud: GKE, a bucket role that creates objects (objectUser, objectCreator,
objectAdmin; objectViewer only gets and lists, cloud.google.com/storage/docs/access-control/iam-roles); EKS, an
allowed s3:PutObject on the pointer's key in the role's policy (IAM actions and resources match with wildcards).
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase

from infra.guards.base import StackPlan, Verdict
from infra.guards.identities import (
    EKS_ANNOTATION,
    GKE_ANNOTATION,
    _listed,
    _policy_statements,
    bucket_users,
    service_accounts,
)
from infra.guards.pods import PodTemplate
from infra.names import SERVING_NAMESPACE, TRAINING_NAMESPACE
from infra.seam import BucketAccess

NAME = "adapter-store-written-by-trainer-only"
GCS_WRITE_ROLES = {"roles/storage.objectUser", "roles/storage.objectCreator", "roles/storage.objectAdmin",
                   "roles/storage.admin"}


def _gke_writes(plan: StackPlan, account: tuple[str, str], annotations: dict[str, str], store: BucketAccess) -> bool:
    email = annotations.get(GKE_ANNOTATION)
    member = f"serviceAccount:{email}"
    return any(r.inputs.get("member") == member and r.inputs.get("role") in GCS_WRITE_ROLES
               and (r.type == "gcp:projects/iAMMember:IAMMember"
                    or (r.type == "gcp:storage/bucketIAMMember:BucketIAMMember"
                        and r.inputs.get("bucket") == store.bucket))
               for r in plan.resources)


def _eks_writes(plan: StackPlan, account: tuple[str, str], annotations: dict[str, str], store: BucketAccess) -> bool:
    if not annotations.get(EKS_ANNOTATION):
        return False
    # The account's IRSA role, found as the identities guard finds it (its ARN is unknown until apply).
    roles = {r.urn for r in plan.resources if r.type == "aws:iam/role:Role"
             and r.inputs.get("description") == f"IRSA: {account[0]}/{account[1]}"}
    pointer = f"arn:aws:s3:::{store.bucket}/{store.prefix + '/' if store.prefix else ''}latest"
    return any(s.get("Effect") == "Allow"
               and any(fnmatchcase("s3:putobject", a.lower()) for a in _listed(s.get("Action", [])))
               and any(fnmatchcase(pointer, res) for res in _listed(s.get("Resource", [])))
               for r in plan.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.parent in roles
               for s in _policy_statements(r.inputs.get("policy")))


WRITES: dict[str, Callable[[StackPlan, tuple[str, str], dict[str, str], BucketAccess], bool]] = {
    "gke": _gke_writes, "eks": _eks_writes}


def _named_by(users: list[tuple[PodTemplate, str, set[str]]], namespace: str, bucket: str) -> set[str]:
    """The service accounts of `namespace`'s pods that name `bucket` (gs://name, s3://name)."""
    return {sa for pod, sa, buckets in users if pod.namespace == namespace and bucket in buckets}


def adapter_store_written_by_trainer_only(plan: StackPlan) -> Verdict:
    """Each bucket adapter store: the trainer's identity writes it, no serving pod's identity can."""
    cfg = plan.cfg
    stores = {m.name: root for m in cfg.models if (root := cfg.adapter_root(m)) is not None}
    if not stores:
        return Verdict(NAME, "pass", "no model serves LoRA adapters")
    accounts = service_accounts(plan.resources)
    users = [(pod, sa, buckets) for pod, buckets in bucket_users(plan.resources)
             if (sa := pod.spec.get("serviceAccountName") or "")]
    problems: list[str] = []
    unproven: list[str] = []
    for model, root in stores.items():
        store = BucketAccess(root)
        bucket = f"{store.scheme}://{store.bucket}"

        writes = WRITES.get(cfg.cloud)
        if writes is None:
            unproven.append(f"{model}: the trainer writes and serving only reads {root}")
            continue
        for sa in sorted(_named_by(users, SERVING_NAMESPACE, bucket)):
            annotations = (accounts.get((SERVING_NAMESPACE, sa)) or {}).get("metadata", {}).get("annotations") or {}
            if writes(plan, (SERVING_NAMESPACE, sa), annotations, store):
                problems.append(f"{model}: serving account {SERVING_NAMESPACE}/{sa} may write the adapter store "
                                f"{root}; fix: grant it read only (objectViewer / s3:GetObject), the trainer publishes")
        trainers = _named_by(users, TRAINING_NAMESPACE, bucket)
        if cfg.training is None:
            unproven.append(f"{model}: no training job in this stack; whoever publishes to {root} needs write on it")
        elif not trainers:
            problems.append(f"{model}: the training job does not name {root}; fix: hand it ADAPTER_ROOT")
        for sa in sorted(trainers):
            annotations = (accounts.get((TRAINING_NAMESPACE, sa)) or {}).get("metadata", {}).get("annotations") or {}
            if not writes(plan, (TRAINING_NAMESPACE, sa), annotations, store):
                problems.append(f"{model}: trainer account {TRAINING_NAMESPACE}/{sa} cannot write the adapter store "
                                f"{root}; fix: grant it objectUser / s3:PutObject under the store's prefix")
    if problems:
        return Verdict(NAME, "fail", "; ".join(dict.fromkeys(problems)))
    if unproven:
        return Verdict(NAME, "warn", "the plan cannot prove who writes the adapter store: " + "; ".join(unproven))
    return Verdict(NAME, "pass", f"the trainer writes and serving only reads {', '.join(sorted(set(stores.values())))}")
