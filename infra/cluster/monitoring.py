"""Where metrics go: the cloud's managed Prometheus, or a kube-prometheus-stack we install.

Owns the choice (made by the Platform object, overridable with `serving.monitoring`) and the
two dialects that follow from it: the scrape object (GMP PodMonitoring vs. Prometheus
Operator PodMonitor) and the alert-rules object (GMP Rules vs. PrometheusRule). Workloads ask
this component for those objects and never care which dialect they get. Also owns where alerts
are delivered (the one Alertmanager config, in the Secret each Alertmanager reads) and where the
dashboard lives (the platform's cloud dashboard, or a ConfigMap the self-hosted Grafana loads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.cluster.alertmanager import CONFIG_KEY, alertmanager_config, notification_targets
from infra.config import StackConfig
from infra.helm import pinned_release
from infra.names import PART_OF
from infra.seam import DashboardFactory, GpuMetricsExporter, ManagedPrometheus, Platform

SELF_HOSTED_NS = "monitoring"
KPS_RELEASE = "kube-prometheus-stack"
MODEL_TARGET_LABEL = "model"  # every scraped series carries the model it came from
# GKE's managed Alertmanager reads its config from this Secret and key: the OperatorConfig default
# managedAlertmanager.configSecret (GMP CRD operatorconfigs, /work/shared/crds) in the public namespace gmp-public
# (GoogleCloudPlatform/prometheus-engine pkg/operator/operator.go DefaultPublicNamespace, operator_config.go
# AlertmanagerPublicSecretName/Key; https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed).
# The managed rule-evaluator sends to that Alertmanager by itself (operator_config.go makeAlertmanagerConfigs).
GMP_PUBLIC_NS, GMP_ALERTMANAGER_SECRET = "gmp-public", "alertmanager"
SELF_HOSTED_ALERTMANAGER_SECRET = "llm-fleet-alertmanager"
ALERT_TARGETS_ANNOTATION = "llm-fleet.dev/alert-targets"
# Grafana (subchart grafana 10.1.4 of kube-prometheus-stack 79.4.1; values vendored in tests/data/charts/):
# - its sidecars read this namespace only: `rbac.namespaced` gives them a Role here instead of a ClusterRole over
#   every namespace's ConfigMaps and Secrets (grafana/helm-charts grafana-10.1.4 templates/role.yaml,
#   clusterrole.yaml); kube-prometheus-stack's own default is `searchNamespace: ALL`, so the dashboards sidecar is
#   pointed back here, at ConfigMaps (`resource`, default `both`), and our dashboard ConfigMap lives here too.
#   That Role still lists Secrets in `monitoring` (role.yaml grants configmaps AND secrets while a sidecar is on;
#   the datasources sidecar is on by default), so Grafana can read the Alertmanager config Secret here: a known gap
#   (docs/security.md), closed only by `rbac.useExistingRole` with a ConfigMap-only Role.
# - the admin password: kube-prometheus-stack 79.4.1 no longer sets one (values.yaml: `# adminPassword:`, the old
#   `prom-operator` default is gone), so the grafana chart generates 40 random characters into its Secret on install
#   and keeps them on upgrades (templates/_helpers.tpl `grafana.password`: lookup, else randAlphaNum 40). That lookup
#   needs a live cluster, which helm.v3.Release has (it installs with the Helm SDK). Nothing here may set
#   `adminPassword`: it would sit in the release's values (tests/test_operators_least_privilege.py).
GRAFANA_LEAST_PRIVILEGE = {
    "rbac": {"namespaced": True},
    "sidecar": {"dashboards": {"enabled": True, "searchNamespace": SELF_HOSTED_NS, "resource": "configmap"}},
}


def label_matchers(labels: dict[str, str]) -> str:
    """`k="v",…`: the inside of a PromQL selector ('' when there is nothing to match)."""
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


@dataclass(frozen=True)
class ScrapeEndpoint:
    port: str  # a named container port
    path: str


@dataclass(frozen=True)
class MonitoringArgs:
    managed_prometheus: ManagedPrometheus | None  # None: install kube-prometheus-stack
    kube_prometheus_stack_version: str  # the chart, when self-hosted
    node_selector: dict[str, str]  # the platform's system nodes
    gpu_metrics: GpuMetricsExporter | None  # a DCGM exporter the platform installed, to scrape (self-hosted)
    alertmanager_config: dict[str, Any]  # where alerts go (infra/cluster/alertmanager.py)
    alert_targets: tuple[str, ...]  # its integrations, named for a reviewer


def monitoring_args(cfg: StackConfig, platform: Platform) -> MonitoringArgs:
    return MonitoringArgs(managed_prometheus=platform.managed_prometheus,
                          kube_prometheus_stack_version=cfg.artifacts.charts.kube_prometheus_stack,
                          node_selector=platform.system_node_selector, gpu_metrics=platform.gpu_metrics,
                          alertmanager_config=alertmanager_config(cfg), alert_targets=tuple(notification_targets(cfg)))


class Monitoring(pulumi.ComponentResource):
    query_url: str  # PromQL endpoint KEDA's prometheus scaler queries
    scraper_namespace: str  # where scrapers run (NetworkPolicy source for metrics ports)
    pod_identity: str | None  # KEDA TriggerAuthentication pod identity, when the endpoint needs one
    # Labels that tell this stack's series apart from other clusters' in a shared backend (GMP is project-wide).
    series_labels: dict[str, str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:cluster:Monitoring", name, None, opts)
        managed = args.managed_prometheus
        self.managed = managed is not None
        self._cloud_dashboard: DashboardFactory | None = None
        # The config may hold receiver credentials; a Secret's data is a Pulumi secret anyway (hidden in the plan),
        # so an annotation says where alerts go for a reviewer.
        am_config = yaml.safe_dump(args.alertmanager_config, sort_keys=False)
        am_annotations = {ALERT_TARGETS_ANNOTATION: ",".join(args.alert_targets) or "none"}
        if managed is not None:
            # GKE: collectors already run in gmp-system and DCGM metrics are on; nothing to install.
            self.query_url = managed.query_url
            self.scraper_namespace = managed.scraper_namespace
            self.pod_identity = managed.keda_pod_identity
            self.series_labels = dict(managed.series_labels)
            self._cloud_dashboard = managed.dashboard
            self.release = None
            # gmp-public exists once managed collection is on; the managed Alertmanager picks the Secret up.
            self.alertmanager_secret = k8s.core.v1.Secret(
                f"{name}-alertmanager-config",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=GMP_ALERTMANAGER_SECRET, namespace=GMP_PUBLIC_NS,
                                                    annotations=am_annotations),
                string_data={CONFIG_KEY: am_config}, opts=pulumi.ResourceOptions(parent=self))
        else:
            self.query_url = f"http://{KPS_RELEASE}-prometheus.{SELF_HOSTED_NS}.svc:9090"
            self.scraper_namespace = SELF_HOSTED_NS
            self.pod_identity = None
            self.series_labels = {}  # one Prometheus per cluster: nothing else's series are in it
            self.release = pinned_release(
                f"{name}-kube-prometheus-stack", release=KPS_RELEASE, chart="kube-prometheus-stack",
                version=args.kube_prometheus_stack_version,
                repo="https://prometheus-community.github.io/helm-charts", namespace=SELF_HOSTED_NS,
                values={
                    "prometheus": {"prometheusSpec": {
                        # Pick up PodMonitors and rules from every namespace, not only the release's.
                        "podMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                        "retention": "15d",
                    }},
                    "grafana": GRAFANA_LEAST_PRIVILEGE,
                    # The chart's own config routes every alert to its `null` receiver (values.yaml
                    # alertmanager.config): ours comes from a Secret instead (useExistingSecret ignores `config`).
                    "alertmanager": {"alertmanagerSpec": {"useExistingSecret": True,
                                                          "configSecret": SELF_HOSTED_ALERTMANAGER_SECRET}},
                    # A DaemonSet: node metrics from every node, whatever taints a pool carries (the chart's
                    # default tolerates only NoSchedule taints).
                    "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]},
                },
                parent=self, node_selector=args.node_selector)
            # The release creates the namespace; the operator reloads Alertmanager when the Secret appears.
            self.alertmanager_secret = k8s.core.v1.Secret(
                f"{name}-alertmanager-config",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=SELF_HOSTED_ALERTMANAGER_SECRET, namespace=SELF_HOSTED_NS,
                                                    annotations=am_annotations),
                string_data={CONFIG_KEY: am_config},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]))
            if args.gpu_metrics is not None:
                self._scrape_gpu_metrics(name, args.gpu_metrics)
        self.register_outputs({"queryUrl": self.query_url, "managed": self.managed})

    def matchers(self, namespace: str | None = None) -> str:
        """PromQL label matchers (`k="v",…`) for this stack's series (of one namespace, when given)."""
        return label_matchers({**self.series_labels, **({"namespace": namespace} if namespace else {})})

    def _after_crds(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Self-hosted: the chart installs the CRDs of PodMonitor and PrometheusRule, so its objects wait for it."""
        if self.release is None:
            return opts
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.release]))

    def dashboard(self, name: str, title: str, panels: list[tuple[str, str]], namespace: pulumi.Input[str],
                  grafana_json: str, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        """The dashboard where it can be seen: the cloud's own (managed) or Grafana's sidecar (self-hosted)."""
        if self._cloud_dashboard is not None:
            return self._cloud_dashboard(name, title, panels, opts)
        return k8s.core.v1.ConfigMap(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                # Where Grafana's namespaced sidecar looks (GRAFANA_LEAST_PRIVILEGE), whatever `namespace` says.
                name="llm-fleet-vllm-dashboard", namespace=SELF_HOSTED_NS,
                # Grafana's dashboard sidecar (kube-prometheus-stack) loads ConfigMaps with this label.
                labels={"grafana_dashboard": "1", **PART_OF}),
            data={"llm-fleet-vllm.json": grafana_json},
            opts=self._after_crds(opts))  # the release creates the namespace

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
