"""Cost model: what the configured fleet costs per hour and per day, at its autoscaling minimum
and maximum, per pool, per fee line (control plane, NAT, load balancers, disks: infra/fees.py) and in
total, and what the same GPU workloads cost at the alternatives (infra/alternatives.py).

Owns arithmetic only; prices come from the catalog (or the stack's `pricing:` overrides) and
pool shapes from the platform's pool facts. GPUs are priced at the stack's cloud's list (GKE,
EKS) or, on an existing cluster, at the price list the user names (`existing.priceAs`); CPU
machines at the list of the cloud they belong to. A pool's `commitment` (CUD, Savings Plan, reserved
contract, reservation; infra/commitments.py) bills its nodes at the committed rate whether they run or not.

GPUs come a whole node at a time: each pool reports the GPUs it pays for (nodes x GPUs per
node) beside the GPUs its workloads can use, and says so when they differ (12 A100s on AWS are
two 8-GPU p4d nodes: 16 paid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from infra.alternatives import AlternativeCost, compare
from infra.catalog import HOURS_PER_MONTH, PRICE_LISTS, GpuKind, cpu_machine_price, parse_cpu_machine
from infra.commitments import CommitmentCost, commitment_cost, commitment_note
from infra.config import StackConfig
from infra.config.headroom import headroom_by_pool
from infra.cost_gateway import GatewayCost, gateway_cost
from infra.expected import ExpectedCost, expected_cost
from infra.expected_alternatives import with_expected
from infra.fees import FEES_AS_OF, FeeCost, PoolNodes, fee_notes, stack_fees
from infra.fleet import Fleet, resolve_fleet
from infra.ladder_fill import fill, ladder_max_nodes
from infra.own_rates import cluster_rate, own_provider, own_rate, rate_notes
from infra.providers import ALTERNATIVES_AS_OF, alternative
from infra.seam import PoolFacts
from infra.uncounted import existing_scaling_note, uncounted_notes

HOURS_PER_DAY = 24
__all__ = ["HOURS_PER_DAY", "HOURS_PER_MONTH", "AlternativeCost", "CostReport", "FeeCost", "PoolCost", "fleet_cost"]


@dataclass(frozen=True)
class PoolCost:
    pool: str
    purpose: str
    machine_type: str
    capacity: str
    gpu: GpuKind | None
    gpus_per_node: int
    min_nodes: int
    max_nodes: int
    node_hourly: float
    gpus_used_min: int = 0  # GPUs the workloads placed on this pool request at their minimum
    gpus_used_max: int = 0  # ... and at their maximum
    sold_as: str = ""  # where GPUs are bought by the node: "AWS", "GKE", "this cluster"
    warm_nodes: int = 0  # nodes the workloads' minimum replicas hold, whatever the pool's minNodes says
    commitment: CommitmentCost | None = None  # committed nodes, paid whether they run or not (infra/commitments.py)
    headroom: int = 0  # warmHeadroom: spare nodes placeholder pods hold beyond the warm replicas' (up to maxNodes)
    your_rate: bool = False  # its GPUs are priced at the stack's `pricing:` override, not the list (infra/own_rates.py)
    # A capacity ladder's rung: the most nodes it runs with every model at its maximum (infra/ladder_fill.py
    # ladder_max_nodes); None: maxNodes, as for any pool in no ladder.
    ladder_max: int | None = None

    @property
    def running_max_nodes(self) -> int:
        """The most nodes that run: maxNodes, or, on a ladder's rung, what the ladder's worst case puts there."""
        return self.max_nodes if self.ladder_max is None else self.ladder_max

    @property
    def running_min_nodes(self) -> int:
        """The fewest nodes that run: the pool's minimum, or more when warm replicas (and the spare nodes of its
        warm headroom, on top of theirs) force the autoscaler up; never above maxNodes for the spares."""
        return max(self.min_nodes, self.warm_nodes, min(self.max_nodes, self.warm_nodes + self.headroom))

    @property
    def spare_nodes(self) -> int:
        """Of the running minimum, the nodes only the warm headroom's placeholders hold."""
        return self.running_min_nodes - max(self.min_nodes, self.warm_nodes)

    def hourly_at(self, nodes: int) -> float:
        """The pool's cost per hour with `nodes` running (a commitment is paid whether its nodes run or not)."""
        if self.commitment is not None:
            return self.commitment.hourly(nodes, self.node_hourly)
        return nodes * self.node_hourly

    @property
    def hourly_min(self) -> float:
        return self.hourly_at(self.running_min_nodes)

    @property
    def hourly_max(self) -> float:
        return self.hourly_at(self.running_max_nodes)

    @property
    def spare_hourly(self) -> float:
        """What the warm headroom's spare nodes add to the pool's minimum per hour (0 where a commitment pays them)."""
        return self.hourly_min - self.hourly_at(self.running_min_nodes - self.spare_nodes)

    @property
    def gpus_paid_min(self) -> int:
        committed = self.commitment.nodes if self.commitment else 0  # paid whether they run or not
        return max(self.running_min_nodes, committed) * self.gpus_per_node

    @property
    def gpus_paid_max(self) -> int:
        return self.running_max_nodes * self.gpus_per_node

    @property
    def note(self) -> str | None:
        """Plain words when whole nodes mean paying for GPUs the workloads cannot use."""
        rounded_min = self.gpus_paid_min - self.spare_nodes * self.gpus_per_node  # spare nodes are chosen, not rounding
        if self.gpu is None or (self.gpus_paid_max <= self.gpus_used_max and rounded_min <= self.gpus_used_min):
            return None
        kind = self.gpu.value
        return (f"pool {self.pool}: the workloads use at most {self.gpus_used_max} {kind} GPUs "
                f"(at least {self.gpus_used_min}); {self.sold_as} sells {kind} in nodes of {self.gpus_per_node} "
                f"({self.machine_type}), so you pay for {self.gpus_paid_max} at maximum ({self.running_max_nodes} x "
                f"{self.gpus_per_node}) and {self.gpus_paid_min} at minimum "
                f"({self.gpus_paid_min // self.gpus_per_node} x {self.gpus_per_node})")

    @property
    def ladder_note(self) -> str | None:
        """Plain words when a ladder's rung runs fewer than its maxNodes at the maximum."""
        if self.ladder_max is None or self.ladder_max >= self.max_nodes:
            return None
        return (f"pool {self.pool}: a capacity-ladder rung; with every model at its maximum it runs at most "
                f"{self.ladder_max} of its {self.max_nodes} nodes (the ladder's replicas that the running nodes cannot "
                "hold counted on its dearest rungs first: the most the ladder can cost)")

    @property
    def warm_note(self) -> str | None:
        """Plain words when the models' minimum replicas hold more nodes than the pool's minNodes."""
        if self.warm_nodes <= self.min_nodes:
            return None
        return (f"pool {self.pool}: the models' minimum replicas hold {self.warm_nodes} node(s), above minNodes "
                f"{self.min_nodes}; the minimum cost counts {self.warm_nodes}"
                + (f" plus {self.spare_nodes} warm spare" if self.spare_nodes else ""))


@dataclass(frozen=True)
class CostReport:
    pools: tuple[PoolCost, ...]
    alternatives: tuple[AlternativeCost, ...]
    prices_as_of: str
    prices_source: str
    alternatives_as_of: str
    fees: tuple[FeeCost, ...] = ()  # what the stack creates besides nodes: control plane, NAT, LBs, disks
    fee_notes: tuple[str, ...] = ()  # what those lines leave out
    fees_as_of: str = FEES_AS_OF
    expected: ExpectedCost | None = None  # over a week of the stack's traffic profile (None: no profile)
    gateway: GatewayCost | None = None  # its pods and its paid backends (infra/cost_gateway.py; None: no gateway)

    @property
    def hourly_min(self) -> float:
        return sum(p.hourly_min for p in self.pools) + sum(f.hourly_min for f in self.fees)

    @property
    def hourly_max(self) -> float:
        return sum(p.hourly_max for p in self.pools) + sum(f.hourly_max for f in self.fees)

    @property
    def daily_min(self) -> float:
        return self.hourly_min * HOURS_PER_DAY

    @property
    def daily_max(self) -> float:
        return self.hourly_max * HOURS_PER_DAY

    @property
    def monthly_max(self) -> float:
        return self.hourly_max * HOURS_PER_MONTH

    @property
    def gpu_hourly_min(self) -> float:
        return sum(p.hourly_min for p in self.pools if p.gpu)

    @property
    def gpu_hourly_max(self) -> float:
        return sum(p.hourly_max for p in self.pools if p.gpu)

    @property
    def gpu_daily_expected(self) -> float | None:
        """The GPU pools' average $/day at the traffic profile (what the alternatives' expected column prices)."""
        if self.expected is None:
            return None
        return sum(self.expected.pools_per_week.get(p.pool, 0.0) for p in self.pools if p.gpu) / 7

    @property
    def notes(self) -> tuple[str, ...]:
        committed = (commitment_note(p.pool, p.capacity, p.commitment) for p in self.pools if p.gpu)
        per_pool = (n for p in self.pools for n in (p.warm_note, p.ladder_note, p.note) if n)
        return (*per_pool, *(n for n in committed if n), *self.fee_notes)


def _seller(cfg: StackConfig) -> str:
    """Who sells a pool's nodes: the stack's cloud (its price list says how it is called), else the cluster."""
    return PRICE_LISTS[cfg.cloud].seller if cfg.cloud in PRICE_LISTS else "this cluster"


def price_source(cfg: StackConfig) -> str:
    """The price list GPUs are costed at: the stack's cloud, or the one an existing cluster names."""
    if cfg.cloud in PRICE_LISTS:
        return cfg.cloud
    assert cfg.existing is not None and cfg.existing.price_as is not None, "validated by config"
    return cfg.existing.price_as


def gpu_hour_price(cfg: StackConfig, kind: GpuKind, capacity: str) -> float:
    """USD per GPU-hour for this stack: its `pricing:` override, else its price list's."""
    override = cfg.pricing.get(kind)
    wanted = (override.spot if capacity == "spot" else override.on_demand) if override else None
    if wanted:
        return wanted
    if (stated := cluster_rate(cfg, kind)) is not None:  # an existing cluster: the rate the team pays there
        return stated
    source = price_source(cfg)
    if source in PRICE_LISTS:
        listed = PRICE_LISTS[source].gpu[kind]
        return listed.spot if capacity == "spot" else listed.on_demand
    alt = alternative(source)
    assert alt is not None
    if kind not in alt.per_gpu_hour:  # config refuses this without an on-demand override
        assert override is not None and override.on_demand is not None
        return override.on_demand
    return alt.per_gpu_hour[kind]  # one published price, whatever the capacity type


def _node_hourly(cfg: StackConfig, pool: PoolFacts) -> float:
    if pool.gpu is not None:
        return pool.gpus_per_node * gpu_hour_price(cfg, pool.gpu, pool.capacity)
    machine = parse_cpu_machine(pool.machine_type)
    assert machine is not None, "validated by config"
    return cpu_machine_price(machine, spot=pool.capacity == "spot")


def _commitment(cfg: StackConfig, pool: PoolFacts) -> CommitmentCost | None:
    """The pool's commitment priced against its on-demand GPU price (a reservation's base price too)."""
    declared = cfg.pool(pool.name).commitment if pool.gpu is not None else None  # the system pool has no config
    if declared is None or pool.gpu is None:
        return None
    return commitment_cost(declared.plan, declared.nodes, pool.gpus_per_node,
                           gpu_hour_price(cfg, pool.gpu, "on-demand"), declared.rate, declared.discount)


def gpus_used(fleet: Fleet) -> dict[str, tuple[int, int]]:
    """Per pool, the GPUs its models and training job request at their minimum and their maximum (a capacity
    ladder's replicas fill its rungs in order: infra/ladder_fill.py)."""
    low = fill(fleet.models, {p.name: p.model.replicas.min for p in fleet.models}).gpus
    high = fill(fleet.models, {p.name: p.model.replicas.max for p in fleet.models}).gpus
    used = {pool: (low.get(pool, 0), high.get(pool, 0)) for pool in {**low, **high}}
    if fleet.training is not None:  # a suspended job until someone resumes it
        lo, hi = used.get(fleet.training.pool.name, (0, 0))
        used[fleet.training.pool.name] = (lo, hi + fleet.training.job.gpus)
    return used


def warm_nodes(fleet: Fleet) -> dict[str, int]:
    """Per GPU pool, the nodes its models' minimum replicas occupy (a replica's GPUs sit on one node; a ladder's
    minimum fills its first rungs: infra/ladder_fill.py).

    The autoscaler adds nodes until every warm replica is placed, so these nodes run (and are paid) even when the
    pool's minNodes is lower. Training adds none: the job is suspended until someone resumes it.
    """
    warm = fill(fleet.models, {p.name: p.model.replicas.min for p in fleet.models})
    return {name: warm.nodes(name, fleet.pools[name].gpus_per_node) for name in warm.gpus}


def _at_ladder_max(fleet: Fleet, pools: tuple[PoolCost, ...]) -> tuple[PoolCost, ...]:
    """A ladder's rungs at the ladder's worst case (infra/ladder_fill.py): the nodes and GPUs each runs at most."""
    worst = ladder_max_nodes(fleet.models, {p.pool: p.node_hourly for p in pools},
                             {p.pool: p.running_min_nodes for p in pools})
    training = fleet.training

    def at_max(p: PoolCost) -> PoolCost:
        nodes, gpus = worst[p.pool]
        if training is not None and training.pool.name == p.pool:
            gpus += training.job.gpus
        return replace(p, ladder_max=nodes, gpus_used_max=gpus)

    return tuple(at_max(p) if p.pool in worst else p for p in pools)


def fleet_cost(cfg: StackConfig, fleet: Fleet | Mapping[str, PoolFacts]) -> CostReport:
    """What the fleet costs; given pool facts alone (as tests hold them), places the workloads on them first."""
    if not isinstance(fleet, Fleet):
        fleet = resolve_fleet(cfg, fleet)
    used = gpus_used(fleet)
    held = warm_nodes(fleet)
    headroom = headroom_by_pool(cfg)
    pool_costs = tuple(
        PoolCost(
            pool=p.name, purpose=p.purpose, machine_type=p.machine_type, capacity=p.capacity, gpu=p.gpu,
            gpus_per_node=p.gpus_per_node, min_nodes=p.min_nodes, max_nodes=p.max_nodes,
            node_hourly=_node_hourly(cfg, p), gpus_used_min=used.get(p.name, (0, 0))[0],
            gpus_used_max=used.get(p.name, (0, 0))[1], sold_as=_seller(cfg), warm_nodes=held.get(p.name, 0),
            commitment=_commitment(cfg, p), headroom=headroom.get(p.name, 0),
            your_rate=own_rate(cfg, p.gpu, p.capacity) is not None,
        )
        for p in fleet.pools.values()
    )
    pool_costs = _at_ladder_max(fleet, pool_costs)
    fees = stack_fees(cfg, [PoolNodes(p.pool, p.running_min_nodes, p.running_max_nodes) for p in pool_costs])
    source = price_source(cfg)
    if source in PRICE_LISTS:
        as_of, described = PRICE_LISTS[source].as_of, PRICE_LISTS[source].source
    else:
        alt = alternative(source)
        assert alt is not None
        as_of = alt.as_of  # its oldest figure's date
        described = f"GPUs at {alt.name}'s published prices ({alt.source}); CPU machines at their cloud's list"
    expected = expected_cost(cfg, fleet, {p.pool: p.hourly_at for p in pool_costs})
    gateway = gateway_cost(cfg, fleet.pools, {p.pool: p.node_hourly for p in pool_costs}, expected)
    if gateway is not None and expected is not None:
        # Each day of the profile: the paid backends' expected tokens (the gateway's pods are in the system pool's row).
        extra = gateway.backends_daily_expected
        expected = replace(expected, daily_by_weekday=tuple(d + extra for d in expected.daily_by_weekday))
    # A stack with no GPU workload (every model on a provider) has nothing the alternatives would bill.
    alternatives = () if not any(p.gpu for p in pool_costs) else with_expected(
        own_provider(compare(fleet, cfg.current_rates), cfg, pool_costs), fleet, cfg.current_rates, expected,
        [p.pool for p in pool_costs if p.gpu])
    report = CostReport(pool_costs, alternatives, as_of, described, ALTERNATIVES_AS_OF, fees,
                        (*rate_notes(cfg, pool_costs), *fee_notes(cfg), *uncounted_notes(cfg),
                         *(gateway.notes if gateway is not None else ())), expected=expected, gateway=gateway)
    scaling = existing_scaling_note(cfg, report.daily_min, report.daily_max)  # needs the totals
    return replace(report, fee_notes=(*report.fee_notes, *scaling)) if scaling else report
