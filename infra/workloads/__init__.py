"""The workload layer: served models, rollout workers, the training job, and their observability."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster import ClusterServices
from infra.config import StackConfig
from infra.names import ROLLOUT_NAMESPACE, SERVING_NAMESPACE, SERVING_SERVICE_ACCOUNT, TRAINING_NAMESPACE
from infra.platforms import identity_requests
from infra.seam import Platform
from infra.workloads.identities import workload_service_account
from infra.workloads.kuberay import KubeRayServing, RayTrainingJob
from infra.workloads.observability import ServingObservability
from infra.workloads.rollout import RolloutWorkers
from infra.workloads.training import TrainingJob
from infra.workloads.vllm import VllmModel


class ServingFleet(pulumi.ComponentResource):
    """Every served model, the secret they share, and the fleet's dashboard and alerts."""

    def __init__(self, name: str, args: StackConfig, platform: Platform, services: ClusterServices,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:ServingFleet", name, None, opts)
        cfg = args
        ns = services.namespaces
        namespace = ns.names[SERVING_NAMESPACE]
        child = pulumi.ResourceOptions(parent=self)
        hf_secret = None
        if cfg.hf_token is not None:
            secret = k8s.core.v1.Secret(
                f"{name}-hf-token", metadata=k8s.meta.v1.ObjectMetaArgs(name="hf-token", namespace=namespace),
                string_data={"HF_TOKEN": pulumi.Output.secret(cfg.hf_token)}, opts=child)
            hf_secret = secret.metadata.name
        # One identity for every pod that loads weights; the platform binds it to exactly the buckets the
        # models come from (and, on EKS, the stack's weights bucket).
        sa = workload_service_account(f"{name}-sa", name=SERVING_SERVICE_ACCOUNT, namespace=namespace,
                                      platform=platform, parent=self, request=identity_requests(cfg)["serving"])
        self.urls: dict[str, str] = {}
        if cfg.serving.mode == "kuberay":
            ray = KubeRayServing(f"{name}-ray", cfg, platform, namespace=namespace,
                                 priority_class=ns.priority_class[SERVING_NAMESPACE], monitoring=services.monitoring,
                                 service_account=sa.metadata.name,
                                 opts=pulumi.ResourceOptions(parent=self, depends_on=[services.autoscaler]))
            self.urls = {model.name: ray.url for model in cfg.models}  # one endpoint; `model` picks the LLM
        for model in cfg.models if cfg.serving.mode == "vllm" else []:
            served = VllmModel(
                f"model-{model.name}", (cfg, model), platform, namespace=namespace,
                priority_class=ns.priority_class[SERVING_NAMESPACE], monitoring=services.monitoring,
                service_account=sa.metadata.name, hf_token_secret=hf_secret,
                trigger_auth=services.autoscaler.trigger_auth,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[services.autoscaler]))
            self.urls[model.name] = served.url
        ServingObservability(f"{name}-observability", cfg, services.monitoring, namespace=namespace, opts=child)
        self.register_outputs({"modelUrls": self.urls})


def build_workloads(cfg: StackConfig, platform: Platform, services: ClusterServices) -> dict[str, str]:
    """Declare every workload; returns the in-cluster OpenAI base URL of each model."""
    ns = services.namespaces
    opts = pulumi.ResourceOptions(providers={"kubernetes": platform.provider}, depends_on=[ns])
    urls: dict[str, str] = {}
    if cfg.models:
        urls = ServingFleet("serving", cfg, platform, services, opts=opts).urls
    kuberay = cfg.serving.mode == "kuberay"
    # In KubeRay mode the rollouts are Ray tasks on the RayService's CPU worker group.
    if cfg.rollout is not None and not kuberay:
        RolloutWorkers("rollout", cfg, platform, namespace=ns.names[ROLLOUT_NAMESPACE],
                       priority_class=ns.priority_class[ROLLOUT_NAMESPACE], model_urls=urls, opts=opts)
    if cfg.training is not None:
        job = RayTrainingJob if kuberay else TrainingJob
        job("training", cfg, platform, namespace=ns.names[TRAINING_NAMESPACE],
            priority_class=ns.priority_class[TRAINING_NAMESPACE],
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns, services.autoscaler])))
    return urls
