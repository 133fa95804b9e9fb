"""Helm releases with pinned versions, in their own namespace, on the system pool: the cluster services' charts and
the platforms' add-ons (EKS: cluster-autoscaler, device plugin, DCGM, metrics-server) alike."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.waits import HELM_RELEASE_TIMEOUT_SECONDS

# Where each chart we install takes the node selector of its pods, as paths into its values. A chart ignores a
# key it does not have, so a guessed key pins nothing: every path here was read in the chart's values.yaml at the
# pinned version (vendored under tests/data/charts/, which tests/test_contract_monitoring.py checks against).
NODE_SELECTOR_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    # keda 2.20.2: operator, metrics server and webhooks fall back to the top-level nodeSelector
    # (kedacore/charts keda/templates/{manager,metrics-server,webhooks}/deployment.yaml).
    "keda": (("nodeSelector",),),
    "kuberay-operator": (("nodeSelector",),),  # kuberay helm-chart/kuberay-operator/templates/deployment.yaml
    "cluster-autoscaler": (("nodeSelector",),),
    "nvidia-device-plugin": (("nodeSelector",),),
    "dcgm-exporter": (("nodeSelector",),),
    "metrics-server": (("nodeSelector",),),  # kubernetes-sigs/metrics-server charts/metrics-server/values.yaml
    # kube-prometheus-stack 79.4.1 has no top-level nodeSelector: each component (and each subchart) has its own.
    # node-exporter is left out on purpose: it is a DaemonSet that belongs on every node.
    "kube-prometheus-stack": (
        ("prometheusOperator", "nodeSelector"),
        ("prometheusOperator", "admissionWebhooks", "deployment", "nodeSelector"),
        ("prometheusOperator", "admissionWebhooks", "patch", "nodeSelector"),  # the cert-patching Job
        ("prometheus", "prometheusSpec", "nodeSelector"),
        ("alertmanager", "alertmanagerSpec", "nodeSelector"),
        ("kube-state-metrics", "nodeSelector"),  # subchart kube-state-metrics 6.4.1
        ("grafana", "nodeSelector"),  # subchart grafana 10.1.4
    ),
}


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def placement_values(chart: str, node_selector: dict[str, str]) -> dict[str, Any]:
    """Helm values that put every pod of `chart` on nodes matching `node_selector`, in the chart's own keys."""
    if chart not in NODE_SELECTOR_PATHS:
        raise ValueError(f"chart {chart!r}: where it takes a node selector is not known; read its values.yaml at the "
                         "pinned version and add its keys to NODE_SELECTOR_PATHS (infra/helm.py)")
    values: dict[str, Any] = {}
    for path in NODE_SELECTOR_PATHS[chart]:
        node = values
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = dict(node_selector)
    return values


def pinned_release(resource_name: str, *, release: str, chart: str, version: str, repo: str, namespace: str,
                   values: dict[str, Any], parent: pulumi.Resource, node_selector: dict[str, str],
                   provider: k8s.Provider | None = None) -> k8s.helm.v3.Release:
    """A chart at the exact version of `artifacts.charts`, installed with its CRDs into its own namespace.

    Its pods run on `node_selector` (the platform's system nodes), set in the keys this chart reads
    (NODE_SELECTOR_PATHS), unless `values` says otherwise.
    """
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
        namespace=namespace,
        create_namespace=True,
        skip_crds=False,
        # Helm waits for the chart's pods; on an autoscaled system pool they may wait for a new node first.
        timeout=HELM_RELEASE_TIMEOUT_SECONDS,
        values=_deep_merge(placement_values(chart, node_selector), values),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
