"""The EKS platform's network: a VPC with a private subnet per zone (nodes, internal load balancers) and a small
public one per zone (NAT gateways, tagged for public load balancers we never create).

A plain function that creates resources as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.platforms.eks.args import EksArgs
from infra.platforms.eks.facts import subnet_cidrs


def eks_network(name: str, args: EksArgs, cluster_name: str,
                child: pulumi.ResourceOptions) -> dict[str, aws.ec2.Subnet]:
    """The VPC; returns the private (node) subnet of each zone."""
    zones = args.zones
    private_cidrs, public_cidrs = subnet_cidrs(args.vpc_cidr, len(zones))
    vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_hostnames=True,
                      enable_dns_support=True, opts=child)
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
    public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, routes=[
        aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)], opts=child)
    owned = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
    public: list[aws.ec2.Subnet] = []
    private: dict[str, aws.ec2.Subnet] = {}
    for zone, cidr in zip(zones, public_cidrs, strict=True):
        subnet = aws.ec2.Subnet(
            f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=zone,
            tags={**owned, "kubernetes.io/role/elb": "1", "Name": f"{cluster_name}-public-{zone}"}, opts=child)
        aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_rt.id,
                                      opts=child)
        public.append(subnet)
    # Nodes are private: NAT lets them pull images and weights. One per zone survives a zone outage.
    nats = []
    for zone, subnet in list(zip(zones, public, strict=True))[:len(zones) if args.nat_gateway_per_zone else 1]:
        eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=child)
        nats.append(aws.ec2.NatGateway(f"{name}-nat-{zone}", allocation_id=eip.id, subnet_id=subnet.id,
                                       opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                           depends_on=[igw]))))
    for i, (zone, cidr) in enumerate(zip(zones, private_cidrs, strict=True)):
        subnet = aws.ec2.Subnet(
            f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=zone,
            tags={**owned, "kubernetes.io/role/internal-elb": "1", "Name": f"{cluster_name}-private-{zone}"},
            opts=child)
        rt = aws.ec2.RouteTable(f"{name}-private-rt-{zone}", vpc_id=vpc.id, routes=[
            aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % len(nats)].id)],
            opts=child)
        aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=rt.id,
                                      opts=child)
        private[zone] = subnet
    return private
