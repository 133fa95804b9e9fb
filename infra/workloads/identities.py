"""Workload service accounts: every pod runs as one of its own, bound to the cloud identity it asked for.

A workload that touches a bucket asks the Platform for an identity with exactly that access
(`Platform.workload_identity`); the platform answers with the service account's annotations and
the grants to wait for. A workload that touches none still gets an account of its own, never
`default`, with no API token unless it calls the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s

from infra.names import PART_OF
from infra.seam import IdentityRequest, WorkloadIdentity

# The platform's `workload_identity`: a cloud identity with exactly the bucket access a request asks for.
IdentityFactory = Callable[[IdentityRequest], WorkloadIdentity]


def workload_service_account(resource_name: str, *, name: str, namespace: pulumi.Input[str],
                             workload_identity: IdentityFactory, parent: pulumi.Resource,
                             request: IdentityRequest | None = None, automount: bool = False,
                             ) -> k8s.core.v1.ServiceAccount:
    """A service account `name` in `namespace`, bound to the identity `request` asks for (None: no cloud identity).

    No API token by default: these pods never call the Kubernetes API (IRSA injects its own projected token).
    """
    identity = workload_identity(request) if request is not None else None
    annotations = identity.annotations if identity is not None else {}
    grants = list(identity.grants) if identity is not None else []
    return k8s.core.v1.ServiceAccount(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=PART_OF,
                                            annotations=annotations or None),
        automount_service_account_token=automount,
        # Pods start once their grants exist, instead of failing their first bucket read.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=grants))
