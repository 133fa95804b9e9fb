"""Deploy review, second pass: Workload Identity bindings wait for their pool; kuberay-operator keeps the chart's
feature gates; buckets the stack grants on but does not create are named in the plan as prerequisites."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from infra.cluster.kuberay import (
    CHART_FEATURE_GATES,
    FEATURE_GATES_CHART_VERSION,
    INCREMENTAL_UPGRADE_GATE,
    feature_gates,
)
from infra.guards.base import StackPlan
from infra.guards.ordering import Graph, custom_resources_wait_for_their_definitions
from infra.plan import run_plan
from infra.planned import PlannedResource
from infra.program import stack_plan
from tests.conftest import ROOT, stack_config, with_mode

GUARD = custom_resources_wait_for_their_definitions
GKE_CLUSTER = "gcp:container/cluster:Cluster"
WI_BINDINGS = ("gke-training-workload-identity", "gke-keda-workload-identity")


def verdict(plan, resources=None):
    base = stack_plan(plan.cfg)
    return GUARD(StackPlan(plan.cfg, base.pools, base.cost, tuple(plan.resources if resources is None else resources)))


def named(plan, name: str) -> PlannedResource:
    return next(r for r in plan.resources if r.name == name)


def pool_members(plan) -> list[PlannedResource]:
    return [r for r in plan.resources if ".svc.id.goog[" in str(r.inputs.get("member", ""))]


# --- A. Workload Identity bindings wait for the cluster that creates the pool -------------------------------------

@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_workload_identity_bindings_wait_for_the_gke_cluster(plan_of, stack):
    """On a project that never had a GKE cluster, `<project>.svc.id.goog` exists only once the cluster does: a binding
    created before it fails the first `up` with "Error 400: Identity Pool does not exist"."""
    plan = plan_of(stack)
    cluster = next(r for r in plan.resources if r.type == GKE_CLUSTER)
    pool = cluster.inputs["workloadIdentityConfig"]["workloadPool"]
    graph = Graph(tuple(plan.resources))
    members = pool_members(plan)
    assert {"gke-keda-workload-identity", "gke-training-workload-identity"} <= {r.name for r in members}
    for r in members:
        assert r.inputs["member"].startswith(f"serviceAccount:{pool}[")
        assert cluster.urn in graph.waits_for(r.urn), f"{r.name} does not wait for {cluster.name}"


def test_the_guard_passes_on_shipped_stacks(shipped_plan):
    v = verdict(shipped_plan)
    assert v.status == "pass", v.message


def test_the_guard_passes_on_shipped_examples(example_plan):
    # EKS / an existing cluster: no GKE workload pool is named, nothing to order.
    v = verdict(example_plan)
    assert v.status == "pass", v.message


@pytest.mark.parametrize("binding", WI_BINDINGS)
def test_the_guard_fails_when_a_binding_does_not_wait_for_the_cluster(plan_of, binding):
    plan = plan_of("prod")
    cluster = next(r for r in plan.resources if r.type == GKE_CLUSTER)
    graph = Graph(tuple(plan.resources))
    # Rebuild the binding as today's code declared it: waiting only for its Google service account.
    account = next(u for u in named(plan, binding).dependencies if "serviceaccount/account:Account" in u)
    assert cluster.urn not in graph.waits_for(account)
    resources = [dataclasses.replace(r, dependencies=(account,), property_dependencies={}) if r.name == binding else r
                 for r in plan.resources]
    v = verdict(plan, resources)
    assert v.status == "fail"
    assert f"IAM member {binding} names workload pool acme-llm-prod.svc.id.goog" in v.message
    assert "depends_on=[gke-cluster]" in v.message
    assert "|" not in v.message  # one problem, one line


def test_the_guard_follows_the_federated_principal_form_and_wants_a_cluster_that_creates_the_pool(plan_of):
    plan = plan_of("prod")
    member = ("principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/"
              "other-project.svc.id.goog/subject/ns/llm-serving/sa/vllm")
    grant = PlannedResource(urn="urn:pulumi:prod::llm-fleet::gcp:storage/bucketIAMMember:BucketIAMMember::grant",
                            type="gcp:storage/bucketIAMMember:BucketIAMMember", name="grant", parent="", custom=True,
                            protect=False, inputs={"bucket": "b", "role": "roles/storage.objectViewer",
                                                   "member": member})
    v = verdict(plan, [*plan.resources, grant])
    assert v.status == "fail"
    assert "IAM member grant names workload pool other-project.svc.id.goog, which no GKE cluster" in v.message


def test_no_gke_cluster_means_no_pool_to_wait_for(plan_of):
    plan = plan_of("prod")
    without_cluster = [r for r in plan.resources if r.type != GKE_CLUSTER]
    problems = [p for p in verdict(plan, without_cluster).message.split(" | ") if "workload pool" in p]
    assert problems == []



# --- B. kuberay-operator keeps the chart's default feature gates --------------------------------------------------

KUBERAY_VALUES = ROOT / "tests" / "data" / "charts" / "kuberay-operator-1.7.0-values.yaml"


def chart_gates() -> list[dict]:
    return yaml.safe_load(KUBERAY_VALUES.read_text())["featureGates"]


def test_the_gates_constant_is_the_vendored_chart_list_apart_from_ours():
    assert KUBERAY_VALUES.name == f"kuberay-operator-{FEATURE_GATES_CHART_VERSION}-values.yaml"
    vendored = chart_gates()
    assert [{"name": n, "enabled": e} for n, e in CHART_FEATURE_GATES] == vendored
    for incremental in (True, False):
        ours = feature_gates(incremental)
        assert [g["name"] for g in ours] == [g["name"] for g in vendored]
        assert [g for g in ours if g not in vendored] in ([], [{"name": INCREMENTAL_UPGRADE_GATE,
                                                                  "enabled": incremental}])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "eks-prod", "coreweave-prod"])
def test_shipped_stacks_pin_the_chart_the_gates_were_read_from(stack):
    """Helm replaces the list: a chart bump must re-read its gates, else new defaults are silently dropped."""
    assert stack_config(stack)["artifacts"]["charts"]["kuberay"] == FEATURE_GATES_CHART_VERSION


@pytest.mark.parametrize(("stack", "incremental"), [("prod", True), ("staging", False)])
def test_the_operator_release_keeps_every_chart_gate(make_stack, stack, incremental):
    """Helm replaces lists: a one-entry featureGates turned off RayClusterStatusConditions, RayJobDeletionPolicy and
    RayMultiHostIndexing, which the chart enables by default."""
    def kuberay(c):
        with_mode(c, "kuberay")

    root, name = make_stack(stack, kuberay)
    plan = run_plan(name, root)
    operator = next(r for r in plan.resources if r.inputs.get("chart") == "kuberay-operator")
    gates = {g["name"]: g["enabled"] for g in operator.inputs["values"]["featureGates"]}
    expected = {g["name"]: g["enabled"] for g in chart_gates()} | {INCREMENTAL_UPGRADE_GATE: incremental}
    assert gates == expected
    assert gates["RayClusterStatusConditions"] and gates["RayJobDeletionPolicy"] and gates["RayMultiHostIndexing"]


# --- C. Buckets the stack grants on but does not create are named as prerequisites -------------------------------

BUCKET_GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"


def bucket_notes(plan) -> dict[str, str]:
    notes = [n for n in plan.notes if n.startswith("bucket ")]
    return {n.split()[1]: n for n in notes}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_gke_checkpoint_bucket_is_a_named_prerequisite(plan_of, stack):
    """The trainer's checkpoint bucket is the user's: if it does not exist, the bucket IAM member fails `up`."""
    plan = plan_of(stack)
    bucket = f"gs://acme-llm-{stack}-checkpoints"
    assert plan.cfg.training.checkpoint_bucket.startswith(f"{bucket}/")
    note = bucket_notes(plan)[bucket]
    assert note.startswith(f"bucket {bucket} must exist before `pulumi up`")
    gcp = plan.cfg.gcp
    assert f"`gcloud storage buckets create {bucket} --project={gcp.project} --location={gcp.region}`" in note
    # The note names the identity and role the stack really grants on it.
    (grant,) = [r for r in plan.resources if r.type == BUCKET_GRANT and r.inputs["bucket"] == bucket.removeprefix("gs://")]
    email = grant.inputs["member"].removeprefix("serviceAccount:")
    assert f"the stack grants {email} (llm-training/trainer) {grant.inputs['role']} on it" in note


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_bucket_the_gke_stack_grants_on_is_named(plan_of, stack):
    plan = plan_of(stack)
    granted = {f"gs://{r.inputs['bucket']}" for r in plan.resources if r.type == BUCKET_GRANT}
    # Each shipped GKE stack grants on one bucket: its trainer's checkpoint bucket (training.checkpointBucket).
    assert granted == {f"gs://acme-llm-{stack}-checkpoints"}
    assert set(bucket_notes(plan)) == granted


def test_gke_bucket_model_source_is_a_named_prerequisite(make_stack):
    def from_bucket(c):
        c["models"][0]["source"] = "gs://acme-models/qwen2.5-7b"

    root, name = make_stack("prod", from_bucket)
    plan = run_plan(name, root)
    notes = bucket_notes(plan)
    granted = {f"gs://{r.inputs['bucket']}" for r in plan.resources if r.type == BUCKET_GRANT}
    assert set(notes) == granted == {"gs://acme-models", "gs://acme-llm-prod-checkpoints"}
    (grant,) = [r for r in plan.resources if r.type == BUCKET_GRANT and r.inputs["bucket"] == "acme-models"]
    assert grant.inputs["role"] == "roles/storage.objectViewer"
    email = grant.inputs["member"].removeprefix("serviceAccount:")
    assert f"the stack grants {email} (llm-serving/" in notes["gs://acme-models"]
    assert "roles/storage.objectViewer on it" in notes["gs://acme-models"]


def test_eks_checkpoint_bucket_is_a_named_prerequisite(plan_of):
    plan = plan_of("eks-prod")
    note = bucket_notes(plan)["s3://acme-llm-prod-checkpoints"]
    assert f"`aws s3 mb s3://acme-llm-prod-checkpoints --region {plan.cfg.aws.region}`" in note
    assert "IRSA role of llm-training/trainer (output trainingRoleArn)" in note
    assert "s3:PutObject" in note and "objects under run/" in note
    assert "trainingRoleArn" in plan.outputs


def test_an_existing_cluster_gets_no_bucket_notes(plan_of):
    # The stack creates no identity there, so it grants on no bucket.
    assert bucket_notes(plan_of("coreweave-prod")) == {}
