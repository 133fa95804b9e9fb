"""The fleet, resolved once after validation: each pool's facts and every workload placed on its pool.

Owns placement: which pool each model, the training job and the rollout workers land on, with that pool's
resolved facts (machine shape, GPUs per node, labels, taints, capacity). Cost, guards and the workload components
read placements from here; nothing else asks the config which pool a workload goes to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.config import Model, StackConfig, Training
from infra.platforms import pool_facts
from infra.seam import PoolFacts


@dataclass(frozen=True)
class ModelPlacement:
    """A served model and the pools its replicas run on: `pool`, then (a capacity ladder) each fallback in order."""

    model: Model
    pool: PoolFacts  # the preferred pool: the model's one pool, or its ladder's first rung
    fallbacks: tuple[PoolFacts, ...] = ()  # the ladder's later rungs, in priority order

    @property
    def rungs(self) -> tuple[PoolFacts, ...]:
        """Every pool the model may run on, preferred first."""
        return (self.pool, *self.fallbacks)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def gpus_min(self) -> int:
        """GPUs the model's minimum replicas hold."""
        return self.model.replicas.min * self.model.tensor_parallel_size

    @property
    def gpus_max(self) -> int:
        """GPUs the model holds at its maximum replicas."""
        return self.model.replicas.max * self.model.tensor_parallel_size


@dataclass(frozen=True)
class TrainingPlacement:
    """The training job and the GPU pool its one node comes from."""

    job: Training
    pool: PoolFacts


@dataclass(frozen=True)
class Fleet:
    pools: Mapping[str, PoolFacts]  # every pool of the stack, the system pool included, by name
    models: tuple[ModelPlacement, ...]  # in config order
    training: TrainingPlacement | None  # None: no training job (or, unvalidated, no pool for it)
    rollout_pool: PoolFacts | None  # where the rollout workers run (None: no rollout workers)

    def models_by_pool(self) -> dict[str, tuple[ModelPlacement, ...]]:
        return by_pool(self.models)


def by_pool(models: tuple[ModelPlacement, ...]) -> dict[str, tuple[ModelPlacement, ...]]:
    """The models placed on each pool, pools in the order their first model appears."""
    grouped: dict[str, list[ModelPlacement]] = {}
    for placement in models:
        grouped.setdefault(placement.pool.name, []).append(placement)
    return {pool: tuple(placed) for pool, placed in grouped.items()}


def _placement(model: Model, rungs: list[PoolFacts]) -> ModelPlacement:
    return ModelPlacement(model, rungs[0], tuple(rungs[1:]))


def resolve_fleet(cfg: StackConfig, pools: Mapping[str, PoolFacts] | None = None) -> Fleet:
    """Place every workload of a validated config on its pool's facts (`pools`: already computed facts)."""
    facts = pool_facts(cfg) if pools is None else pools
    models = tuple(_placement(m, [facts[p.name] for p in cfg.model_pools(m)]) for m in cfg.models)
    training = None
    if cfg.training is not None:
        pool = cfg.pool_for(cfg.training.gpu, cfg.training.pool, "training")
        training = TrainingPlacement(cfg.training, facts[pool.name]) if pool is not None else None
    rollout_pool = facts.get(cfg.rollout.pool) if cfg.rollout is not None else None
    return Fleet(pools=facts, models=models, training=training, rollout_pool=rollout_pool)
