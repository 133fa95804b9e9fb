"""A fleet region's gateway-peers DNS record on EKS: a CNAME to the NLB's DNS name in a Route 53 private zone.

The in-tree controller that serves the Service pins no private address on an NLB (infra/workloads/gateway.py says
where that was checked), so the NLB's DNS name is the stable handle: it lasts as long as the Service. A CNAME rather
than an alias: inside a private zone an alias would gain nothing but a second lookup for the NLB's hosted zone id
(`aws.lb.get_hosted_zone_id`), and the gateway's name is never the zone's apex (`record_name` refuses that), the one
place a CNAME cannot go.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config.peer_dns import PEER_DNS_TTL_S, record_name


@dataclass(frozen=True)
class PeerDnsArgs:
    host: str  # the region's own gateway name in the fleet's `regions` (the record's name)
    zone_id: str  # aws.peerDnsZoneId: an existing Route 53 private hosted zone


def gateway_peers_record(name: str, args: PeerDnsArgs, nlb_name: pulumi.Input[str],
                         opts: pulumi.ResourceOptions) -> aws.route53.Record:
    """The CNAME `host` → `nlb_name` in the zone, refused at `up` in one line when the zone does not hold `host`."""
    zone = aws.route53.get_zone_output(zone_id=args.zone_id, private_zone=True,
                                       opts=pulumi.InvokeOutputOptions(provider=opts.provider, parent=opts.parent))
    return aws.route53.Record(
        f"{name}-gateway-peers-dns", zone_id=args.zone_id, type="CNAME", ttl=PEER_DNS_TTL_S, records=[nlb_name],
        name=zone.name.apply(lambda domain: record_name(args.host, args.zone_id, domain,
                                                        "aws.peerDnsZoneId").rstrip(".")),
        opts=opts)
