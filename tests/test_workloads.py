"""The workload layer as the plan renders it: scheduling facts per model, autoscaling, rollouts, training."""

from __future__ import annotations

import pytest
from kubernetes.utils.quantity import parse_quantity

from infra.config import parse_stack_config
from infra.plan import run_plan
from tests.conftest import stack_config
from tests.k8s_schema import validate


def objects(plan, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in plan.manifests() if o["kind"] == kind}


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


# The one model each shipped stack serves, and the node selector that lands it on its GPU pool: our pool label plus
# the accelerator label GKE puts on GPU nodes (cloud.google.com/kubernetes-engine/docs/how-to/gpus).
A100_POOL = {"llm-fleet.dev/pool": "a100-serving", "cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
SERVED = {
    "dev": ("vllm-qwen-1b5", {"llm-fleet.dev/pool": "l4-serving", "cloud.google.com/gke-accelerator": "nvidia-l4"}),
    "staging": ("vllm-qwen-7b", A100_POOL),
    "prod": ("vllm-qwen-7b", A100_POOL),
}
# GKE taints every GPU node nvidia.com/gpu=present:NoSchedule; a GPU pod must tolerate it.
GKE_GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}


def test_each_model_pod_is_gpu_correct_for_its_pool(shipped_plan):
    name, node_selector = SERVED[shipped_plan.stack]
    deployments = objects(shipped_plan, "Deployment")
    assert sorted(d for d in deployments if d.startswith("vllm-")) == [name]
    spec = pod_spec(deployments[name])
    (container,) = spec["containers"]
    # tensorParallelSize 1 in every shipped stack: one GPU, requested and limited alike.
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] == node_selector
    assert spec["tolerations"] == [GKE_GPU_TOLERATION]
    shm = next(v for v in spec["volumes"] if v["name"] == "dshm")["emptyDir"]
    assert shm == {"medium": "Memory", "sizeLimit": "4Gi"}  # 4 GiB of /dev/shm for one GPU
    assert spec["enableServiceLinks"] is False
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["priorityClassName"] == "llm-serving"


def test_probes_and_grace_come_from_the_serving_package(plan_of):
    spec = pod_spec(objects(plan_of("prod"), "Deployment")["vllm-qwen-7b"])
    (container,) = spec["containers"]
    # qwen-7b: 7.6e9 bfloat16 parameters = 15.2 GB. Startup budget from the time-to-serve breakdown (on a node that is
    # there): 79 s hub download and disk load + 44 s engine start + 25 s cold compile, x 2 = 297 s; polled every 10 s,
    # the probe allows ceil(297 / 10) = 30 failures (300 s) before a restart (tests/test_time_to_serve.py: sources).
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/startupz", "port": 8081}
    assert (startup["periodSeconds"], startup["failureThreshold"]) == (10, 30)
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 8081}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8081}
    # Grace: no preStop, 600 s drain (behind the gateway: its request timeout) + 30 s for vLLM to stop + 15 s
    # margin = 645 s.
    assert spec["terminationGracePeriodSeconds"] == 645
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SERVING_DRAIN_TIMEOUT_S"] == "600"
    assert env["SERVING_MODEL"] == "Qwen/Qwen2.5-7B-Instruct"
    # The revision and image Pulumi.prod.yaml pins under artifacts.
    assert env["SERVING_EXTRA_ARGS"] == "--revision a09a35458c702b33eeacc393d103063234e8bc28"
    assert container["image"] == ("us-central1-docker.pkg.dev/acme-llm-prod/llm-fleet/vllm-serving@sha256:"
                                  "3b1f0c0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c")


def test_service_pdb_and_network_policy(plan_of):
    plan = plan_of("prod")
    service = objects(plan, "Service")["vllm-qwen-7b"]
    assert service["spec"]["type"] == "ClusterIP"
    assert objects(plan, "PodDisruptionBudget")["vllm-qwen-7b"]["spec"]["maxUnavailable"] == 1
    ingress = objects(plan, "NetworkPolicy")["vllm-qwen-7b"]["spec"]["ingress"]
    api_rule, metrics_rule = ingress
    # The gateway only: prod's rollout workers go through it (rollout.viaGateway), so they never call the model.
    assert api_rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["llm-gateway"]
    assert [p["port"] for p in api_rule["ports"]] == [8000]
    assert metrics_rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["gmp-system"]
    assert sorted(p["port"] for p in metrics_rule["ports"]) == [8000, 8081]


def test_prod_autoscaling_is_warm_4_to_12_and_does_not_flap(plan_of):
    plan = plan_of("prod")
    scaled = objects(plan, "ScaledObject")["vllm-qwen-7b"]["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (4, 12)
    # Scale-down waits out the time a replica takes to come back (the time-to-serve total for qwen-7b: a new node
    # 300 s + image 20 s + weights 79 s + engine 44 s + compile 25 s = 469 s).
    assert scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
        "stabilizationWindowSeconds"] == 469
    (queue,) = [t for t in scaled["triggers"] if t["name"] == "queue"]
    assert queue["metadata"]["query"] == \
        'sum(vllm:num_requests_waiting{model_name="qwen-7b",cluster="llm-fleet-prod",namespace="llm-serving"})'
    assert queue["metadata"]["serverAddress"].startswith("https://monitoring.googleapis.com/v1/projects/acme-llm-prod")
    assert queue["authenticationRef"]["name"] == "managed-prometheus"
    auth = objects(plan, "TriggerAuthentication")["managed-prometheus"]
    assert auth["spec"] == {"podIdentity": {"provider": "gcp"}}


def test_dev_scales_to_zero_outside_working_hours(plan_of):
    scaled = objects(plan_of("dev"), "ScaledObject")["vllm-qwen-1b5"]["spec"]
    assert scaled["minReplicaCount"] == 0
    (cron,) = [t for t in scaled["triggers"] if t["type"] == "cron"]
    assert cron["metadata"] == {"timezone": "Europe/Berlin", "start": "0 8 * * 1-5", "end": "0 20 * * 1-5",
                                "desiredReplicas": "1"}


def test_rollout_workers_reach_the_model_inside_the_cluster(plan_of):
    plan = plan_of("prod")
    worker = objects(plan, "Deployment")["rollout-worker"]
    assert worker["metadata"]["namespace"] == "llm-rollout"
    spec = pod_spec(worker)
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    # prod's workers call the model through the gateway (rollout.viaGateway); dev's call it directly.
    assert env["OPENAI_BASE_URL"] == "http://gateway.llm-gateway.svc.cluster.local:4000/v1"
    assert env["OPENAI_BASE_URL"] == env["LLM_FLEET_URL_QWEN_7B"] == plan.outputs["gatewayUrl"]
    dev_env = {e["name"]: e["value"] for e in pod_spec(objects(plan_of("dev"), "Deployment")["rollout-worker"])
               ["containers"][0]["env"]}
    assert dev_env["OPENAI_BASE_URL"] == "http://vllm-qwen-1b5.llm-serving.svc.cluster.local:8000/v1"
    assert dev_env["OPENAI_BASE_URL"] == plan_of("dev").outputs["modelUrls"]["qwen-1b5"]
    assert spec["nodeSelector"] == {"llm-fleet.dev/pool": "rollout"}
    assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["requests"]
    hpa = objects(plan, "HorizontalPodAutoscaler")["rollout-worker"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (20, 100)
    cpu = parse_quantity(spec["containers"][0]["resources"]["requests"]["cpu"])
    assert cpu == 1 and hpa["maxReplicas"] * cpu == 100  # one core per worker: 100 cores of rollouts at the top


def test_training_job_is_suspended_on_the_h100_pool(plan_of):
    plan = plan_of("prod")
    job = objects(plan, "Job")["trainer"]
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    spec = pod_spec(job)
    assert spec["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb"
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["priorityClassName"] == "llm-training"
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env["CHECKPOINT_DIR"] == "gs://acme-llm-prod-checkpoints/run"


def test_training_without_a_bucket_gets_a_protected_checkpoint_volume(make_stack):
    root, name = make_stack("prod", lambda c: c["training"].pop("checkpointBucket"))
    plan = run_plan(name, root)
    (claim,) = plan.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.protect is True
    assert claim.inputs["spec"]["storageClassName"] == "llm-fleet-ssd"
    spec = pod_spec(objects(plan, "Job")["trainer"])
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "trainer-checkpoints"


def test_priorities_and_quotas(plan_of):
    plan = plan_of("prod")
    classes = objects(plan, "PriorityClass")
    assert classes["llm-serving"]["value"] > classes["llm-rollout"]["value"] > classes["llm-training"]["value"]
    assert {k: v["value"] for k, v in classes.items()} == {
        "llm-serving": 100_000, "llm-rollout": 50_000, "llm-training": 10_000, "llm-gateway": 100_000}
    # Kubernetes refuses user-defined PriorityClass values above one billion (reserved for system-critical pods).
    assert all(0 < c["value"] <= 1_000_000_000 for c in classes.values())
    quotas = {o["metadata"]["namespace"]: o["spec"]["hard"] for o in plan.manifests() if o["kind"] == "ResourceQuota"}
    assert quotas["llm-serving"]["requests.nvidia.com/gpu"] == "12"
    assert quotas["llm-training"]["requests.nvidia.com/gpu"] == "1"
    assert quotas["llm-rollout"]["requests.nvidia.com/gpu"] == "0"


def test_self_hosted_monitoring_installs_prometheus_and_speaks_its_dialect(make_stack):
    root, name = make_stack("prod", lambda c: c.setdefault("serving", {}).update(monitoring="self-hosted"))
    plan = run_plan(name, root)
    releases = {r.inputs["chart"]: r.inputs for r in plan.of_type("kubernetes:helm.sh/v3:Release")}
    # The chart versions Pulumi.prod.yaml pins under artifacts.charts.
    assert releases["kube-prometheus-stack"]["version"] == "79.4.1"
    assert releases["keda"]["version"] == "2.20.2"
    kinds = {o["kind"] for o in plan.manifests()}
    assert {"PodMonitor", "PrometheusRule"} <= kinds
    assert not {"PodMonitoring", "Rules", "TriggerAuthentication"} & kinds
    scaled = objects(plan, "ScaledObject")["vllm-qwen-7b"]["spec"]
    assert scaled["triggers"][0]["metadata"]["serverAddress"] == \
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    assert "authenticationRef" not in scaled["triggers"][0]
    assert not [r for r in plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
                if "[keda/" in r.inputs["member"]]  # no KEDA identity needed
    # GKE's DCGM collection feeds only its managed Prometheus: the plan says the GPU panel will be empty.
    assert any("DCGM" in note and "self-hosted" in note for note in plan.notes)


def test_dashboard_and_alerts(plan_of):
    import json

    plan = plan_of("prod")
    # GKE managed monitoring: the dashboard is a Cloud Monitoring one (nothing there would load Grafana's).
    (dashboard,) = plan.of_type("gcp:monitoring/dashboard:Dashboard")
    widgets = json.loads(dashboard.inputs["dashboardJson"])["gridLayout"]["widgets"]
    exprs = " ".join(d["timeSeriesQuery"]["prometheusQuery"] for w in widgets for d in w["xyChart"]["dataSets"])
    for metric in ("vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
                   "vllm:e2e_request_latency_seconds_bucket", "vllm:num_requests_running",
                   "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:generation_tokens_total",
                   "DCGM_FI_DEV_GPU_UTIL"):
        assert metric in exprs
    rules = objects(plan, "Rules")["llm-fleet-serving-alerts"]["spec"]["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {"LLMFleetModelNoReadyReplica", "LLMFleetQueueGrowing",
                                           "LLMFleetKvCacheNearlyFull"}


def test_dev_model_allowed_at_zero_gets_no_down_alert(plan_of):
    rules = objects(plan_of("dev"), "Rules")["llm-fleet-serving-alerts"]["spec"]["groups"][0]["rules"]
    assert "LLMFleetModelNoReadyReplica" not in {r["alert"] for r in rules}


def test_internal_load_balancer_only_when_configured(make_stack):
    root, name = make_stack("prod", lambda c: c.setdefault("serving", {}).update(expose="internal-load-balancer"))
    plan = run_plan(name, root)
    service = objects(plan, "Service")["vllm-qwen-7b"]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == {"networking.gke.io/load-balancer-type": "Internal"}
    assert plan.ok


def test_scale_to_zero_without_working_hours_is_refused():
    from infra.config import ConfigError

    raw = stack_config("dev")
    del raw["serving"]
    with pytest.raises(ConfigError, match=r"models\[0\]\.replicas\.min = 0: nothing would wake the model"):
        parse_stack_config(raw)


def test_hf_token_comes_from_a_secret_made_from_the_secret_config(make_stack):
    root, name = make_stack("prod", lambda c: c.update(hfToken={"secure": "v1:AAAA"}))
    plan = run_plan(name, root)
    secret = next(s for s in plan.of_type("kubernetes:core/v1:Secret") if s.inputs["metadata"]["name"] == "hf-token")
    assert secret.inputs["stringData"]["HF_TOKEN"] == "[secret]"  # never in plain text, not even in a plan
    vllm_env = env = pod_spec(objects(plan, "Deployment")["vllm-qwen-7b"])["containers"][0]["env"]
    # A file HF_TOKEN_PATH names, not an env value (issue 17; tests/test_api_keys.py has the mounts).
    assert [e for e in env if e["name"] == "HF_TOKEN_PATH"] == [
        {"name": "HF_TOKEN_PATH", "value": "/etc/llm-fleet/hf-token/HF_TOKEN"}]
    assert not [e for e in vllm_env if e["name"] == "HF_TOKEN"]
    validate(objects(plan, "Secret")["hf-token"])
