"""Issue 17, "High — unauthenticated model APIs" and "Low — the Hugging Face token is an env var": every model API
checks a per-stack key, its callers send it, and secrets reach pods as mounted files.

On the code before this change each test here fails: no model-api-key Secret, no SERVING_API_KEY_FILE, HF_TOKEN as
a secretKeyRef env var, no keyed ingress in the RayService, no guard to refuse a keyless API.
"""

from __future__ import annotations

import asyncio
import shutil
import sys

import pytest

from infra.guards.api_keys import secrets_are_files, serving_apis_require_a_key
from infra.plan import SECRET_PLACEHOLDER, run_plan
from tests.conftest import with_object_edited
from tests.test_kuberay import the

KEY_PATH = "/etc/llm-fleet/api-key/api-key"  # the Secret model-api-key's item `api-key`, mounted at its directory
TOKEN_PATH = "/etc/llm-fleet/hf-token/HF_TOKEN"  # the Secret hf-token's item `HF_TOKEN`


def objects(plan, kind: str, name: str | None = None) -> list[dict]:
    return [o for o in plan.manifests() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def pod(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def env(pod_spec: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod_spec["containers"][0].get("env") or []}


def secret_mount(pod_spec: dict, directory: str) -> str:
    """The Secret mounted (read-only) at `directory` in the pod's first container."""
    (mount,) = [m for m in pod_spec["containers"][0]["volumeMounts"] if m["mountPath"] == directory]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == mount["name"]]
    return volume["secret"]["secretName"]


# --- plain mode (prod): the vLLM pods check the key, the rollout workers send it -------------------------------


def test_the_key_is_a_generated_secret_in_the_serving_and_rollout_namespaces(plan_of):
    plan = plan_of("prod")
    (password,) = plan.of_type("random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] == 48 and password.inputs["special"] is False
    secrets = {o["metadata"]["namespace"]: o["stringData"] for o in objects(plan, "Secret", "model-api-key")}
    # Its value never shows in the plan: the serving pods' copy and the rollout workers' copy.
    # ... and the gateway's (serving.gateway): clients send it, and it sends it on to the local replicas.
    assert secrets == {"llm-serving": {"api-key": SECRET_PLACEHOLDER}, "llm-rollout": {"api-key": SECRET_PLACEHOLDER},
                       "llm-gateway": {"api-key": SECRET_PLACEHOLDER}}
    # Callers outside the cluster read it with `pulumi stack output modelApiKey --show-secrets`; a secret output.
    assert plan.outputs["modelApiKey"] == SECRET_PLACEHOLDER


def test_vllm_pods_read_the_key_from_the_mounted_secret(plan_of):
    (deployment,) = objects(plan_of("prod"), "Deployment", "vllm-qwen-7b")
    spec = pod(deployment)
    assert env(spec)["SERVING_API_KEY_FILE"] == KEY_PATH  # the serving image hands it to vLLM as VLLM_API_KEY
    assert secret_mount(spec, "/etc/llm-fleet/api-key") == "model-api-key"
    assert "VLLM_API_KEY" not in env(spec)  # never the key itself


def test_rollout_workers_send_the_key_from_a_file(plan_of):
    (deployment,) = objects(plan_of("prod"), "Deployment", "rollout-worker")
    spec = pod(deployment)
    assert env(spec)["OPENAI_API_KEY_FILE"] == KEY_PATH
    assert secret_mount(spec, "/etc/llm-fleet/api-key") == "model-api-key"
    assert "OPENAI_API_KEY" not in env(spec)


def test_the_guard_passes_every_shipped_stack(shipped_plan):
    plan = shipped_plan
    verdicts = {v.guard: v for v in plan.verdicts}
    assert verdicts["serving-apis-require-a-key"].status == "pass", verdicts["serving-apis-require-a-key"].message
    assert verdicts["secrets-are-files"].status == "pass", verdicts["secrets-are-files"].message


def test_a_vllm_deployment_without_its_key_file_fails_the_guard(plan_of):
    def drop_key(obj: dict) -> None:
        container = pod(obj)["containers"][0]
        container["env"] = [e for e in container["env"] if e["name"] != "SERVING_API_KEY_FILE"]

    verdict = serving_apis_require_a_key(with_object_edited(plan_of("prod"), "Deployment", "vllm-qwen-7b", drop_key))
    assert verdict.status == "fail"  # prod: a FAIL stops `pulumi up` (mandatory policy pack)
    assert "Deployment llm-serving/vllm-qwen-7b: no SERVING_API_KEY_FILE" in verdict.message


def test_a_key_file_outside_any_secret_volume_fails_the_guard(plan_of):
    def point_elsewhere(obj: dict) -> None:
        for e in pod(obj)["containers"][0]["env"]:
            if e["name"] == "SERVING_API_KEY_FILE":
                e["value"] = "/cache/api-key"  # the emptyDir cache: anyone who writes there sets the key

    verdict = serving_apis_require_a_key(
        with_object_edited(plan_of("prod"), "Deployment", "vllm-qwen-7b", point_elsewhere))
    assert verdict.status == "fail"
    assert "SERVING_API_KEY_FILE=/cache/api-key is not a file mounted from a Secret" in verdict.message


def test_a_secret_in_env_fails_the_secrets_guard(plan_of):
    def token_in_env(obj: dict) -> None:  # what the stack rendered before: HF_TOKEN from a secretKeyRef
        pod(obj)["containers"][0]["env"].append(
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}})

    verdict = secrets_are_files(with_object_edited(plan_of("prod"), "Deployment", "vllm-qwen-7b", token_in_env))
    assert verdict.status == "fail"
    assert "Deployment llm-serving/vllm-qwen-7b container vllm: env HF_TOKEN" in verdict.message


# --- the Hugging Face token: a file HF_TOKEN_PATH names, in every pod that downloads weights -----------------------


@pytest.fixture(scope="module")
def dev_with_token(tmp_path_factory):
    import yaml

    from tests.conftest import stack_config

    cfg = stack_config("dev")
    cfg["hfToken"] = "hf_plaintext_for_the_test"  # plaintext: allowed (with a warning) in dev only
    root = tmp_path_factory.mktemp("hf")
    (root / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}))
    return run_plan("dev", root)


def test_the_hf_token_is_a_mounted_file_in_serving_and_training(dev_with_token):
    plan = dev_with_token
    (vllm,) = [o for o in objects(plan, "Deployment") if o["metadata"]["name"].startswith("vllm-")]
    (trainer,) = objects(plan, "Job", "trainer")
    for spec in (pod(vllm), pod(trainer)):
        assert env(spec)["HF_TOKEN_PATH"] == TOKEN_PATH  # huggingface_hub reads it when HF_TOKEN is unset
        assert "HF_TOKEN" not in env(spec)
        assert secret_mount(spec, "/etc/llm-fleet/hf-token") == "hf-token"
    # One copy per namespace that downloads: a pod can mount only a Secret of its own namespace.
    assert sorted(o["metadata"]["namespace"] for o in objects(plan, "Secret", "hf-token")) == [
        "llm-serving", "llm-training"]
    assert {v.guard: v.status for v in plan.verdicts}["secrets-are-files"] == "pass"


# --- KubeRay mode: the Serve app is built with the keyed ingress, every Ray pod has the key file -----------------


def test_ray_serve_uses_the_keyed_ingress_and_every_ray_pod_has_the_key(kuberay_plan):
    import yaml

    plan = kuberay_plan("prod")
    service = the(plan, "RayService")
    (app,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    assert app["args"]["ingress_cls_config"] == {"ingress_cls": "llm_fleet_ingress:KeyedOpenAiIngress"}
    cluster = service["spec"]["rayClusterConfig"]
    groups = {"head": cluster["headGroupSpec"], **{g["groupName"]: g for g in cluster["workerGroupSpecs"]}}
    for name, group in groups.items():
        spec = group["template"]["spec"]
        assert env(spec)["SERVING_API_KEY_FILE"] == KEY_PATH, name
        assert env(spec)["PYTHONPATH"] == "/opt/llm-fleet/python", name  # where the ingress module is mounted
        assert secret_mount(spec, "/etc/llm-fleet/api-key") == "model-api-key", name
    # The rollouts (Ray tasks on the rollout group) send the key.
    assert env(groups["rollout"]["template"]["spec"])["OPENAI_API_KEY_FILE"] == KEY_PATH
    (code,) = objects(plan, "ConfigMap", "llm-fleet-ray-code")
    assert "class KeyedOpenAiIngress(OpenAiIngress)" in code["data"]["llm_fleet_ingress.py"]
    # In KubeRay mode the rollouts run in the serving namespace: one Secret there, no rollout copy.
    # In KubeRay mode the rollouts are Ray tasks in llm-serving; prod's gateway keeps its own copy.
    assert [o["metadata"]["namespace"] for o in objects(plan, "Secret", "model-api-key")] == ["llm-gateway",
                                                                                              "llm-serving"]
    assert {v.guard: v.status for v in plan.verdicts}["serving-apis-require-a-key"] == "pass"


def test_a_ray_service_without_the_keyed_ingress_fails_the_guard(kuberay_plan):
    import yaml

    def plain_ingress(obj: dict) -> None:
        config = yaml.safe_load(obj["spec"]["serveConfigV2"])
        del config["applications"][0]["args"]["ingress_cls_config"]
        obj["spec"]["serveConfigV2"] = yaml.safe_dump(config)

    verdict = serving_apis_require_a_key(with_object_edited(kuberay_plan("prod"), "RayService", "llm", plain_ingress))
    assert verdict.status == "fail"
    assert "RayService llm: app 'llm' is Ray Serve LLM's OpenAI app without the keyed ingress" in verdict.message


# --- the keyed ingress itself (runs in the Ray pods; imported here as they import it) ------------------------------


@pytest.fixture(scope="module")
def ingress(tmp_path_factory):
    """The module as the Ray pods load it: `llm_fleet_ingress` from its own directory (infra/workloads would put our
    vllm.py in front of the real vllm package)."""
    from infra.workloads.ray_api_key import ingress_source

    folder = tmp_path_factory.mktemp("ray-code")
    (folder / "llm_fleet_ingress.py").write_text(ingress_source())
    sys.path.insert(0, str(folder))
    try:
        import llm_fleet_ingress

        yield llm_fleet_ingress
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("llm_fleet_ingress", None)
        shutil.rmtree(folder, ignore_errors=True)


def test_every_openai_endpoint_of_ray_serve_llm_is_keyed(ingress):
    from ray.llm._internal.serve.core.ingress.ingress import DEFAULT_ENDPOINTS, OpenAiIngress

    # An endpoint Ray adds in a later version would be served keyless: this fails first.
    assert set(ingress.KEYED_ENDPOINTS) == set(DEFAULT_ENDPOINTS)
    for name in DEFAULT_ENDPOINTS:
        method = getattr(ingress.KeyedOpenAiIngress, name)
        assert method.__wrapped__ is getattr(OpenAiIngress, name), name
        import inspect

        assert "request" in inspect.signature(method).parameters, name  # FastAPI hands it the Request


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def test_the_keyed_ingress_refuses_a_wrong_or_missing_key_and_passes_the_right_one(ingress):
    from fastapi import HTTPException

    calls = []

    async def chat(self, body, request):
        calls.append(body)
        return "answer"

    endpoint = ingress.keyed(chat)
    replica = type("Replica", (), {"_llm_fleet_api_key": "k3y"})()
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic k3y"}):
        with pytest.raises(HTTPException) as refused:
            asyncio.run(endpoint(replica, body="prompt", request=_Request(headers)))
        assert refused.value.status_code == 401
    assert calls == []  # nothing reached the engine
    assert asyncio.run(endpoint(replica, body="prompt", request=_Request({"authorization": "Bearer k3y"}))) == "answer"
    assert calls == ["prompt"]


def test_the_keyed_ingress_fails_closed_without_a_key_file(ingress, tmp_path):
    with pytest.raises(RuntimeError, match="SERVING_API_KEY_FILE is not set"):
        ingress.read_key({})
    empty = tmp_path / "key"
    empty.write_text("\n")
    with pytest.raises(RuntimeError, match="empty file"):
        ingress.read_key({"SERVING_API_KEY_FILE": str(empty)})
    empty.write_text("s3cret\n")
    assert ingress.read_key({"SERVING_API_KEY_FILE": str(empty)}) == "s3cret"


# --- metrics and health stay keyless, reachable only from the scrapers (and the kubelet) --------------------------


def test_keyless_metrics_and_health_are_reachable_only_from_the_scrapers(plan_of):
    """vLLM's key guards only /v1, /v2, /inference and /cohere paths (vllm 0.32 entrypoints/serve/middleware/
    authenticate.py GUARDED_PREFIX): /metrics and /health on the API port (8000) and the supervisor's health port
    (8081) answer without it. So who may reach those ports is the whole protection: in prod the gateway (llm-gateway;
    the rollout workers go through it) for the API, and Google Managed Prometheus's collectors (gmp-system) for both.
    The kubelet's probes need no rule: "traffic to and from the node where a Pod is running is always allowed"
    (kubernetes/website content/en/docs/concepts/services-networking/network-policies.md, read 2026-11-30)."""
    (policy,) = objects(plan_of("prod"), "NetworkPolicy", "vllm-qwen-7b")
    reach: dict[int, set[str]] = {}
    for rule in policy["spec"]["ingress"]:
        namespaces = {v for peer in rule["from"] for e in peer["namespaceSelector"]["matchExpressions"]
                      for v in e["values"]}
        assert all(set(peer) == {"namespaceSelector"} for peer in rule["from"])  # no ipBlock, no open peer
        for port in rule["ports"]:
            reach.setdefault(port["port"], set()).update(namespaces)
    assert reach == {8000: {"llm-gateway", "gmp-system"}, 8081: {"gmp-system"}}


def test_the_served_openai_app_answers_401_without_the_key(ingress):
    """The class as Ray Serve LLM builds it (`make_fastapi_ingress`, ray 2.60.0 builder.py) on a real FastAPI app:
    Serve's class-based view must still find every route (it matches `__qualname__` against the class's MRO) and
    FastAPI must hand the check its Request. The replica is a bare instance with no model: /v1/models lists none."""
    import inspect

    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from ray.llm._internal.serve.core.ingress.ingress import make_fastapi_ingress

    app = FastAPI()
    make_fastapi_ingress(ingress.KeyedOpenAiIngress, app=app)
    replica = object.__new__(ingress.KeyedOpenAiIngress)
    replica._llm_fleet_api_key, replica._model_cards, replica._lora_paths = "k3y", {}, {}
    # Serve injects the replica through the `self` parameter's Depends; here the test's instance stands in for it.
    served = [r for r in app.routes if hasattr(getattr(r, "endpoint", None), "_serve_cls")]
    assert {r.path for r in served} >= {"/v1/models", "/v1/chat/completions", "/v1/completions"}
    app.dependency_overrides[inspect.signature(served[0].endpoint).parameters["self"].default.dependency] = (
        lambda: replica)
    client = TestClient(app)
    assert client.get("/v1/models").status_code == 401
    assert client.post("/v1/chat/completions", json={"model": "qwen-7b", "messages": []}).status_code == 401
    assert client.post("/v1/completions", headers={"Authorization": "Bearer wrong"},
                       json={"model": "qwen-7b", "prompt": "hi"}).status_code == 401
    ok = client.get("/v1/models", headers={"Authorization": "Bearer k3y"})
    assert (ok.status_code, ok.json()) == (200, {"data": [], "object": "list"})


def test_the_policy_pack_refuses_a_keyless_serving_api_in_prod(plan_of):
    """`pulumi preview/up` with the pack (mandatory in prod) stops on the same finding `plan` reports."""
    from tests.test_policy import as_policy_resources, run_policies

    def drop_key(r, props: dict) -> None:
        if props.get("kind") == "Deployment" and props["metadata"]["name"] == "vllm-qwen-7b":
            container = props["spec"]["template"]["spec"]["containers"][0]
            container["env"] = [e for e in container["env"] if e["name"] != "SERVING_API_KEY_FILE"]

    plan = plan_of("prod")
    found = run_policies(plan.cfg, as_policy_resources(plan, drop_key))
    reported = [m for messages in found.values() for m in messages]
    assert len(reported) == 1 and "Deployment llm-serving/vllm-qwen-7b: no SERVING_API_KEY_FILE" in reported[0]
