"""What the GKE platform is built from (`GkeArgs`), and how the stack's config becomes it (`args_from`)."""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import StackConfig
from infra.config.peer_dns import reserves_peer_address
from infra.platforms.gcp_budget import GcpBudgetArgs
from infra.platforms.gke.compute_classes import COMPUTE_CLASS_LABEL, pool_classes
from infra.platforms.gke.facts import gke_pool_facts, needs_proxy_only_subnet
from infra.platforms.gke.peers import PeerAddressArgs
from infra.platforms.nodes import CloudLabels, NodePoolSpec, node_pool_specs
from infra.platforms.stack import budget_alerts, stack_tags
from infra.seam import PoolFacts


@dataclass(frozen=True)
class GkeArgs:
    project: str
    region: str
    zones: list[str]
    subnet_cidr: str
    pods_cidr: str
    services_cidr: str
    proxy_only_subnet_cidr: str | None  # None: no regional Gateway needs Envoy proxies
    private_nodes: bool
    master_cidr: str
    keda_behind_master_firewall: bool  # private nodes serving with KEDA: the control plane must reach its ports
    release_channel: str | None
    authorized_networks: list[str]
    protect: bool  # stateful resources survive a `pulumi destroy` only on purpose
    immutable_tags: bool
    labels: dict[str, str]  # every GCP resource of the stack carries them (the budget filters on them)
    pools: dict[str, PoolFacts]
    node_pools: tuple[NodePoolSpec, ...]  # the system pool first
    managed_prometheus: bool  # KEDA reads Managed Prometheus (else the cluster services install Prometheus)
    budget: GcpBudgetArgs | None
    ladders: tuple[tuple[str, ...], ...] = ()  # capacity ladders (pool names, preferred first): a ComputeClass each
    # serving.coldStart.preloadImage: the disk image attached to serving GPU nodes as a secondary boot disk
    preload_disk_image: str | None = None
    # A fleet region others fall back to: the gateway-peers load balancer's reserved address (and its DNS record)
    peer_address: PeerAddressArgs | None = None


def args_from(cfg: StackConfig) -> GkeArgs:
    assert cfg.gcp is not None, "validated by config"
    gcp_cfg = cfg.gcp
    networks = cfg.control_plane.authorized_networks
    assert networks is not None, "validated by config"
    facts = gke_pool_facts(cfg)
    alerts, budget = budget_alerts(cfg), None
    if alerts is not None:
        assert gcp_cfg.billing_account is not None, "validated by config"
        budget = GcpBudgetArgs(gcp_cfg.project, gcp_cfg.billing_account, alerts)
    return GkeArgs(
        project=gcp_cfg.project, region=gcp_cfg.region, zones=gcp_cfg.zones, subnet_cidr=gcp_cfg.subnet_cidr,
        pods_cidr=gcp_cfg.pods_cidr, services_cidr=gcp_cfg.services_cidr,
        proxy_only_subnet_cidr=gcp_cfg.proxy_only_subnet_cidr if needs_proxy_only_subnet(cfg) else None,
        private_nodes=gcp_cfg.private_nodes, master_cidr=gcp_cfg.master_cidr,
        keda_behind_master_firewall=gcp_cfg.private_nodes and cfg.serving.mode == "vllm",
        release_channel=gcp_cfg.release_channel, authorized_networks=networks, protect=cfg.profile.protect,
        immutable_tags=cfg.tier != "dev", labels=stack_tags(cfg), pools=facts,
        node_pools=node_pool_specs(cfg, "gke", facts, _class_label(pool_classes(cfg))),
        ladders=cfg.ladders(), managed_prometheus=cfg.serving.monitoring == "platform",
        budget=budget, preload_disk_image=_disk_image(cfg),
        peer_address=_peer_address(cfg),
    )


def _peer_address(cfg: StackConfig) -> PeerAddressArgs | None:
    own = cfg.own_region
    if not reserves_peer_address(cfg) or own is None or cfg.gcp is None:
        return None
    return PeerAddressArgs(host=own.host, dns_zone=cfg.gcp.peer_dns_zone)


def _disk_image(cfg: StackConfig) -> str | None:
    """The preload disk image as GKE's secondaryBootDisks.diskImage wants it: `global/images/<name>` in the stack's
    project (pulumi_gcp 10.2.0 NodePoolNodeConfigSecondaryBootDiskArgs), or the full path as written."""
    preload = cfg.serving.cold_start.preload_image
    if preload is None:
        return None
    image = preload.disk_image
    return image if image.startswith("projects/") else f"global/images/{image}"


def _class_label(classes: dict[str, str]) -> CloudLabels:
    """A rung pool's nodes carry its ComputeClass label (the taint comes with its facts)."""
    return lambda facts: {COMPUTE_CLASS_LABEL: classes[facts.name]} if facts.name in classes else {}
