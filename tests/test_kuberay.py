"""KubeRay mode: the same stacks served by a RayService (Ray Serve LLM), rollouts as Ray tasks, RayJob training."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.plan import run_plan
from tests.conftest import KUBERAY_GATEWAY_CLIENTS, stack_config, with_mode
from tests.k8s_schema import CRD_DIR, validate

KUBERAY_CRDS = CRD_DIR / "kuberay-v1.7.0-ray.io_rayservices.yaml"


def the(plan, kind: str) -> dict:
    (obj,) = [o for o in plan.manifests() if o["kind"] == kind]
    return obj


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_both_modes_plan_cleanly_for_the_same_stack(plan_of, kuberay_plan, stack):
    assert plan_of(stack).ok
    plan = kuberay_plan(stack)
    assert plan.ok, [v for v in plan.verdicts if v.status == "fail"]
    kinds = {o["kind"] for o in plan.manifests()}
    assert {"RayService", "RayJob"} <= kinds
    assert not {"ScaledObject", "Job"} & kinds  # KEDA and the plain Job belong to plain mode


@pytest.mark.skipif(not KUBERAY_CRDS.is_file(), reason=f"KubeRay v1.7.0 CRDs not found in {CRD_DIR}")
@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_ray_objects_are_valid_against_the_kuberay_crds(kuberay_plan, stack):
    plan = kuberay_plan(stack)
    for kind in ("RayService", "RayJob"):
        obj = the(plan, kind)
        assert obj["apiVersion"] == "ray.io/v1"  # not the deprecated v1alpha1
        validate(obj)


def test_ray_service_groups_schedule_like_plain_mode(kuberay_plan):
    plan = kuberay_plan("prod")
    cluster = the(plan, "RayService")["spec"]["rayClusterConfig"]
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0" and head["rayStartParams"]["num-cpus"] == "0"
    assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    a100 = groups["a100-serving"]
    spec = a100["template"]["spec"]
    assert spec["nodeSelector"] == {"llm-fleet.dev/pool": "a100-serving",
                                    "cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} in \
        spec["tolerations"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"  # one A100 per a2-highgpu-1g
    assert (a100["minReplicas"], a100["maxReplicas"]) == (4, 12)  # warm 4 A100s, up to 12
    rollout = groups["rollout"]
    assert rollout["template"]["spec"]["nodeSelector"] == {"llm-fleet.dev/pool": "rollout"}
    # prod runs 20..100 one-core rollout workers; in 15-CPU Ray pods that is ceil(20 / 15) = 2 .. ceil(100 / 15) = 7.
    assert rollout["rayStartParams"]["num-cpus"] == "15"
    assert (rollout["minReplicas"], rollout["maxReplicas"]) == (2, 7)
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["autoscalerOptions"]["idleTimeoutSeconds"] == 900  # prod keeps idle GPU workers 15 minutes


def test_upgrade_strategy_follows_the_tier(kuberay_plan):
    prod = the(kuberay_plan("prod"), "RayService")["spec"]["upgradeStrategy"]
    assert prod["type"] == "NewClusterWithIncrementalUpgrade"
    assert prod["clusterUpgradeOptions"]["maxSurgePercent"] == 9  # one A100 pod of 12 at a time
    assert prod["clusterUpgradeOptions"]["gatewayClassName"] == "gke-l7-rilb"
    operator = next(r for r in kuberay_plan("prod").of_type("kubernetes:helm.sh/v3:Release"))
    assert {"name": "RayServiceIncrementalUpgrade", "enabled": True} in operator.inputs["values"]["featureGates"]
    assert the(kuberay_plan("staging"), "RayService")["spec"]["upgradeStrategy"] == {"type": "NewCluster"}


def test_serve_config_validates_with_rays_own_models(kuberay_plan):
    schema = pytest.importorskip("ray.serve.schema", reason="Ray is not installed (pip install 'ray[serve]')")
    plan = kuberay_plan("prod")
    config = yaml.safe_load(the(plan, "RayService")["spec"]["serveConfigV2"])
    parsed = schema.ServeDeploySchema.model_validate(config)
    (app,) = parsed.applications
    assert app.import_path == "ray.serve.llm:build_openai_app"
    (llm,) = app.args["llm_configs"]
    assert llm["model_loading_config"] == {"model_id": "qwen-7b", "model_source": "Qwen/Qwen2.5-7B-Instruct"}
    assert llm["engine_kwargs"]["revision"] == "a09a35458c702b33eeacc393d103063234e8bc28"  # Pulumi.prod.yaml's pin
    assert llm["deployment_config"]["autoscaling_config"]["max_replicas"] == 12
    llm_module = pytest.importorskip("ray.serve.llm", reason="Ray Serve LLM does not import here (needs vLLM)",
                                     exc_type=ImportError)
    llm_module.LLMConfig.model_validate(llm)
    verdicts = {v.guard: v.status for v in plan.verdicts}
    assert verdicts["ray-serve-config-is-valid"] == "pass"


def test_switching_the_mode_leaves_the_platform_layer_identical(plan_of, kuberay_plan):
    def platform_layer(plan):
        by_urn = {r.urn: r for r in plan.resources}

        def in_platform(r):
            while r is not None:
                if r.type.startswith("llmfleet:platform:"):
                    return True
                r = by_urn.get(r.parent)
            return False

        return sorted((r.type, r.name, json.dumps(r.inputs, sort_keys=True), r.protect)
                      for r in plan.resources if in_platform(r) and not mode_specific(r))

    def mode_specific(r):
        # Network paths only one mode needs: control plane -> KEDA (plain), the regional Gateway's proxies (KubeRay).
        return r.type == "gcp:compute/firewall:Firewall" or r.inputs.get("purpose") == "REGIONAL_MANAGED_PROXY"

    for stack in ("staging", "prod"):
        plain, ray = platform_layer(plan_of(stack)), platform_layer(kuberay_plan(stack))
        # Not vacuous: the layer holds the cluster, its node pools, the registry and the budget.
        assert {"gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool",
                "gcp:artifactregistry/repository:Repository", "gcp:billing/budget:Budget"} <= {t for t, *_ in plain}
        assert plain == ray


def test_rollouts_reach_the_serve_endpoint_and_training_is_a_suspended_rayjob(kuberay_plan):
    plan = kuberay_plan("prod")
    url = "http://llm-serve-svc.llm-serving.svc.cluster.local:8000/v1"
    assert plan.outputs["modelUrls"] == {"qwen-7b": url}
    groups = {g["groupName"]: g for g in the(plan, "RayService")["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    env = {e["name"]: e["value"] for e in groups["rollout"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OPENAI_BASE_URL"] == url
    job = the(plan, "RayJob")
    assert job["spec"]["suspend"] is True
    (worker,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert worker["template"]["spec"]["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb"
    assert worker["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_network_policy_admits_rollouts_to_serve_and_scrapers_to_metrics(kuberay_plan):
    (policy,) = [o for o in kuberay_plan("prod").manifests()
                 if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "ray-llm"]
    ingress = policy["spec"]["ingress"]
    ray_peers, serve, metrics, operator, gateway, health_checks = ingress
    assert health_checks == {"from": [{"ipBlock": {"cidr": "35.191.0.0/16"}}, {"ipBlock": {"cidr": "130.211.0.0/22"}}],
                             "ports": [{"port": 8000, "protocol": "TCP"}]}
    assert operator["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["kuberay-system"]
    assert {p["port"] for p in operator["ports"]} == {8265, 8000}
    assert gateway == {"from": [{"ipBlock": {"cidr": "10.30.0.0/23"}}], "ports": [{"port": 8000, "protocol": "TCP"}]}
    assert ray_peers == {"from": [{"podSelector": {"matchLabels": {"ray.io/is-ray-node": "yes"}}}]}
    assert serve["ports"] == [{"port": 8000, "protocol": "TCP"}]
    # prod's gateway (serving.gateway) calls the Serve app too, and so do its clients' namespaces
    # (serving.apiAccessFrom: KubeRay's rollouts cannot go through the gateway; tests/conftest.py with_mode).
    assert serve["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == \
        [KUBERAY_GATEWAY_CLIENTS, "llm-gateway", "llm-rollout"]
    assert metrics["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["gmp-system"]


def test_guard_catches_replicas_that_cannot_fit_the_worker_group(make_stack):
    def two_models(c):
        with_mode(c, "kuberay")
        second = {**c["models"][0], "name": "qwen-7b-b"}
        c["models"].append(second)
        c["artifacts"]["modelRevisions"]["qwen-7b-b"] = "b" * 40
        for m in c["models"]:
            m["replicas"] = {"min": 1, "max": 8}  # each fits the 12-GPU pool, together they do not

    root, name = make_stack("prod", two_models)
    plan = run_plan(name, root)
    verdicts = {v.guard: v for v in plan.verdicts}
    assert verdicts["ray-replicas-fit-worker-groups"].status == "fail"
    assert ("need 16 A100-40G GPUs, the worker groups advertising it offer at most 12"
            in verdicts["ray-replicas-fit-worker-groups"].message)
    assert not plan.ok


def test_kuberay_mode_needs_a_ray_image():
    from infra.config import ConfigError, parse_stack_config

    raw = stack_config("prod")
    with_mode(raw, "kuberay")
    del raw["artifacts"]["rayImage"]
    with pytest.raises(ConfigError, match=r"artifacts\.rayImage: missing"):
        parse_stack_config(raw)
