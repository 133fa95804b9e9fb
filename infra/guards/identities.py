"""Identities: every pod runs under a service account of its own, and every bucket a pod names is granted to it.

What the guard reads, per pod template (infra/guards/pods.py): `serviceAccountName`, and the bucket
URLs (gs://, s3://) in its containers' env, command and args — plus, for Ray, the Serve config's
model sources (loaded by the GPU worker groups) and a RayJob's entrypoint and runtime env (run by all
of its pods). For each such bucket it follows the chain a real pod would: the service account's
annotation → the cloud identity → an IAM grant on exactly that bucket, never a project-wide
storage role or a `*` resource. On an existing cluster no grant can be seen: the annotation must be
configured, and the plan cannot prove more (a warning).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import PodTemplate, pod_templates
from infra.planned import PlannedResource
from infra.seam import BUCKET_URL

NAME = "workloads-have-their-own-identity"
GKE_ANNOTATION, EKS_ANNOTATION = "iam.gke.io/gcp-service-account", "eks.amazonaws.com/role-arn"
GCS_OBJECT_ROLES = {"roles/storage.objectViewer", "roles/storage.objectUser", "roles/storage.objectCreator",
                    "roles/storage.objectAdmin"}
UNKNOWN = "(known after apply)"


def _buckets(texts: list[str]) -> set[str]:
    return {f"{m.group(1)}://{m.group(2)}" for t in texts for m in BUCKET_URL.finditer(t)}


def _container_texts(spec: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        texts += [str(e.get("value", "")) for e in c.get("env", [])]
        texts += [str(a) for a in c.get("command", []) + c.get("args", [])]
    return texts


def bucket_users(resources: tuple[PlannedResource, ...]) -> Iterator[tuple[PodTemplate, set[str]]]:
    """Every pod template with the buckets (gs://name, s3://name) it reads or writes."""
    for r in resources:
        spec = r.inputs.get("spec", {})
        kind = r.inputs.get("kind")
        gpu_groups: set[str] = set()
        everyone: set[str] = set()
        if kind == "RayService":
            gpu_groups = _buckets([str(spec.get("serveConfigV2", ""))])
        elif kind == "RayJob":
            everyone = _buckets([str(spec.get("entrypoint", "")), str(spec.get("runtimeEnvYAML", ""))])
        for pod in pod_templates((r,)):
            named = _buckets(_container_texts(pod.spec)) | (gpu_groups if pod.gpus else set())
            if not pod.workload.endswith("submitter"):  # the submitter only calls the Ray dashboard
                named |= everyone
            yield pod, named


def service_accounts(resources: tuple[PlannedResource, ...]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.inputs.get("metadata", {}).get("namespace", ""), r.inputs.get("metadata", {}).get("name", r.name)):
            r.inputs for r in resources if r.is_kubernetes_object and r.inputs.get("kind") == "ServiceAccount"}


def _gke_grant(plan: StackPlan, ns: str, sa: str, annotations: dict[str, str], bucket: str) -> str | None:
    """What is missing for `ns/sa` to use gs://bucket on GKE (None: nothing)."""
    email = annotations.get(GKE_ANNOTATION)
    if not email:
        return f"annotation {GKE_ANNOTATION} (a Google service account through Workload Identity)"
    if email == UNKNOWN:
        raise ValueError(f"{ns}/{sa}: Google service account unknown until apply")
    project = plan.cfg.gcp.project if plan.cfg.gcp else ""
    member = f"serviceAccount:{email}"
    bindings = [r.inputs for r in plan.resources if r.type == "gcp:serviceaccount/iAMMember:IAMMember"]
    if not any(b.get("role") == "roles/iam.workloadIdentityUser"
               and b.get("member") == f"serviceAccount:{project}.svc.id.goog[{ns}/{sa}]"
               and str(b.get("serviceAccountId", "")).endswith(email) for b in bindings):
        return f"roles/iam.workloadIdentityUser for {project}.svc.id.goog[{ns}/{sa}] on {email}"
    project_wide = [r.inputs.get("role") for r in plan.resources if r.type == "gcp:projects/iAMMember:IAMMember"
                    and r.inputs.get("member") == member and str(r.inputs.get("role", "")).startswith("roles/storage.")]
    if project_wide:
        return f"no project-wide storage role ({', '.join(project_wide)} on the project: grant it on the bucket)"
    if not any(r.type == "gcp:storage/bucketIAMMember:BucketIAMMember" and r.inputs.get("bucket") == bucket
               and r.inputs.get("member") == member and r.inputs.get("role") in GCS_OBJECT_ROLES
               for r in plan.resources):
        return f"a bucket-level object role (storage.objectViewer / objectUser) for {email} on gs://{bucket}"
    return None


def _policy_statements(policy: Any) -> list[dict[str, Any]]:
    if policy == UNKNOWN:
        raise ValueError("an IAM policy unknown until apply")
    doc = json.loads(policy) if isinstance(policy, str) else policy
    statements = doc.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _eks_grant(plan: StackPlan, ns: str, sa: str, annotations: dict[str, str], bucket: str) -> str | None:
    """What is missing for `ns/sa` to use s3://bucket on EKS (None: nothing)."""
    if not annotations.get(EKS_ANNOTATION):
        return f"annotation {EKS_ANNOTATION} (an IAM role through IRSA)"
    roles = [r for r in plan.resources if r.type == "aws:iam/role:Role"
             and r.inputs.get("description") == f"IRSA: {ns}/{sa}"]
    trusted = [r for r in roles if r.inputs.get("assumeRolePolicy") == UNKNOWN
               or f"system:serviceaccount:{ns}:{sa}" in str(r.inputs.get("assumeRolePolicy", ""))]
    if not trusted:
        return f"an IAM role trusted by system:serviceaccount:{ns}:{sa} (IRSA)"
    urns = {r.urn for r in trusted}
    statements = [s for r in plan.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.parent in urns
                  for s in _policy_statements(r.inputs.get("policy"))]
    s3 = [s for s in statements if s.get("Effect") == "Allow"
          and any(a == "*" or a.startswith("s3:") for a in _listed(s.get("Action", [])))]
    if any(res in ("*", "arn:aws:s3:::*") for s in s3 for res in _listed(s.get("Resource", []))):
        return "no S3 grant on every bucket (Resource *): scope it to the bucket"
    arn = f"arn:aws:s3:::{bucket}"
    if not any(res == arn or res.startswith(f"{arn}/") for s in s3 for res in _listed(s.get("Resource", []))):
        return f"an S3 grant on {arn} in the role's policy"
    return None


def _existing_grant(plan: StackPlan, ns: str, sa: str, annotations: dict[str, str], bucket: str) -> str | None:
    if not annotations:
        return f"annotations binding it to a cloud identity (set existing.serviceAccountAnnotations.{ns}/{sa})"
    return None


GRANT_CHECKS: dict[str, Callable[[StackPlan, str, str, dict[str, str], str], str | None]] = {
    "gke": _gke_grant, "eks": _eks_grant, "existing": _existing_grant}
SCHEME = {"gke": "gs", "eks": "s3"}


def workloads_have_their_own_identity(plan: StackPlan) -> Verdict:
    """Every pod runs under its own service account; each bucket it names is granted to that account's identity."""
    accounts = service_accounts(plan.resources)
    check = GRANT_CHECKS[plan.cfg.cloud]
    problems: list[str] = []
    unproven: list[str] = []
    for pod, buckets in bucket_users(plan.resources):
        sa = pod.spec.get("serviceAccountName") or ""
        if sa in ("", "default"):
            problems.append(f"{pod.workload} runs as the namespace's `default` service account: give it one of its "
                            f"own (serviceAccountName)")
            continue
        account = accounts.get((pod.namespace, sa))
        if account is None and buckets:
            problems.append(f"{pod.workload} names {', '.join(sorted(buckets))} but its service account "
                            f"{pod.namespace}/{sa} is not declared: declare it with the platform's identity")
            continue
        annotations = (account or {}).get("metadata", {}).get("annotations") or {}
        for url in sorted(buckets):
            scheme, bucket = url.split("://", 1)
            if SCHEME.get(plan.cfg.cloud, scheme) != scheme:
                problems.append(f"{pod.workload} names {url}, which a {plan.cfg.cloud} identity cannot be granted: "
                                f"use a {SCHEME[plan.cfg.cloud]}:// bucket")
                continue
            missing = check(plan, pod.namespace, sa, annotations, bucket)
            if missing:
                problems.append(f"{pod.workload} uses {url} as {pod.namespace}/{sa}, which lacks {missing}")
            elif plan.cfg.cloud == "existing":
                unproven.append(f"{pod.namespace}/{sa} → {url}")
    if problems:
        return Verdict(NAME, "fail", "; ".join(dict.fromkeys(problems)))
    if unproven:
        return Verdict(NAME, "warn", "existing cluster: the plan cannot see the cloud grants behind the configured "
                                     f"annotations; make sure they allow {', '.join(dict.fromkeys(unproven))}")
    return Verdict(NAME, "pass", "every pod has its own service account; every bucket it names is granted to it")
