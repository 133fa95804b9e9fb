"""Cluster services: what every workload relies on (namespaces, quotas, priorities, KEDA, monitoring)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.cluster.keda import Keda
from infra.cluster.kuberay import KubeRayOperator
from infra.cluster.monitoring import Monitoring
from infra.cluster.namespaces import Namespaces
from infra.config import StackConfig
from infra.seam import Platform


@dataclass(frozen=True)
class ClusterServices:
    namespaces: Namespaces
    monitoring: Monitoring
    autoscaler: Keda | KubeRayOperator  # what scales the models: KEDA (plain mode) or Ray (KubeRay mode)


def build_cluster_services(cfg: StackConfig, platform: Platform) -> ClusterServices:
    opts = pulumi.ResourceOptions(providers={"kubernetes": platform.provider})
    namespaces = Namespaces("cluster", cfg, platform, opts=opts)
    monitoring = Monitoring("monitoring", cfg, platform, opts=opts)
    autoscaler: Keda | KubeRayOperator
    if cfg.serving.mode == "kuberay":
        autoscaler = KubeRayOperator("kuberay", cfg, platform, opts=opts)
    else:
        autoscaler = Keda("keda", cfg, platform, monitoring, namespaces, opts=opts)
    return ClusterServices(namespaces=namespaces, monitoring=monitoring, autoscaler=autoscaler)
