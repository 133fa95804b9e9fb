"""Cluster services: what every workload relies on.

Namespaces, quotas and priorities; KEDA (plain mode) or the KubeRay operator; monitoring and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.cluster.keda import Keda, keda_args
from infra.cluster.kuberay import KubeRayOperator, kuberay_operator_args
from infra.cluster.monitoring import Monitoring, monitoring_args
from infra.cluster.namespaces import Namespaces, namespaces_args
from infra.config import StackConfig
from infra.fleet import Fleet
from infra.names import SERVING_NAMESPACE
from infra.seam import Platform


@dataclass(frozen=True)
class ClusterServices:
    namespaces: Namespaces
    monitoring: Monitoring
    autoscaler: Keda | KubeRayOperator  # what scales the models: KEDA (plain mode) or Ray (KubeRay mode)


def build_cluster_services(cfg: StackConfig, fleet: Fleet, platform: Platform) -> ClusterServices:
    """Each service gets only what it uses: from the config, the fleet, the platform and the services before it."""
    opts = pulumi.ResourceOptions(providers={"kubernetes": platform.provider})
    namespaces = Namespaces("cluster", namespaces_args(cfg, fleet), opts=opts)
    monitoring = Monitoring("monitoring", monitoring_args(cfg, platform), opts=opts)
    autoscaler: Keda | KubeRayOperator
    if cfg.serving.mode == "kuberay":
        autoscaler = KubeRayOperator("kuberay", kuberay_operator_args(cfg, platform, namespaces.names), opts=opts)
    else:
        autoscaler = Keda("keda", keda_args(cfg, platform, monitoring, namespaces.names[SERVING_NAMESPACE]),
                          opts=opts)
    return ClusterServices(namespaces=namespaces, monitoring=monitoring, autoscaler=autoscaler)
