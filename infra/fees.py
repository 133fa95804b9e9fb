"""Every cost the stack creates besides its nodes: cluster fee, NAT, load balancers, disks; each labelled.

Owns the rates (list prices with source and date) and which of them a stack incurs, from its config and its node
counts. Traffic-priced parts (NAT and load balancer data processing, egress) depend on traffic the plan cannot
know: they are left out and a note says so. An existing cluster's own fees are not this stack's: only what the
stack adds there is counted, and what the plan cannot price there is named in a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.catalog import HOURS_PER_MONTH
from infra.config import StackConfig
from infra.platforms.nodes import SYSTEM_DISK_GB

FEES_AS_OF = "2026-11-29"
# The managed control plane, per cluster-hour. EKS: standard support (extended support is $0.60/h),
# aws.amazon.com/eks/pricing. GKE: the cluster management fee; the free tier's monthly credit covers one ZONAL or
# Autopilot cluster per billing account, and this stack's cluster is regional, so it pays
# (cloud.google.com/kubernetes-engine/pricing). Both read 2026-11-29 as quoted by Olshansk/free-tier-gke and
# murphye/cheap-gke-cluster ($74.40/month per control plane).
CONTROL_PLANE_HOURLY = {"eks": 0.10, "gke": 0.10}
# AWS NAT gateway, us-east-1: $0.045 per gateway-hour, $0.045/GB processed (aws.amazon.com/vpc/pricing, as quoted
# by basavytix.com/blog/aws-nat-gateway-pricing, 2026).
AWS_NAT_GATEWAY_HOURLY = 0.045
NAT_DATA_PER_GB = 0.045  # both clouds; not counted (traffic)
# Each NAT gateway holds one Elastic IP (infra/platforms/eks/network.py), and AWS bills every public IPv4 address
# $0.005/h, in use or idle, since 2024-02-01 (aws.amazon.com/vpc/pricing "Public IPv4 Address" tab, as announced on
# aws.amazon.com/blogs/networking-and-content-delivery/identify-and-optimize-public-ipv4-address-usage-on-aws;
# read 2026-11-30 through that post and the third-party themsaid.com/aws-to-charge-for-public-ipv4-addresses).
AWS_PUBLIC_IPV4_HOURLY = 0.005
# Cloud NAT: $0.0014 per VM-hour up to 32 VMs, $0.044/h beyond; $0.005/h per external IP it uses
# (cloud.google.com/nat/pricing, read 2026-11-29).
CLOUD_NAT_PER_VM_HOURLY, CLOUD_NAT_VM_CAP, CLOUD_NAT_CAPPED_HOURLY, CLOUD_NAT_IP_HOURLY = 0.0014, 32, 0.044, 0.005
# A load balancer's hourly part. GCP: a forwarding rule, $0.025/h for the first five
# (cloud.google.com/load-balancing/pricing, read 2026-11-29). AWS: a Network Load Balancer, $0.0225/h plus LCUs
# (aws.amazon.com/elasticloadbalancing/pricing, us-east-1; not confirmed by search on 2026-11-29).
LOAD_BALANCER_HOURLY = {"gke": 0.025, "eks": 0.0225}
# Block storage per GB-month, us-central1 / us-east-1: pd-balanced (node boot disks) $0.10, pd-ssd (checkpoints)
# $0.17 (cloud.google.com/compute/disks-image-pricing; not confirmed by search on 2026-11-29); EBS gp3 $0.08
# (aws.amazon.com/ebs/pricing, as quoted by cloudbolt.io's EBS pricing guide, 2025).
BOOT_DISK_GB_MONTH = {"gke": 0.10, "eks": 0.08}
CHECKPOINT_DISK_GB_MONTH = {"gke": 0.17, "eks": 0.08}


@dataclass(frozen=True)
class FeeCost:
    """One cost line that is not a node: what it is, and USD per hour at the fleet's minimum and maximum."""

    label: str
    hourly_min: float
    hourly_max: float
    basis: str  # how it is computed, in plain words

    @property
    def daily_min(self) -> float:
        return self.hourly_min * 24

    @property
    def daily_max(self) -> float:
        return self.hourly_max * 24


@dataclass(frozen=True)
class PoolNodes:
    pool: str
    min_nodes: int  # the nodes that run at the minimum (warm replicas included)
    max_nodes: int


def _cloud_nat(nodes: int) -> float:
    per_vms = CLOUD_NAT_CAPPED_HOURLY if nodes > CLOUD_NAT_VM_CAP else nodes * CLOUD_NAT_PER_VM_HOURLY
    return per_vms + CLOUD_NAT_IP_HOURLY


def stack_fees(cfg: StackConfig, pools: Sequence[PoolNodes]) -> tuple[FeeCost, ...]:
    """The non-node costs this stack creates on its cloud."""
    cloud = cfg.cloud
    if cloud not in CONTROL_PLANE_HOURLY:
        return ()
    fees = [FeeCost("EKS control plane" if cloud == "eks" else "GKE cluster fee",
                    CONTROL_PLANE_HOURLY[cloud], CONTROL_PLANE_HOURLY[cloud],
                    f"1 x ${CONTROL_PLANE_HOURLY[cloud]:.2f}/h")]
    low, high = sum(p.min_nodes for p in pools), sum(p.max_nodes for p in pools)
    if cloud == "eks":
        nats = len(cfg.aws.zones) if cfg.aws and cfg.aws.nat_gateway_per_zone else 1
        hourly = nats * AWS_NAT_GATEWAY_HOURLY
        fees.append(FeeCost("NAT gateways", hourly, hourly, f"{nats} x ${AWS_NAT_GATEWAY_HOURLY}/h"))
        ips = nats * AWS_PUBLIC_IPV4_HOURLY  # the gateways' Elastic IPs; the nodes sit in private subnets
        fees.append(FeeCost("NAT public IPv4", ips, ips, f"{nats} x ${AWS_PUBLIC_IPV4_HOURLY}/h"))
    elif cfg.gcp is not None and cfg.gcp.private_nodes:
        fees.append(FeeCost("Cloud NAT", _cloud_nat(low), _cloud_nat(high),
                            f"${CLOUD_NAT_PER_VM_HOURLY}/node-h + IP"))
    balancers = len(cfg.models) if cfg.serving.mode == "vllm" and cfg.serving.expose == "internal-load-balancer" else 0
    # A fleet region's gateway has one more, for its peers (infra/workloads/gateway.py).
    balancers += 1 if cfg.serving.gateway is not None and cfg.peer_networks() and cloud in ("gke", "eks") else 0
    if balancers:
        hourly = balancers * LOAD_BALANCER_HOURLY[cloud]
        fees.append(FeeCost("internal LBs", hourly, hourly, f"{balancers} x ${LOAD_BALANCER_HOURLY[cloud]}/h"))
    upgrades_through_gateway = cfg.profile.ray_upgrade == "NewClusterWithIncrementalUpgrade"
    if cloud == "gke" and cfg.serving.mode == "kuberay" and upgrades_through_gateway:
        fees.append(FeeCost("Gateway (KubeRay)", LOAD_BALANCER_HOURLY[cloud],
                            LOAD_BALANCER_HOURLY[cloud], f"1 x ${LOAD_BALANCER_HOURLY[cloud]}/h"))
    rate = BOOT_DISK_GB_MONTH[cloud] / HOURS_PER_MONTH

    def disk_gb(pool: str) -> int:
        return SYSTEM_DISK_GB if pool == "system" else cfg.pool(pool).disk_size_gb

    fees.append(FeeCost("boot disks", sum(p.min_nodes * disk_gb(p.pool) for p in pools) * rate,
                        sum(p.max_nodes * disk_gb(p.pool) for p in pools) * rate,
                        f"${BOOT_DISK_GB_MONTH[cloud]:.2f}/GB-month"))
    if cfg.training is not None and cfg.training.checkpoint_bucket is None:
        gb = cfg.training.checkpoint_volume_gb
        hourly = gb * CHECKPOINT_DISK_GB_MONTH[cloud] / HOURS_PER_MONTH
        fees.append(FeeCost("checkpoint disk", hourly, hourly,
                            f"{gb} GB x ${CHECKPOINT_DISK_GB_MONTH[cloud]:.2f}/GB-mo"))
    return tuple(fees)


def fee_notes(cfg: StackConfig) -> tuple[str, ...]:
    """What the fee lines leave out, in plain words."""
    if cfg.cloud not in CONTROL_PLANE_HOURLY:
        left = ["the cluster's own fees"]
        if cfg.serving.expose == "internal-load-balancer":
            left.append("the internal load balancers")
        if cfg.training is not None and cfg.training.checkpoint_bucket is None:
            left.append(f"the {cfg.training.checkpoint_volume_gb} GB checkpoint volume")
        listed = left[0] if len(left) == 1 else f"{', '.join(left[:-1])} and {left[-1]}"
        return (f"cost: on an existing cluster {listed} are priced by its provider, not here",)
    return (f"cost: traffic is not counted (NAT data processing ${NAT_DATA_PER_GB}/GB, load balancer data, egress, "
            "bucket storage)",)
