"""Expected cost: what the fleet costs in a typical week of the stack's traffic profile (`traffic:`), beside the
minimum and maximum of infra/cost.py.

Owns the walk through one week in 15-minute steps: in each, every model runs its peak or off-peak replicas
(`serving.workingHours` scales models to their minimum outside working hours, and holds at least one replica
up inside them, as the KEDA cron trigger does); each GPU pool runs the whole nodes those replicas need (a capacity
ladder's fill its rungs in order: infra/ladder_fill.py), plus its warm headroom's spare nodes (its minNodes the
floor, its maxNodes the ceiling); pools without models run their minimum, as the minimum cost
counts them, unless the profile says how they vary: `traffic.training` (the job's hours per day or week; without
it a suspended job holds no node and a running one, `training.suspend: false`, holds its GPUs all week) and
`traffic.rollout` (workers at peak and off-peak; their pool runs the nodes their CPU and memory need); fees follow
the node counts. The week is Monday 2026-01-05, so daylight saving moves nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.catalog import HOURS_PER_MONTH
from infra.config import StackConfig, WorkingHours
from infra.config.headroom import headroom_by_pool
from infra.config.traffic import rollout_workers
from infra.fees import PoolNodes, stack_fees
from infra.fleet import Fleet
from infra.ladder_fill import fill
from infra.tokens import TokenCost, token_cost
from infra.workloads.scheduling import DAEMONSET_CPU, DAEMONSET_MEMORY_GIB

STEP_MINUTES = 15
STEPS_PER_DAY = 24 * 60 // STEP_MINUTES
MINUTES_PER_WEEK = 7 * 24 * 60
REFERENCE_MONDAY = (2026, 1, 5)
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


@dataclass(frozen=True)
class ModelLoad:
    name: str
    pool: str
    replica_hours_per_week: float
    gpu_hours_per_week: float
    cost_per_week: float  # USD: the model's GPU-hour share of its pool's expected cost


@dataclass(frozen=True)
class ExpectedCost:
    daily_by_weekday: tuple[float, ...]  # USD, Monday..Sunday in the profile's time zone
    pools_per_week: Mapping[str, float]  # USD per pool in a week (fees not included)
    models: tuple[ModelLoad, ...]
    tokens: tuple[TokenCost, ...]
    # Hours in the week of each load the walk met: (replicas per model, in fleet.models order; training running).
    # The alternatives' expected cost bills each provider its way at these loads (infra/expected_alternatives.py).
    loads: Mapping[tuple[tuple[int, ...], bool], float] = field(default_factory=dict)
    leaves_out: tuple[str, ...] = ()  # what counts at its pool's minimum for want of a profile (plain words)

    @property
    def per_week(self) -> float:
        return sum(self.daily_by_weekday)

    @property
    def weekday_daily(self) -> float:
        return sum(self.daily_by_weekday[:5]) / 5

    @property
    def weekend_daily(self) -> float:
        return sum(self.daily_by_weekday[5:]) / 2

    @property
    def daily(self) -> float:
        return self.per_week / 7

    @property
    def hourly(self) -> float:
        return self.per_week / (7 * 24)

    @property
    def monthly(self) -> float:
        return self.hourly * HOURS_PER_MONTH


def _cron_values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.lower().split(","):
        for name, number in _DAY_NAMES.items():
            part = part.replace(name, str(number))
        base, _, step = part.partition("/")
        first, _, last = base.partition("-")
        start, end = (low, high) if base == "*" else (int(first), int(last or first))
        values.update(range(start, end + 1, int(step or 1)))
    return values


def _cron_minutes(expression: str) -> list[int]:
    """Minutes after Monday 00:00 at which a 5-field cron expression fires in a week (day of month ignored)."""
    minute, hour, _, _, dow = expression.split()
    days = {(d - 1) % 7 for d in _cron_values(dow, 0, 6)}  # cron: 0 and 7 are Sunday; Python: Monday is 0
    return [d * 1440 + h * 60 + m for d in days for h in _cron_values(hour, 0, 23) for m in _cron_values(minute, 0, 59)]


def _working(hours: WorkingHours) -> tuple[ZoneInfo, list[int], list[int]]:
    return ZoneInfo(hours.timezone), _cron_minutes(hours.start), _cron_minutes(hours.end)


def _since(now: int, events: list[int]) -> int:
    return min(((now - e) % MINUTES_PER_WEEK for e in events), default=MINUTES_PER_WEEK + 1)


def _is_peak(cfg: StackConfig, day: int, minute: int) -> bool:
    assert cfg.traffic is not None
    start, end = cfg.traffic.peak_minutes
    days = {("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(d) for d in cfg.traffic.peak_days}
    if end > start:
        return day in days and start <= minute < end
    return (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end)


def _training_duty(cfg: StackConfig, fleet: Fleet) -> float:
    """The share of the week the training job holds its GPUs: `traffic.training`, else all week if it runs
    (`training.suspend: false`), else none (a suspended job holds no node)."""
    if fleet.training is None:
        return 0.0
    if cfg.traffic is not None and cfg.traffic.training is not None:
        return cfg.traffic.training.duty
    return 0.0 if fleet.training.job.suspend else 1.0


def rollout_nodes(cfg: StackConfig, fleet: Fleet, workers: int) -> int:
    """Nodes of the rollout pool `workers` workers need: each asks `cpuPerWorker` and `memoryGibPerWorker`, and a
    node gives what is allocatable after the DaemonSets (infra/workloads/scheduling.py)."""
    pool, rollout = fleet.rollout_pool, cfg.rollout
    assert pool is not None and rollout is not None
    per_node = min(math.floor((pool.allocatable_cpu - DAEMONSET_CPU) / rollout.cpu_per_worker),
                   math.floor((pool.allocatable_memory_gib - DAEMONSET_MEMORY_GIB) / rollout.memory_gib_per_worker))
    return math.ceil(workers / max(1, per_node))


def leaves_out(cfg: StackConfig, fleet: Fleet) -> tuple[str, ...]:
    """What the expected walk counts at its pool's minimum because the profile does not say how it varies."""
    traffic = cfg.traffic
    out = []
    if fleet.training is not None and (traffic is None or traffic.training is None):
        out.append("training as `training.suspend` says (" + ("no node: suspended" if fleet.training.job.suspend
                                                               else "running all week") + "; set traffic.training)")
    if fleet.rollout_pool is not None and (traffic is None or traffic.rollout is None):
        out.append("rollout workers at their pool's minimum (set traffic.rollout)")
    return tuple(out)


def expected_cost(cfg: StackConfig, fleet: Fleet,
                  pool_hourly: Mapping[str, Callable[[int], float]]) -> ExpectedCost | None:
    """The fleet's cost over a week of its traffic profile; None without one. `pool_hourly[pool](nodes)`: what the
    pool costs per hour with that many nodes running (its commitment included)."""
    traffic = cfg.traffic
    if traffic is None:
        return None
    zone = ZoneInfo(traffic.timezone)
    try:
        working = _working(cfg.serving.working_hours) if cfg.serving.working_hours else None
    except (ValueError, ZoneInfoNotFoundError):
        working = None  # a cron syntax this walk does not read (e.g. `L`, `?`): counted as always up, the dearer side
    monday = datetime(*REFERENCE_MONDAY, tzinfo=zone)
    training = fleet.training
    # The training job runs this share of the week, at no particular hour: each step is counted both ways, weighted.
    duty = _training_duty(cfg, fleet)
    branches = [(running, weight) for running, weight in ((True, duty), (False, 1 - duty)) if weight > 0]
    rollout = (fleet.rollout_pool.name, *rollout_workers(traffic, cfg.rollout.replicas.min, cfg.rollout.replicas.max)) \
        if traffic.rollout is not None and fleet.rollout_pool is not None and cfg.rollout is not None else None
    hours = STEP_MINUTES / 60
    daily = [0.0] * 7
    pools = dict.fromkeys(fleet.pools, 0.0)
    gpu_hours: dict[str, float] = {m.name: 0.0 for m in fleet.models}
    replica_hours: dict[str, float] = dict(gpu_hours)
    rung_gpu_hours = {(p.name, r.name): 0.0 for p in fleet.models for r in p.rungs}  # a ladder's, per rung
    loads: dict[tuple[tuple[int, ...], bool], float] = {}
    fee_cache: dict[tuple[int, ...], float] = {}
    spare = headroom_by_pool(cfg)
    for step in range(7 * STEPS_PER_DAY):
        day, minute = divmod(step * STEP_MINUTES, 1440)
        peak = _is_peak(cfg, day, minute)
        up = True
        if working is not None:
            here = (monday + timedelta(minutes=step * STEP_MINUTES)).astimezone(working[0])
            now = here.weekday() * 1440 + here.hour * 60 + here.minute
            up = _since(now, working[1]) < _since(now, working[2])
        running: dict[str, int] = {}
        for placement in fleet.models:
            model = placement.model
            at_peak, off_peak = traffic.replicas(model.name, model.replicas.min, model.replicas.max)
            replicas = at_peak if peak else off_peak
            if working is not None:  # KEDA's cron trigger: at least one replica inside working hours, min outside
                replicas = max(replicas, 1, model.replicas.min) if up else model.replicas.min
            running[model.name] = replicas
            replica_hours[model.name] += replicas * hours
            gpu_hours[model.name] += replicas * model.tensor_parallel_size * hours
        # Each model's pool, or its ladder's rungs in order (infra/ladder_fill.py); whole replicas per node.
        placed = fill(fleet.models, running)
        for placement in fleet.models:
            for rung in placement.rungs:
                on_rung = placed.replicas.get((placement.name, rung.name), 0)
                rung_gpu_hours[(placement.name, rung.name)] += on_rung * placement.model.tensor_parallel_size * hours
        whole = dict(placed.whole)
        if rollout is not None:
            workers = rollout[1] if peak else rollout[2]
            whole[rollout[0]] = max(whole.get(rollout[0], 0), rollout_nodes(cfg, fleet, workers))
        for training_runs, weight in branches:
            used = dict(placed.gpus)
            if training_runs and training is not None:
                used[training.pool.name] = used.get(training.pool.name, 0) + training.job.gpus
            nodes = {}
            for name, pool in fleet.pools.items():
                needed = max(math.ceil(used.get(name, 0) / max(1, pool.gpus_per_node)), whole.get(name, 0))
                # Warm headroom: its placeholders hold that many whole nodes beyond the replicas', up to maxNodes.
                nodes[name] = min(pool.max_nodes, max(pool.min_nodes, needed + spare.get(name, 0)))
                pools[name] += pool_hourly[name](nodes[name]) * hours * weight
            key = tuple(nodes.values())
            if key not in fee_cache:
                fee_cache[key] = sum(f.hourly_min for f in stack_fees(cfg, [PoolNodes(n, c, c)
                                                                            for n, c in nodes.items()]))
            daily[day] += (sum(pool_hourly[n](nodes[n]) for n in nodes) + fee_cache[key]) * hours * weight
            state = (tuple(running[m.name] for m in fleet.models), training_runs and training is not None)
            loads[state] = loads.get(state, 0.0) + hours * weight
    training_hours = {training.pool.name: training.job.gpus * 7 * 24 * duty} if training is not None else {}
    models = []
    for placement in fleet.models:
        pool = placement.pool.name
        if not placement.fallbacks:
            pool_gpu_hours = sum(gpu_hours[p.name] for p in fleet.models if p.pool.name == pool and not p.fallbacks)
            pool_gpu_hours += sum(h for (m, r), h in rung_gpu_hours.items() if r == pool and _on_ladder(fleet, m))
            pool_gpu_hours += training_hours.get(pool, 0)
            share = gpu_hours[placement.name] / pool_gpu_hours if pool_gpu_hours else 0.0
            cost = pools[pool] * share
        else:  # its share of each rung's cost, by the GPU-hours it ran there
            cost = sum(pools[r.name] * rung_gpu_hours[(placement.name, r.name)] / total
                       for r in placement.rungs if (total := _rung_gpu_hours(rung_gpu_hours, training_hours, r.name)))
        models.append(ModelLoad(placement.name, pool, replica_hours[placement.name], gpu_hours[placement.name], cost))
    tokens = tuple(t for placement, load in zip(fleet.models, models, strict=True)
                   if (t := token_cost(placement.model, traffic.tokens_for(placement.name),
                                       load.replica_hours_per_week, load.cost_per_week)) is not None)
    return ExpectedCost(tuple(daily), pools, tuple(models), tokens, loads, leaves_out(cfg, fleet))


def _on_ladder(fleet: Fleet, model: str) -> bool:
    return any(p.name == model and p.fallbacks for p in fleet.models)


def _rung_gpu_hours(rung_gpu_hours: Mapping[tuple[str, str], float], training_hours: Mapping[str, float],
                    pool: str) -> float:
    """GPU-hours a week run on one pool: its single-pool models', the ladder models' on it, training's."""
    return sum(h for (_, r), h in rung_gpu_hours.items() if r == pool) + training_hours.get(pool, 0)
