"""Warm headroom (`nodePools[].warmHeadroom`): which pools keep spare GPU nodes, and the rules that make it sound.

Spare nodes are held by placeholder pods of the lowest priority (infra/workloads/headroom.py); a real pod preempts
one and lands at once, and the evicted placeholder makes the autoscaler add the next spare node. So headroom only
helps a GPU pool that serves a model, the pool's maximum must leave room for the spares above the nodes the models'
minimum replicas hold, and the placeholders need an image pinned like every other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from infra.config.stack import StackConfig
from infra.config.workloads import Model

# registry.k8s.io/pause:3.10 by digest, as cilium/alpine-curl's Dockerfile pins it (read 2026-11-30 via the code
# search of public repositories; the same digest in several other projects' manifests). An example for the error
# only: the stack's `artifacts.pauseImage` is what runs, promoted with the other artifacts.
PAUSE_IMAGE_EXAMPLE = ("registry.k8s.io/pause:3.10@sha256:"
                       "ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a")


def headroom_by_pool(cfg: StackConfig) -> dict[str, int]:
    """Per pool with warm headroom, its spare nodes (pools without any are left out)."""
    return {p.name: p.warm_headroom for p in cfg.node_pools if p.warm_headroom > 0}


def nodes_held(gpus_per_node: int, replicas: Iterable[tuple[int, int]]) -> int:
    """Nodes that (replicas.min, tensorParallelSize) pairs occupy on one pool: by GPUs, and in whole replicas
    (3 replicas of 4 GPUs on 8-GPU nodes take 2 nodes, not 1.5). The same count as infra.cost.warm_nodes."""
    pairs = list(replicas)
    per_node = max(1, gpus_per_node)
    gpus = sum(n * tp for n, tp in pairs)
    whole = max((math.ceil(n / max(1, per_node // tp)) for n, tp in pairs), default=0)
    return max(math.ceil(gpus / per_node), whole)


def _placed_on(cfg: StackConfig, model: Model) -> list[str]:
    """The pools a model may run on (its ladder's rungs or its one pool), before its placement is validated."""
    if model.pools is not None:
        return model.pools
    pool = cfg.pool_for(model.gpu, model.pool, "serving")
    return [pool.name] if pool is not None else []


def headroom_problems(cfg: StackConfig) -> list[str]:
    """One finished line per pool whose warmHeadroom cannot work, and for a missing pause image."""
    problems: list[str] = []
    for i, pool in enumerate(cfg.node_pools):
        n = pool.warm_headroom
        if n == 0:
            continue
        where = f"nodePools[{i}].warmHeadroom = {n}"
        if pool.gpu is None:
            problems.append(f"{where}: pool {pool.name!r} is a CPU pool; warm headroom keeps spare GPU nodes for "
                            "models; allowed: only on a GPU pool that serves a model; remove it")
            continue
        models = [m for m in cfg.models if pool.name in _placed_on(cfg, m)]
        if not models:
            problems.append(f"{where}: no model is served on pool {pool.name!r}, so nothing would scale onto the "
                            "spare nodes; allowed: only on a GPU pool that serves a model; remove it or place a "
                            "model there (models[].pool)")
            continue
        held = nodes_held(pool.gpus_per_node or 1, [(m.replicas.min, m.tensor_parallel_size) for m in models])
        if held + n > pool.max_nodes:
            fix = f"lower warmHeadroom to {pool.max_nodes - held} or " if pool.max_nodes > held else ""
            problems.append(f"{where}: the models' minimum replicas hold {held} node(s) of pool {pool.name!r} and "
                            f"{n} spare make {held + n}, above maxNodes {pool.max_nodes}; allowed: 0.."
                            f"{max(0, pool.max_nodes - held)}; {fix}raise maxNodes to {held + n}")
    if problems or not headroom_by_pool(cfg):
        return problems
    if cfg.artifacts.pause_image is None:
        first = next(i for i, p in enumerate(cfg.node_pools) if p.warm_headroom > 0)
        problems.append(f"artifacts.pauseImage: missing; nodePools[{first}].warmHeadroom runs placeholder pods from "
                        f"it; pin it by digest, e.g. pauseImage: {PAUSE_IMAGE_EXAMPLE}")
    return problems
