"""EKS: the `aws` block and the rules that only concern a stack on EKS."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra.config.artifacts import Charts
from infra.config.base import ConfigModel
from infra.config.budget import Budget
from infra.config.cloud_regions import AWS_REGIONS, known_region
from infra.config.networks import ipv4_network


class Aws(ConfigModel):
    """EKS: where the cluster runs and how its network is laid out."""

    # Commercial partition only: ARNs here are arn:aws:… (GovCloud and China use arn:aws-us-gov / arn:aws-cn).
    region: str
    """A commercial AWS region, e.g. `us-east-1` (GovCloud and China are not supported)."""
    # EKS requires subnets in two zones, and GPU capacity is found in whichever has it.
    zones: list[str] = Field(min_length=2, max_length=6)
    """Two to six zones of the region, e.g. `[us-east-1a, us-east-1b]`."""
    vpc_cidr: str = "10.40.0.0/16"
    """The VPC's range, a /16../20 (default 10.40.0.0/16): a private /19 per zone (for /16), small public
    subnets (NAT, load balancers)."""
    nat_gateway_per_zone: bool = False
    """One NAT gateway per zone (survives a zone outage) instead of one shared (costs less); default false."""
    cluster_version: Annotated[str, Field(pattern=r"^1\.[0-9]{2}$")] = "1.33"
    """The EKS Kubernetes version, `1.NN` (default 1.33)."""
    # Private, versioned, encrypted; serving pods read it through their service account's role.
    weights_bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None
    """The S3 bucket model weights are read from. Default: a name Pulumi derives,
    `llm-fleet-<stack, lowercased, at most 18 chars>-weights-<suffix>` (S3 names are global)."""
    # In the region's file, not the fleet's `regions`: the zone is the region's own AWS resource; peers never read it.
    peer_dns_zone_id: Annotated[str, Field(pattern=r"^Z[A-Z0-9]{1,31}$")] | None = None
    """A fleet region others fall back to: the id (`Z…`) of an EXISTING Route 53 private hosted zone (associated with
    the peers' networks) where the stack writes the CNAME `<host of its regions[].gateway>` → its gateway-peers NLB's
    DNS name (TTL 60 s; the in-tree controller pins no private address, so the NLB's name is the stable handle). The
    record's name must be below the zone's name (checked at `pulumi up`). Unset: the record is yours to make."""
    # The only cluster-admins: the creator gets no lasting entry (bootstrapClusterCreatorAdminPermissions false), so
    # the identity that runs `pulumi up` must be listed, or nothing after the cluster itself could be deployed.
    admins: list[Annotated[str, Field(pattern=r"^arn:aws:iam::[0-9]{12}:(role|user)/\S+$")]] = Field(
        default=[], validate_default=True)
    """IAM role or user ARNs given cluster-admin through EKS access entries, and the only ones: list the deploy role
    that runs `pulumi up` (CI) and the operators' role. At least one."""

    @field_validator("admins")
    @classmethod
    def _named_admins(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("empty; the cluster's creator keeps no admin rights, so nobody could deploy to it; "
                             "allowed: IAM role/user ARNs; list the deploy role that runs `pulumi up`, e.g. "
                             "[arn:aws:iam::123456789012:role/llm-fleet-deploy]")
        return value

    @field_validator("region")
    @classmethod
    def _commercial_region(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z]{2}-[a-z]+-[0-9]", value) or value.startswith(("cn-", "us-gov-")):
            raise ValueError("allowed: a commercial AWS region such as us-east-1; GovCloud and China need other "
                             "ARNs, not supported")
        return known_region(value, "AWS", AWS_REGIONS, "us-east-1, eu-west-1")

    @model_validator(mode="after")
    def _network(self) -> Aws:
        for zone in self.zones:
            if not re.fullmatch(rf"{re.escape(self.region)}[a-z]", zone):
                raise ValueError(f"zones={self.zones}: zone {zone!r} is not a zone of region {self.region!r}; "
                                 f"allowed: zones of {self.region} (e.g. {self.region}a)")
        return self

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_range(cls, value: str) -> str:
        # A /16../20: each zone gets a private /+3 and small public subnets.
        return ipv4_network(value, "an IPv4 /16../20 network with no host bits, e.g. 10.40.0.0/16", prefixes=(16, 20))


def check_eks_pool(max_nodes: int, reservation: str | None) -> None:
    """What an EKS managed node group needs of a pool; ValueError (one finished sentence) if it is not so."""
    if max_nodes < 1:
        raise ValueError(f"maxNodes={max_nodes}: an EKS managed node group needs maxNodes >= 1; "
                         "remove the pool instead")
    if reservation is not None and not re.fullmatch(r"cr-[0-9a-f]{8,17}", reservation):
        raise ValueError(f"reservation={reservation!r} is not an EC2 capacity reservation id "
                         "(cr-0123456789abcdef0)")


# Versions known to work together (EKS 1.33), named in errors so a missing pin is one copy-paste away.
CHART_VERSION_EXAMPLES = {"cluster_autoscaler": "9.50.1", "nvidia_device_plugin": "0.17.4", "dcgm_exporter": "4.6.0",
                          "metrics_server": "3.13.0"}
AWS_BUDGET_NOTIFICATIONS = 10  # AWS Budgets: at most 10 notifications per budget


def eks_problems(charts: Charts, budget: Budget | None) -> list[str]:
    """What a stack on EKS needs beyond the `aws` block: the EKS-only charts pinned, a budget AWS can hold."""
    problems: list[str] = []
    for key in ("cluster_autoscaler", "nvidia_device_plugin", "dcgm_exporter", "metrics_server"):
        if getattr(charts, key) is None:
            problems.append(f"artifacts.charts.{to_camel(key)}: missing; cloud 'eks' installs this chart at the "
                            f"pinned version, e.g. {to_camel(key)}: {CHART_VERSION_EXAMPLES[key]}")
    if budget is not None and len(budget.thresholds) + len(budget.forecast_thresholds) > AWS_BUDGET_NOTIFICATIONS:
        problems.append(
            f"budget.thresholds = {budget.thresholds}: with budget.forecastThresholds = "
            f"{budget.forecast_thresholds} that is {len(budget.thresholds) + len(budget.forecast_thresholds)} "
            f"notifications; allowed: at most {AWS_BUDGET_NOTIFICATIONS} per AWS budget, both lists together")
    if budget is not None and budget.currency != "USD":
        problems.append(f"budget.currency = {budget.currency!r}: AWS Budgets track cost in USD; allowed: 'USD'")
    return problems
