"""One served model in plain mode: Deployment, Service, PDB, NetworkPolicy, ScaledObject, scrape config.

Scheduling comes from the model's placement in the fleet (its pool's node selector, taints, node size); probes,
preStop and the termination grace come from the serving image's own `pod_lifecycle`, so the
pod spec and the supervisor inside it cannot disagree.

Caches: weights (HF_HOME) and vLLM's compile cache live on a node-local emptyDir — on the
bundled local NVMe where the machine type has it (a2-ultragpu, a3), else on the node's boot
disk. Chosen over a volume claim per pod because a Deployment cannot have per-pod claims (a
StatefulSet can, but rolls out one pod at a time and in order, which fights fast KEDA
scale-up), a zonal persistent disk would pin each replica to one zone against the GPU pools'
"take capacity in any zone" policy, and local NVMe reads several times faster than a PD. An
emptyDir survives container restarts (a liveness restart does not re-download); a new pod
downloads again, which the startup budget allows for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.monitoring import Monitoring, ScrapeEndpoint
from infra.config import Model, StackConfig, WorkingHours
from infra.fleet import Fleet, ModelPlacement
from infra.names import GATEWAY_NAMESPACE, PART_OF, ROLLOUT_NAMESPACE, SERVING_NAMESPACE
from infra.restricted import container_security_args, pod_security_args
from infra.seam import Platform
from infra.time_to_serve import model_time_to_serve, scale_down_window_seconds, startup_budget_seconds
from infra.waits import custom_timeouts, unavailable_at_peak, waited_pool
from infra.workloads.engine import engine_args
from infra.workloads.network import namespace_peers
from infra.workloads.scheduling import affinity_args, ladder_pod_resources, ladder_scheduling, toleration_args
from infra.workloads.secret_files import HF_TOKEN_PATH, SERVING_API_KEY_FILE, api_key_file, hf_token_file
from serving.kubernetes import PodLifecycle, Probe, overflow_env, pod_lifecycle
from serving.kubernetes import model_env as serving_model_env

SHM_GIB_PER_GPU = 4  # NCCL buffers and PyTorch shared tensors; too little shows up as "Bus error"
COMPILE_CACHE_GIB = 10
MODEL_LABEL = "llm-fleet.dev/model"
# The serving image's setting for the shared compile cache (file://, s3:// or gs://; unset: off). The engine half of
# issue 16 owns its meaning in serving/; this is the name both halves agreed on.
COMPILE_CACHE_ENV = "SERVING_COMPILE_CACHE_URL"


def cache_gib(model: Model) -> int:
    return math.ceil(model.weights_gb * 1.1) + COMPILE_CACHE_GIB


def adapter_env(model: Model, root: str | None) -> dict[str, str]:
    """The supervisor's LoRA settings (the adapter contract's names, serving/settings.py): none without `lora`.

    With SERVING_ADAPTER_ROOT set the supervisor itself adds vLLM's --enable-lora flags and watches `<root>/latest`.
    """
    if model.lora is None or root is None:
        return {}
    return {"SERVING_ADAPTER_ROOT": root, "SERVING_ADAPTER_NAME": model.lora.name,
            "SERVING_MAX_LORA_RANK": str(model.lora.max_rank), "SERVING_MAX_LORAS": str(model.lora.max_loras)}


def compile_cache_env(compile_cache: str | None) -> dict[str, str]:
    """The shared compile cache the serving image seeds and reads (serving.coldStart.compileCache): none when unset."""
    return {COMPILE_CACHE_ENV: compile_cache} if compile_cache is not None else {}


def model_compile_cache(cfg: StackConfig, model: Model) -> str | None:
    """The model's place in the shared compile cache: `<compileCache>/<model>` (None: no cache). vLLM keys its cache
    directory by a hash of the model and engine config anyway; the model's own prefix keeps the bucket readable."""
    root = cfg.compile_cache_url()
    return f"{root}/{model.name}" if root is not None else None


def model_env(model: Model, revision: str | None, adapter_root: str | None = None,
              compile_cache: str | None = None) -> dict[str, str]:
    """The supervisor's SERVING_* settings for this model (named by the serving package), and the cache paths."""
    engine = engine_args(model, revision)
    return {
        **serving_model_env(model=engine.model, served_model_name=model.name,
                            tensor_parallel_size=model.tensor_parallel_size, max_model_len=model.max_model_len,
                            extra_args=engine.cli()),
        **adapter_env(model, adapter_root),
        **compile_cache_env(compile_cache),
        "HF_HOME": "/cache/huggingface",
        "VLLM_CACHE_ROOT": "/cache/vllm",
    }


def _probe(p: Probe) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=p.path, port=p.port),
        period_seconds=p.period_seconds, timeout_seconds=p.timeout_seconds,
        failure_threshold=p.failure_threshold, success_threshold=p.success_threshold,
        initial_delay_seconds=p.initial_delay_seconds)


def model_lifecycle(model: Model, drain_timeout_seconds: int, budget: int | None = None) -> PodLifecycle:
    """The pod contract for `model`; the startup budget from the time-to-serve breakdown when given."""
    return pod_lifecycle(weights_gb=model.weights_gb, drain_timeout_s=drain_timeout_seconds, startup_budget_s=budget)


def rolling_update(tier: str, placement: ModelPlacement, fleet: Fleet) -> tuple[int | str, int | str]:
    """(maxSurge, maxUnavailable) of a model's Deployment.

    prod/staging keep capacity during a rollout (surge one pod); dev saves the extra GPU (one pod down).
    At peak a surge pod needs a GPU beyond the model's maximum: in the pool (its maxNodes) and in the serving
    namespace's GPU quota (the serving pools' maxima). Where either has no such room, a rollout at peak would
    hang with its new pod Pending, so one old pod may go instead — at peak only: maxUnavailable is a
    percentage that Kubernetes rounds down to one pod at max replicas and to none below (unavailable_at_peak).
    Chosen over headroom (a spare node in maxNodes and the quota): that spare node is one more GPU of list
    price in the budget's maximum and still cannot be had when the zone is out of GPUs at peak, which is when
    the rollout needs it; one replica fewer for one startup budget at peak always progresses. Below peak no
    replica is ever taken away. A pool that has the room keeps maxUnavailable 0.
    """
    if tier == "dev":
        return 0, 1
    tp, rungs = placement.model.tensor_parallel_size, {p.name for p in placement.rungs}
    # A ladder's rungs are one capacity: the models on any of them, against all of their maxima.
    on_pool = sum(p.gpus_max for p in fleet.models if rungs & {r.name for r in p.rungs})
    quota = sum(p.max_gpus for p in fleet.pools.values() if p.purpose == "serving")  # see namespaces.py
    in_namespace = sum(p.gpus_max for p in fleet.models)
    room = on_pool + tp <= sum(p.max_gpus for p in placement.rungs) and in_namespace + tp <= quota
    return 1, 0 if room else unavailable_at_peak(placement.model.replicas.max)


@dataclass(frozen=True)
class ModelServing:
    """What serving one model takes from the config, the fleet and the platform (see `model_serving`)."""

    placement: ModelPlacement  # the model and its pool's facts
    image: str  # the serving image
    revision: str | None  # the pinned commit of a Hugging Face source
    adapter_root: str | None  # where the model's LoRA adapters are published (None: no adapters)
    drain_timeout_seconds: int
    max_surge: int | str
    max_unavailable: int | str
    api_access_from: tuple[str, ...]  # namespaces that may call the API (rollouts, unless through the gateway; ...)
    internal_load_balancer: bool  # exposed through an internal LoadBalancer Service, else ClusterIP
    internal_lb_annotations: dict[str, str]  # the platform's: make a LoadBalancer Service internal
    api_client_cidrs: tuple[str, ...]  # who may reach the internal load balancer
    working_hours: WorkingHours | None  # keeps at least one replica up during them
    # From the time-to-serve breakdown (infra/time_to_serve.py), so the plan's figures and the objects agree:
    startup_budget_seconds: int  # the startup probe's budget: in-container worst case on a present node x margin
    scale_down_window_seconds: int  # KEDA's scale-in delay: at least the time a replica takes to come back
    compile_cache: str | None  # the shared compile cache's URL (serving.coldStart.compileCache), None: off
    # serving.gateway's overflowQueueDepth (the serving image's SERVING_OVERFLOW_QUEUE_DEPTH); None: never 429.
    overflow_queue_depth: int | None = None


def model_serving(cfg: StackConfig, fleet: Fleet, placement: ModelPlacement, platform: Platform) -> ModelServing:
    max_surge, max_unavailable = rolling_update(cfg.tier, placement, fleet)
    gateway = cfg.serving.gateway
    start = model_time_to_serve(cfg, placement.name)
    return ModelServing(
        placement=placement, image=cfg.artifacts.serving_image,
        revision=cfg.artifacts.model_revisions.get(placement.name), adapter_root=cfg.adapter_root(placement.model),
        drain_timeout_seconds=cfg.serving.drain_timeout_seconds, max_surge=max_surge, max_unavailable=max_unavailable,
        # Rollouts sent through the gateway never call the model themselves: nothing open that nothing needs.
        api_access_from=tuple(sorted({*cfg.serving.api_access_from, *([GATEWAY_NAMESPACE] if gateway else []),
                                      *([ROLLOUT_NAMESPACE] if cfg.rollout and not cfg.rollout.via_gateway else [])})),
        overflow_queue_depth=gateway.overflow_queue_depth if gateway is not None else None,
        internal_load_balancer=cfg.serving.expose == "internal-load-balancer",
        internal_lb_annotations=platform.internal_lb_annotations,
        api_client_cidrs=tuple(cfg.serving.api_client_cidrs or []), working_hours=cfg.serving.working_hours,
        startup_budget_seconds=startup_budget_seconds(start),
        scale_down_window_seconds=scale_down_window_seconds(start),
        compile_cache=model_compile_cache(cfg, placement.model))


@dataclass(frozen=True)
class VllmModelArgs:
    serving: ModelServing
    namespace: pulumi.Input[str]
    priority_class: pulumi.Input[str]
    monitoring: Monitoring  # scrape config, and the Prometheus KEDA queries
    service_account: pulumi.Input[str]  # the fleet's serving identity
    hf_token_secret: pulumi.Input[str] | None  # a Secret with HF_TOKEN, when the stack has a token
    api_key_secret: pulumi.Input[str]  # the model API key's Secret (infra/workloads/api_key.py)
    trigger_auth: pulumi.Input[str] | None  # KEDA's authentication to the managed Prometheus, when it needs one


class VllmModel(pulumi.ComponentResource):
    """Everything one model needs to be served, scaled and watched."""

    def __init__(self, name: str, args: VllmModelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:VllmModel", name, None, opts)
        serving = args.serving
        model = serving.placement.model
        namespace, priority_class, monitoring = args.namespace, args.priority_class, args.monitoring
        life = model_lifecycle(model, serving.drain_timeout_seconds, serving.startup_budget_seconds)
        child = pulumi.ResourceOptions(parent=self)
        app = f"vllm-{model.name}"
        labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": app,
                  **PART_OF, MODEL_LABEL: model.name}
        selector = {"app.kubernetes.io/instance": app}
        # Requests fit a node of every rung; one pool: its own share, as ever.
        cpu, memory_gib = ladder_pod_resources(serving.placement.rungs, model.tensor_parallel_size)
        where = ladder_scheduling(serving.placement.rungs)
        shm_gib = SHM_GIB_PER_GPU * model.tensor_parallel_size

        env = [k8s.core.v1.EnvVarArgs(name=k, value=v)
               for k, v in {**model_env(model, serving.revision, serving.adapter_root, serving.compile_cache),
                             **life.env, **overflow_env(serving.overflow_queue_depth)}.items()]
        # Secrets as files, never env values (secret_files.py): the API key vLLM checks, the token it downloads with.
        files = [(SERVING_API_KEY_FILE, api_key_file(args.api_key_secret)),
                 *([(HF_TOKEN_PATH, hf_token_file(args.hf_token_secret))] if args.hf_token_secret is not None else [])]
        env += [f.env_args(variable) for variable, f in files]
        gpu = str(model.tensor_parallel_size)
        container = k8s.core.v1.ContainerArgs(
            name="vllm",
            image=serving.image,
            env=env,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=life.api_port),
                   k8s.core.v1.ContainerPortArgs(name="health", container_port=life.health_port)],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": str(cpu), "memory": f"{memory_gib}Gi", "nvidia.com/gpu": gpu,
                          "ephemeral-storage": f"{cache_gib(model)}Gi"},
                # Memory limit = request: a GPU pod evicted for memory loses minutes of model load.
                limits={"memory": f"{memory_gib}Gi", "nvidia.com/gpu": gpu},
            ),
            startup_probe=_probe(life.startup_probe),
            readiness_probe=_probe(life.readiness_probe),
            liveness_probe=_probe(life.liveness_probe),
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=life.pre_stop))) if life.pre_stop else None,
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="cache", mount_path="/cache"),
                           k8s.core.v1.VolumeMountArgs(name="dshm", mount_path="/dev/shm"),
                           *(f.mount_args() for _, f in files)],
            security_context=container_security_args(),
        )
        max_surge, max_unavailable = serving.max_surge, serving.max_unavailable  # see rolling_update
        # Pulumi waits for the first pod (create) and for the whole rollout (update): startup budget per wave, and
        # the replaced pod's drain, whose GPU the next pod may wait for, plus a node when the pool must grow.
        timeouts = custom_timeouts(life.startup_probe.initial_delay_seconds + life.startup_probe.window_seconds,
                                   waited_pool(serving.placement.rungs), max_replicas=model.replicas.max,
                                   max_surge=max_surge, max_unavailable=max_unavailable,
                                   freed_after_seconds=life.termination_grace_period_seconds)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No `replicas`: KEDA owns the count; with server-side apply Pulumi never fights it.
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=max_surge, max_unavailable=max_unavailable)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        # The fleet's serving identity: on EKS its IAM role reads the weights bucket.
                        service_account_name=args.service_account,
                        # vLLM never calls the Kubernetes API: no token in the pod (its account says so too).
                        automount_service_account_token=False,
                        priority_class_name=priority_class,
                        # A Service named like `vllm` would inject VLLM_PORT, which vLLM reads as its own.
                        enable_service_links=False,
                        node_selector=where.node_selector,
                        affinity=affinity_args(where),
                        tolerations=toleration_args(where),
                        termination_grace_period_seconds=life.termination_grace_period_seconds,
                        topology_spread_constraints=[k8s.core.v1.TopologySpreadConstraintArgs(
                            max_skew=1, topology_key="topology.kubernetes.io/zone",
                            # GPUs are scarce: prefer spreading, never refuse a node that has capacity.
                            when_unsatisfiable="ScheduleAnyway",
                            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector))],
                        security_context=pod_security_args(),  # the serving image's user
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(name="cache", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                size_limit=f"{cache_gib(model)}Gi")),
                            k8s.core.v1.VolumeArgs(name="dshm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                medium="Memory", size_limit=f"{shm_gib}Gi")),
                            *(f.volume_args() for _, f in files),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=timeouts),
        )

        lb = serving.internal_load_balancer
        clients = list(serving.api_client_cidrs)
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=namespace, labels=labels,
                                                annotations=serving.internal_lb_annotations if lb else None),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer" if lb else "ClusterIP",
                # Behind the internal load balancer: the cloud firewall admits only the clients' ranges, and
                # `Local` keeps the client's address (no SNAT to a node), so the NetworkPolicy's ipBlock sees it
                # (kubernetes.io/docs/concepts/services-networking/network-policies: ipBlock and rewritten sources).
                load_balancer_source_ranges=clients if lb else None,
                external_traffic_policy="Local" if lb else None,
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=life.api_port, target_port="http")]),
            opts=child)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
            opts=child)

        api_port = k8s.networking.v1.NetworkPolicyPortArgs(port=life.api_port, protocol="TCP")
        health_port = k8s.networking.v1.NetworkPolicyPortArgs(port=life.health_port, protocol="TCP")
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    *([k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=namespace_peers(list(serving.api_access_from)), ports=[api_port])]
                      if serving.api_access_from else []),
                    # vLLM serves /metrics on its API port, so the scrapers reach that port too.
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=namespace_peers([monitoring.scraper_namespace]), ports=[api_port, health_port]),
                    # Clients in the network behind the internal load balancer (serving.apiClientCidrs).
                    *([k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[k8s.networking.v1.NetworkPolicyPeerArgs(
                            ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)) for cidr in clients],
                        ports=[api_port])] if lb and clients else []),
                ]),
            opts=child)

        monitoring.pod_monitor(f"{app}-metrics", namespace, selector,
                               [ScrapeEndpoint("http", "/metrics"), ScrapeEndpoint("health", "/metrics")],
                               opts=child)

        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaler", api_version="keda.sh/v1alpha1", kind="ScaledObject",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=namespace, labels=labels),
            spec=scaled_object_spec(model, serving.working_hours, app, serving.scale_down_window_seconds,
                                    monitoring.query_url, args.trigger_auth, monitoring.matchers(SERVING_NAMESPACE)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment]))

        self.url = service_url(model, life)
        self.register_outputs({"service": self.service.metadata.name})


def service_url(model: Model, life: PodLifecycle) -> str:
    """The OpenAI base URL of a model inside the cluster."""
    return f"http://vllm-{model.name}.{SERVING_NAMESPACE}.svc.cluster.local:{life.api_port}/v1"


def scaled_object_spec(model: Model, working_hours: WorkingHours | None, target: str, scale_down_window: int,
                       query_url: str, trigger_auth: pulumi.Input[str] | None, series: str) -> dict:
    """KEDA spec: scale out on queued requests (and KV-cache pressure), scale in no faster than a load takes.

    `series` are the label matchers of this stack's serving namespace (`cluster="…",namespace="…"`): a shared
    backend also holds other stacks' series of the same model name, which KEDA would otherwise add up.
    """
    auth = {"authenticationRef": {"name": trigger_auth}} if trigger_auth is not None else {}
    selector = ",".join([f'model_name="{model.name}"', *([series] if series else [])])
    triggers: list[dict] = [{
        "type": "prometheus",
        "name": "queue",
        "metadata": {"serverAddress": query_url,
                     "query": f"sum(vllm:num_requests_waiting{{{selector}}})",
                     # AverageValue: KEDA divides by the replica count, so this is waiting requests per replica.
                     "threshold": f"{model.autoscaling.waiting_requests_per_replica:g}"},
        **auth,
    }]
    if model.autoscaling.kv_cache_usage_threshold is not None:
        triggers.append({
            "type": "prometheus", "name": "kv-cache", "metricType": "Value",
            "metadata": {"serverAddress": query_url, "query": f"avg(vllm:kv_cache_usage_perc{{{selector}}})",
                         "threshold": f"{model.autoscaling.kv_cache_usage_threshold:g}"},
            **auth,
        })
    hours = working_hours
    if hours is not None:
        # Keeps the model up during working hours; outside them the other triggers may still hold it
        # up while requests queue, and KEDA drops it to minReplicaCount (0) after the cool-down.
        triggers.append({"type": "cron", "name": "working-hours", "metadata": {
            "timezone": hours.timezone, "start": hours.start, "end": hours.end,
            "desiredReplicas": str(max(1, model.replicas.min))}})
    # `scale_down_window` is at least the time-to-serve breakdown's total (node, image, weights, engine, compile:
    # infra/time_to_serve.py): scaling in faster than a replica can come back trades it for a cold start minutes
    # later. Scale out at once, in one pod at a time.
    return {
        "scaleTargetRef": {"name": target},
        "minReplicaCount": model.replicas.min,
        "maxReplicaCount": model.replicas.max,
        "pollingInterval": 15,
        "cooldownPeriod": scale_down_window,  # only used for the step to zero
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
            "scaleDown": {"stabilizationWindowSeconds": scale_down_window,
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}]},
        }}},
        "triggers": triggers,
    }
