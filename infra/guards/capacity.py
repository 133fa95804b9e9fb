"""The models' warm minimum and their pool's minimum agree.

A config guard, and a warning: a pool whose minNodes is below what the models' minimum replicas
occupy still deploys (the cluster autoscaler adds the nodes the pending warm replicas ask for), so
the stack is not invalid and config must not refuse it. But every cold start waits for those
nodes, and a reader of the pool's minNodes under-estimates the standing cost (the cost table
counts the held nodes: infra.cost.warm_nodes). Config guards run in `plan`, in `pulumi up` (which
logs warnings) and in the policy pack, and they see the pool facts (GPUs per node) it needs.
"""

from __future__ import annotations

from infra.fleet import ModelPlacement
from infra.guards.base import StackPlan, Verdict
from infra.ladder_fill import fill


def warm_replicas_fit_pool_minimum(plan: StackPlan) -> Verdict:
    name = "warm-replicas-fit-pool-minimum"
    cfg = plan.cfg
    short = []
    placed = fill(plan.fleet.models, {p.name: p.model.replicas.min for p in plan.fleet.models})
    for pool in plan.cost.pools:
        if pool.warm_nodes <= pool.min_nodes:
            continue
        # A ladder's warm replicas fill its first rungs (infra/ladder_fill.py): name what lands on this one.
        on_pool = placed.on(pool.pool)
        warm = ", ".join(_warm(p, on_pool[p.name]) for p in plan.fleet.models if p.name in on_pool)
        i = next(i for i, p in enumerate(cfg.node_pools) if p.name == pool.pool)
        short.append(f"pool {pool.pool}: {warm} hold {pool.warm_nodes} node(s) of {pool.gpus_per_node} GPU(s) but "
                     f"nodePools[{i}].minNodes = {pool.min_nodes}; set minNodes: {pool.warm_nodes} or lower the "
                     "models' replicas.min")
    if short:
        return Verdict(name, "warn", "; ".join(short))
    return Verdict(name, "pass", "every pool's minNodes holds its models' minimum replicas")


def _warm(placement: ModelPlacement, replicas: int) -> str:
    m = placement.model
    if not placement.fallbacks:
        return f"{m.name} (replicas.min {m.replicas.min} x {m.tensor_parallel_size} GPU)"
    return f"{m.name} ({replicas} of its replicas.min {m.replicas.min} x {m.tensor_parallel_size} GPU, on this rung)"
