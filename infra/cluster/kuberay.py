"""The KubeRay operator (Helm, pinned, with its CRDs): runs RayServices and RayJobs in KubeRay mode."""

from __future__ import annotations

import pulumi

from infra.cluster.helm import pinned_release
from infra.config import StackConfig
from infra.platforms import Platform

KUBERAY_NAMESPACE = "kuberay-system"
# The operator pod's labels (kuberay-operator chart v1.7.0, templates/deployment.yaml; our release name).
KUBERAY_OPERATOR_LABELS = {"app.kubernetes.io/name": "kuberay-operator",
                           "app.kubernetes.io/instance": "kuberay-operator"}


class KubeRayOperator(pulumi.ComponentResource):
    trigger_auth = None  # Ray autoscales itself: no KEDA authentication to hand out

    def __init__(self, name: str, args: StackConfig, platform: Platform,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:KubeRayOperator", name, None, opts)
        cfg = args
        incremental = cfg.profile.ray_upgrade == "NewClusterWithIncrementalUpgrade"
        # The chart ships the RayCluster/RayService/RayJob CRDs.
        self.release = pinned_release(
            f"{name}-operator", release="kuberay-operator", chart="kuberay-operator",
            version=cfg.artifacts.charts.kuberay, repo="https://ray-project.github.io/kuberay-helm/",
            namespace=KUBERAY_NAMESPACE,
            # Alpha in KubeRay: only switched on for the tier whose RayService uses it.
            values={"featureGates": [{"name": "RayServiceIncrementalUpgrade", "enabled": incremental}]},
            parent=self, node_selector=platform.system_node_selector)
        self.register_outputs({"namespace": KUBERAY_NAMESPACE})
