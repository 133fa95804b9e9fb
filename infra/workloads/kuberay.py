"""KubeRay mode: one Ray cluster serves every model (Ray Serve LLM) and runs the rollouts; a RayJob trains.

The RayService's cluster has a CPU head that runs no replicas (`num-cpus: 0`, `num-gpus: 0`),
one GPU worker group per serving pool (one worker pod per node, owning all its GPUs), and a
CPU worker group on the rollout pool where rollouts run as Ray tasks, a millisecond from the
model replicas instead of a network hop to a serverless platform. Ray's own autoscaler sizes
the groups; the node pools' autoscalers follow the pods.

Everything here is a pure function of config and pool facts (`serve_config`, `ray_service_spec`,
`ray_job_spec`), so tests and guards check exactly what the components declare.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.catalog import GPUS
from infra.cluster.kuberay import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from infra.cluster.monitoring import Monitoring, ScrapeEndpoint
from infra.config import Model, StackConfig
from infra.names import (
    PART_OF,
    RAY_HEAD_SERVICE_ACCOUNT,
    RAY_ROLLOUT_SERVICE_ACCOUNT,
    RAY_SUBMITTER_SERVICE_ACCOUNT,
    ROLLOUT_NAMESPACE,
    SERVING_NAMESPACE,
    TRAINING_SERVICE_ACCOUNT,
)
from infra.platforms import identity_requests
from infra.seam import Platform, PoolFacts
from infra.workloads.engine import engine_args
from infra.workloads.identities import workload_service_account
from infra.workloads.scheduling import DAEMONSET_CPU, DAEMONSET_MEMORY_GIB, gpu_pod_resources
from infra.workloads.training import CHECKPOINT_MOUNT, checkpoint_storage, trainer_service_account
from infra.workloads.vllm import SHM_GIB_PER_GPU, cache_gib

RAY_SERVICE = "llm"
SERVE_PORT, METRICS_PORT, DASHBOARD_PORT = 8000, 8080, 8265
HEAD_CPU, HEAD_MEMORY_GIB = 4, 16
RAY_NODE_LABEL = {"ray.io/is-ray-node": "yes"}  # KubeRay puts this label on every pod of every Ray cluster


def service_url() -> str:
    """The OpenAI base URL of the Serve application: KubeRay keeps `<name>-serve-svc` on the active cluster."""
    return f"http://{RAY_SERVICE}-serve-svc.{SERVING_NAMESPACE}.svc.cluster.local:{SERVE_PORT}/v1"


def _llm_config(cfg: StackConfig, model: Model) -> dict[str, Any]:
    args = engine_args(model, cfg.artifacts.model_revisions.get(model.name))
    engine: dict[str, Any] = {"tensor_parallel_size": model.tensor_parallel_size, "max_model_len": model.max_model_len,
                              **args.kwargs()}
    return {
        "model_loading_config": {"model_id": model.name, "model_source": args.model},
        # Its own GPU kind: each replica's bundles then ask for `accelerator_type:<kind>`, which only the worker
        # groups of that kind advertise (gpu_kind_resources), so a 40 GB model never lands on an 80 GB group.
        "accelerator_type": GPUS[model.gpu].ray_accelerator,
        "engine_kwargs": engine,
        "deployment_config": {"autoscaling_config": {
            "min_replicas": model.replicas.min, "max_replicas": model.replicas.max,
            "target_ongoing_requests": cfg.serving.ray_target_ongoing_requests}},
    }


def serve_config(cfg: StackConfig) -> dict[str, Any]:
    """serveConfigV2: Ray Serve LLM's OpenAI app with one LLM config per model."""
    return {"applications": [{
        "name": "llm",
        "route_prefix": "/",
        "import_path": "ray.serve.llm:build_openai_app",
        # Pinned: everything the app needs is in the digest-pinned Ray image; nothing is pip-installed at
        # start-up, so every replica runs exactly what was promoted.
        "runtime_env": {"env_vars": {"HF_HOME": "/cache/huggingface", "VLLM_CACHE_ROOT": "/cache/vllm"}},
        "args": {"llm_configs": [_llm_config(cfg, m) for m in cfg.models]},
    }]}


def _container(name: str, image: str, cpu: float, memory_gib: int, gpus: int = 0,
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
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return container


def _pod(pool: PoolFacts, container: dict[str, Any], volumes: list[dict],
         priority_class: pulumi.Input[str], service_account: pulumi.Input[str] | None = None,
         api_token: bool = False) -> dict[str, Any]:
    """A Ray pod; every one runs under a service account of its own (set here or by the caller), never `default`."""
    identity: dict[str, Any] = {"automountServiceAccountToken": api_token}
    if service_account is not None:
        identity["serviceAccountName"] = service_account
    return {"spec": {
        **identity,
        "priorityClassName": priority_class,
        "enableServiceLinks": False,
        "nodeSelector": dict(pool.node_selector),
        "tolerations": [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
                        for t in pool.taints],
        "containers": [container],
        "volumes": volumes,
    }}


def _head_group(image: str, pool: PoolFacts, priority_class: pulumi.Input[str],
                service_account: str = RAY_HEAD_SERVICE_ACCOUNT, api_token: bool = True) -> dict[str, Any]:
    """The head. With in-tree autoscaling its autoscaler sidecar calls the Kubernetes API under the head's
    account: KubeRay binds its Role to that account, which must exist when named (v1.7.0
    raycluster_controller.go reconcileAutoscalerServiceAccount; common/rbac.go)."""
    container = _container("ray-head", image, HEAD_CPU, HEAD_MEMORY_GIB)
    container["ports"] += [{"name": "serve", "containerPort": SERVE_PORT}, {"name": "gcs", "containerPort": 6379},
                           {"name": "dashboard", "containerPort": DASHBOARD_PORT}]
    return {
        # No CPUs or GPUs offered to the scheduler: no replica or rollout task ever lands on the head.
        "rayStartParams": {"num-cpus": "0", "num-gpus": "0", "dashboard-host": "0.0.0.0",
                           "metrics-export-port": str(METRICS_PORT)},
        "template": _pod(pool, container, [], priority_class, service_account, api_token),
    }


def _gpu_group(cfg: StackConfig, pool: PoolFacts, models: list[Model], image: str,
               priority_class: pulumi.Input[str], service_account: pulumi.Input[str]) -> dict[str, Any]:
    """One worker pod per node, owning all of its GPUs; sized by the models placed on this pool."""
    cpu, memory = gpu_pod_resources(pool, pool.gpus_per_node)
    cache = max(cache_gib(m) for m in models)
    container = _container("ray-worker", image, cpu, memory, gpus=pool.gpus_per_node,
                           mounts=[{"name": "cache", "mountPath": "/cache"}, {"name": "dshm", "mountPath": "/dev/shm"}])
    container["resources"]["requests"]["ephemeral-storage"] = f"{cache}Gi"
    volumes = [{"name": "cache", "emptyDir": {"sizeLimit": f"{cache}Gi"}},
               {"name": "dshm", "emptyDir": {"medium": "Memory",
                                             "sizeLimit": f"{SHM_GIB_PER_GPU * pool.gpus_per_node}Gi"}}]
    warm_gpus = sum(m.replicas.min * m.tensor_parallel_size for m in models)
    warm = math.ceil(warm_gpus / pool.gpus_per_node)
    # The replicas load the weights: they run as the serving identity.
    template = _pod(pool, container, volumes, priority_class, service_account)
    return {"groupName": pool.name, "replicas": warm, "minReplicas": warm, "maxReplicas": pool.max_nodes,
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


def _rollout_group(cfg: StackConfig, pool: PoolFacts, priority_class: pulumi.Input[str]) -> dict[str, Any]:
    assert cfg.rollout is not None and cfg.artifacts.rollout_image is not None
    cpu = rollout_pod_cpu(pool)
    memory = math.floor((pool.allocatable_memory_gib - DAEMONSET_MEMORY_GIB) / 2)
    env = {"OPENAI_BASE_URL": service_url(), **cfg.rollout.env}
    container = _container("rollout", cfg.artifacts.rollout_image, cpu, memory, env=env)
    warm = math.ceil(cfg.rollout.replicas.min * cfg.rollout.cpu_per_worker / cpu)
    # Two pods per node, one slot kept for the head.
    return {"groupName": "rollout", "replicas": warm, "minReplicas": warm, "maxReplicas": 2 * pool.max_nodes - 1,
            "rayStartParams": {"num-cpus": str(cpu), "metrics-export-port": str(METRICS_PORT)},
            "template": _pod(pool, container, [], priority_class, RAY_ROLLOUT_SERVICE_ACCOUNT)}


def _upgrade_strategy(cfg: StackConfig, gpu_groups: list[dict[str, Any]], platform: Platform) -> dict[str, Any]:
    kind = cfg.profile.ray_upgrade
    if kind != "NewClusterWithIncrementalUpgrade":
        return {"type": kind}
    # Surge by one worker pod of the largest group at a time (KubeRay's recommended safe setting).
    largest = max((g["maxReplicas"] for g in gpu_groups), default=1)
    surge = math.ceil(100 / max(1, largest))
    return {"type": kind, "clusterUpgradeOptions": {
        "gatewayClassName": cfg.serving.gateway_class, "maxSurgePercent": surge, "stepSizePercent": surge,
        "intervalSeconds": 60}}


def ray_service_spec(cfg: StackConfig, platform: Platform, priority_class: pulumi.Input[str],
                     service_account: pulumi.Input[str]) -> dict[str, Any]:
    assert cfg.rollout is not None and cfg.artifacts.ray_image is not None
    image = cfg.artifacts.ray_image
    rollout_pool = platform.pools[cfg.rollout.pool]
    by_pool: dict[str, list[Model]] = {}
    for model in cfg.models:
        by_pool.setdefault(cfg.model_pool(model).name, []).append(model)
    gpu_groups = [_gpu_group(cfg, platform.pools[p], models, image, priority_class, service_account)
                  for p, models in by_pool.items()]
    return {
        "upgradeStrategy": _upgrade_strategy(cfg, gpu_groups, platform),
        "serveConfigV2": yaml.safe_dump(serve_config(cfg), sort_keys=False),
        "rayClusterConfig": {
            "rayVersion": cfg.artifacts.ray_version,
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {"idleTimeoutSeconds": cfg.profile.ray_idle_timeout_s, "upscalingMode": "Default"},
            "headGroupSpec": _head_group(image, rollout_pool, priority_class),
            "workerGroupSpecs": [*gpu_groups, _rollout_group(cfg, rollout_pool, priority_class)],
        },
    }


def ray_job_spec(cfg: StackConfig, platform: Platform, priority_class: pulumi.Input[str],
                 claim_name: pulumi.Input[str] | None, env: dict[str, str]) -> dict[str, Any]:
    training = cfg.training
    assert training is not None and cfg.artifacts.training_image is not None and cfg.rollout is not None
    pool_cfg = cfg.pool_for(training.gpu, training.pool, "training")
    assert pool_cfg is not None
    pool = platform.pools[pool_cfg.name]
    image = cfg.artifacts.training_image
    cpu, memory = gpu_pod_resources(pool, training.gpus)
    mounts = [{"name": "dshm", "mountPath": "/dev/shm"}]
    volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory",
                                                                   "sizeLimit": f"{16 * training.gpus}Gi"}}]
    if claim_name is not None:
        mounts.append({"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT})
        volumes.append({"name": "checkpoints", "persistentVolumeClaim": {"claimName": claim_name}})
    worker = _container("trainer", image, cpu, memory, gpus=training.gpus, mounts=mounts, env=env)
    return {
        "entrypoint": shlex.join([*training.command, *training.args]) or "python -m trainer",
        # Suspended: `pulumi up` never starts GPU spend nobody asked for. Resume by setting suspend: false.
        "suspend": training.suspend,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 3600,
        "runtimeEnvYAML": yaml.safe_dump({"env_vars": env}),
        "rayClusterSpec": {
            "rayVersion": cfg.artifacts.ray_version,
            # The driver runs on the head: it writes checkpoints too, under the trainer's identity (no autoscaler).
            "headGroupSpec": _head_group(image, platform.pools[cfg.rollout.pool], priority_class,
                                         TRAINING_SERVICE_ACCOUNT, api_token=False),
            "workerGroupSpecs": [{"groupName": pool.name, "replicas": 1, "minReplicas": 1, "maxReplicas": 1,
                                  "rayStartParams": {"metrics-export-port": str(METRICS_PORT)},
                                  "resources": gpu_kind_resources(pool),
                                  "template": _pod(pool, worker, volumes, priority_class,
                                                   TRAINING_SERVICE_ACCOUNT)}],
        },
        # KubeRay's default submitter pod runs as `default` (v1.7.0 common/job.go GetSubmitterTemplate): give it its
        # own account. KubeRay fills in the `ray job submit` command when none is set (configureSubmitterContainer).
        "submitterPodTemplate": {"spec": {
            "serviceAccountName": RAY_SUBMITTER_SERVICE_ACCOUNT, "automountServiceAccountToken": False,
            "restartPolicy": "Never", "enableServiceLinks": False,
            "containers": [{"name": "ray-job-submitter", "image": image, "resources": {
                "requests": {"cpu": "500m", "memory": "200Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}],
        }},
    }


class KubeRayServing(pulumi.ComponentResource):
    """The RayService, who may reach it, and its scrape config."""

    def __init__(self, name: str, args: StackConfig, platform: Platform, *, namespace: pulumi.Input[str],
                 priority_class: pulumi.Input[str], monitoring: Monitoring, service_account: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:KubeRayServing", name, None, opts)
        cfg = args
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "ray-llm", **PART_OF}
        accounts = [
            workload_service_account(f"{name}-head-sa", name=RAY_HEAD_SERVICE_ACCOUNT, namespace=namespace,
                                     platform=platform, parent=self, automount=True),
            workload_service_account(f"{name}-rollout-sa", name=RAY_ROLLOUT_SERVICE_ACCOUNT, namespace=namespace,
                                     platform=platform, parent=self, request=identity_requests(cfg)["rollout"]),
        ]
        self.ray_service = k8s.apiextensions.CustomResource(
            f"{name}-rayservice", api_version="ray.io/v1", kind="RayService",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=RAY_SERVICE, namespace=namespace, labels=labels),
            spec=ray_service_spec(cfg, platform, priority_class, service_account),
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
                {"from": peers(sorted({ROLLOUT_NAMESPACE, *cfg.serving.api_access_from})),
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
                *([{"from": [{"ipBlock": {"cidr": cidr}} for cidr in platform.gateway_proxy_cidrs],
                    "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]}] if platform.gateway_proxy_cidrs else []),
                # ... and its health checks, which probe the pod's serving port from Google's own ranges, not from
                # the proxy-only subnet (infra/platforms/gke.py GCP_HEALTH_CHECK_RANGES).
                *([{"from": [{"ipBlock": {"cidr": cidr}} for cidr in platform.gateway_health_check_cidrs],
                    "ports": [{"port": SERVE_PORT, "protocol": "TCP"}]}]
                  if platform.gateway_health_check_cidrs else []),
            ]},
            opts=child)
        monitoring.pod_monitor("ray-llm-metrics", namespace, RAY_NODE_LABEL, [ScrapeEndpoint("metrics", "/metrics")],
                               opts=child)
        self.url = service_url()
        self.register_outputs({"rayService": RAY_SERVICE, "url": self.url})


class RayTrainingJob(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackConfig, platform: Platform, *, namespace: pulumi.Input[str],
                 priority_class: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:RayTrainingJob", name, None, opts)
        cfg = args
        assert cfg.training is not None
        labels = {"app.kubernetes.io/name": "trainer", **PART_OF}
        storage = checkpoint_storage(self, name, cfg, platform, namespace, labels)
        env = {**cfg.training.env, **storage.env}
        trainer = trainer_service_account(self, name, cfg, platform, namespace)
        submitter = workload_service_account(f"{name}-submitter-sa", name=RAY_SUBMITTER_SERVICE_ACCOUNT,
                                             namespace=namespace, platform=platform, parent=self)
        k8s.apiextensions.CustomResource(
            f"{name}-rayjob", api_version="ray.io/v1", kind="RayJob",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="trainer", namespace=namespace, labels=labels,
                                                annotations={"pulumi.com/skipAwait": "true"}),
            spec=ray_job_spec(cfg, platform, priority_class, storage.claim_name, env),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[trainer, submitter]))
        self.register_outputs({})

