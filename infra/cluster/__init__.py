"""Cluster services: what every workload relies on (namespaces, quotas, priorities, KEDA, monitoring)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.cluster.keda import Keda
from infra.cluster.monitoring import Monitoring
from infra.cluster.namespaces import Namespaces
from infra.config import StackConfig
from infra.platforms import Platform


@dataclass(frozen=True)
class ClusterServices:
    namespaces: Namespaces
    keda: Keda
    monitoring: Monitoring


def build_cluster_services(cfg: StackConfig, platform: Platform) -> ClusterServices:
    opts = pulumi.ResourceOptions(providers={"kubernetes": platform.provider})
    namespaces = Namespaces("cluster", cfg, platform, opts=opts)
    monitoring = Monitoring("monitoring", cfg, platform, opts=opts)
    keda = Keda("keda", cfg, platform, monitoring, namespaces, opts=opts)
    return ClusterServices(namespaces=namespaces, keda=keda, monitoring=monitoring)
