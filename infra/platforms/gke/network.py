"""The GKE platform's project APIs and network: the VPC, the node subnet with its pod and service ranges, the
proxy-only subnet a regional Gateway needs, the control plane's firewall rule to KEDA, and Cloud NAT.

Plain functions that create resources as children of the `GkePlatform` component (their URNs stay its).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.names import KEDA_METRICS_SERVER_PORT, KEDA_WEBHOOK_PORT
from infra.platforms.gke.args import GkeArgs
from infra.platforms.gke.facts import APIS, node_tag


@dataclass(frozen=True)
class GkeNetwork:
    apis: list[gcp.projects.Service]
    after_apis: pulumi.ResourceOptions  # children that call an API wait for it
    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    proxy_cidrs: tuple[str, ...]  # where a regional Gateway's proxies send traffic from (none: no such Gateway)


def project_apis(name: str, args: GkeArgs, parent: pulumi.Resource) -> list[gcp.projects.Service]:
    child = pulumi.ResourceOptions(parent=parent)
    return [
        gcp.projects.Service(f"{name}-api-{api.split('.')[0]}", project=args.project, service=api,
                             disable_on_destroy=False, opts=child)
        for api in APIS
    ]


def gke_network(name: str, args: GkeArgs, parent: pulumi.Resource) -> GkeNetwork:
    child = pulumi.ResourceOptions(parent=parent)
    apis = project_apis(name, args, parent)
    after_apis = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=apis))

    network = gcp.compute.Network(f"{name}-vpc", project=args.project, auto_create_subnetworks=False,
                                  opts=after_apis)
    subnet = gcp.compute.Subnetwork(
        f"{name}-nodes",
        project=args.project,
        region=args.region,
        network=network.id,
        ip_cidr_range=args.subnet_cidr,
        private_ip_google_access=True,
        secondary_ip_ranges=[
            gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="pods", ip_cidr_range=args.pods_cidr),
            gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="services", ip_cidr_range=args.services_cidr),
        ],
        opts=child,
    )
    proxy_cidrs: tuple[str, ...] = ()
    if args.proxy_only_subnet_cidr is not None:
        # The regional internal Gateway's Envoy proxies take their addresses here; without it the Gateway never
        # programs and KubeRay's incremental upgrade stalls with both clusters up. GKE's gkegw1-l7-* firewall
        # rule admits this range to the backends (cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules).
        gcp.compute.Subnetwork(
            f"{name}-proxy-only", project=args.project, region=args.region, network=network.id,
            ip_cidr_range=args.proxy_only_subnet_cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE",
            opts=child)
        proxy_cidrs = (args.proxy_only_subnet_cidr,)
    if args.keda_behind_master_firewall:
        # KEDA serves the HPA's external metrics on 6443 and its admission webhooks on 9443; GKE's master rule
        # opens only 443/10250 (github.com/kedacore/keda-docs content/troubleshooting/proxy-network.md, "GKE").
        gcp.compute.Firewall(
            f"{name}-master-to-keda", project=args.project, network=network.id, direction="INGRESS",
            description="GKE control plane -> KEDA metrics server (6443) and admission webhooks (9443)",
            source_ranges=[args.master_cidr],
            allows=[gcp.compute.FirewallAllowArgs(
                protocol="tcp", ports=[str(KEDA_METRICS_SERVER_PORT), str(KEDA_WEBHOOK_PORT)])],
            target_tags=[node_tag(pulumi.get_stack())], opts=after_apis)
    if args.private_nodes:
        # Private nodes have no external IPs: Cloud NAT lets them pull images and weights.
        router = gcp.compute.Router(f"{name}-router", project=args.project, region=args.region,
                                    network=network.id, opts=child)
        gcp.compute.RouterNat(
            f"{name}-nat", project=args.project, region=args.region, router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            # Static allocation gives each VM 64 ports: 64 connections at once from a node to one provider address,
            # too few when a region fails over to a provider with streams lasting minutes (deploy review). Dynamic
            # allocation grows a busy node's share (pulumi-gcp 10.2 RouterNat: powers of two, min >= 32; exclusive
            # with endpoint-independent mapping), and exhausted ports are logged.
            enable_dynamic_port_allocation=True, enable_endpoint_independent_mapping=False,
            min_ports_per_vm=64, max_ports_per_vm=4096,
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"), opts=child,
        )
    return GkeNetwork(apis, after_apis, network, subnet, proxy_cidrs)
