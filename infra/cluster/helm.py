"""Helm releases of the cluster services: pinned versions, own namespace, on the system pool."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platforms import Platform
from infra.waits import HELM_RELEASE_TIMEOUT_SECONDS


def on_system_pool(platform: Platform) -> dict[str, Any]:
    """Helm values that put a chart's pods where the platform runs cluster services."""
    return {"nodeSelector": dict(platform.system_node_selector)}


def pinned_release(resource_name: str, *, release: str, chart: str, version: str, repo: str, namespace: str,
                   values: dict[str, Any], parent: pulumi.Resource, node_selector: dict[str, str],
                   provider: k8s.Provider | None = None) -> k8s.helm.v3.Release:
    """A chart at the exact version of `artifacts.charts`, installed with its CRDs into its own namespace.

    Its pods run on `node_selector` (the platform's system nodes) unless `values` says otherwise.
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
        values={"nodeSelector": node_selector, **values},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
