"""The same models and workloads on GKE, EKS and an existing cluster: only the platform layer differs."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from infra.plan import run_plan
from tests.conftest import stack_config

# prod on the other platforms (examples/); dev-provider is a tier on a provider, not a platform.
EXAMPLES = ("eks-prod", "coreweave-prod")

WORKLOAD_KEYS = ("models", "training", "rollout", "serving")
_MISSING = object()


def _workload_objects(plan) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Kubernetes objects declared under a workloads component, by (kind, namespace, name)."""
    by_urn = {r.urn: r for r in plan.resources}

    def in_workloads(r) -> bool:
        while r is not None:
            if r.type.startswith("llmfleet:workloads:"):
                return True
            r = by_urn.get(r.parent)
        return False

    objects = {}
    for r in plan.resources:
        if r.is_kubernetes_object and in_workloads(r):
            meta = r.inputs.get("metadata", {})
            objects[(r.inputs["kind"], meta.get("namespace", ""), meta.get("name", r.name))] = r.inputs
    return objects


def _diffs(a: Any, b: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _diffs(a.get(key, _MISSING), b.get(key, _MISSING), (*path, key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diffs(x, y, (*path, i))
    elif a != b:
        yield path, a, b


def _registry_free(image: Any) -> Any:
    return image.rsplit("/", 1)[-1] if isinstance(image, str) else image


def _allowed(kind: str, path: tuple, a: Any, b: Any) -> bool:
    if {"nodeSelector", "tolerations", "storageClassName"} & set(path):
        return True
    if path[-1] == "image":
        return _registry_free(a) == _registry_free(b)
    if kind == "ServiceAccount" and path[:2] == ("metadata", "annotations"):
        return True
    # A rollout may take a replica away only when the pool has no room for its surge pod at peak:
    # eks-prod's two 8-GPU nodes leave 4 spare GPUs beyond 12 replicas, GKE's 12 one-GPU nodes none.
    if path[-2:] == ("rollingUpdate", "maxUnavailable"):
        return True
    # GKE's Workload Identity answers on the node's metadata server (infra/egress.py): the one egress rule per cloud.
    if kind == "NetworkPolicy" and path[-1] == "egress":
        only_one_side = [r for r in a if r not in b] + [r for r in b if r not in a]
        return all(peer.get("ipBlock", {}).get("cidr") == "169.254.169.254/32"
                   for r in only_one_side for peer in r.get("to", []))
    # KEDA's scale-in delay is the platform's time to serve a new replica (infra/time_to_serve.py): GKE streams the
    # serving image, EKS and existing clusters pull it whole (test_the_scale_in_delay_is_each_platforms_time_to_serve).
    if kind == "ScaledObject" and path[-1] in ("stabilizationWindowSeconds", "cooldownPeriod"):
        return True
    # A GPU pod asks for its GPUs' share of one node's CPU and memory: the machines differ per cloud.
    return "resources" in path and path[-1] in ("cpu", "memory")


@pytest.fixture(scope="module")
def three_platforms(tmp_path_factory):
    """prod's models and workloads on each platform's example (GKE: the prod stack itself).

    Two settings are aligned first, both because they are platform choices rather than workloads:
    monitoring is self-hosted everywhere (GKE's managed Prometheus speaks another dialect of scrape
    objects, which EKS and existing clusters cannot), and training checkpoints go to a volume (a
    bucket URL names its cloud: gs:// vs s3://), so the storage class shows.
    """
    base = stack_config("prod")
    workloads = {k: copy.deepcopy(base[k]) for k in WORKLOAD_KEYS if k in base}
    workloads["serving"] = {**workloads.get("serving", {}), "monitoring": "self-hosted"}
    workloads["training"].pop("checkpointBucket", None)
    workloads["training"]["checkpointVolumeGb"] = 500
    # Without the gateway: it is compared in tests/test_gateway_stack.py; on an existing cluster its pods have no
    # known pool yet (open, issue 14).
    workloads["serving"].pop("gateway", None)
    workloads["rollout"].pop("viaGateway", None)  # ... so the rollout workers call the model itself
    workloads["models"] = [{k: v for k, v in m.items() if k != "fallbacks"} for m in workloads["models"]]
    plans = {}
    for stack in ("prod", *EXAMPLES):
        cfg = {**stack_config(stack), **copy.deepcopy(workloads)}
        cfg.pop("togetherApiKey", None)  # the gateway's fallback key: no gateway here
        folder = tmp_path_factory.mktemp(stack)
        doc = {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}
        (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        plans[stack] = run_plan(stack, folder)
    return plans


def test_examples_carry_prods_models_and_workloads():
    prod = stack_config("prod")
    for stack in EXAMPLES:
        example = stack_config(stack)
        # coreweave-prod has no gateway yet (on an existing cluster its pods have no known pool: open, issue 14), so
        # its model has no fallbacks to route to, and its rollout workers call the model itself.
        has_gateway = "gateway" in example.get("serving", {})
        assert [m if has_gateway else {k: v for k, v in m.items() if k != "fallbacks"} for m in prod["models"]] == \
            example["models"], stack
        assert example["rollout"] == {k: v for k, v in prod["rollout"].items()
                                      if has_gateway or k != "viaGateway"}, stack
        assert {k: v for k, v in example["training"].items() if not k.startswith("checkpoint")} == \
            {k: v for k, v in prod["training"].items() if not k.startswith("checkpoint")}, stack


def test_rendered_workloads_differ_only_in_placement_storage_and_registry(three_platforms):
    """Deliberate differences besides node selectors, tolerations, storage class and image registry:
    the serving ServiceAccount's annotations (EKS binds it to the weights-reading IAM role through
    IRSA), each GPU pod's CPU/memory requests (its share of one node of that cloud's machine) and a
    model rollout's maxUnavailable (0 where the pool has room for the surge pod at peak)."""
    gke = _workload_objects(three_platforms["prod"])
    # prod's workloads with self-hosted monitoring and a checkpoint volume: one model (qwen-7b) with its Service,
    # policy, PDB, autoscaler, scraping, alerts and dashboard; the rollout workers; the training job and its volume;
    # one service account each.
    assert sorted(gke) == [
        ("ConfigMap", "monitoring", "llm-fleet-vllm-dashboard"),  # beside Grafana's namespaced sidecar
        ("Deployment", "llm-rollout", "rollout-worker"), ("Deployment", "llm-serving", "vllm-qwen-7b"),
        ("HorizontalPodAutoscaler", "llm-rollout", "rollout-worker"), ("Job", "llm-training", "trainer"),
        # Each pod's declared egress (infra/egress.py) and the model's ingress.
        ("NetworkPolicy", "llm-rollout", "rollout-worker-egress"), ("NetworkPolicy", "llm-serving", "vllm-egress"),
        ("NetworkPolicy", "llm-serving", "vllm-qwen-7b"), ("NetworkPolicy", "llm-training", "trainer-egress"),
        ("PersistentVolumeClaim", "llm-training", "trainer-checkpoints"),
        ("PodDisruptionBudget", "llm-serving", "vllm-qwen-7b"),
        ("PodMonitor", "llm-serving", "vllm-qwen-7b-metrics"),
        ("PrometheusRule", "llm-serving", "llm-fleet-serving-alerts"),
        ("ScaledObject", "llm-serving", "vllm-qwen-7b"),
        # The model API key where it is checked and where the rollout workers send it from.
        ("Secret", "llm-rollout", "model-api-key"), ("Secret", "llm-serving", "model-api-key"),
        ("Service", "llm-serving", "vllm-qwen-7b"),
        ("ServiceAccount", "llm-rollout", "rollout-worker"), ("ServiceAccount", "llm-serving", "model-server"),
        ("ServiceAccount", "llm-training", "trainer")]
    for stack in EXAMPLES:
        assert three_platforms[stack].ok, stack
        other = _workload_objects(three_platforms[stack])
        assert sorted(other) == sorted(gke), stack
        unexpected = [(key, path, a, b) for key, obj in gke.items()
                      for path, a, b in _diffs(obj, other[key]) if not _allowed(key[0], path, a, b)]
        assert not unexpected, (stack, unexpected[:5])
        seen = {p for key, obj in gke.items() for p, _, _ in _diffs(obj, other[key])}
        assert any("nodeSelector" in p for p in seen) and any("storageClassName" in p for p in seen)
        assert any(p[-1] == "image" for p in seen)


def test_the_scale_in_delay_is_each_platforms_time_to_serve(three_platforms):
    from infra.time_to_serve import model_time_to_serve, scale_down_window_seconds

    windows = {}
    for stack, plan in three_platforms.items():
        (scaled,) = [o for o in plan.manifests() if o["kind"] == "ScaledObject"]
        window = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"][
            "stabilizationWindowSeconds"]
        assert window == scaled["spec"]["cooldownPeriod"] == \
            scale_down_window_seconds(model_time_to_serve(plan.cfg, "qwen-7b")), stack
        windows[stack] = window
    # 230 s whole-image pull instead of 20 s streamed: the one part that differs by platform here.
    assert windows == {"prod": 469, "eks-prod": 679, "coreweave-prod": 679}
