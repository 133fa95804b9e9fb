"""Helm releases of the cluster services: pinned versions, own namespace, on the system pool."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.platforms import POOL_LABEL

ON_SYSTEM_POOL = {"nodeSelector": {POOL_LABEL: "system"}}


def pinned_release(resource_name: str, *, release: str, chart: str, version: str, repo: str, namespace: str,
                   values: dict[str, Any], parent: pulumi.Resource) -> k8s.helm.v3.Release:
    """A chart at the exact version of `artifacts.charts`, installed with its CRDs into its own namespace."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
        namespace=namespace,
        create_namespace=True,
        skip_crds=False,
        values={**ON_SYSTEM_POOL, **values},
        opts=pulumi.ResourceOptions(parent=parent),
    )
