"""Default-deny: every namespace the stack creates starts with no traffic in or out; each workload then opens only
what it needs (its ingress policy next to it, its egress from infra/egress.py).

Namespaces the stack's Helm charts create (keda, kuberay-system, monitoring, nvidia-device-plugin,
nvidia-dcgm-exporter; `create_namespace`, infra/helm.py) get none: their pods, ports and callers are the charts'
(operators calling the API server, webhooks the API server calls, node-exporter on the host network), set by
chart values we do not render here, and a deny we cannot prove complete would break the autoscaler or the
webhooks silently. The flow guard names them (infra/guards/flows.py).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.names import PART_OF

DEFAULT_DENY = "default-deny"


def default_deny_spec() -> dict[str, Any]:
    """Every pod of the namespace, both directions, no rule: nothing in, nothing out."""
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def default_deny(resource_name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
                 ) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        resource_name, metadata=k8s.meta.v1.ObjectMetaArgs(name=DEFAULT_DENY, namespace=namespace, labels=PART_OF),
        spec=default_deny_spec(), opts=opts)
