"""Kubeconfigs whose user authenticates through a cloud CLI plugin (the plugins themselves: `seam.ExecPlugin`)."""

from __future__ import annotations

import yaml


def exec_kubeconfig(name: str, server: str, ca_data: str, exec_user: dict[str, object]) -> str:
    """A kubeconfig whose user authenticates through a cloud CLI plugin: short-lived tokens, none in state."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"certificate-authority-data": ca_data, "server": server}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                   **exec_user}}}],
    }, sort_keys=False)
