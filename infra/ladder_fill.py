"""How a number of replicas per model lands on the pools: each model's own pool, or a capacity ladder's rungs in
order. Cost (the warm minimum, GPUs used) and the expected-cost walk read the same fill.

A ladder's replicas fill its first rung up to that rung's maxNodes, then the second, and so on — what the
platform's mechanism does when every rung has capacity (GKE ComputeClass priorities with active migration back,
cluster-autoscaler's priority expander, preferred node affinity). The last rung takes whatever is left, so an
over-full ladder shows up on it as it would in the cluster (Pending pods there). Single-pool models are placed
first: their GPUs are on a rung before a ladder's replicas look for room, so a shared rung's other users count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from infra.fleet import ModelPlacement
from infra.seam import PoolFacts


@dataclass
class Fill:
    gpus: dict[str, int] = field(default_factory=dict)  # GPUs requested per pool
    whole: dict[str, int] = field(default_factory=dict)  # nodes the largest model's whole replicas need, per pool
    replicas: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, pool) -> replicas

    def nodes(self, pool: str, gpus_per_node: int) -> int:
        """Whole nodes a pool runs for its replicas (a replica's GPUs sit on one node)."""
        return max(math.ceil(self.gpus.get(pool, 0) / max(1, gpus_per_node)), self.whole.get(pool, 0))

    def on(self, pool: str) -> dict[str, int]:
        """Replicas per model on one pool."""
        return {m: n for (m, p), n in self.replicas.items() if p == pool and n}

    def _place(self, placement: ModelPlacement, pool_index: int, replicas: int) -> None:
        pool, tp = placement.rungs[pool_index], placement.model.tensor_parallel_size
        key = (placement.name, pool.name)
        self.replicas[key] = self.replicas.get(key, 0) + replicas
        self.gpus[pool.name] = self.gpus.get(pool.name, 0) + replicas * tp
        per_node = max(1, max(1, pool.gpus_per_node) // tp)
        # Whole replicas per node: 3 replicas of tensorParallelSize 4 on 8-GPU nodes need 2 nodes, not 1.5.
        self.whole[pool.name] = max(self.whole.get(pool.name, 0), math.ceil(self.replicas[key] / per_node))


def fill(placements: Iterable[ModelPlacement], replicas: Mapping[str, int]) -> Fill:
    """Where `replicas[model]` replicas of each model run: single-pool models first, then each ladder's models in
    config order, rung by rung up to each rung's maxNodes of GPUs."""
    placements = list(placements)
    out = Fill()
    for p in placements:
        if not p.fallbacks:
            out._place(p, 0, replicas.get(p.name, 0))
    for p in placements:
        if not p.fallbacks:
            continue
        left, tp = replicas.get(p.name, 0), p.model.tensor_parallel_size
        for i, rung in enumerate(p.rungs):
            last = i == len(p.rungs) - 1
            # Whole replicas per node (the config checks a ladder's capacity the same way: infra/config/ladders.py).
            held = rung.max_nodes * max(1, rung.gpus_per_node // tp)
            room = max(0, held - math.ceil(out.gpus.get(rung.name, 0) / tp))
            take = left if last else min(left, room)
            if take or last:
                out._place(p, i, take)
            left -= take
    return out


def ladder_max_nodes(placements: Iterable[ModelPlacement], node_hourly: Mapping[str, float],
                     running: Mapping[str, int] | None = None) -> dict[str, tuple[int, int]]:
    """Per rung of a capacity ladder, the most (nodes, GPUs used) it runs when every model is at its maximum.

    A ladder's rungs overlap on purpose (spot and on-demand can each take the burst), so adding up their maxNodes
    counts capacity no replica can use. The most the ladder can cost: the scheduler puts replicas on the nodes that
    already run (each rung's minNodes) before the autoscaler adds any, and which rung grows after that is the
    platform's choice (a stockout moves it down the ladder), so the rest land on the dearest rungs first.
    Single-pool models on a rung are there first. Pools in no ladder are left out (their maximum is maxNodes).
    `running`: the nodes each pool runs anyway (its minimum with warm headroom's spare nodes; default minNodes).
    """
    floor = {name: n for name, n in (running or {}).items()}
    placements = list(placements)
    alone = fill([p for p in placements if not p.fallbacks], {p.name: p.model.replicas.max for p in placements})
    gpus = dict(alone.gpus)  # per pool, GPUs taken so far
    nodes: dict[str, int] = {}
    rungs: set[str] = set()
    for p in placements:
        if not p.fallbacks:
            continue
        tp, left = p.model.tensor_parallel_size, p.model.replicas.max
        for rung in p.rungs:  # first on the nodes already running
            up = max(rung.min_nodes, floor.get(rung.name, 0), nodes.get(rung.name, 0))
            take = min(left, _room(rung, up, tp, gpus))
            gpus[rung.name] = gpus.get(rung.name, 0) + take * tp
            left -= take
        dearest = sorted(p.rungs, key=lambda r: -node_hourly[r.name] / max(1, r.gpus_per_node))
        for rung in dearest:  # then where they cost the most
            take = min(left, _room(rung, rung.max_nodes, tp, gpus))
            gpus[rung.name] = gpus.get(rung.name, 0) + take * tp
            left -= take
        for rung in p.rungs:
            per_node = max(1, rung.gpus_per_node // tp)
            used = math.ceil(gpus.get(rung.name, 0) / tp / per_node)
            nodes[rung.name] = min(rung.max_nodes, max(rung.min_nodes, floor.get(rung.name, 0), used))
            rungs.add(rung.name)
    return {name: (nodes[name], gpus.get(name, 0)) for name in rungs}


def _room(rung: PoolFacts, nodes: int, tp: int, gpus: Mapping[str, int]) -> int:
    """Whole replicas of `tp` GPUs that still fit `nodes` nodes of the rung, past the GPUs already taken there."""
    return max(0, nodes * max(1, rung.gpus_per_node // tp) - math.ceil(gpus.get(rung.name, 0) / tp))
