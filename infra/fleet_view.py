"""`plan --tier <fleet>`: every region stack of a fleet planned offline, side by side, with the checks across them.

Owns the per-region rows (cost $/day at min and max, GPUs by kind at max, the quota stated, the peers), the totals
(sums of the regions' own plans, nothing recomputed) and the cross-region checks: GPUs per region within its
`gpuQuota`, every region's gateway lists every other region as a peer, artifacts equal (registries aside), and each
region's own guards. Rendering is at the end (text and JSON).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import ConfigError
from infra.config.fleetfile import fleet_file, fleet_regions
from infra.config.peers import comparable, differing, peers_of
from infra.plan import Plan, run_plan


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass" or "fail"
    message: str


@dataclass
class RegionRow:
    stack: str
    location: str  # cloud and region, e.g. "gke us-central1"
    daily_min: float
    daily_max: float
    gpus_max: dict[str, int]  # GPU kind -> GPUs at every pool's maximum
    quota: dict[str, int]
    peers: list[str]  # the regions its gateway falls back to
    guards_ok: bool
    chosen_peers: list[str] = field(default_factory=list)  # those the fleet file says it should (`peers`, or all)


@dataclass
class FleetView:
    fleet: str
    rows: list[RegionRow]
    checks: list[Check] = field(default_factory=list)

    @property
    def daily_min(self) -> float:
        return sum(r.daily_min for r in self.rows)

    @property
    def daily_max(self) -> float:
        return sum(r.daily_max for r in self.rows)

    @property
    def gpus_max(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for row in self.rows:
            total.update(row.gpus_max)
        return dict(sorted(total.items()))

    @property
    def ok(self) -> bool:
        return all(c.status == "pass" for c in self.checks)


def _location(plan: Plan) -> str:
    cfg = plan.cfg
    block = cfg.gcp or cfg.aws
    return f"{cfg.cloud} {block.region}" if block is not None else cfg.cloud


def region_row(plan: Plan) -> RegionRow:
    gpus: Counter[str] = Counter()
    for pool in plan.cfg.node_pools:
        if pool.gpu is not None:
            gpus[pool.gpu.value] += pool.max_gpus
    peers = sorted({f.peer for m in plan.cfg.models for f in m.fallbacks if f.peer is not None})
    own = plan.cfg.own_region
    chosen = sorted(peers_of({"stack": plan.stack, "peers": own.peers if own is not None else None},
                             [r.stack for r in plan.cfg.regions]))
    return RegionRow(stack=plan.stack, location=_location(plan), daily_min=plan.cost.daily_min,
                     daily_max=plan.cost.daily_max, gpus_max=dict(sorted(gpus.items())),
                     quota={k.value: v for k, v in plan.cfg.gpu_quota.items()}, peers=peers, chosen_peers=chosen,
                     guards_ok=plan.ok)


def _checks(rows: list[RegionRow], plans: list[Plan]) -> list[Check]:
    checks = []
    for row in rows:
        over = [f"{kind}: {n} at maximum, quota {row.quota[kind]}" for kind, n in row.gpus_max.items()
                if kind in row.quota and n > row.quota[kind]]
        unstated = [kind for kind in row.gpus_max if kind not in row.quota]
        within = [f"{n} {kind} at maximum, quota {row.quota[kind]}" for kind, n in row.gpus_max.items()
                  if kind in row.quota]
        message = "; ".join(over or within + [f"no quota stated for {kind}" for kind in unstated]) or "no GPUs"
        checks.append(Check(f"gpu-quota {row.stack}", "fail" if over else "pass", message))
        missing = sorted(set(row.chosen_peers) - set(row.peers))
        checks.append(Check(f"peers {row.stack}", "fail" if missing else "pass",
                            f"gateway lacks peer(s) {', '.join(missing)}" if missing
                            else f"gateway falls back to {', '.join(row.peers) or '(no other region: its peers: [])'}"))
        checks.append(Check(f"guards {row.stack}", "pass" if row.guards_ok else "fail",
                            "its own plan passes" if row.guards_ok else
                            f"its own plan fails a guard: python -m infra plan --stack {row.stack}"))
    checks.append(_disjoint(plans))
    artifacts = {p.stack: comparable(p.cfg.artifacts.model_dump(by_alias=True, exclude_none=True)) for p in plans}
    differ = sorted({k for a in artifacts.values() for b in artifacts.values() for k in differing(a, b)})
    checks.append(Check("artifacts-equal", "fail" if differ else "pass",
                        f"differ in {', '.join(differ)}" if differ else "every region pins the same artifacts "
                        "(registries aside)"))
    return checks


def _ranges(plan: Plan) -> list[str]:
    gcp, aws = plan.cfg.gcp, plan.cfg.aws
    if gcp is not None:
        return [gcp.subnet_cidr, gcp.pods_cidr, gcp.services_cidr, gcp.master_cidr, gcp.proxy_only_subnet_cidr]
    return [aws.vpc_cidr] if aws is not None else []


def _disjoint(plans: list[Plan]) -> Check:
    """Connected networks must not overlap (VPC peering refuses overlapping subnets; routes would be ambiguous)."""
    clashes = []
    for i, a in enumerate(plans):
        for b in plans[i + 1:]:
            clashes += [f"{a.stack} {x} overlaps {b.stack} {y}" for x in _ranges(a) for y in _ranges(b)
                        if ipaddress.ip_network(x).overlaps(ipaddress.ip_network(y))]
    return Check("networks-disjoint", "fail" if clashes else "pass",
                 "; ".join(clashes) if clashes else "no two regions' ranges overlap (they can be connected)")


def plan_fleet(fleet: str, root: Path) -> FleetView:
    """Plan every region stack of `Fleet.<fleet>.yaml`. Raises ConfigError (a missing fleet, a region's config)."""
    if not fleet_file(fleet, root).is_file():
        known = sorted(p.name for p in root.glob("Fleet.*.yaml"))
        raise ConfigError([f"stack error: --tier {fleet!r}: no file Fleet.{fleet}.yaml in {root.resolve()}; fleets "
                           f"here: {', '.join(known) or 'none'}"])
    stacks = [str(r.get("stack")) for r in fleet_regions(fleet, root)]
    plans = [run_plan(stack, root) for stack in stacks]
    rows = [region_row(p) for p in plans]
    return FleetView(fleet, rows, _checks(rows, plans))


def _gpus(gpus: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in gpus.items()) or "-"


def print_fleet(view: FleetView) -> None:
    header = (f"{'region':<12} {'where':<22} {'$/day min':>11} {'$/day max':>11}  {'GPUs at max':<16} "
              f"{'quota':<16} peers")
    print(f"fleet {view.fleet}: {len(view.rows)} regions")
    print(header)
    for r in view.rows:
        print(f"{r.stack:<12} {r.location:<22} {r.daily_min:>11,.2f} {r.daily_max:>11,.2f}  {_gpus(r.gpus_max):<16} "
              f"{_gpus(r.quota):<16} {', '.join(r.peers) or '-'}")
    print(f"{'total':<12} {'':<22} {view.daily_min:>11,.2f} {view.daily_max:>11,.2f}  {_gpus(view.gpus_max):<16}")
    print("checks across regions:")
    for c in view.checks:
        print(f"  {c.status.upper():<4} {c.name}: {c.message}")


def fleet_json(view: FleetView) -> dict[str, Any]:
    return {"fleet": view.fleet, "ok": view.ok,
            "regions": [{"stack": r.stack, "where": r.location, "costPerDay": {"min": round(r.daily_min, 2),
                         "max": round(r.daily_max, 2)}, "gpusAtMax": r.gpus_max, "gpuQuota": r.quota,
                         "peers": r.peers, "guardsOk": r.guards_ok} for r in view.rows],
            "total": {"costPerDay": {"min": round(view.daily_min, 2), "max": round(view.daily_max, 2)},
                      "gpusAtMax": view.gpus_max},
            "checks": [{"name": c.name, "status": c.status, "message": c.message} for c in view.checks]}
