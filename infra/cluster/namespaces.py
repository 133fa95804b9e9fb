"""Namespaces with per-tier quotas and container defaults, and the priority classes.

Priorities: serving > rollouts > training. A serving pod must never wait behind batch work
(users and rollouts are blocked on it); rollout workers only produce data when inference
answers, so they come next; the trainer checkpoints and resumes, so it is the one to preempt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.default_deny import default_deny
from infra.config import StackConfig
from infra.fleet import Fleet
from infra.names import GATEWAY_NAMESPACE, PART_OF, ROLLOUT_NAMESPACE, SERVING_NAMESPACE, TRAINING_NAMESPACE
from infra.restricted import restricted_namespace_labels
from infra.seam import PoolFacts

PRIORITY = {"llm-serving": 100_000, "llm-rollout": 50_000, "llm-training": 10_000}
# The gateway's (serving.gateway): as high as serving's, but it never evicts. It runs on the system pool beside the
# cluster's own services (KEDA, the operators, Prometheus, all at priority 0); a gateway scale-out evicting KEDA would
# stop the models' autoscaling. It waits for the system pool to grow instead (Pulumi's wait counts that node).
GATEWAY_PRIORITY = {GATEWAY_NAMESPACE: 100_000}
NEVER_PREEMPT = frozenset({"llm-training", GATEWAY_NAMESPACE})


@dataclass(frozen=True)
class NamespacesArgs:
    tier: str
    pools: Mapping[str, PoolFacts]  # what the quotas may hand out: every pool at its maximum size
    # KubeRay mode: the Ray clusters of serving and training also run on the rollout pool (CPU workers, heads).
    ray_on_rollout_pool: bool
    # serving.gateway: (CPU cores, GiB) its pods request at their maximum; None: no gateway namespace.
    gateway: tuple[float, float] | None = None


def namespaces_args(cfg: StackConfig, fleet: Fleet) -> NamespacesArgs:
    gw = cfg.serving.gateway
    gateway = None if gw is None else (gw.replicas.max * gw.resources.cpu, gw.replicas.max * gw.resources.memory_gib)
    return NamespacesArgs(tier=cfg.tier, pools=fleet.pools, ray_on_rollout_pool=cfg.serving.mode == "kuberay",
                          gateway=gateway)


def _pool_totals(all_pools: Mapping[str, PoolFacts], *purposes: str) -> tuple[int, float, float]:
    """GPUs, CPU cores and GiB that all pools of these purposes can offer at their maximum size."""
    pools = [p for p in all_pools.values() if p.purpose in purposes]
    return (sum(p.max_gpus for p in pools), sum(p.allocatable_cpu * p.max_nodes for p in pools),
            sum(p.allocatable_memory_gib * p.max_nodes for p in pools))


class Namespaces(pulumi.ComponentResource):
    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:Namespaces", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.priority_class: dict[str, pulumi.Output[str]] = {}
        for cls, value in {**PRIORITY, **(GATEWAY_PRIORITY if args.gateway is not None else {})}.items():
            pc = k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{cls}", metadata=k8s.meta.v1.ObjectMetaArgs(name=cls, labels=PART_OF),
                value=value, global_default=False,
                # Training and the gateway wait for room instead of evicting anything; rollouts may evict training.
                preemption_policy="Never" if cls in NEVER_PREEMPT else "PreemptLowerPriority",
                description=f"llm-fleet {cls.removeprefix('llm-')} workloads", opts=child)
            self.priority_class[cls] = pc.metadata.name

        # A quota per namespace caps what runaway replicas can request: no more than the pools can hold.
        # In KubeRay mode the Ray cluster in the serving namespace also runs the rollouts (CPU workers, head),
        # and the training RayJob puts its head on the rollout pool too.
        kuberay = args.ray_on_rollout_pool
        budgets = {
            SERVING_NAMESPACE: _pool_totals(args.pools, "serving", *(["rollout"] if kuberay else [])),
            ROLLOUT_NAMESPACE: _pool_totals(args.pools, "rollout"),
            TRAINING_NAMESPACE: _pool_totals(args.pools, "training", *(["rollout"] if kuberay else [])),
        }
        if args.gateway is not None:  # its pods at their maximum, and a rolling update's surge pod
            cpu, mem = args.gateway
            budgets[GATEWAY_NAMESPACE] = (0, cpu * 1.5 + 1, mem * 1.5 + 1)
        self.names: dict[str, pulumi.Output[str]] = {}
        for ns_name, (gpus, cpu, mem) in budgets.items():
            ns = k8s.core.v1.Namespace(f"{name}-{ns_name}", metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ns_name, labels={**PART_OF, "llm-fleet.dev/tier": args.tier, **restricted_namespace_labels()}),
                opts=child)
            self.names[ns_name] = ns.metadata.name
            # Nothing in or out unless a workload's own policy opens it (infra/egress.py, each ingress policy).
            default_deny(f"{name}-{ns_name}-default-deny", ns.metadata.name, child)
            hard = {"requests.cpu": f"{math.floor(cpu)}", "requests.memory": f"{math.floor(mem)}Gi",
                    "pods": str(max(50, math.ceil(cpu * 2)))}
            hard["requests.nvidia.com/gpu"] = str(gpus)  # 0 for rollouts: no GPU pod lands there by mistake
            k8s.core.v1.ResourceQuota(
                f"{name}-{ns_name}-quota",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="llm-fleet", namespace=ns.metadata.name, labels=PART_OF),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=hard), opts=child)
            k8s.core.v1.LimitRange(
                f"{name}-{ns_name}-limits",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="llm-fleet", namespace=ns.metadata.name, labels=PART_OF),
                spec=k8s.core.v1.LimitRangeSpecArgs(limits=[k8s.core.v1.LimitRangeItemArgs(
                    type="Container",
                    # For containers that state nothing (sidecars, debug pods): small, but not unbounded.
                    default_request={"cpu": "100m", "memory": "128Mi"},
                    # No CPU default LIMIT: it would also land on our containers that request more CPU and set no
                    # CPU limit on purpose (throttling), and the API server refuses request > limit
                    # (infra/guards/limit_ranges.py). Memory: every container of ours sets its limit.
                    default={"memory": "1Gi"},
                )]),
                opts=child)
        self.register_outputs({"namespaces": self.names, "priorityClasses": self.priority_class})
