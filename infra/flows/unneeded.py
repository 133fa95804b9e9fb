"""Paths open that no one needs: a cluster API endpoint reachable from any address the config did not ask for, a
LoadBalancer Service without the cloud's internal annotation."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from infra.config import ANY_ADDRESS, StackConfig
from infra.flows.model import OpenPath
from infra.flows.rendered import is_internal_load_balancer, k8s_objects, namespace_of, of_type
from infra.planned import PlannedResource


def _open_to_all(cidrs: Iterable[str]) -> bool:
    return any(ipaddress.IPv4Network(c, strict=False).prefixlen == 0 for c in cidrs)


def open_paths(cfg: StackConfig, resources: Sequence[PlannedResource]) -> list[OpenPath]:
    """Public endpoints: the cluster API open to any address, public LoadBalancers."""
    found: list[OpenPath] = []
    asked = cfg.control_plane.authorized_networks
    asked_open = asked is not None and _open_to_all(asked) and cfg.tier != "prod"
    fix = ("set controlPlane.authorizedNetworks to the CI runners' and VPN's CIDRs (GitHub-hosted runners have no "
           "fixed range: use self-hosted or static-IP runners)")
    for r in of_type(resources, "gcp:container/cluster:Cluster"):
        config = r.inputs.get("masterAuthorizedNetworksConfig")
        if (r.inputs.get("privateClusterConfig") or {}).get("enablePrivateEndpoint"):
            continue
        blocks = [b.get("cidrBlock", "") for b in (config or {}).get("cidrBlocks") or []]
        if config is None or _open_to_all(blocks) or (config or {}).get("gcpPublicCidrsAccessEnabled"):
            found.append(_endpoint(r, "no masterAuthorizedNetworksConfig" if config is None else
                                   f"masterAuthorizedNetworksConfig admits {blocks or 'Google Cloud addresses'}",
                                   asked_open, fix))
    for r in of_type(resources, "aws:eks/cluster:Cluster"):
        vpc = r.inputs.get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess", True):
            cidrs = vpc.get("publicAccessCidrs") or [ANY_ADDRESS]  # the EKS API's default
            if _open_to_all(cidrs):
                found.append(_endpoint(r, f"endpointPublicAccess with publicAccessCidrs {cidrs}", asked_open, fix))
    for r in k8s_objects(resources, "Service"):
        spec, meta = r.inputs.get("spec") or {}, r.inputs.get("metadata") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        if not is_internal_load_balancer(meta.get("annotations")):
            found.append(OpenPath("fail", f"Service {namespace_of(r)}/{meta.get('name')} is a LoadBalancer without the "
                                          "cloud's internal annotation: a public address nobody needs; fix: "
                                          "serving.expose: internal-load-balancer (the platform's annotations)"))
    return found


def _endpoint(r: PlannedResource, what: str, asked_open: bool, fix: str) -> OpenPath:
    if asked_open:
        return OpenPath("pass", f"cluster {r.inputs.get('name', r.name)} API endpoint is open to any address, as "
                                "controlPlane.authorizedNetworks asks (not prod)")
    return OpenPath("fail", f"cluster {r.inputs.get('name', r.name)}: the API endpoint is open to any address "
                            f"({what}); fix: {fix}")
