"""The KubeRay operator (Helm, pinned, with its CRDs): runs RayServices and RayJobs in KubeRay mode."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.platforms import POOL_LABEL, Platform

KUBERAY_NAMESPACE = "kuberay-system"


class KubeRayOperator(pulumi.ComponentResource):
    trigger_auth = None  # Ray autoscales itself: no KEDA authentication to hand out

    def __init__(self, name: str, args: StackConfig, platform: Platform,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:KubeRayOperator", name, None, opts)
        cfg = args
        incremental = cfg.profile.ray_upgrade == "NewClusterWithIncrementalUpgrade"
        self.release = k8s.helm.v3.Release(
            f"{name}-operator",
            name="kuberay-operator",
            chart="kuberay-operator",
            version=cfg.artifacts.charts.kuberay,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://ray-project.github.io/kuberay-helm/"),
            namespace=KUBERAY_NAMESPACE,
            create_namespace=True,
            skip_crds=False,  # the chart ships the RayCluster/RayService/RayJob CRDs
            values={
                "nodeSelector": {POOL_LABEL: "system"},
                # Alpha in KubeRay: only switched on for the tier whose RayService uses it.
                "featureGates": [{"name": "RayServiceIncrementalUpgrade", "enabled": incremental}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"namespace": KUBERAY_NAMESPACE})
