"""Time to serve in the rendered objects (issue 16, items 1-3): the startup probe and KEDA's scale-in delay come from
the breakdown; serving.coldStart renders SERVING_COMPILE_CACHE_URL, the serving identity's write on the cache and the
GKE secondary boot disk."""

from __future__ import annotations

import functools
import json
import math

import pytest
import yaml

from infra.config import parse_stack_config
from infra.plan import run_plan
from infra.report import plan_json
from infra.time_to_serve import model_time_to_serve, scale_down_window_seconds, startup_budget_seconds
from tests.conftest import stack_config
from tests.k8s_schema import validate

GKE_CACHE = "gs://acme-llm-prod-compile-cache/vllm"
EKS_CACHE = "s3://acme-llm-prod-compile-cache/vllm"
DISK_IMAGE = "vllm-serving-3b1f0c0d"


def with_cold_start(stack: str) -> dict:
    raw = stack_config(stack)
    cold = {"compileCache": GKE_CACHE if raw.get("cloud", "gke") == "gke" else EKS_CACHE}
    if raw.get("cloud", "gke") == "gke":
        cold["preloadImage"] = {"diskImage": DISK_IMAGE}
    raw["serving"] = {**raw.get("serving", {}), "coldStart": cold}
    return raw


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("cold-start")

    @functools.cache
    def plan(stack: str):
        folder = root / stack
        folder.mkdir()
        doc = {"config": {f"llm-fleet:{k}": v for k, v in with_cold_start(stack).items()}}
        (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return run_plan(stack, folder)

    return plan


def deployment(plan, name: str = "vllm-qwen-7b") -> dict:
    (obj,) = [o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] == name]
    return obj


def scaled_object(plan, name: str = "vllm-qwen-7b") -> dict:
    (obj,) = [o for o in plan.manifests() if o["kind"] == "ScaledObject" and o["metadata"]["name"] == name]
    return obj


def test_shipped_prod_probe_budget_and_scale_in_delay_are_the_breakdowns(plan_of):
    plan = plan_of("prod")
    t = model_time_to_serve(plan.cfg, "qwen-7b")
    container = deployment(plan)["spec"]["template"]["spec"]["containers"][0]
    probe = container["startupProbe"]
    budget = startup_budget_seconds(t)
    assert budget == 297  # (79 s hub + 44 s engine + 25 s cold compile) x 2
    assert probe["failureThreshold"] == math.ceil(budget / probe["periodSeconds"])
    assert probe["failureThreshold"] * probe["periodSeconds"] >= t.in_container_worst * 2
    behavior = scaled_object(plan)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    window = behavior["scaleDown"]["stabilizationWindowSeconds"]
    assert window == scale_down_window_seconds(t) == 469 >= t.total  # a new node, the image, weights, engine, compile
    assert "SERVING_COMPILE_CACHE_URL" not in {e["name"] for e in container["env"]}


def test_gke_model_pods_get_the_compile_cache_and_the_serving_identity_writes_it(planned):
    plan = planned("prod")
    env = {e["name"]: e.get("value") for e in deployment(plan)["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVING_COMPILE_CACHE_URL"] == f"{GKE_CACHE}/qwen-7b"
    grants = [r.inputs for r in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
              if r.inputs["bucket"] == "acme-llm-prod-compile-cache"]
    assert [(g["role"], g["member"]) for g in grants] == [
        ("roles/storage.objectUser", "serviceAccount:llm-fleet-prod-serving@acme-llm-prod.iam.gserviceaccount.com")]
    statuses = {v.guard: v.status for v in plan.verdicts}
    assert statuses["workloads-have-their-own-identity"] == "pass"
    assert plan.ok, [v for v in plan.verdicts if v.status == "fail"]
    assert any("acme-llm-prod-compile-cache must exist before `pulumi up`" in n for n in plan.notes)
    for obj in plan.manifests():
        validate(obj)


def test_gke_serving_gpu_pools_get_the_secondary_boot_disk_and_keep_image_streaming(planned):
    plan = planned("prod")
    pools = {r.name: r.inputs["nodeConfig"] for r in plan.of_type("gcp:container/nodePool:NodePool")}
    serving = pools["gke-pool-a100-serving"]
    assert serving["secondaryBootDisks"] == [{"diskImage": f"global/images/{DISK_IMAGE}",
                                              "mode": "CONTAINER_IMAGE_CACHE"}]
    assert serving["gcfsConfig"] == {"enabled": True}  # the boot disk's prerequisite (image streaming)
    # Only the serving GPU pools: the trainer's and the CPU pools run other images.
    assert all("secondaryBootDisks" not in cfg for name, cfg in pools.items() if name != "gke-pool-a100-serving")
    # What must exist first, and how to build it.
    (note,) = [n for n in plan.notes if "serving.coldStart.preloadImage" in n]
    assert f"disk image {DISK_IMAGE} must exist before `pulumi up`" in note and "gke-disk-image-builder" in note


def test_the_preloaded_image_and_cache_shorten_the_rendered_scale_in_delay(planned, plan_of):
    shipped = scaled_object(plan_of("prod"))["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    cold = scaled_object(planned("prod"))["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    # 20 s of image pull and 15.94 s of compilation less per replica that comes back.
    assert shipped["scaleDown"]["stabilizationWindowSeconds"] - cold["scaleDown"]["stabilizationWindowSeconds"] == 36


def test_eks_serving_role_may_write_the_compile_cache_prefix_only(planned):
    plan = planned("eks-prod")
    env = {e["name"]: e.get("value") for e in deployment(plan)["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVING_COMPILE_CACHE_URL"] == f"{EKS_CACHE}/qwen-7b"
    (policy,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "eks-serving-policy"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == ["arn:aws:s3:::acme-llm-prod-compile-cache/vllm/*"]
    assert {v.guard: v.status for v in plan.verdicts}["workloads-have-their-own-identity"] == "pass"
    assert not any("secondaryBootDisks" in json.dumps(r.inputs) for r in plan.resources)


def test_every_shipped_stack_parses_without_cold_start_and_renders_no_boot_disk(plan_of):
    plan = plan_of("prod")
    assert parse_stack_config(stack_config("prod")).serving.cold_start.compile_cache is None
    assert not any("secondaryBootDisks" in r.inputs.get("nodeConfig", {})
                   for r in plan.of_type("gcp:container/nodePool:NodePool"))


def test_plan_json_carries_the_breakdown_with_every_source_and_the_rendered_settings(plan_of):
    plan = plan_of("prod")
    (model,) = plan_json(plan)["timeToServe"]["models"]
    assert [p["part"] for p in model["parts"]] == ["node", "image", "weights", "engine", "compile"]
    for part in model["parts"]:
        assert part["sources"], part["part"]
        for source in part["sources"]:
            assert source["source"].startswith(("https://", "kubernetes/")) and source["read"] == "2026-11-30"
    probe = deployment(plan)["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert model["startupBudgetSeconds"] == 297 <= probe["failureThreshold"] * probe["periodSeconds"]
    behavior = scaled_object(plan)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert model["scaleDownWindowSeconds"] == behavior["scaleDown"]["stabilizationWindowSeconds"]
    assert {m["mechanism"]: round(m["seconds"]) for m in model["missing"]} == {
        "warm headroom": 300, "preloaded image": 20, "weights from a bucket": 75, "shared compile cache": 16}
