"""The workload layer: served models, rollout workers, the training job, and their observability.

`build_workloads` wires the layer: it turns the config, the resolved fleet, the platform and the cluster services
into each component's narrow Args, handing one component's outputs (namespaces, the autoscaler, model URLs) to
the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.cluster import ClusterServices
from infra.config import StackConfig
from infra.fleet import Fleet
from infra.names import (
    GATEWAY_NAMESPACE,
    ROLLOUT_NAMESPACE,
    SERVING_NAMESPACE,
    SERVING_SERVICE_ACCOUNT,
    TRAINING_NAMESPACE,
)
from infra.platforms import identity_requests
from infra.seam import IdentityRequest, Platform
from infra.workloads.api_key import ModelApiKey, ModelApiKeyArgs
from infra.workloads.gateway import InferenceGateway, gateway_args
from infra.workloads.headroom import WarmHeadroom, headroom_args
from infra.workloads.identities import IdentityFactory, workload_service_account
from infra.workloads.kuberay import KubeRayServing, KubeRayServingArgs, RayServing, ray_serving
from infra.workloads.network import WorkloadNetwork, workload_network_args
from infra.workloads.observability import ServingObservability, ServingObservabilityArgs, metric_prefix
from infra.workloads.ray_training import RayTrainingJob, ray_training_job_args
from infra.workloads.rollout import RolloutWorkers, rollout_workers_args
from infra.workloads.secret_files import hf_token_secret
from infra.workloads.training import TrainingJob, training_job_args
from infra.workloads.vllm import ModelServing, VllmModel, VllmModelArgs, model_serving


@dataclass(frozen=True)
class ServingFleetArgs:
    models: tuple[ModelServing, ...]  # plain mode: one VllmModel each (empty in KubeRay mode)
    ray: RayServing | None  # KubeRay mode: one RayService serves every model
    hf_token: str | None  # a secret: becomes the models' shared hf-token Secret
    identity: IdentityRequest  # the serving account's bucket access
    workload_identity: IdentityFactory
    metric_prefix: str  # of the engine's metrics, for the dashboard and alerts
    services: ClusterServices
    api_key_secret: pulumi.Input[str] | None = None  # the model API key's Secret in the serving namespace
    gateway_provider_models: tuple[str, ...] | None = None  # with serving.gateway: its provider-only models


def serving_fleet_args(cfg: StackConfig, fleet: Fleet, platform: Platform, services: ClusterServices,
                       api_key_secret: pulumi.Input[str] | None = None) -> ServingFleetArgs:
    kuberay = cfg.serving.mode == "kuberay"
    return ServingFleetArgs(
        models=() if kuberay else tuple(model_serving(cfg, fleet, p, platform) for p in fleet.models),
        ray=ray_serving(cfg, fleet, platform) if kuberay else None,
        hf_token=cfg.hf_token, identity=identity_requests(cfg)["serving"],
        workload_identity=platform.workload_identity, metric_prefix=metric_prefix(cfg), services=services,
        api_key_secret=api_key_secret, gateway_provider_models=None if cfg.serving.gateway is None
        else tuple(m.name for m in cfg.provider_models))


class ServingFleet(pulumi.ComponentResource):
    """Every served model, the secret they share, and the fleet's dashboard and alerts."""

    def __init__(self, name: str, args: ServingFleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:ServingFleet", name, None, opts)
        services = args.services
        ns = services.namespaces
        namespace = ns.names[SERVING_NAMESPACE]
        child = pulumi.ResourceOptions(parent=self)
        hf_secret = None
        if args.hf_token is not None:
            hf_secret = hf_token_secret(f"{name}-hf-token", args.hf_token, namespace, self).metadata.name
        assert args.api_key_secret is not None, "build_workloads makes the model API key before the models"
        # One identity for every pod that loads weights; the platform binds it to exactly the buckets the
        # models come from (and, on EKS, the stack's weights bucket).
        sa = workload_service_account(f"{name}-sa", name=SERVING_SERVICE_ACCOUNT, namespace=namespace,
                                      workload_identity=args.workload_identity, parent=self, request=args.identity)
        self.urls: dict[str, str] = {}
        if args.ray is not None:
            ray = KubeRayServing(f"{name}-ray", KubeRayServingArgs(
                ray=args.ray, workload_identity=args.workload_identity, namespace=namespace,
                priority_class=ns.priority_class[SERVING_NAMESPACE], monitoring=services.monitoring,
                service_account=sa.metadata.name, api_key_secret=args.api_key_secret, hf_token_secret=hf_secret),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[services.autoscaler]))
            self.urls = {p.name: ray.url for p in args.ray.models}  # one endpoint; `model` picks the LLM
        for serving in args.models:
            served = VllmModel(
                f"model-{serving.placement.name}", VllmModelArgs(
                    serving=serving, namespace=namespace, priority_class=ns.priority_class[SERVING_NAMESPACE],
                    monitoring=services.monitoring, service_account=sa.metadata.name, hf_token_secret=hf_secret,
                    trigger_auth=services.autoscaler.trigger_auth, api_key_secret=args.api_key_secret),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[services.autoscaler]))
            self.urls[serving.placement.name] = served.url
        ServingObservability(f"{name}-observability", ServingObservabilityArgs(
            metric_prefix=args.metric_prefix, pod_models=tuple(s.placement.model for s in args.models),
            monitoring=services.monitoring, namespace=namespace, gateway_provider_models=args.gateway_provider_models),
            opts=child)
        self.register_outputs({"modelUrls": self.urls})


@dataclass(frozen=True)
class WorkloadOutputs:
    model_urls: dict[str, str]  # model name -> in-cluster OpenAI base URL
    api_key: pulumi.Output[str] | None  # the model API key (a secret), when the stack serves models
    gateway_url: str | None = None  # serving.gateway's in-cluster OpenAI base URL (every model, one endpoint)
    gateway_peers_address: pulumi.Output[str] | None = None  # a fleet region: its gateway-peers load balancer


def build_workloads(cfg: StackConfig, fleet: Fleet, platform: Platform, services: ClusterServices) -> WorkloadOutputs:
    """Declare every workload; returns the in-cluster OpenAI base URL of each model and the model API key."""
    ns = services.namespaces
    opts = pulumi.ResourceOptions(providers={"kubernetes": platform.provider}, depends_on=[ns])
    urls: dict[str, str] = {}
    rollout_urls: dict[str, str] = {}
    gateway_url: str | None = None
    peers_address: pulumi.Output[str] | None = None
    kuberay = cfg.serving.mode == "kuberay"
    key: ModelApiKey | None = None
    gateway = cfg.serving.gateway
    if cfg.declared_models:
        # Where the key is checked (serving; the gateway) and where it is sent from: the rollout workers' namespace
        # in plain mode (in KubeRay mode the rollouts are Ray tasks in the serving namespace).
        keyed = [SERVING_NAMESPACE, *([ROLLOUT_NAMESPACE] if cfg.rollout is not None and not kuberay else []),
                 *([GATEWAY_NAMESPACE] if gateway is not None else [])]
        key = ModelApiKey("model-api-key", ModelApiKeyArgs({n: ns.names[n] for n in keyed}, cfg.model_api_key),
                          opts=opts)
        urls = ServingFleet("serving", serving_fleet_args(cfg, fleet, platform, services,
                                                          key.secrets[SERVING_NAMESPACE]), opts=opts).urls
        rollout_urls = urls
        if gateway is not None:
            served = InferenceGateway("gateway", gateway_args(
                cfg, platform, namespace=ns.names[GATEWAY_NAMESPACE],
                priority_class=ns.priority_class[GATEWAY_NAMESPACE], api_key_secret=key.secrets[GATEWAY_NAMESPACE],
                monitoring=services.monitoring), opts=opts)
            gateway_url, peers_address = served.url, served.peers_address
            through = {m.name: served.url for m in cfg.declared_models}
            # Rollouts call the gateway only when told to; provider-only models are reachable through it alone.
            rollout_urls = through if cfg.rollout is not None and cfg.rollout.via_gateway else urls
            urls = {**through, **urls}
    # Spare GPU nodes for scale-outs, in their own namespace (quota) with their own PriorityClass; the same in
    # KubeRay mode, where Ray's worker pods preempt the placeholders as model replicas do.
    if (headroom := headroom_args(cfg, fleet, platform)) is not None:
        WarmHeadroom("headroom", headroom, opts=opts)
    WorkloadNetwork("network", workload_network_args(cfg, ns.names), opts=opts)
    # In KubeRay mode the rollouts are Ray tasks on the RayService's CPU worker group.
    if cfg.rollout is not None and not kuberay:
        RolloutWorkers("rollout", rollout_workers_args(
            cfg, fleet, platform, namespace=ns.names[ROLLOUT_NAMESPACE],
            priority_class=ns.priority_class[ROLLOUT_NAMESPACE], model_urls=rollout_urls,
            api_key_secret=key.secrets[ROLLOUT_NAMESPACE] if key is not None else None), opts=opts)
    if cfg.training is not None:
        job = training_job_args(cfg, fleet, platform, namespace=ns.names[TRAINING_NAMESPACE],
                                priority_class=ns.priority_class[TRAINING_NAMESPACE])
        training_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns, services.autoscaler]))
        if kuberay:
            RayTrainingJob("training", ray_training_job_args(cfg, fleet, job), opts=training_opts)
        else:
            TrainingJob("training", job, opts=training_opts)
    return WorkloadOutputs(urls, key.value if key is not None else None, gateway_url, peers_address)
