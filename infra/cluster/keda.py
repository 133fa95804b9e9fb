"""KEDA: the pod autoscaler that reads vLLM's own metrics (queue length, KV-cache use)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.helm import pinned_release
from infra.cluster.monitoring import Monitoring
from infra.cluster.namespaces import Namespaces
from infra.config import StackConfig
from infra.names import KEDA_NAMESPACE, KEDA_OPERATOR_SA, SERVING_NAMESPACE
from infra.seam import Platform


class Keda(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackConfig, platform: Platform, monitoring: Monitoring,
                 namespaces: Namespaces, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:Keda", name, None, opts)
        cfg = args
        annotations = platform.managed_prometheus.keda_operator_annotations if platform.managed_prometheus else {}
        self.release = pinned_release(
            f"{name}-release", release="keda", chart="keda", version=cfg.artifacts.charts.keda,
            repo="https://kedacore.github.io/charts", namespace=KEDA_NAMESPACE,
            values={"serviceAccount": {"operator": {"name": KEDA_OPERATOR_SA, "annotations": annotations}}},
            parent=self, node_selector=platform.system_node_selector)
        self.trigger_auth: pulumi.Output[str] | None = None
        if monitoring.pod_identity is not None:
            # ScaledObjects query the managed Prometheus with KEDA's own cloud identity.
            auth = k8s.apiextensions.CustomResource(
                f"{name}-prometheus-auth", api_version="keda.sh/v1alpha1", kind="TriggerAuthentication",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="managed-prometheus",
                                                    namespace=namespaces.names[SERVING_NAMESPACE]),
                spec={"podIdentity": {"provider": monitoring.pod_identity}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]))
            self.trigger_auth = auth.metadata["name"]
        self.register_outputs({"namespace": KEDA_NAMESPACE, "queryUrl": monitoring.query_url})
