"""The KubeRay operator (Helm, pinned, with its CRDs): runs RayServices and RayJobs in KubeRay mode."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.config import StackConfig
from infra.helm import pinned_release
from infra.names import SERVING_NAMESPACE, TRAINING_NAMESPACE
from infra.seam import Platform

KUBERAY_NAMESPACE = "kuberay-system"
# The operator pod's labels (kuberay-operator chart v1.7.0, templates/deployment.yaml; our release name).
KUBERAY_OPERATOR_LABELS = {"app.kubernetes.io/name": "kuberay-operator",
                           "app.kubernetes.io/instance": "kuberay-operator"}
# The kuberay-operator chart's default `featureGates`, in its order: chart v1.7.0 values.yaml
# (github.com/ray-project/kuberay/blob/v1.7.0/helm-chart/kuberay-operator/values.yaml, vendored unchanged as
# tests/data/charts/kuberay-operator-1.7.0-values.yaml). Helm replaces a list value as a whole, it never merges it
# (github.com/helm/helm/issues/3486), so setting one gate means passing the whole list or losing the others.
FEATURE_GATES_CHART_VERSION = "1.7.0"
CHART_FEATURE_GATES: tuple[tuple[str, bool], ...] = (
    ("RayClusterStatusConditions", True),
    ("RayJobDeletionPolicy", True),
    ("RayMultiHostIndexing", True),
    ("RayServiceIncrementalUpgrade", True),
    ("RayCronJob", False),
    ("RayClusterMTLS", False),
    ("RayClusterNetworkPolicy", False),
    ("RayClusterHistoryServer", False),
)
INCREMENTAL_UPGRADE_GATE = "RayServiceIncrementalUpgrade"


def feature_gates(incremental_upgrade: bool) -> list[dict[str, object]]:
    """The chart's default gates, with only the incremental-upgrade gate following the tier's upgrade strategy."""
    return [{"name": gate, "enabled": incremental_upgrade if gate == INCREMENTAL_UPGRADE_GATE else enabled}
            for gate, enabled in CHART_FEATURE_GATES]


@dataclass(frozen=True)
class KubeRayOperatorArgs:
    chart_version: str
    incremental_upgrade: bool  # the tier's RayService upgrades incrementally (an alpha feature gate)
    node_selector: dict[str, str]  # the platform's system nodes
    # Where our RayService and RayJob live: all the operator may act in. The namespaces' outputs, so the release
    # (which puts a Role in each) waits for them.
    watch_namespaces: tuple[pulumi.Input[str], ...]


def kuberay_operator_args(cfg: StackConfig, platform: Platform,
                          namespaces: Mapping[str, pulumi.Input[str]]) -> KubeRayOperatorArgs:
    watched = [SERVING_NAMESPACE, *([TRAINING_NAMESPACE] if cfg.training is not None else [])]
    return KubeRayOperatorArgs(chart_version=cfg.artifacts.charts.kuberay,
                               incremental_upgrade=cfg.profile.ray_upgrade == "NewClusterWithIncrementalUpgrade",
                               node_selector=platform.system_node_selector,
                               watch_namespaces=tuple(namespaces[ns] for ns in watched))


def namespaced_values(watch_namespaces: tuple[pulumi.Input[str], ...]) -> dict[str, object]:
    """The operator watches only our namespaces, with a Role in each instead of cluster-wide RBAC.

    Chart kuberay-operator 1.7.0 (ray-project/kuberay v1.7.0 helm-chart/kuberay-operator; vendored values
    tests/data/charts/kuberay-operator-1.7.0-values.yaml): `singleNamespaceInstall` swaps the ClusterRole(Binding)
    for a Role and RoleBinding per `watchNamespace` entry (templates/multiple_namespaces_role{,binding}.yaml, the
    same rules as the ClusterRole: role.consistentRules) and passes `--watch-namespace` (templates/deployment.yaml).
    """
    return {"singleNamespaceInstall": True, "watchNamespace": list(watch_namespaces)}


class KubeRayOperator(pulumi.ComponentResource):
    trigger_auth = None  # Ray autoscales itself: no KEDA authentication to hand out

    def __init__(self, name: str, args: KubeRayOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:KubeRayOperator", name, None, opts)
        # The chart ships the RayCluster/RayService/RayJob CRDs.
        self.release = pinned_release(
            f"{name}-operator", release="kuberay-operator", chart="kuberay-operator",
            version=args.chart_version, repo="https://ray-project.github.io/kuberay-helm/",
            namespace=KUBERAY_NAMESPACE,
            # Alpha in KubeRay: only switched on for the tier whose RayService uses it.
            values={"featureGates": feature_gates(args.incremental_upgrade),
                    **namespaced_values(args.watch_namespaces)},
            parent=self, node_selector=args.node_selector)
        self.register_outputs({"namespace": KUBERAY_NAMESPACE})
