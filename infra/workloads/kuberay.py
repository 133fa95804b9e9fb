"""KubeRay mode: one Ray cluster serves every model (Ray Serve LLM) and runs the rollouts; the Ray pods its
groups and the training RayJob (infra/workloads/ray_training.py) are made of.

The RayService's cluster has a CPU head that runs no replicas (`num-cpus: 0`, `num-gpus: 0`),
one GPU worker group per serving pool (one worker pod per node, owning all its GPUs), and a
CPU worker group on the rollout pool where rollouts run as Ray tasks, a millisecond from the
model replicas instead of a network hop to a serverless platform. Ray's own autoscaler sizes
the groups; the node pools' autoscalers follow the pods.

The spec is a pure function of `RayServing` (the config and the fleet's placements: `ray_service_spec`), so
tests and guards check exactly what the component declares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.catalog import GPUS
from infra.cluster.kuberay import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from infra.cluster.monitoring import Monitoring, ScrapeEndpoint
from infra.config import Model, Rollout, StackConfig
from infra.fleet import Fleet, ModelPlacement, by_pool
from infra.names import (
    GATEWAY_NAMESPACE,
    PART_OF,
    RAY_HEAD_SERVICE_ACCOUNT,
    RAY_ROLLOUT_SERVICE_ACCOUNT,
    ROLLOUT_NAMESPACE,
    SERVING_NAMESPACE,
)
from infra.platforms import identity_requests
from infra.restricted import CONTAINER, RAY_GID, RAY_UID, pod_security
from infra.seam import IdentityRequest, Platform, PoolFacts
from infra.workloads.engine import engine_args
from infra.workloads.identities import IdentityFactory, workload_service_account
from infra.workloads.ray_api_key import RaySecretFiles, code_config_map, ingress_cls_config, with_secret_files
from infra.workloads.scheduling import DAEMONSET_CPU, DAEMONSET_MEMORY_GIB, ladder_pod_resources, ladder_scheduling
from infra.workloads.secret_files import api_key_file, hf_token_file
from infra.workloads.vllm import SHM_GIB_PER_GPU, cache_gib

RAY_SERVICE = "llm"
SERVE_PORT, METRICS_PORT, DASHBOARD_PORT = 8000, 8080, 8265
HEAD_CPU, HEAD_MEMORY_GIB = 4, 16
RAY_NODE_LABEL = {"ray.io/is-ray-node": "yes"}  # KubeRay puts this label on every pod of every Ray cluster
# Ray's token authentication (Ray >= 2.52: RAY_AUTH_MODE=token, ray/_private/authentication/ in ray 2.60.0;
# https://docs.ray.io/en/latest/ray-security/token-auth.html): every dashboard, job-submission and GCS call needs the
# cluster's token. KubeRay v1.7.0 (raycluster_types.go AuthOptions; raycluster_controller.go reconcileAuthSecret)
# generates it into a Secret named after the RayCluster, gives it to every Ray container as RAY_AUTH_TOKEN (common/
# pod.go SetContainerTokenAuthEnvVars) and sends it on its own dashboard calls (utils/util.go
# GetRayDashboardClientFunc). The mode must be explicit: KubeRay only treats `token` as on (utils IsAuthEnabled).
RAY_TOKEN_AUTH = {"mode": "token"}


@dataclass(frozen=True)
class RayServing:
    """What the RayService and its Ray cluster are made of, from the config and the fleet (see `ray_serving`)."""

    models: tuple[ModelPlacement, ...]
    model_revisions: Mapping[str, str]  # pinned commits of Hugging Face sources
    adapter_roots: Mapping[str, str]  # per model with `lora`, where its adapters are published
    target_ongoing_requests: int  # per replica, what Ray Serve's autoscaler aims for
    image: str  # the Ray image
    ray_version: str
    rollout: Rollout  # the rollouts run as Ray tasks on a CPU worker group
    rollout_image: str
    rollout_pool: PoolFacts  # the CPU workers' pool, and the head's
    upgrade: str  # the tier's RayService upgrade strategy
    gateway_class: str | None  # what an incremental upgrade shifts traffic with
    idle_timeout_s: int  # before Ray's autoscaler removes an idle worker
    api_access_from: tuple[str, ...]  # namespaces that may call the API besides the rollouts'
    rollout_identity: IdentityRequest  # bucket access of the rollout workers' account
    gateway_proxy_cidrs: tuple[str, ...]  # the platform's: where the Gateway's proxies come from
    gateway_health_check_cidrs: tuple[str, ...]  # ... and its load balancer's health checks


def ray_serving(cfg: StackConfig, fleet: Fleet, platform: Platform) -> RayServing:
    assert cfg.rollout is not None and fleet.rollout_pool is not None, "validated by config: KubeRay needs rollout"
    assert cfg.artifacts.ray_image is not None and cfg.artifacts.rollout_image is not None
    return RayServing(
        models=fleet.models, model_revisions=cfg.artifacts.model_revisions,
        adapter_roots={m.name: root for m in cfg.models if (root := cfg.adapter_root(m)) is not None},
        target_ongoing_requests=cfg.serving.ray_target_ongoing_requests, image=cfg.artifacts.ray_image,
        ray_version=cfg.artifacts.ray_version, rollout=cfg.rollout, rollout_image=cfg.artifacts.rollout_image,
        rollout_pool=fleet.rollout_pool, upgrade=cfg.profile.ray_upgrade, gateway_class=cfg.serving.gateway_class,
        idle_timeout_s=cfg.profile.ray_idle_timeout_s,
        api_access_from=tuple(sorted({*cfg.serving.api_access_from,
                                      *([GATEWAY_NAMESPACE] if cfg.serving.gateway is not None else [])})),
        rollout_identity=identity_requests(cfg)["rollout"], gateway_proxy_cidrs=platform.gateway_proxy_cidrs,
        gateway_health_check_cidrs=platform.gateway_health_check_cidrs)


def service_url() -> str:
    """The OpenAI base URL of the Serve application: KubeRay keeps `<name>-serve-svc` on the active cluster."""
    return f"http://{RAY_SERVICE}-serve-svc.{SERVING_NAMESPACE}.svc.cluster.local:{SERVE_PORT}/v1"


def lora_config(model: Model, root: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(engine_kwargs, LLMConfig keys) serving `model`'s adapters in Ray Serve LLM; ({}, {}) without `lora`.

    Ray Serve LLM loads adapter `<model>:<id>` from `<dynamic_lora_loading_path>/<id>` on first request and keeps
    up to `max_num_adapters_per_replica` (ray 2.60.0, ray/llm/_internal/serve/core/configs/llm_config.py
    `LoraConfig`; utils/lora_serve_utils.py `get_lora_model_metadata`: bucket_uri = f"{base_path}/{lora_id}").
    Under the contract's `<root>/versions/<step>/` a request for `<model>:<step>` gets that version; Ray has no
    pointer watcher, so the newest-version alias (`policy`) is plain mode's. The engine still needs vLLM's LoRA
    flags: Ray passes engine_kwargs to vLLM's EngineArgs and sets none of them itself.
    """
    if model.lora is None or root is None:
        return {}, {}
    engine = {"enable_lora": True, "max_lora_rank": model.lora.max_rank, "max_loras": model.lora.max_loras}
    return engine, {"lora_config": {"dynamic_lora_loading_path": f"{root.rstrip('/')}/versions",
                                    "max_num_adapters_per_replica": model.lora.max_loras}}


def _llm_config(ray: RayServing, model: Model) -> dict[str, Any]:
    args = engine_args(model, ray.model_revisions.get(model.name))
    lora_engine, lora = lora_config(model, ray.adapter_roots.get(model.name))
    engine: dict[str, Any] = {"tensor_parallel_size": model.tensor_parallel_size, "max_model_len": model.max_model_len,
                              **args.kwargs(), **lora_engine}
    return {
        **lora,
        "model_loading_config": {"model_id": model.name, "model_source": args.model},
        # Its own GPU kind: each replica's bundles then ask for `accelerator_type:<kind>`, which only the worker
        # groups of that kind advertise (gpu_kind_resources), so a 40 GB model never lands on an 80 GB group.
        "accelerator_type": GPUS[model.gpu].ray_accelerator,
        "engine_kwargs": engine,
        "deployment_config": {"autoscaling_config": {
            "min_replicas": model.replicas.min, "max_replicas": model.replicas.max,
            "target_ongoing_requests": ray.target_ongoing_requests}},
    }


def serve_config(ray: RayServing) -> dict[str, Any]:
    """serveConfigV2: Ray Serve LLM's OpenAI app with one LLM config per model."""
    return {"applications": [{
        "name": "llm",
        "route_prefix": "/",
        "import_path": "ray.serve.llm:build_openai_app",
        # Pinned: everything the app needs is in the digest-pinned Ray image; nothing is pip-installed at
        # start-up, so every replica runs exactly what was promoted.
        "runtime_env": {"env_vars": {"HF_HOME": "/cache/huggingface", "VLLM_CACHE_ROOT": "/cache/vllm"}},
        "args": {"llm_configs": [_llm_config(ray, p.model) for p in ray.models],
                 "ingress_cls_config": ingress_cls_config()},  # checks the API key (ray_api_key.py)
    }]}


def ray_container(name: str, image: str, cpu: float, memory_gib: int, gpus: int = 0,
               mounts: list[dict] | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    limits: dict[str, str] = {"memory": f"{memory_gib}Gi"}
    requests: dict[str, str] = {"cpu": f"{cpu:g}", "memory": f"{memory_gib}Gi"}
    if gpus:
        limits["nvidia.com/gpu"] = requests["nvidia.com/gpu"] = str(gpus)
    container: dict[str, Any] = {
        "name": name, "image": image,
        "resources": {"requests": requests, "limits": limits},
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "volumeMounts": mounts or [],
        # PSA restricted; KubeRay copies it onto the worker's injected wait-gcs-ready init container
        # (ray-operator/controllers/ray/common/pod.go DefaultWorkerPodTemplate: SecurityContext DeepCopy).
        "securityContext": dict(CONTAINER),
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return container


def ray_pod(pool: PoolFacts, container: dict[str, Any], volumes: list[dict],
         priority_class: pulumi.Input[str], service_account: pulumi.Input[str] | None = None,
         api_token: bool = False, fallbacks: tuple[PoolFacts, ...] = ()) -> dict[str, Any]:
    """A Ray pod; every one runs under a service account of its own (set here or by the caller), never `default`.
    `fallbacks`: a capacity ladder's later rungs, where the pod may land too."""
    identity: dict[str, Any] = {"automountServiceAccountToken": api_token}
    if service_account is not None:
        identity["serviceAccountName"] = service_account
    where = ladder_scheduling([pool, *fallbacks])  # one pool: its nodeSelector and taints, as ever
    return {"spec": {
        **identity,
        "priorityClassName": priority_class,
        "enableServiceLinks": False,
        # Every Ray image runs `ray start`, so it is built on the Ray image and its `ray` user.
        "securityContext": pod_security(RAY_UID, RAY_GID),
        "nodeSelector": where.node_selector,
        **({"affinity": where.affinity} if where.affinity else {}),
        "tolerations": where.tolerations,
        "containers": [container],
        "volumes": volumes,
    }}


def head_group(image: str, pool: PoolFacts, priority_class: pulumi.Input[str],
                service_account: str = RAY_HEAD_SERVICE_ACCOUNT, api_token: bool = True) -> dict[str, Any]:
    """The head. With in-tree autoscaling its autoscaler sidecar calls the Kubernetes API under the head's
    account: KubeRay binds its Role to that account, which must exist when named (v1.7.0
    raycluster_controller.go reconcileAutoscalerServiceAccount; common/rbac.go)."""
    container = ray_container("ray-head", image, HEAD_CPU, HEAD_MEMORY_GIB)
    container["ports"] += [{"name": "serve", "containerPort": SERVE_PORT}, {"name": "gcs", "containerPort": 6379},
                           {"name": "dashboard", "containerPort": DASHBOARD_PORT}]
    return {
        # No CPUs or GPUs offered to the scheduler: no replica or rollout task ever lands on the head.
        # dashboard-host 0.0.0.0: the operator calls the dashboard on the pod's address (localhost, Ray's default,
        # would lock it out; KubeRay v1.7.0 common/pod.go sets 0.0.0.0 itself when unset). Who reaches it is decided
        # by the Ray NetworkPolicy (operator only, from outside the Ray cluster) and by Ray's token auth.
        "rayStartParams": {"num-cpus": "0", "num-gpus": "0", "dashboard-host": "0.0.0.0",
                           "metrics-export-port": str(METRICS_PORT)},
        "template": ray_pod(pool, container, [], priority_class, service_account, api_token),
    }


def _gpu_group(rungs: tuple[PoolFacts, ...], models: list[Model], image: str,
               priority_class: pulumi.Input[str], service_account: pulumi.Input[str]) -> dict[str, Any]:
    """One worker pod per node, owning all of its GPUs; sized by the models placed on this pool. On a capacity
    ladder (`rungs`, preferred first) one group spans every rung: it owns the GPUs of the smallest rung's node and
    requests what fits a node of each, and may grow to all the rungs' nodes together."""
    pool, gpus = rungs[0], min(p.gpus_per_node for p in rungs)
    cpu, memory = ladder_pod_resources(rungs, gpus)
    cache = max(cache_gib(m) for m in models)
    container = ray_container("ray-worker", image, cpu, memory, gpus=gpus,
                           mounts=[{"name": "cache", "mountPath": "/cache"}, {"name": "dshm", "mountPath": "/dev/shm"}])
    container["resources"]["requests"]["ephemeral-storage"] = f"{cache}Gi"
    volumes = [{"name": "cache", "emptyDir": {"sizeLimit": f"{cache}Gi"}},
               {"name": "dshm", "emptyDir": {"medium": "Memory",
                                             "sizeLimit": f"{SHM_GIB_PER_GPU * gpus}Gi"}}]
    warm_gpus = sum(m.replicas.min * m.tensor_parallel_size for m in models)
    warm = math.ceil(warm_gpus / gpus)
    # The replicas load the weights: they run as the serving identity.
    template = ray_pod(pool, container, volumes, priority_class, service_account, fallbacks=rungs[1:])
    return {"groupName": pool.name, "replicas": warm, "minReplicas": warm,
            "maxReplicas": sum(p.max_gpus // gpus for p in rungs),
            "rayStartParams": {"metrics-export-port": str(METRICS_PORT)},
            "resources": gpu_kind_resources(pool),
            "template": template}


def gpu_kind_resources(pool: PoolFacts) -> dict[str, str]:
    """The Ray resource naming this group's GPU kind, which the models placed on it ask for.

    Ray detects only the model family from the GPU's name (`accelerator_type:A100` on 40 GB and 80 GB A100s alike),
    so each group declares its kind as a custom resource, one per node: `accelerator_type:A100-40G`, the constant
    ray.util.accelerators.NVIDIA_A100_40G that "is not auto-added to nodes" (its own comment). Through the group's
    top-level `resources` (KubeRay v1.7.0 raycluster_types.go; the operator turns it into `ray start --resources`,
    pod.go updateRayStartParamsResources) the Ray autoscaler also sees it on a group scaled to zero.
    """
    assert pool.gpu is not None
    return {GPUS[pool.gpu].ray_resource: "1"}


def rollout_pod_cpu(pool: PoolFacts) -> int:
    """Rollout worker pods take half a node, so the head still fits beside one of them."""
    return max(1, math.floor((pool.allocatable_cpu - DAEMONSET_CPU) / 2))


def _rollout_group(ray: RayServing, priority_class: pulumi.Input[str]) -> dict[str, Any]:
    pool, rollout = ray.rollout_pool, ray.rollout
    cpu = rollout_pod_cpu(pool)
    memory = math.floor((pool.allocatable_memory_gib - DAEMONSET_MEMORY_GIB) / 2)
    env = {"OPENAI_BASE_URL": service_url(), **rollout.env}
    container = ray_container("rollout", ray.rollout_image, cpu, memory, env=env)
    warm = math.ceil(rollout.replicas.min * rollout.cpu_per_worker / cpu)
    # Two pods per node, one slot kept for the head.
    return {"groupName": "rollout", "replicas": warm, "minReplicas": warm, "maxReplicas": 2 * pool.max_nodes - 1,
            "rayStartParams": {"num-cpus": str(cpu), "metrics-export-port": str(METRICS_PORT)},
            "template": ray_pod(pool, container, [], priority_class, RAY_ROLLOUT_SERVICE_ACCOUNT)}


def _upgrade_strategy(ray: RayServing, gpu_groups: list[dict[str, Any]]) -> dict[str, Any]:
    kind = ray.upgrade
    if kind != "NewClusterWithIncrementalUpgrade":
        return {"type": kind}
    # Surge by one worker pod of the largest group at a time (KubeRay's recommended safe setting).
    largest = max((g["maxReplicas"] for g in gpu_groups), default=1)
    surge = math.ceil(100 / max(1, largest))
    return {"type": kind, "clusterUpgradeOptions": {
        "gatewayClassName": ray.gateway_class, "maxSurgePercent": surge, "stepSizePercent": surge,
        "intervalSeconds": 60}}


def ray_service_spec(ray: RayServing, priority_class: pulumi.Input[str],
                     service_account: pulumi.Input[str]) -> dict[str, Any]:
    gpu_groups = [_gpu_group(placements[0].rungs, [p.model for p in placements], ray.image, priority_class,
                             service_account)
                  for placements in by_pool(ray.models).values()]
    return {
        "upgradeStrategy": _upgrade_strategy(ray, gpu_groups),
        "serveConfigV2": yaml.safe_dump(serve_config(ray), sort_keys=False),
        "rayClusterConfig": {
            "rayVersion": ray.ray_version,
            "authOptions": RAY_TOKEN_AUTH,
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {"idleTimeoutSeconds": ray.idle_timeout_s, "upscalingMode": "Default",
                                  # The autoscaler sidecar KubeRay adds to the head takes its securityContext from
                                  # here (common/pod.go mergeAutoscalerOverrides); without it the head pod fails
                                  # PSA restricted.
                                  "securityContext": dict(CONTAINER)},
            "headGroupSpec": head_group(ray.image, ray.rollout_pool, priority_class),
            "workerGroupSpecs": [*gpu_groups, _rollout_group(ray, priority_class)],
        },
    }


@dataclass(frozen=True)
class KubeRayServingArgs:
    ray: RayServing
    workload_identity: IdentityFactory
    namespace: pulumi.Input[str]
    priority_class: pulumi.Input[str]
    monitoring: Monitoring  # scrape config
    service_account: pulumi.Input[str]  # the fleet's serving identity: the GPU workers load the weights
    api_key_secret: pulumi.Input[str]  # the model API key's Secret (infra/workloads/api_key.py)
    hf_token_secret: pulumi.Input[str] | None  # the Hugging Face token's Secret, when the stack has a token


class KubeRayServing(pulumi.ComponentResource):
    """The RayService, who may reach it, and its scrape config."""

    def __init__(self, name: str, args: KubeRayServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:KubeRayServing", name, None, opts)
        ray, namespace, monitoring = args.ray, args.namespace, args.monitoring
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "ray-llm", **PART_OF}
        accounts = [
            workload_service_account(f"{name}-head-sa", name=RAY_HEAD_SERVICE_ACCOUNT, namespace=namespace,
                                     workload_identity=args.workload_identity, parent=self, automount=True),
            workload_service_account(f"{name}-rollout-sa", name=RAY_ROLLOUT_SERVICE_ACCOUNT, namespace=namespace,
                                     workload_identity=args.workload_identity, parent=self,
                                     request=ray.rollout_identity),
        ]
        self.ray_service = k8s.apiextensions.CustomResource(
            f"{name}-rayservice", api_version="ray.io/v1", kind="RayService",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=RAY_SERVICE, namespace=namespace, labels=labels),
            spec=with_secret_files(ray_service_spec(ray, args.priority_class, args.service_account), RaySecretFiles(
                api_key_file(args.api_key_secret),
                hf_token_file(args.hf_token_secret) if args.hf_token_secret is not None else None,
                code_config_map(f"{name}-code", namespace, self).metadata.name)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=accounts))

        def peers(names: list[str]) -> list[dict]:
            return [{"namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": names}]}}]

        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="ray-llm", namespace=namespace, labels=labels),
            spec={"podSelector": {"matchLabels": RAY_NODE_LABEL}, "policyTypes": ["Ingress"], "ingress": [
                # Ray's own traffic (GCS, object store, workers) stays inside the cluster's namespace.
                {"from": [{"podSelector": {"matchLabels": RAY_NODE_LABEL}}]},
                {"from": peers(sorted({ROLLOUT_NAMESPACE, *ray.api_access_from})),
                 "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]},
                {"from": peers([monitoring.scraper_namespace]), "ports": [{"port": METRICS_PORT, "protocol": "TCP"}]},
                # The KubeRay operator deploys and polls the Serve apps through the head's dashboard API and
                # health-checks its Serve proxy (ray-operator/controllers/ray/rayservice_controller.go v1.7.0:
                # FetchHeadServiceURL(..., DashboardPortName), updateHeadPodServeLabel).
                {"from": [{"namespaceSelector": {"matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [KUBERAY_NAMESPACE]}]},
                           "podSelector": {"matchLabels": KUBERAY_OPERATOR_LABELS}}],
                 "ports": [{"port": DASHBOARD_PORT, "protocol": "TCP"}, {"port": SERVE_PORT, "protocol": "TCP"}]},
                # The Gateway's proxies (GKE regional Gateway: the proxy-only subnet) during incremental upgrades.
                *([{"from": [{"ipBlock": {"cidr": cidr}} for cidr in ray.gateway_proxy_cidrs],
                    "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]}] if ray.gateway_proxy_cidrs else []),
                # ... and its health checks, which probe the pod's serving port from Google's own ranges, not from
                # the proxy-only subnet (infra/platforms/gke/facts.py GCP_HEALTH_CHECK_RANGES).
                *([{"from": [{"ipBlock": {"cidr": cidr}} for cidr in ray.gateway_health_check_cidrs],
                    "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]}]
                  if ray.gateway_health_check_cidrs else []),
            ]},
            opts=child)
        monitoring.pod_monitor("ray-llm-metrics", namespace, RAY_NODE_LABEL, [ScrapeEndpoint("metrics", "/metrics")],
                               opts=child)
        self.url = service_url()
        self.register_outputs({"rayService": RAY_SERVICE, "url": self.url})
