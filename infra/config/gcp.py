"""GKE: the `gcp` block (with its tier default, the release channel) and the rules that only concern GKE."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra.config.base import ConfigModel, ReleaseChannel
from infra.config.budget import Budget
from infra.config.cloud_regions import GCP_REGIONS, known_region
from infra.config.context import stack_context, with_defaults
from infra.config.networks import ipv4_network, overlap_problems


class Gcp(ConfigModel):
    """GKE (`cloud: gke`): the project, where the cluster runs, and its VPC's ranges (none may overlap)."""

    project: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
    """The GCP project ID the cluster and its resources are created in."""
    region: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+[0-9]$")]
    """The GCP region of the (regional) cluster, e.g. `us-central1`."""
    zones: list[str] = Field(min_length=1)
    """Zones of the region nodes may run in, e.g. `[us-central1-a, us-central1-c]`; GPU pools only use zones
    that sell their machine."""
    billing_account: Annotated[str, Field(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")] | None = None
    """The billing account (`XXXXXX-XXXXXX-XXXXXX`) the budget is attached to; needed whenever there is a budget."""
    private_nodes: bool = True
    """Whether nodes have only private addresses (default true)."""
    release_channel: ReleaseChannel | None = None
    """The GKE release channel: `RAPID`, `REGULAR` or `STABLE`. Default: the tier's (`REGULAR` in dev and
    staging, `STABLE` in prod)."""
    subnet_cidr: str = "10.10.0.0/20"
    """The nodes' subnet range (VPC-native; default 10.10.0.0/20)."""
    pods_cidr: str = "10.16.0.0/14"
    """The pods' secondary range (default 10.16.0.0/14)."""
    services_cidr: str = "10.20.0.0/20"
    """The services' secondary range (default 10.20.0.0/20)."""
    # The source of the control plane's calls to nodes and webhooks.
    master_cidr: str = "172.16.0.0/28"
    """With private nodes: the control plane's range, a private /28 (default 172.16.0.0/28)."""
    # GCP recommends a /23: cloud.google.com/load-balancing/docs/proxy-only-subnets.
    proxy_only_subnet_cidr: str = "10.30.0.0/23"
    """The proxy-only subnet the regional internal Gateway (`gke-l7-rilb`, KubeRay's incremental upgrade) runs
    its Envoy proxies in (default 10.30.0.0/23)."""
    # Here, not in the fleet file's `regions`: the zone is the region's own cloud resource (a name in its project,
    # like its ranges), peers never read it, and a fleet's regions may sit on different clouds.
    peer_dns_zone: Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")] | None = None
    """A fleet region others fall back to: the name of an EXISTING Cloud DNS private managed zone in `project`
    (visible to the peers' networks) where the stack writes the A record `<host of its regions[].gateway>` → its
    gateway-peers load balancer's reserved internal address (TTL 60 s). The record's name must be inside the zone's
    DNS name (checked at `pulumi up`). Unset: the address is still reserved (stack output `gatewayPeersAddress`), and
    the record is yours to make."""

    @model_validator(mode="before")
    @classmethod
    def _tier_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None:
            return data
        return with_defaults(data, {"releaseChannel": context.profile.release_channel})

    @model_validator(mode="after")
    def _zones_in_region(self) -> Gcp:
        for zone in self.zones:
            if not re.fullmatch(rf"{re.escape(self.region)}-[a-z]", zone):
                raise ValueError(f"zones={self.zones}: zone {zone!r} is not a zone of region {self.region!r}; "
                                 f"allowed: zones of {self.region} (e.g. {self.region}-a)")
        return self

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return known_region(value, "GCP", GCP_REGIONS, "us-central1, europe-west4")

    @field_validator("subnet_cidr", "pods_cidr", "services_cidr", "proxy_only_subnet_cidr")
    @classmethod
    def _range(cls, value: str) -> str:
        return ipv4_network(value, "a private IPv4 range with no host bits, e.g. 10.30.0.0/23")

    @field_validator("master_cidr")
    @classmethod
    def _master_range(cls, value: str) -> str:
        # GKE's private control plane takes exactly a /28.
        return ipv4_network(value, "a private /28 such as 172.16.0.0/28", prefixes=(28, 28))


def gke_range_problems(gcp: Gcp) -> list[str]:
    """The VPC's ranges must not overlap: GCP refuses a subnet or cluster whose range collides with another."""
    keys = ("subnet_cidr", "pods_cidr", "services_cidr", "master_cidr", "proxy_only_subnet_cidr")
    return overlap_problems({f"gcp.{to_camel(key)}": getattr(gcp, key) for key in keys})


def gke_budget_problems(gcp: Gcp | None, budget: Budget | None) -> list[str]:
    """A GCP budget hangs off a billing account: a stack with a budget on GKE must name one."""
    if budget is not None and gcp is not None and gcp.billing_account is None:
        return ["gcp.billingAccount: missing; a GCP budget is attached to a billing account "
                "(format XXXXXX-XXXXXX-XXXXXX)"]
    return []
