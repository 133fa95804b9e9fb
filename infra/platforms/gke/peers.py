"""A fleet region's gateway-peers address on GKE: a reserved internal address the Service pins, and its DNS record.

Without a reservation the internal load balancer takes whatever address is free in the subnet, and a recreated
Service takes another: the peers' DNS record would go stale. So the platform reserves one (a regional INTERNAL
`compute.Address` in the node subnet, the subnet an internal passthrough NLB takes its address from), protected in
prod like the cluster, and hands it to the gateway, which pins it (`spec.loadBalancerIP`, infra/workloads/gateway.py).
With `gcp.peerDnsZone` it also writes the A record `<host of regions[].gateway>` → that address in the zone.

Purpose GCE_ENDPOINT: one forwarding rule (TCP 443) uses the address; SHARED_LOADBALANCER_VIP is for an address
several internal load balancers share, and only GCE_ENDPOINT/DNS_RESOLVER take a `subnetwork` (pulumi-gcp 10.2.0,
compute/address.py, `purpose` and `subnetwork`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.config.peer_dns import PEER_DNS_TTL_S, record_name


@dataclass(frozen=True)
class PeerAddressArgs:
    host: str  # the region's own gateway name in the fleet's `regions` (the record's name)
    dns_zone: str | None  # gcp.peerDnsZone: an existing Cloud DNS private zone in the project; None: no record


def gateway_peers_address(name: str, project: str, region: str, subnet: gcp.compute.Subnetwork,
                          args: PeerAddressArgs, opts: pulumi.ResourceOptions,
                          stateful: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """Reserve the address (with `stateful`'s protection: the peers' DNS points at it) and, given a zone, write the
    record; returns the address."""
    address = gcp.compute.Address(
        f"{name}-gateway-peers", project=project, region=region, subnetwork=subnet.id, address_type="INTERNAL",
        purpose="GCE_ENDPOINT", description="llm-fleet: the gateway-peers internal load balancer (its peers' DNS)",
        opts=stateful)
    if args.dns_zone is not None:
        zone = gcp.dns.get_managed_zone_output(name=args.dns_zone, project=project)
        gcp.dns.RecordSet(
            f"{name}-gateway-peers-dns", project=project, managed_zone=args.dns_zone, type="A", ttl=PEER_DNS_TTL_S,
            # Refused at `up`, in one line, when the zone does not hold the gateway's name.
            name=zone.dns_name.apply(lambda domain: record_name(args.host, args.dns_zone or "", domain)),
            rrdatas=[address.address], opts=opts)
    return address.address
