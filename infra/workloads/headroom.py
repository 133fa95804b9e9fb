"""Warm headroom: placeholder pods that keep spare GPU nodes running, so a scale-out waits for a model load only.

The cluster autoscaler's overprovisioning pattern (kubernetes/autoscaler cluster-autoscaler/FAQ.md, "How can I
configure overprovisioning with Cluster Autoscaler?"; GKE documents the same for its autoscaler in "Provision extra
compute capacity for rapid Pod scaling", cloud.google.com/kubernetes-engine/docs/how-to/capacity-provisioning; both
read 2026-11-30): a Deployment of pause pods at a priority below every real pod. Each placeholder asks for a whole
node's GPUs, so one sits on each spare node. A real pod that finds no room (a model replica, a KubeRay worker, any
pod of default priority 0) preempts a placeholder and starts on its node at once; the evicted
placeholder goes Pending and the autoscaler adds the next spare node, up to the pool's maxNodes, where placeholders
simply stay Pending (that is why the maximum cost is unchanged). The training job's class never preempts
(infra/cluster/namespaces.py): it waits for a node as it would without headroom.

Why -10: the FAQ reserves it for overprovisioning pods as "the lowest priority that triggers scaling clusters";
pods below `--expendable-pods-priority-cutoff` (default -10) neither trigger a scale-up nor keep a node from
scale-down, so anything lower would hold no node at all.

Why a namespace of their own (`llm-headroom`) and not `llm-serving`: a ResourceQuota counts Pending pods, and the
serving quota is exactly the serving pools' GPUs at maxNodes. A preempted placeholder waiting at the pool's maximum
would hold quota a real replica needs, and quota admission refuses a pod before the scheduler could preempt
anything: KEDA's last scale-out would fail. Here they get their own small quota (N nodes' worth) instead.

Why Pulumi does not wait for them (`pulumi.com/skipAwait`): a placeholder is Ready only once a spare node exists,
which can take the autoscaler's 15 minutes per node or never (a GPU stockout, or the pool at maxNodes); nothing
else depends on them, so `pulumi up` must not fail or hang on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.config.headroom import headroom_by_pool
from infra.fleet import Fleet
from infra.names import PART_OF, POOL_LABEL
from infra.restricted import container_security_args, pod_security_args, restricted_namespace_labels
from infra.seam import Platform, PoolFacts
from infra.waits import NO_WAIT
from infra.workloads.identities import IdentityFactory, workload_service_account
from infra.workloads.scheduling import gpu_pod_resources, tolerations

HEADROOM_NAMESPACE, HEADROOM_SERVICE_ACCOUNT = "llm-headroom", "warm-headroom"
HEADROOM_PRIORITY_CLASS = "llm-headroom"
# The FAQ's overprovisioning value: the lowest priority that still makes the autoscaler add a node.
HEADROOM_PRIORITY = -10
# kubernetes/kubernetes build/pause/Dockerfile runs /pause as `USER 65535:65535`; stated so runAsNonRoot can check it.
PAUSE_USER = 65535


@dataclass(frozen=True)
class SparePool:
    """A GPU pool and how many spare nodes its placeholders hold."""

    pool: PoolFacts
    nodes: int


@dataclass(frozen=True)
class WarmHeadroomArgs:
    pools: tuple[SparePool, ...]
    image: str  # artifacts.pauseImage, by digest
    tier: str  # the namespace's tier label, as the other workload namespaces carry
    workload_identity: IdentityFactory  # asked for nothing: placeholders touch no bucket


def headroom_args(cfg: StackConfig, fleet: Fleet, platform: Platform) -> WarmHeadroomArgs | None:
    """The pools with warm headroom and what their placeholders need; None when no pool has any."""
    spare = headroom_by_pool(cfg)
    if not spare:
        return None
    assert cfg.artifacts.pause_image is not None, "validated by config"
    return WarmHeadroomArgs(pools=tuple(SparePool(fleet.pools[name], n) for name, n in spare.items()),
                            image=cfg.artifacts.pause_image, tier=cfg.tier,
                            workload_identity=platform.workload_identity)


class WarmHeadroom(pulumi.ComponentResource):
    """The headroom namespace, its lowest PriorityClass, and one placeholder Deployment per pool."""

    def __init__(self, name: str, args: WarmHeadroomArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:WarmHeadroom", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        priority = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority", metadata=k8s.meta.v1.ObjectMetaArgs(name=HEADROOM_PRIORITY_CLASS, labels=PART_OF),
            value=HEADROOM_PRIORITY, global_default=False,
            # A placeholder takes free room or waits for a new node; it never evicts anything itself.
            preemption_policy="Never",
            description="llm-fleet warm headroom placeholders: preempted by every other pod", opts=child)
        ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(
            name=HEADROOM_NAMESPACE,
            labels={**PART_OF, "llm-fleet.dev/tier": args.tier, **restricted_namespace_labels()}),
            opts=child)
        namespace = ns.metadata.name
        requests = {p.pool.name: gpu_pod_resources(p.pool, p.pool.gpus_per_node) for p in args.pools}
        # No more than the declared spare nodes' worth, should someone scale a placeholder Deployment by hand.
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=k8s.meta.v1.ObjectMetaArgs(name="llm-fleet", namespace=namespace, labels=PART_OF),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard={
                "pods": str(sum(p.nodes for p in args.pools)),
                "requests.nvidia.com/gpu": str(sum(p.nodes * p.pool.gpus_per_node for p in args.pools)),
                "requests.cpu": f"{sum(p.nodes * requests[p.pool.name][0] for p in args.pools):g}",
                "requests.memory": f"{sum(p.nodes * requests[p.pool.name][1] for p in args.pools)}Gi"}),
            opts=child)
        # Placeholders need no network at all: nothing in, nothing out.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-deny-all",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="deny-all", namespace=namespace, labels=PART_OF),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                                                         policy_types=["Ingress", "Egress"]),
            opts=child)
        sa = workload_service_account(f"{name}-sa", name=HEADROOM_SERVICE_ACCOUNT, namespace=namespace,
                                      workload_identity=args.workload_identity, parent=self)
        after = pulumi.ResourceOptions(parent=self, depends_on=[ns, priority])
        self.deployments: dict[str, k8s.apps.v1.Deployment] = {}
        for spare in args.pools:
            pool = spare.pool
            cpu, memory = requests[pool.name]
            gpus = {"nvidia.com/gpu": str(pool.gpus_per_node)}  # a whole node's GPUs: one placeholder per node
            labels = {"app.kubernetes.io/name": "warm-headroom", POOL_LABEL: pool.name, **PART_OF}
            self.deployments[pool.name] = k8s.apps.v1.Deployment(
                f"{name}-{pool.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"warm-headroom-{pool.name}", namespace=namespace,
                                                    labels=labels, annotations=NO_WAIT),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=spare.nodes,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                    # No surge: an extra placeholder would make the autoscaler add a node for a moment.
                    strategy=k8s.apps.v1.DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=0, max_unavailable=1)),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                        spec=k8s.core.v1.PodSpecArgs(
                            priority_class_name=priority.metadata.name,
                            # Preempted placeholders leave at once: the real pod is waiting for the node.
                            termination_grace_period_seconds=0,
                            service_account_name=sa.metadata.name,
                            automount_service_account_token=False,
                            enable_service_links=False,
                            node_selector=pool.node_selector,
                            tolerations=tolerations(pool) or None,
                            security_context=pod_security_args(PAUSE_USER, PAUSE_USER),
                            containers=[k8s.core.v1.ContainerArgs(
                                name="pause",
                                image=args.image,
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": f"{cpu:g}", "memory": f"{memory}Gi", **gpus}, limits=gpus),
                                security_context=container_security_args(read_only_root_filesystem=True),
                            )],
                        ),
                    ),
                ),
                opts=after,
            )
        self.register_outputs({"namespace": namespace, "priorityClass": priority.metadata.name,
                               "deployments": {k: d.metadata.name for k, d in self.deployments.items()}})
