"""What the EKS platform is built from (`EksArgs`), and how the stack's config becomes it (`args_from`)."""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import StackConfig
from infra.config.peer_dns import has_peer_load_balancer
from infra.platforms.aws_budget import AwsBudgetArgs
from infra.platforms.eks.facts import ecr_repositories, eks_cloud_labels, eks_notes, eks_pool_facts
from infra.platforms.eks.peers import PeerDnsArgs
from infra.platforms.nodes import NodePoolSpec, node_pool_specs
from infra.platforms.stack import budget_alerts, stack_tags
from infra.seam import PoolFacts


@dataclass(frozen=True)
class EksCharts:
    """Pinned chart versions of the add-ons EKS lacks (node autoscaling, resource metrics, GPU daemons)."""

    cluster_autoscaler: str
    metrics_server: str
    nvidia_device_plugin: str
    dcgm_exporter: str


@dataclass(frozen=True)
class EksArgs:
    region: str
    zones: list[str]
    vpc_cidr: str
    nat_gateway_per_zone: bool
    cluster_version: str
    admins: list[str]  # IAM principals given cluster-admin, the deploy role among them
    authorized_networks: list[str]  # who reaches the public API endpoint ([]: no public endpoint)
    weights_bucket: str | None  # None: a name derived from the stack
    protect: bool  # stateful resources survive a `pulumi destroy` only on purpose
    disposable_images: bool  # dev: mutable tags, repositories deleted with the stack
    tags: dict[str, str]  # every AWS resource of the stack carries them (the budget filters on them)
    images: tuple[str, ...]  # one ECR repository each
    charts: EksCharts
    pools: dict[str, PoolFacts]
    node_groups: tuple[NodePoolSpec, ...]  # the system pool first
    notes: tuple[str, ...]
    budget: AwsBudgetArgs | None
    ladders: tuple[tuple[str, ...], ...] = ()  # capacity ladders, rungs in priority order: the autoscaler's order
    peer_dns: PeerDnsArgs | None = None  # aws.peerDnsZoneId on a region others fall back to: its gateway's CNAME


def args_from(cfg: StackConfig) -> EksArgs:
    assert cfg.aws is not None, "validated by config"
    aws_cfg, charts = cfg.aws, cfg.artifacts.charts
    networks = cfg.control_plane.authorized_networks
    assert networks is not None, "validated by config"
    assert (charts.cluster_autoscaler is not None and charts.metrics_server is not None
            and charts.nvidia_device_plugin is not None and charts.dcgm_exporter is not None), "validated by config"
    facts, alerts = eks_pool_facts(cfg), budget_alerts(cfg)
    return EksArgs(
        region=aws_cfg.region, zones=aws_cfg.zones, vpc_cidr=aws_cfg.vpc_cidr,
        nat_gateway_per_zone=aws_cfg.nat_gateway_per_zone, cluster_version=aws_cfg.cluster_version,
        admins=aws_cfg.admins, authorized_networks=networks, weights_bucket=aws_cfg.weights_bucket,
        protect=cfg.profile.protect, disposable_images=cfg.tier == "dev", tags=stack_tags(cfg),
        images=tuple(ecr_repositories(cfg).values()),
        charts=EksCharts(charts.cluster_autoscaler, charts.metrics_server, charts.nvidia_device_plugin,
                         charts.dcgm_exporter),
        pools=facts, node_groups=node_pool_specs(cfg, "eks", facts, eks_cloud_labels), notes=eks_notes(cfg),
        budget=AwsBudgetArgs(alerts) if alerts is not None else None,
        ladders=cfg.ladders(), peer_dns=_peer_dns(cfg),
    )


def _peer_dns(cfg: StackConfig) -> PeerDnsArgs | None:
    own, zone = cfg.own_region, cfg.aws.peer_dns_zone_id if cfg.aws is not None else None
    if zone is None or own is None or not has_peer_load_balancer(cfg):
        return None
    return PeerDnsArgs(host=own.host, zone_id=zone)
