"""Where metrics go: the cloud's managed Prometheus, or a kube-prometheus-stack we install.

Owns the choice (made by the Platform object, overridable with `serving.monitoring`) and the
two dialects that follow from it: the scrape object (GMP PodMonitoring vs. Prometheus
Operator PodMonitor) and the alert-rules object (GMP Rules vs. PrometheusRule). Workloads ask
this component for those objects and never care which dialect they get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.helm import on_system_pool, pinned_release
from infra.config import StackConfig
from infra.platforms import GpuMetricsExporter, Platform

SELF_HOSTED_NS = "monitoring"
KPS_RELEASE = "kube-prometheus-stack"
MODEL_TARGET_LABEL = "model"  # every scraped series carries the model it came from


@dataclass(frozen=True)
class ScrapeEndpoint:
    port: str  # a named container port
    path: str


class Monitoring(pulumi.ComponentResource):
    query_url: str  # PromQL endpoint KEDA's prometheus scaler queries
    scraper_namespace: str  # where scrapers run (NetworkPolicy source for metrics ports)
    pod_identity: str | None  # KEDA TriggerAuthentication pod identity, when the endpoint needs one

    def __init__(self, name: str, args: StackConfig, platform: Platform,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:Monitoring", name, None, opts)
        cfg = args
        managed = platform.managed_prometheus
        self.managed = managed is not None
        if managed is not None:
            # GKE: collectors already run in gmp-system and DCGM metrics are on; nothing to install.
            self.query_url = managed.query_url
            self.scraper_namespace = managed.scraper_namespace
            self.pod_identity = managed.keda_pod_identity
            self.release = None
        else:
            self.query_url = f"http://{KPS_RELEASE}-prometheus.{SELF_HOSTED_NS}.svc:9090"
            self.scraper_namespace = SELF_HOSTED_NS
            self.pod_identity = None
            system = on_system_pool(platform)
            self.release = pinned_release(
                f"{name}-kube-prometheus-stack", release=KPS_RELEASE, chart="kube-prometheus-stack",
                version=cfg.artifacts.charts.kube_prometheus_stack,
                repo="https://prometheus-community.github.io/helm-charts", namespace=SELF_HOSTED_NS,
                values={
                    "prometheus": {"prometheusSpec": {
                        # Pick up PodMonitors and rules from every namespace, not only the release's.
                        "podMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                        "retention": "15d",
                        **system,
                    }},
                    "grafana": {"sidecar": {"dashboards": {"enabled": True, "searchNamespace": "ALL"}},
                                **system},
                    "alertmanager": {"alertmanagerSpec": system},
                },
                parent=self, node_selector=platform.system_node_selector)
            if platform.gpu_metrics is not None:
                self._scrape_gpu_metrics(name, platform.gpu_metrics)
        self.register_outputs({"queryUrl": self.query_url, "managed": self.managed})

    def _scrape_gpu_metrics(self, name: str, exporter: GpuMetricsExporter) -> None:
        """The platform's DCGM exporter, for the dashboard's GPU panels (GKE's managed collection needs none)."""
        k8s.apiextensions.CustomResource(
            f"{name}-dcgm", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="dcgm-exporter", namespace=SELF_HOSTED_NS),
            spec={"namespaceSelector": {"matchNames": [exporter.namespace]},
                  "selector": {"matchLabels": exporter.match_labels},
                  "podMetricsEndpoints": [{"port": exporter.port, "path": "/metrics", "interval": "15s"}]},
            # The PodMonitor kind exists once the chart has installed its CRDs.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]))

    def pod_monitor(self, name: str, namespace: pulumi.Input[str], match_labels: dict[str, str],
                    endpoints: list[ScrapeEndpoint], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        """Scrape pods matching `match_labels`; every series gets the pod's model label as `model`."""
        meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace)
        if self.managed:
            return k8s.apiextensions.CustomResource(
                name, api_version="monitoring.googleapis.com/v1", kind="PodMonitoring", metadata=meta,
                spec={"selector": {"matchLabels": match_labels},
                      "endpoints": [{"port": e.port, "path": e.path, "interval": "15s"} for e in endpoints],
                      "targetLabels": {"fromPod": [{"from": "llm-fleet.dev/model", "to": MODEL_TARGET_LABEL}]}},
                opts=opts)
        relabel = [{"sourceLabels": ["__meta_kubernetes_pod_label_llm_fleet_dev_model"],
                    "targetLabel": MODEL_TARGET_LABEL}]
        return k8s.apiextensions.CustomResource(
            name, api_version="monitoring.coreos.com/v1", kind="PodMonitor", metadata=meta,
            spec={"selector": {"matchLabels": match_labels},
                  "podMetricsEndpoints": [{"port": e.port, "path": e.path, "interval": "15s",
                                           "relabelings": relabel} for e in endpoints]},
            opts=self._after_crds(opts))

    def alert_rules(self, name: str, namespace: pulumi.Input[str], groups: list[dict[str, Any]],
                    opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        meta = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace)
        if self.managed:
            return k8s.apiextensions.CustomResource(
                name, api_version="monitoring.googleapis.com/v1", kind="Rules", metadata=meta,
                spec={"groups": groups}, opts=opts)
        return k8s.apiextensions.CustomResource(
            name, api_version="monitoring.coreos.com/v1", kind="PrometheusRule", metadata=meta,
            spec={"groups": groups}, opts=self._after_crds(opts))

    def _after_crds(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """The PodMonitor/PrometheusRule kinds exist once kube-prometheus-stack has installed its CRDs."""
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.release]))
