"""Capacity ladders (`models[].pools`): the checks that a model's rungs exist, serve its GPU kind, hold one
replica each and together its maximum, and that models sharing a rung share the whole ladder.

Why one ladder per pool: GKE puts a pool in at most one ComputeClass (the class's node label and taint are on the
pool), and cluster-autoscaler's priority expander ranks node groups in one global order; two ladders that
order the same pools differently could not both be honoured.
"""

from __future__ import annotations

from infra.config.pools import NodePool
from infra.config.workloads import Model


def ladder_problems(i: int, model: Model, pools: dict[str, NodePool], models: list[Model]) -> list[str]:
    """The problems of models[i]'s ladder, one line each; [] when it has none or it is sound."""
    if model.pools is None:
        return []
    where, problems, rungs = f"models[{i}].pools", [], []
    for j, name in enumerate(model.pools):
        pool = pools.get(name)
        if pool is None:
            problems.append(f"{where}[{j}] = {name!r}: no such node pool; defined: {', '.join(pools)}")
        elif pool.gpu != model.gpu:
            got = pool.gpu.value if pool.gpu else "no GPU"
            problems.append(f"{where}[{j}] = {name!r}: that pool has {got}, not {model.gpu.value!r}; every rung of "
                            "a ladder serves the model's GPU kind")
        elif model.tensor_parallel_size > (pool.gpus_per_node or 1):
            problems.append(f"{where}[{j}] = {name!r}: {pool.gpus_per_node} GPU(s) per node, fewer than "
                            f"tensorParallelSize {model.tensor_parallel_size}; give the pool gpusPerNode >= "
                            f"{model.tensor_parallel_size} or drop it from the ladder")
        else:
            rungs.append(pool)
    if problems:
        return problems
    needed = model.replicas.max * model.tensor_parallel_size
    # Whole replicas only: a rung holds (GPUs per node // tp) replicas per node.
    held = sum(p.max_nodes * ((p.gpus_per_node or 1) // model.tensor_parallel_size) for p in rungs)
    if model.replicas.max > held:
        each = ", ".join(f"{p.name} {p.max_nodes * ((p.gpus_per_node or 1) // model.tensor_parallel_size)}"
                         for p in rungs)
        problems.append(f"models[{i}].replicas.max = {model.replicas.max}: needs {needed} GPUs at tensorParallelSize "
                        f"{model.tensor_parallel_size}; the ladder {model.pools} holds at most {held} replicas "
                        f"({each}); raise a rung's maxNodes or add a rung")
    for k, other in enumerate(models):
        if k == i or other.pools is None or other.pools == model.pools:
            continue
        shared = [p for p in model.pools if p in other.pools]
        if shared and k < i:
            problems.append(f"{where} = {model.pools}: pool {shared[0]!r} is also a rung of models[{k}].pools = "
                            f"{other.pools}; models that share a rung share the whole ladder in one order: give "
                            f"both the same pools list")
    return problems
