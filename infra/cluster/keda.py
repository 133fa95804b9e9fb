"""KEDA: the pod autoscaler that reads vLLM's own metrics (queue length, KV-cache use)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.monitoring import Monitoring
from infra.config import StackConfig
from infra.helm import pinned_release
from infra.names import KEDA_NAMESPACE, KEDA_OPERATOR_SA
from infra.seam import Platform


@dataclass(frozen=True)
class KedaArgs:
    chart_version: str
    operator_annotations: dict[str, pulumi.Input[str]]  # binds KEDA's service account to a cloud identity
    node_selector: dict[str, str]  # the platform's system nodes
    monitoring: Monitoring  # what the ScaledObjects query, and with which identity
    serving_namespace: pulumi.Input[str]  # where the ScaledObjects (and so their authentication) live


def keda_args(cfg: StackConfig, platform: Platform, monitoring: Monitoring,
              serving_namespace: pulumi.Input[str]) -> KedaArgs:
    managed = platform.managed_prometheus
    return KedaArgs(chart_version=cfg.artifacts.charts.keda,
                    operator_annotations=managed.keda_operator_annotations if managed else {},
                    node_selector=platform.system_node_selector, monitoring=monitoring,
                    serving_namespace=serving_namespace)


def keda_least_privilege_values(serving_namespace: pulumi.Input[str]) -> dict[str, object]:
    """KEDA reads no Secret outside its own namespace and watches only the namespace of our ScaledObjects.

    Chart keda 2.20.2 (kedacore/charts v2.20.2, vendored values tests/data/charts/keda-2.20.2-values.yaml):
    `permissions.{operator,metricServer}.restrict.secret` drops the cluster-wide secrets list/watch from the
    ClusterRole and sets KEDA_RESTRICT_SECRET_ACCESS (templates/manager/clusterrole.yaml, minimal-rbac.yaml,
    metrics-server/deployment.yaml); our TriggerAuthentication uses pod identity, never a Secret. `watchNamespace`
    binds the ClusterRole per namespace (RoleBindings in it and the release's) instead of cluster-wide
    (templates/manager/clusterrolebindings.yaml).
    """
    return {"permissions": {"operator": {"restrict": {"secret": True}},
                            "metricServer": {"restrict": {"secret": True}}},
            "watchNamespace": serving_namespace}


class Keda(pulumi.ComponentResource):
    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:Keda", name, None, opts)
        monitoring = args.monitoring
        self.release = pinned_release(
            f"{name}-release", release="keda", chart="keda", version=args.chart_version,
            repo="https://kedacore.github.io/charts", namespace=KEDA_NAMESPACE,
            values={"serviceAccount": {"operator": {"name": KEDA_OPERATOR_SA,
                                                    "annotations": args.operator_annotations}},
                    **keda_least_privilege_values(args.serving_namespace)},
            parent=self, node_selector=args.node_selector)
        self.trigger_auth: pulumi.Output[str] | None = None
        if monitoring.pod_identity is not None:
            # ScaledObjects query the managed Prometheus with KEDA's own cloud identity.
            auth = k8s.apiextensions.CustomResource(
                f"{name}-prometheus-auth", api_version="keda.sh/v1alpha1", kind="TriggerAuthentication",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="managed-prometheus", namespace=args.serving_namespace),
                spec={"podIdentity": {"provider": monitoring.pod_identity}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]))
            self.trigger_auth = auth.metadata["name"]
        self.register_outputs({"namespace": KEDA_NAMESPACE, "queryUrl": monitoring.query_url})
