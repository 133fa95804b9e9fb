"""Cluster features the rendered objects rely on: NetworkPolicies need an enforcing dataplane, and an
autoscaler on resource metrics (CPU, memory) needs a metrics API provider on the platform.

Both read the declared resources (the cluster, its add-ons and Helm releases), so a stack that
drops the setting or the release fails the plan and the policy pack, not the first scale-up.
"""

from __future__ import annotations

import json
from typing import Any

from infra.guards.base import StackPlan, Verdict
from infra.planned import PlannedResource

GKE_CLUSTER = "gcp:container/cluster:Cluster"
EKS_ADDON = "aws:eks/addon:Addon"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# GKE Dataplane V2 (ADVANCED_DATAPATH) enforces NetworkPolicy with Cilium; the legacy dataplane does not by default.
GKE_ENFORCING_DATAPATH = "ADVANCED_DATAPATH"
# The HPA reads these metric types from metrics.k8s.io; KEDA's cpu/memory triggers become Resource metrics too.
RESOURCE_METRIC_TYPES = {"Resource", "ContainerResource"}
RESOURCE_TRIGGERS = {"cpu", "memory"}
# GKE runs metrics-server itself (kubernetes-sigs/metrics-server#190, maintainer: "GKE has metrics-server
# installed out of the box"); EKS does not (EKS user guide, "View resource usage with the Kubernetes Metrics Server").
BUILT_IN_METRICS_API = {"gke"}


def _of_kind(plan: StackPlan, kind: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.is_kubernetes_object and r.inputs.get("kind") == kind]


def _of_type(plan: StackPlan, type_: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type == type_]


def _addon_config(addon: PlannedResource) -> dict[str, Any]:
    raw = addon.inputs.get("configurationValues")
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def network_policies_are_enforced(plan: StackPlan) -> Verdict:
    """A stack that renders NetworkPolicies runs on a cluster whose dataplane enforces them."""
    name = "network-policies-are-enforced"
    policies = _of_kind(plan, "NetworkPolicy")
    if not policies:
        return Verdict(name, "pass", "no NetworkPolicy in this stack")
    cloud = plan.cfg.cloud
    count = f"{len(policies)} NetworkPolicies"
    if cloud == "gke":
        clusters = _of_type(plan, GKE_CLUSTER)
        lax = [c.name for c in clusters if c.inputs.get("datapathProvider") != GKE_ENFORCING_DATAPATH]
        if not clusters or lax:
            where = f"GKE cluster {', '.join(lax)}" if lax else "no GKE cluster declared"
            return Verdict(name, "fail", f"{where}: datapathProvider is not {GKE_ENFORCING_DATAPATH}, so the {count} "
                                         "are not enforced; set datapath_provider=\"ADVANCED_DATAPATH\" (Dataplane V2)")
        return Verdict(name, "pass", f"{count} enforced by GKE Dataplane V2")
    if cloud == "eks":
        cnis = [a for a in _of_type(plan, EKS_ADDON) if a.inputs.get("addonName") == "vpc-cni"]
        # The EKS user guide spells the value as the string "true".
        if not cnis or any(_addon_config(a).get("enableNetworkPolicy") != "true" for a in cnis):
            where = f"EKS add-on {cnis[0].name}" if cnis else "no vpc-cni EKS add-on declared"
            return Verdict(name, "fail", f"{where}: configurationValues lack enableNetworkPolicy \"true\", so the "
                                         f"{count} are not enforced; set configuration_values="
                                         "'{\"enableNetworkPolicy\": \"true\"}' on the vpc-cni add-on")
        return Verdict(name, "pass", f"{count} enforced by the VPC CNI's network policy agent")
    return Verdict(name, "pass", f"{count} rendered; enforcement depends on the existing cluster's CNI (see the notes)")


def _resource_metric_scalers(plan: StackPlan) -> list[str]:
    """Autoscalers that read metrics.k8s.io: HPAs on Resource metrics, ScaledObjects with cpu/memory triggers."""
    found = []
    for r in _of_kind(plan, "HorizontalPodAutoscaler"):
        if any(m.get("type") in RESOURCE_METRIC_TYPES for m in r.inputs.get("spec", {}).get("metrics") or []):
            meta = r.inputs.get("metadata", {})
            found.append(f"HorizontalPodAutoscaler {meta.get('namespace', '')}/{meta.get('name', r.name)}")
    for r in _of_kind(plan, "ScaledObject"):
        if any(t.get("type") in RESOURCE_TRIGGERS for t in r.inputs.get("spec", {}).get("triggers") or []):
            meta = r.inputs.get("metadata", {})
            found.append(f"ScaledObject {meta.get('namespace', '')}/{meta.get('name', r.name)}")
    return found


def _metrics_api_provider(plan: StackPlan) -> str | None:
    if plan.cfg.cloud in BUILT_IN_METRICS_API:
        return "GKE's own metrics-server"
    for r in _of_type(plan, HELM_RELEASE):
        if r.inputs.get("chart") == "metrics-server":
            return f"Helm release {r.name} (metrics-server {r.inputs.get('version')})"
    for r in _of_type(plan, EKS_ADDON):
        if r.inputs.get("addonName") == "metrics-server":
            return f"EKS add-on {r.name}"
    return None


def resource_metrics_have_a_provider(plan: StackPlan) -> Verdict:
    """An autoscaler on CPU/memory only scales when something serves metrics.k8s.io on the cluster."""
    name = "resource-metrics-have-a-provider"
    scalers = _resource_metric_scalers(plan)
    if not scalers:
        return Verdict(name, "pass", "no autoscaler reads resource metrics")
    provider = _metrics_api_provider(plan)
    if provider is not None:
        return Verdict(name, "pass", f"{len(scalers)} autoscaler(s) on resource metrics, served by {provider}")
    if plan.cfg.cloud == "existing":
        return Verdict(name, "pass", f"{len(scalers)} autoscaler(s) on resource metrics; the existing cluster must "
                                     "serve metrics.k8s.io (see the notes)")
    return Verdict(name, "fail", f"{', '.join(scalers)}: scale(s) on resource metrics but nothing on "
                                 f"{plan.cfg.cloud} serves metrics.k8s.io, so it never scales; install "
                                 "metrics-server (artifacts.charts.metricsServer on EKS)")
