"""Cost model: what the configured fleet costs per hour and per day, at its autoscaling minimum
and maximum, per pool and in total, and what the same GPU-hours cost on the alternatives.

Owns arithmetic only; prices come from the catalog (or the stack's `pricing:` overrides) and
pool shapes from the platform's pool facts. Reservations are billed at on-demand rates unless a
committed-use discount applies: put that discount into `pricing:`.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import (
    ALTERNATIVES,
    ALTERNATIVES_AS_OF,
    GKE_GPU_PRICES,
    PRICES_AS_OF,
    PRICES_SOURCE,
    GpuKind,
    cpu_machine_price,
    parse_cpu_machine,
)
from infra.config import StackConfig
from infra.platforms import PoolFacts

HOURS_PER_DAY = 24
HOURS_PER_MONTH = 730  # the billing convention: 8,760 hours / 12


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

    @property
    def hourly_min(self) -> float:
        return self.min_nodes * self.node_hourly

    @property
    def hourly_max(self) -> float:
        return self.max_nodes * self.node_hourly


@dataclass(frozen=True)
class AlternativeCost:
    name: str
    source: str
    hourly_min: float
    hourly_max: float
    not_offered: tuple[GpuKind, ...]  # GPU kinds of this fleet the alternative does not sell


@dataclass(frozen=True)
class CostReport:
    pools: tuple[PoolCost, ...]
    alternatives: tuple[AlternativeCost, ...]
    prices_as_of: str
    prices_source: str
    alternatives_as_of: str

    @property
    def hourly_min(self) -> float:
        return sum(p.hourly_min for p in self.pools)

    @property
    def hourly_max(self) -> float:
        return sum(p.hourly_max for p in self.pools)

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


def gpu_hour_price(cfg: StackConfig, kind: GpuKind, capacity: str) -> float:
    """USD per GPU-hour for this stack: its `pricing:` override, else the catalog list price."""
    listed = GKE_GPU_PRICES[kind]
    override = cfg.pricing.get(kind)
    if capacity == "spot":
        return (override.spot if override and override.spot else None) or listed.spot
    return (override.on_demand if override and override.on_demand else None) or listed.on_demand


def _node_hourly(cfg: StackConfig, pool: PoolFacts) -> float:
    if pool.gpu is not None:
        return pool.gpus_per_node * gpu_hour_price(cfg, pool.gpu, pool.capacity)
    machine = parse_cpu_machine(pool.machine_type)
    assert machine is not None, "validated by config"
    return cpu_machine_price(machine, spot=pool.capacity == "spot")


def fleet_cost(cfg: StackConfig, pools: dict[str, PoolFacts]) -> CostReport:
    pool_costs = tuple(
        PoolCost(
            pool=p.name, purpose=p.purpose, machine_type=p.machine_type, capacity=p.capacity, gpu=p.gpu,
            gpus_per_node=p.gpus_per_node, min_nodes=p.min_nodes, max_nodes=p.max_nodes,
            node_hourly=_node_hourly(cfg, p),
        )
        for p in pools.values()
    )
    gpu_pools = [p for p in pool_costs if p.gpu]
    alternatives = []
    for alt in ALTERNATIVES:
        def price(p: PoolCost, alt=alt) -> float:
            return p.gpus_per_node * alt.per_gpu_hour.get(p.gpu, 0.0)  # type: ignore[arg-type]

        alternatives.append(AlternativeCost(
            name=alt.name,
            source=alt.source,
            hourly_min=sum(price(p) * p.min_nodes for p in gpu_pools),
            hourly_max=sum(price(p) * p.max_nodes for p in gpu_pools),
            not_offered=tuple(sorted({p.gpu for p in gpu_pools if p.gpu not in alt.per_gpu_hour})),  # type: ignore[misc]
        ))
    return CostReport(pool_costs, tuple(alternatives), PRICES_AS_OF, PRICES_SOURCE, ALTERNATIVES_AS_OF)
