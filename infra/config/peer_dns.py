"""A fleet region's gateway-peers load balancer: whether the stack has one, and the rules of its DNS record.

The load balancer (infra/workloads/gateway.py) exists on a managed cloud when other regions fall back to this one.
Its DNS record goes in an existing private zone the region's stack file names (`gcp.peerDnsZone`: an A record on
the reserved address; `aws.peerDnsZoneId`: a CNAME to the NLB's DNS name). The record's name is the host of the
region's own `regions[].gateway`, which must lie below the zone's DNS name. Only the cloud knows a zone's DNS name,
so that is checked at `pulumi up` (`record_name`), on the zone the stack looks up.
"""

from __future__ import annotations

from infra.config.base import NAMESPACE
from infra.config.stack import StackConfig

# Peers cache the answer this long. Short: a record that changes (EKS: a recreated Service's new NLB name; GKE: the
# address re-reserved on purpose) reaches every peer within a minute, and lookups in a private zone cost too little
# to be worth saving.
PEER_DNS_TTL_S = 60
PEER_LB_CLOUDS = ("gke", "eks")  # where the gateway-peers Service is known to be internal (gateway.py)


def has_peer_load_balancer(cfg: StackConfig) -> bool:
    """Whether the stack builds the gateway-peers load balancer: a fleet region on GKE/EKS that others fall back to
    (the same conditions as InferenceGateway: a gateway, its certificate, the callers' ranges)."""
    return (cfg.cloud in PEER_LB_CLOUDS and cfg.serving.gateway is not None and bool(cfg.declared_models)
            and cfg.has_peers and cfg.own_region is not None and bool(cfg.peer_networks()))


def reserves_peer_address(cfg: StackConfig) -> bool:
    """Whether the stack reserves the gateway-peers address (GKE): on every fleet region, whether or not a peer falls
    back to it now. The address is protected in prod, so one declared only while a peer uses it would make the next
    `up` after a change to the fleet file's `peers` try to delete a protected resource, which Pulumi refuses
    (pulumi.com/docs/iac/concepts/options/protect): that region could not be previewed or updated until
    `pulumi state unprotect`. A reserved internal address nothing uses costs nothing and keeps the peers' record."""
    return cfg.cloud == "gke" and cfg.own_region is not None


def peer_dns_zone(cfg: StackConfig) -> str | None:
    """The private zone the region's record goes in (GKE: a Cloud DNS managed zone's name; EKS: a Route 53 private
    hosted zone's id), or None."""
    if cfg.gcp is not None:
        return cfg.gcp.peer_dns_zone
    return cfg.aws.peer_dns_zone_id if cfg.aws is not None else None


def peer_dns_key(cfg: StackConfig) -> str:
    return "aws.peerDnsZoneId" if cfg.aws is not None else "gcp.peerDnsZone"


def peer_dns_problems(cfg: StackConfig) -> list[str]:
    """The zone on a stack outside a fleet: no region ever calls its gateway. (A fleet region nobody falls back to at
    the moment keeps it: the fleet file's `peers` may change, and then the record is written; the plan says so.)"""
    zone = peer_dns_zone(cfg)
    if zone is None or cfg.fleet is not None:
        return []
    return [f"{peer_dns_key(cfg)}: {zone!r} is set, but this stack is not a region of a fleet (no "
            f"{NAMESPACE}:fleet), so no peer calls its gateway; allowed: only on a fleet's region stack; drop it"]


def record_name(host: str, zone: str, zone_dns_name: str | None, key: str = "gcp.peerDnsZone") -> str:
    """The record's fully qualified name (`host.`), refused in one line when it lies outside the zone's DNS name.
    `zone_dns_name` None: not known (the offline plan does not ask the cloud), so not checked."""
    fqdn = f"{host.rstrip('.')}."
    if zone_dns_name is None:
        return fqdn
    domain = zone_dns_name.rstrip(".").lower()
    if not fqdn.lower().endswith(f".{domain}."):
        raise ValueError(f"{key}: zone {zone!r} holds {domain}, but the region's gateway name {host} (its "
                         f"regions[].gateway) is not below it; allowed: a zone whose DNS name contains the gateway's "
                         "name; name another zone, or rename the gateway in the fleet file")
    return fqdn
