"""What the same workload costs at each alternative provider, priced the way that provider bills.

Owns the comparison rows. Per-GPU providers (serverless: Modal, RunPod Serverless; RunPod's pods of any GPU count)
bill the GPUs a workload holds, per second: the models' replicas x tensor-parallel size, plus the training job's
GPUs; never this stack's whole-node rounding, so the figure is the same whatever cloud the stack is on. Node-based
providers (CoreWeave, Lambda) bill whole nodes of THEIR sizes: the replicas are packed onto those nodes.

A GPU kind a provider does not sell is priced as the cheapest kind it sells that holds the model's weights (the
config's fit rule) with at least the original's memory per GPU (A100-40GB -> A100-80GB), and the row says so. A
rate the stack states it pays (`currentRates`) replaces the list price, and the row says "your rate".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.catalog import GPUS, GpuKind
from infra.config.workloads import GPU_MEMORY_UTILIZATION, WEIGHT_HEADROOM
from infra.fleet import Fleet
from infra.providers import ALTERNATIVES, Alternative
from infra.workloads.scheduling import gpu_pod_resources


@dataclass(frozen=True)
class Demand:
    """One workload's GPUs: replicas of `gpus_per_replica` GPUs of `kind`, each replica on one node."""

    kind: GpuKind
    gpus_per_replica: int
    replicas_min: int
    replicas_max: int
    weights_gb: float | None  # None: the training job, which needs the same memory per GPU, not a fit for weights
    cpu: float = 0.0  # vCPUs one replica's pod requests on the stack's pool (gpu_pod_resources)
    memory_gib: float = 0.0  # GiB it requests


@dataclass(frozen=True)
class AlternativeLine:
    """The workloads of one GPU kind at one provider: what it bills for them at the minimum and the maximum."""

    kinds: tuple[GpuKind, ...]  # the stack's GPU kinds priced here
    priced_as: GpuKind  # the kind the provider sells for them
    rate: float  # USD per GPU-hour
    your_rate: bool  # the stack's `currentRates`, not the list price
    gpus_min: int  # GPUs billed: the ones used (per-GPU billing) or whole nodes' (node billing)
    gpus_max: int
    node_gpus: int  # GPUs per node billed at the maximum (1: per-GPU billing)
    rate_min: float | None = None  # USD per GPU-hour at the minimum, where its node size is priced differently
    # What the provider bills besides the GPUs for the replicas' CPU and memory (Modal), USD per hour at min and max.
    host_min: float = 0.0
    host_max: float = 0.0
    warm_rate: float | None = None  # USD per GPU-hour of the minimum replicas' GPUs, always on (RunPod "active")

    @property
    def hourly_min(self) -> float:
        if self.warm_rate is not None:
            return self.gpus_min * self.warm_rate + self.host_min
        return self.gpus_min * (self.rate if self.rate_min is None else self.rate_min) + self.host_min

    @property
    def hourly_max(self) -> float:
        if self.warm_rate is not None:  # the warm replicas stay at their rate; the ones above them at the list's
            return self.gpus_min * self.warm_rate + (self.gpus_max - self.gpus_min) * self.rate + self.host_max
        return self.gpus_max * self.rate + self.host_max

    @property
    def substituted(self) -> tuple[GpuKind, ...]:
        return tuple(k for k in self.kinds if k != self.priced_as)

    @property
    def note(self) -> str:
        words = [f"{k.value} priced as {self.priced_as.value}: not sold" for k in self.substituted]
        if self.your_rate:
            words.append(f"{self.priced_as.value} at your rate ${self.rate:,.2f}/GPU-h")
        if self.node_gpus > 1:
            words.append(f"{self.priced_as.value} in nodes of {self.node_gpus}: {self.gpus_max} GPUs billed at max")
        if self.warm_rate is not None and self.gpus_min:
            words.append(f"{self.gpus_min} warm GPU(s) as always-on workers at ${self.warm_rate:,.2f}/GPU-h")
        if self.host_max:
            words.append(f"{self.priced_as.value} pods' CPU and memory: ${self.host_max * 24:,.2f}/day at max")
        return "; ".join(words)


@dataclass(frozen=True)
class AlternativeCost:
    name: str
    source: str
    billing: str  # "per-gpu" | "node"
    lines: tuple[AlternativeLine, ...]
    # The stack's own provider (`existing.priceAs`): USD per hour at min and max as its GPU pools cost, with the
    # stack's `pricing:` and commitments (infra/own_rates.py); the lines stay at the provider's list prices.
    own: tuple[float, float] | None = None
    hourly_expected: float | None = None  # at the traffic profile's loads (infra/expected_alternatives.py)
    as_of: str = ""  # the provider's oldest figure's date

    @property
    def hourly_min(self) -> float:
        return self.own[0] if self.own is not None else self.list_hourly_min

    @property
    def hourly_max(self) -> float:
        return self.own[1] if self.own is not None else self.list_hourly_max

    @property
    def list_hourly_min(self) -> float:
        return sum(line.hourly_min for line in self.lines)

    @property
    def list_hourly_max(self) -> float:
        return sum(line.hourly_max for line in self.lines)

    @property
    def not_offered(self) -> tuple[GpuKind, ...]:
        """GPU kinds of this fleet the provider does not sell (priced as another kind)."""
        return tuple(sorted({k for line in self.lines for k in line.substituted}))

    @property
    def note(self) -> str:
        if self.own is not None:
            return ("this stack's own provider: priced as its GPU pools, at your rates (`pricing:`) and commitments; "
                    f"at list prices ${self.list_hourly_min * 24:,.2f}..${self.list_hourly_max * 24:,.2f}/day")
        return "; ".join(line.note for line in self.lines if line.note)


def demands(fleet: Fleet) -> tuple[Demand, ...]:
    """The GPU workloads of the fleet: each model's replicas, and the training job (0 at minimum: suspended)."""
    out = [Demand(p.pool.gpu or p.model.gpu, p.model.tensor_parallel_size, p.model.replicas.min,
                  p.model.replicas.max, p.model.weights_gb, *gpu_pod_resources(p.pool, p.model.tensor_parallel_size))
           for p in fleet.models]
    if fleet.training is not None:
        t = fleet.training
        out.append(Demand(t.pool.gpu or t.job.gpu, t.job.gpus, 0, 1, None, *gpu_pod_resources(t.pool, t.job.gpus)))
    return tuple(out)


def _fits(kind: GpuKind, demand: Demand) -> bool:
    """The config's fit rule: the weights within the tensor-parallel group's usable memory."""
    if demand.weights_gb is None:
        return GPUS[kind].memory_gb >= GPUS[demand.kind].memory_gb
    usable = demand.gpus_per_replica * GPUS[kind].memory_gb * GPU_MEMORY_UTILIZATION * (1 - WEIGHT_HEADROOM)
    return demand.weights_gb <= usable


def rates(alt: Alternative, current: Mapping[str, Mapping[GpuKind, float]]) -> dict[GpuKind, tuple[float, bool]]:
    """Per kind the provider sells (or the stack pays it for), the rate and whether it is the stack's own."""
    own = current.get(alt.slug, {})
    listed = {k: (v, False) for k, v in alt.per_gpu_hour.items()}
    return {**listed, **{k: (v, True) for k, v in own.items()}}


def priced_as(demand: Demand, sold: Mapping[GpuKind, tuple[float, bool]]) -> GpuKind:
    """The kind a provider bills for `demand`: the same kind if sold, else the cheapest that fits it."""
    if demand.kind in sold:
        return demand.kind
    memory = GPUS[demand.kind].memory_gb
    fitting = [k for k in sold if _fits(k, demand)]
    candidates = ([k for k in fitting if GPUS[k].memory_gb >= memory] or fitting
                  or [max(sold, key=lambda k: GPUS[k].memory_gb)])  # nothing fits: the largest it sells
    return min(candidates, key=lambda k: (sold[k][0], GPUS[k].memory_gb, k.value))


def _nodes(replicas: list[int], size: int) -> int:
    """Whole nodes of `size` GPUs holding these replicas (GPUs each; a replica stays on one node): first fit."""
    free: list[int] = []
    for need in sorted(replicas, reverse=True):
        slot = next((i for i, f in enumerate(free) if f >= need), None)
        if slot is None:
            free.append(size - need)
        else:
            free[slot] -= need
    return len(free)


def _billed(alt: Alternative, kind: GpuKind, group: list[Demand], at_max: bool,
            rate: tuple[float, bool]) -> tuple[int, int, float]:
    """(GPUs billed, GPUs per node, USD per GPU-hour) for these demands at the minimum or the maximum: the
    provider's cheapest node size for them (a stated rate applies to every size)."""
    replicas = [d.gpus_per_replica for d in group for _ in range(d.replicas_max if at_max else d.replicas_min)]
    if alt.billing == "per-gpu":
        return sum(replicas), 1, rate[0]
    widest = max(d.gpus_per_replica for d in group)
    sizes = [s for s in alt.sizes(kind) if s >= widest] or [max(alt.sizes(kind))]

    def per_gpu(size: int) -> float:
        return rate[0] if rate[1] or kind not in alt.per_gpu_hour else alt.price(kind, size)

    best = min(sizes, key=lambda s: (_nodes(replicas, s) * s * per_gpu(s), s))
    return _nodes(replicas, best) * best, best, per_gpu(best)


def _host(alt: Alternative, group: list[Demand], at_max: bool) -> float:
    """USD per hour the provider bills for the replicas' CPU and memory, at their pods' requests (a pod's vCPUs are
    half as many physical cores); a stated rate (`currentRates`) is taken as all-in, so none is added to it."""
    def each(d: Demand) -> float:
        return d.cpu / 2 * alt.core_hour + d.memory_gib * alt.gib_hour

    return sum((d.replicas_max if at_max else d.replicas_min) * each(d) for d in group)


def price_at(alt: Alternative, wanted: tuple[Demand, ...],
             current: Mapping[str, Mapping[GpuKind, float]]) -> AlternativeCost:
    sold = rates(alt, current)
    groups: dict[GpuKind, list[Demand]] = {}
    for demand in wanted:
        groups.setdefault(priced_as(demand, sold), []).append(demand)
    lines = []
    for kind, group in groups.items():
        gpus_min, _, rate_min = _billed(alt, kind, group, at_max=False, rate=sold[kind])
        gpus_max, per_node, rate = _billed(alt, kind, group, at_max=True, rate=sold[kind])
        lines.append(AlternativeLine(tuple(sorted({d.kind for d in group})), kind, rate, sold[kind][1],
                                     gpus_min, gpus_max, per_node, rate_min,
                                     *(_host(alt, group, at_max) if not sold[kind][1] else 0.0
                                       for at_max in (False, True)),
                                     None if sold[kind][1] else alt.warm_per_gpu_hour.get(kind)))
    return AlternativeCost(alt.name, alt.source, alt.billing, tuple(lines), as_of=alt.as_of)


def compare(fleet: Fleet, current: Mapping[str, Mapping[GpuKind, float]]) -> tuple[AlternativeCost, ...]:
    """Every alternative, priced for this fleet's GPU workloads."""
    wanted = demands(fleet)
    return tuple(price_at(alt, wanted, current) for alt in ALTERNATIVES)

