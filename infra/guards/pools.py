"""Every GPU pool must be used by a model or a workload: an unused GPU pool is spend nobody asked for."""

from __future__ import annotations

from infra.guards.base import StackPlan, Verdict


def every_gpu_pool_is_used(plan: StackPlan) -> Verdict:
    cfg = plan.cfg
    used = {rung.name for m in plan.fleet.models for rung in m.rungs}  # every rung of a capacity ladder
    if plan.fleet.training is not None:
        used.add(plan.fleet.training.pool.name)
    unused = [p.name for p in cfg.node_pools if p.gpu is not None and p.name not in used]
    if unused:
        return Verdict("every-gpu-pool-is-used", "fail",
                       f"GPU pool(s) {', '.join(unused)} serve no model and run no training; "
                       "remove them or point a model (models[].pool or .pools) or training.pool at them")
    gpu_pools = sum(1 for p in cfg.node_pools if p.gpu)
    return Verdict("every-gpu-pool-is-used", "pass", f"all {gpu_pools} GPU pools are used")
