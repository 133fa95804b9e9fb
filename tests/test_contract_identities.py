"""Deploy contract — identities: no pod runs as `default`; every bucket a pod uses is granted to its own identity.

Issue 10, findings 3 (the trainer ran as `default` with no cloud identity: checkpoints to gs:// / s3:// failed;
gs:// model sources on GKE likewise) and 13 (the KEDA Google service account id could exceed 30 characters).
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import yaml

from infra.guards.base import StackPlan
from infra.guards.identities import workloads_have_their_own_identity
from infra.plan import run_plan
from infra.planned import PlannedResource
from infra.platforms.eks import s3_statements
from infra.platforms.gke import ACCOUNT_ID, gcp_service_account_id
from infra.seam import BucketAccess, bucket_access
from tests.conftest import stack_config, with_mode

GUARD = "workloads-have-their-own-identity"


def verdict(plan):
    (v,) = [v for v in plan.verdicts if v.guard == GUARD]
    return v


def objects(plan) -> dict[tuple[str, str, str], dict]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in plan.manifests()}


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def guard_on(plan, resources) -> object:
    """The guard on a plan's config with hand-edited resources."""
    return workloads_have_their_own_identity(StackPlan(plan.cfg, {}, plan.cost, tuple(resources)))


def edited(plan, pick, change) -> list[PlannedResource]:
    out = []
    for r in plan.resources:
        if pick(r):
            inputs = json.loads(json.dumps(r.inputs))
            change(inputs)
            r = dataclasses.replace(r, inputs=inputs)
        out.append(r)
    return out


# --- shipped stacks -------------------------------------------------------------------------------------------


def test_shipped_stacks_pass(shipped_plan):
    assert verdict(shipped_plan).status == "pass", verdict(shipped_plan).message


def test_example_stacks_pass(example_plan):
    assert verdict(example_plan).status == "pass", verdict(example_plan).message


def test_gke_trainer_writes_its_checkpoint_bucket_through_workload_identity(plan_of):
    plan = plan_of("prod")
    objs = objects(plan)
    job = objs[("Job", "llm-training", "trainer")]
    assert pod_spec(job)["serviceAccountName"] == "trainer"  # was unset: `default`, no identity
    sa = objs[("ServiceAccount", "llm-training", "trainer")]
    email = sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert email == "llm-fleet-prod-training@acme-llm-prod.iam.gserviceaccount.com"
    (binding,) = [r.inputs for r in plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
                  if r.inputs["member"].endswith("[llm-training/trainer]")]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == "serviceAccount:acme-llm-prod.svc.id.goog[llm-training/trainer]"
    assert binding["serviceAccountId"] == f"projects/acme-llm-prod/serviceAccounts/{email}"
    # Read/write objects on exactly the checkpoint bucket, and no storage role on the project.
    grants = [r.inputs for r in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")]
    assert grants == [{"bucket": "acme-llm-prod-checkpoints", "role": "roles/storage.objectUser",
                       "member": f"serviceAccount:{email}"}]
    assert not [r for r in plan.of_type("gcp:projects/iAMMember:IAMMember") if email in r.inputs["member"]]


def test_pods_that_touch_no_bucket_get_their_own_account_and_no_identity(plan_of):
    objs = objects(plan_of("prod"))
    rollout = pod_spec(objs[("Deployment", "llm-rollout", "rollout-worker")])
    assert rollout["serviceAccountName"] == "rollout-worker" and rollout["automountServiceAccountToken"] is False
    sa = objs[("ServiceAccount", "llm-rollout", "rollout-worker")]
    assert not sa["metadata"].get("annotations") and sa["automountServiceAccountToken"] is False
    # hf:// models on GKE: the serving account has no Google identity (nothing to read from a bucket).
    assert not objs[("ServiceAccount", "llm-serving", "model-server")]["metadata"].get("annotations")


def test_eks_trainer_role_reads_and_writes_only_its_checkpoint_prefix(plan_of):
    plan = plan_of("eks-prod")  # checkpointBucket: s3://acme-llm-prod-checkpoints/run
    objs = objects(plan)
    assert pod_spec(objs[("Job", "llm-training", "trainer")])["serviceAccountName"] == "trainer"
    arn = objs[("ServiceAccount", "llm-training", "trainer")]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    # The mock engine's ARN for the role `eks-training-role` (account 123456789012 in tests), as exported.
    assert arn == plan.outputs["trainingRoleArn"] == "arn:aws:iam::123456789012:role/eks-training-role"
    (role,) = [r for r in plan.of_type("aws:iam/role:Role")
               if r.inputs.get("description") == "IRSA: llm-training/trainer"]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:llm-training:trainer" in statement["Condition"]["StringEquals"].values()
    (policy,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.parent == role.urn]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert statements == [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::acme-llm-prod-checkpoints",
         "Condition": {"StringLike": {"s3:prefix": ["run", "run/*"]}}},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": "arn:aws:s3:::acme-llm-prod-checkpoints/run/*"}]


def test_eks_serving_role_keeps_its_resource_names(plan_of):
    """The serving role and its policy keep their names (the policy moved under its role with an alias)."""
    plan = plan_of("eks-prod")
    assert [r.name for r in plan.of_type("aws:iam/role:Role") if "serving" in r.name] == ["eks-serving-role"]
    (policy,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "eks-serving-policy"]
    assert policy.parent.endswith("::eks-serving-role")
    assert plan.outputs["servingRoleArn"].endswith(":role/eks-serving-role")


# --- stacks that use buckets in other ways --------------------------------------------------------------------


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    """Plans of shipped stacks with one edit, under the shipped stack's name (so names match), once per module."""
    cache: dict[str, object] = {}

    def plan(key: str, base: str, edit) -> object:
        if key not in cache:
            cfg = stack_config(base)
            edit(cfg)
            folder = tmp_path_factory.mktemp(key)
            (folder / f"Pulumi.{base}.yaml").write_text(yaml.safe_dump(
                {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}, sort_keys=False))
            cache[key] = run_plan(base, folder)
        return cache[key]

    return plan


def gs_model(cfg):
    cfg["models"][0]["source"] = "gs://acme-models/qwen2.5-7b"
    cfg["artifacts"]["modelRevisions"] = {}


def test_gke_gs_model_source_is_read_by_the_serving_identity(variant):
    plan = variant("gke-gs-model", "prod", gs_model)
    assert verdict(plan).status == "pass", verdict(plan).message
    objs = objects(plan)
    email = objs[("ServiceAccount", "llm-serving", "model-server")]["metadata"]["annotations"][
        "iam.gke.io/gcp-service-account"]
    assert email == "llm-fleet-prod-serving@acme-llm-prod.iam.gserviceaccount.com"
    grants = {(r.inputs["bucket"], r.inputs["role"], r.inputs["member"])
              for r in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert ("acme-models", "roles/storage.objectViewer", f"serviceAccount:{email}") in grants  # read only
    deployment = objs[("Deployment", "llm-serving", "vllm-qwen-7b")]
    assert pod_spec(deployment)["serviceAccountName"] == "model-server"


def test_eks_s3_model_source_outside_the_weights_bucket_is_granted(variant):
    def edit(cfg):
        cfg["models"][0]["source"] = "s3://acme-shared-models/qwen"
        cfg["artifacts"]["modelRevisions"] = {}

    plan = variant("eks-s3-model", "eks-prod", edit)
    assert verdict(plan).status == "pass", verdict(plan).message
    (policy,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "eks-serving-policy"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    # Read only: list and get on the model's own bucket, limited to its prefix qwen/, and on the staged-weights
    # bucket (the mock engine names it llm-fleet-eks-prod-weights-0123), whole.
    model_list = {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::acme-shared-models",
                  "Condition": {"StringLike": {"s3:prefix": ["qwen", "qwen/*"]}}}
    model_get = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::acme-shared-models/qwen/*"}
    bucket = "arn:aws:s3:::llm-fleet-eks-prod-weights-0123"
    weights = [{"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket},
               {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket}/*"}]
    assert sorted(statements, key=json.dumps) == sorted([model_list, model_get, *weights], key=json.dumps)


def test_kuberay_mode_every_ray_pod_has_its_own_account(variant):
    def edit(cfg):
        gs_model(cfg)
        with_mode(cfg, "kuberay")

    plan = variant("kuberay", "prod", edit)
    assert verdict(plan).status == "pass", verdict(plan).message
    objs = objects(plan)
    service = objs[("RayService", "llm-serving", "llm")]["spec"]["rayClusterConfig"]
    head = service["headGroupSpec"]["template"]["spec"]
    # KubeRay binds the autoscaler's Role to the head's account, which we must create (KubeRay v1.7.0).
    assert head["serviceAccountName"] == "ray-head" and head["automountServiceAccountToken"] is True
    assert ("ServiceAccount", "llm-serving", "ray-head") in objs
    groups = {g["groupName"]: g["template"]["spec"] for g in service["workerGroupSpecs"]}
    assert groups["a100-serving"]["serviceAccountName"] == "model-server"  # loads gs://acme-models
    assert groups["rollout"]["serviceAccountName"] == "ray-rollout"
    job = objs[("RayJob", "llm-training", "trainer")]["spec"]
    assert job["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] == "trainer"
    assert job["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["serviceAccountName"] == "trainer"
    assert job["submitterPodTemplate"]["spec"]["serviceAccountName"] == "ray-job-submitter"
    for account in ("ray-rollout", "ray-job-submitter", "trainer", "model-server"):
        ns = "llm-training" if account in ("trainer", "ray-job-submitter") else "llm-serving"
        assert objs[("ServiceAccount", ns, account)]["automountServiceAccountToken"] is False


def test_existing_cluster_bucket_needs_configured_annotations(variant):
    def bucket(cfg):
        cfg["training"]["checkpointBucket"] = "s3://acme-cw-checkpoints/run"

    unbound = variant("cw-unbound", "coreweave-prod", bucket)
    v = verdict(unbound)
    assert v.status == "fail"
    assert "Job llm-training/trainer uses s3://acme-cw-checkpoints" in v.message
    assert "existing.serviceAccountAnnotations.llm-training/trainer" in v.message
    assert any("llm-training/trainer needs read/write s3://acme-cw-checkpoints/run" in n for n in unbound.notes)

    def bound(cfg):
        bucket(cfg)
        cfg["existing"]["serviceAccountAnnotations"] = {
            "llm-training/trainer": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/trainer"}}

    plan = variant("cw-bound", "coreweave-prod", bound)
    sa = objects(plan)[("ServiceAccount", "llm-training", "trainer")]
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/trainer"}
    assert verdict(plan).status == "warn"  # the plan cannot see the grant behind it


# --- broken stacks fail ---------------------------------------------------------------------------------------


def is_kind(kind: str, name: str):
    return lambda r: r.is_kubernetes_object and r.inputs.get("kind") == kind and r.inputs["metadata"]["name"] == name


def test_a_pod_running_as_default_fails(plan_of):
    plan = plan_of("prod")
    broken = edited(plan, is_kind("Job", "trainer"),
                    lambda i: i["spec"]["template"]["spec"].pop("serviceAccountName"))
    v = guard_on(plan, broken)
    assert v.status == "fail"
    assert "Job llm-training/trainer runs as the namespace's `default` service account" in v.message


def test_a_bucket_without_a_grant_fails(plan_of):
    plan = plan_of("prod")
    broken = [r for r in plan.resources if r.type != "gcp:storage/bucketIAMMember:BucketIAMMember"]
    v = guard_on(plan, broken)
    assert v.status == "fail"
    assert "Job llm-training/trainer uses gs://acme-llm-prod-checkpoints as llm-training/trainer" in v.message
    assert "bucket-level object role" in v.message


def test_a_project_wide_storage_role_fails(plan_of):
    plan = plan_of("prod")
    email = "llm-fleet-prod-training@acme-llm-prod.iam.gserviceaccount.com"
    wide = PlannedResource(urn="urn:wide", type="gcp:projects/iAMMember:IAMMember", name="wide", parent="",
                           custom=True, protect=False,
                           inputs={"project": "acme-llm-prod", "role": "roles/storage.objectAdmin",
                                   "member": f"serviceAccount:{email}"})
    v = guard_on(plan, [*plan.resources, wide])
    assert v.status == "fail" and "project-wide storage role (roles/storage.objectAdmin" in v.message


def test_an_s3_grant_on_every_bucket_fails(plan_of):
    plan = plan_of("eks-prod")

    def widen(inputs):
        doc = json.loads(inputs["policy"])
        doc["Statement"][1]["Resource"] = "*"
        inputs["policy"] = json.dumps(doc)

    broken = edited(plan, lambda r: r.name == "eks-training-policy", widen)
    v = guard_on(plan, broken)
    assert v.status == "fail" and "Resource *" in v.message and "s3://acme-llm-prod-checkpoints" in v.message


def test_a_platform_that_binds_no_identity_fails(monkeypatch, tmp_path):
    """Today's trainer, in effect: a service account with no Google identity behind it."""
    from infra.platforms.gke import GkePlatform
    from infra.seam import WorkloadIdentity
    from tests.conftest import ROOT

    monkeypatch.setattr(GkePlatform, "_workload_identity", lambda self, request: WorkloadIdentity())
    v = verdict(run_plan("dev", ROOT))
    assert v.status == "fail"
    assert ("Job llm-training/trainer uses gs://acme-llm-dev-checkpoints as llm-training/trainer, which lacks "
            "annotation iam.gke.io/gcp-service-account") in v.message


# --- finding 13: Google service account ids -------------------------------------------------------------------


def test_todays_valid_ids_are_kept():
    assert gcp_service_account_id("llm-fleet", "prod", "nodes", keep_truncated=True) == "llm-fleet-prod-nodes"
    assert gcp_service_account_id("keda", "prod", "metrics", keep_truncated=True) == "keda-prod-metrics"
    # A long stack name whose (cut) id was valid keeps it: a new id would replace the account.
    old = "llm-fleet-staging-europe-west4"[:24].rstrip("-") + "-nodes"
    assert gcp_service_account_id("llm-fleet", "staging-europe-west4", "nodes", keep_truncated=True) == old
    assert gcp_service_account_id("keda", "seventeen-chars-x", "metrics", keep_truncated=True) == \
        "keda-seventeen-chars-x-metrics"


@pytest.mark.parametrize("stack", ["eighteen-chars-xyz", "production-us-central1-blue", "Prod", "eu.prod",
                                   "team_a.PROD-2025", "x", "a" * 100])
@pytest.mark.parametrize("stem,suffix", [("keda", "metrics"), ("llm-fleet", "nodes"), ("llm-fleet", "training")])
def test_every_id_is_valid_for_any_stack_name(stack, stem, suffix):
    account = gcp_service_account_id(stem, stack, suffix, keep_truncated=True)
    assert ACCOUNT_ID.fullmatch(account) and len(account) <= 30, account
    assert account.endswith(f"-{suffix}")
    assert gcp_service_account_id(stem, stack, suffix, keep_truncated=True) == account  # stable


def test_the_keda_id_of_an_18_character_stack_was_invalid_and_is_now_valid():
    stack = "eighteen-chars-xyz"
    today = f"keda-{stack}"[:24].rstrip("-") + "-metrics"
    assert len(today) == 31 and not ACCOUNT_ID.fullmatch(today)
    # 30 characters at most: "-metrics" leaves 22 for "keda-eighteen-chars-xyz" (23), cut to "keda-eighteen-chars-xy".
    assert gcp_service_account_id("keda", stack, "metrics", keep_truncated=True) == "keda-eighteen-chars-xy-metrics"


def test_new_ids_of_different_stacks_never_collide():
    stacks = ["production-us-central1-a", "production-us-central1-b", "Prod", "prod", "eu.prod", "eu-prod"]
    ids = [gcp_service_account_id("llm-fleet", s, "training") for s in stacks]
    assert len(set(ids)) == len(ids), ids
    assert all(re.fullmatch(ACCOUNT_ID, i) for i in ids)


def test_a_long_stack_name_plans_with_valid_account_ids(make_stack):
    root, name = make_stack("prod", name="production-us-central1-blue")
    plan = run_plan(name, root)
    ids = sorted(r.inputs["accountId"] for r in plan.of_type("gcp:serviceaccount/account:Account"))
    # nodes and keda keep the cut id of earlier versions (24 and 22 characters of "<stem>-<stack>" before the
    # suffix); the training account is new, so it is cut to 14 and made unique by the stack name's hash
    # (`printf %s production-us-central1-blue | sha256sum` starts 2ad784).
    assert ids == ["keda-production-us-cen-metrics", "llm-fleet-prod-2ad784-training", "llm-fleet-production-us-nodes"]
    assert verdict(plan).status == "pass", verdict(plan).message


# --- the pieces ------------------------------------------------------------------------------------------------


def test_bucket_access_keeps_a_read_beside_a_write_that_does_not_cover_it():
    """Issue 18: a read of one prefix was dropped when the same bucket was written elsewhere (the IRSA policy then
    denied the data, or a model source beside an adapter store); a write still absorbs the reads under it."""
    found = bucket_access(["--data gs://ds/train", "s3://other/x"], ["gs://ds/ckpt"])
    assert found == (BucketAccess("gs://ds/train"), BucketAccess("gs://ds/ckpt", write=True),
                     BucketAccess("s3://other/x"))
    assert bucket_access(["gs://ds/ckpt/adapters/q"], ["gs://ds/ckpt"]) == (BucketAccess("gs://ds/ckpt", write=True),)
    # Two read prefixes of one bucket: one read of their common prefix, never a write.
    assert bucket_access(["s3://bk/m/models/q", "s3://bk/m/adapters/q"]) == (BucketAccess("s3://bk/m"),)
    assert BucketAccess("s3://b/run/").prefix == "run" and BucketAccess("s3://b").prefix == ""


def test_a_whole_bucket_s3_grant_has_no_prefix_condition():
    listing, objects_ = s3_statements(BucketAccess("s3://b"))
    assert "Condition" not in listing and objects_["Resource"] == "arn:aws:s3:::b/*"
    assert objects_["Action"] == ["s3:GetObject"]
