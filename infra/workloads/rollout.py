"""CPU rollout workers beside the serving fleet, calling the models over the cluster network."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Rollout, StackConfig
from infra.fleet import Fleet
from infra.names import PART_OF, ROLLOUT_SERVICE_ACCOUNT
from infra.platforms import identity_requests
from infra.restricted import container_security_args, pod_security_args
from infra.seam import IdentityRequest, Platform, PoolFacts
from infra.waits import custom_timeouts
from infra.workloads.identities import IdentityFactory, workload_service_account
from infra.workloads.scheduling import tolerations
from infra.workloads.secret_files import OPENAI_API_KEY_FILE, api_key_file


def model_url_env(urls: dict[str, str]) -> dict[str, str]:
    """LLM_FLEET_URL_<MODEL> per model, and OPENAI_BASE_URL when there is exactly one model."""
    env = {f"LLM_FLEET_URL_{name.upper().replace('-', '_')}": url for name, url in urls.items()}
    if len(urls) == 1:
        env["OPENAI_BASE_URL"] = next(iter(urls.values()))
    return env


@dataclass(frozen=True)
class RolloutWorkersArgs:
    rollout: Rollout
    image: str
    pool: PoolFacts  # the rollout pool
    identity: IdentityRequest  # bucket access for the buckets its env or args name
    workload_identity: IdentityFactory
    namespace: pulumi.Input[str]
    priority_class: pulumi.Input[str]
    model_urls: dict[str, str]  # model name -> in-cluster OpenAI base URL
    api_key_secret: pulumi.Input[str] | None  # the model API key's Secret in this namespace (api_key.py)


def rollout_workers_args(cfg: StackConfig, fleet: Fleet, platform: Platform, *, namespace: pulumi.Input[str],
                         priority_class: pulumi.Input[str], model_urls: dict[str, str],
                         api_key_secret: pulumi.Input[str] | None) -> RolloutWorkersArgs:
    assert cfg.rollout is not None and cfg.artifacts.rollout_image is not None, "validated by config"
    assert fleet.rollout_pool is not None
    return RolloutWorkersArgs(rollout=cfg.rollout, image=cfg.artifacts.rollout_image, pool=fleet.rollout_pool,
                              identity=identity_requests(cfg)["rollout"], workload_identity=platform.workload_identity,
                              namespace=namespace, priority_class=priority_class, model_urls=model_urls,
                              api_key_secret=api_key_secret)


class RolloutWorkers(pulumi.ComponentResource):
    def __init__(self, name: str, args: RolloutWorkersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:RolloutWorkers", name, None, opts)
        rollout, pool = args.rollout, args.pool
        namespace, priority_class = args.namespace, args.priority_class
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "rollout-worker", **PART_OF}
        env = {**model_url_env(args.model_urls), **rollout.env}
        # The workers send the model API key as their bearer token, read from the file OPENAI_API_KEY_FILE names.
        key = api_key_file(args.api_key_secret) if args.api_key_secret is not None else None
        resources = {"cpu": f"{rollout.cpu_per_worker:g}", "memory": f"{rollout.memory_gib_per_worker:g}Gi"}
        # Its own account: a cloud identity only for buckets its env or args name.
        sa = workload_service_account(f"{name}-sa", name=ROLLOUT_SERVICE_ACCOUNT, namespace=namespace,
                                      workload_identity=args.workload_identity, parent=self, request=args.identity)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="rollout-worker", namespace=namespace, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No `replicas`: the HPA owns the count.
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=sa.metadata.name,
                        priority_class_name=priority_class,
                        enable_service_links=False,
                        automount_service_account_token=False,
                        node_selector=pool.node_selector,
                        tolerations=tolerations(pool) or None,
                        security_context=pod_security_args(),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="worker",
                            image=args.image,
                            command=rollout.command or None,
                            args=rollout.args or None,
                            env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()]
                            + ([key.env_args(OPENAI_API_KEY_FILE)] if key else []),
                            volume_mounts=[key.mount_args()] if key else None,
                            resources=k8s.core.v1.ResourceRequirementsArgs(requests=resources,
                                                                           limits={"memory": resources["memory"]}),
                            security_context=container_security_args(),
                        )],
                        volumes=[key.volume_args()] if key else None,
                    ),
                ),
            ),
            # No startup probe: what the first pods may wait for is a node of the autoscaled rollout pool.
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=custom_timeouts(
                0, pool, max_replicas=rollout.replicas.max, max_surge=1, max_unavailable=1)),
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="rollout-worker", namespace=namespace, labels=labels),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name),
                min_replicas=max(1, rollout.replicas.min),  # an HPA cannot hold zero replicas
                max_replicas=rollout.replicas.max,
                metrics=[k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource", resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name="cpu", target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=rollout.target_cpu_utilization)))],
            ),
            opts=child,
        )
        self.register_outputs({"deployment": self.deployment.metadata.name})
