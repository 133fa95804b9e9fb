"""The Pulumi program itself: config → fleet → guards → platform → cluster services → workloads → exports.

`infra/__main__.py` (under `pulumi up`) and `infra/plan.py` (under Pulumi's mock engine) both
call `run`, so there is exactly one resource-building code path.
"""

from __future__ import annotations

import pulumi

from infra.cluster import build_cluster_services
from infra.config import StackConfig
from infra.cost import fleet_cost
from infra.fleet import resolve_fleet
from infra.guards import run_guards
from infra.guards.base import StackPlan, Verdict
from infra.platforms import build_platform, platform_notes
from infra.workloads import build_workloads


class GuardError(pulumi.RunError):
    def __init__(self, failures: list[Verdict]) -> None:
        self.failures = failures
        super().__init__("\n".join(f"guard {v.guard} failed: {v.message}" for v in failures))


def stack_plan(cfg: StackConfig) -> StackPlan:
    fleet = resolve_fleet(cfg)
    return StackPlan(cfg=cfg, pools=fleet.pools, cost=fleet_cost(cfg, fleet), resolved=fleet)


def run(cfg: StackConfig, *, enforce_guards: bool = True) -> list[Verdict]:
    """Declare every resource of the stack. With enforce_guards, a failing guard stops it first."""
    plan = stack_plan(cfg)
    verdicts = run_guards(plan)
    if enforce_guards:
        failures = [v for v in verdicts if v.status == "fail"]
        if failures:
            raise GuardError(failures)
        for v in verdicts:
            if v.status == "warn":
                pulumi.log.warn(f"guard {v.guard}: {v.message}")
        # What the user must know before paying: budgets that cannot exist here, GPUs bought by the node.
        # (The offline plan prints these in its report.)
        for note in (*platform_notes(cfg), *plan.cost.notes):
            pulumi.log.warn(note)

    platform = build_platform(cfg)
    services = build_cluster_services(cfg, plan.fleet, platform)
    workloads = build_workloads(cfg, plan.fleet, platform, services)

    pulumi.export("tier", cfg.tier)
    pulumi.export("cloud", cfg.cloud)
    for key, value in platform.exports.items():
        if value is not None:
            pulumi.export(key, value)
    pulumi.export("pools", {
        p.name: {"purpose": p.purpose, "machineType": p.machine_type, "gpu": p.gpu.value if p.gpu else None,
                 "gpusPerNode": p.gpus_per_node, "minNodes": p.min_nodes, "maxNodes": p.max_nodes,
                 "nodeSelector": p.node_selector}
        for p in platform.pools.values()
    })
    pulumi.export("modelUrls", workloads.model_urls)
    if workloads.gateway_url is not None:
        pulumi.export("gatewayUrl", workloads.gateway_url)
    if workloads.gateway_peers_address is not None:
        # What the region's gateway name in the fleet's `regions` must resolve to (a private DNS record).
        pulumi.export("gatewayPeersAddress", workloads.gateway_peers_address)
    if workloads.api_key is not None:  # a secret output: `pulumi stack output modelApiKey --show-secrets`
        pulumi.export("modelApiKey", workloads.api_key)
    pulumi.export("costPerDay", {"min": round(plan.cost.daily_min, 2), "max": round(plan.cost.daily_max, 2),
                                 "currency": "USD"})
    return verdicts
