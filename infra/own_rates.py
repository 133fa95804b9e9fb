"""The stack's own rates, marked as such: a `pricing:` override replaces a list price in the cost table, the
alternative that IS the stack's provider (`existing.priceAs`) is priced as the stack's GPU pools, and a committed
discount at the provider's advertised best case is named as a ceiling.

Owns these marks and notes only; the arithmetic is infra/cost.py's and infra/alternatives.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from infra.alternatives import AlternativeCost
from infra.catalog import GpuKind
from infra.commitments import CommitmentCost
from infra.config import StackConfig
from infra.providers import alternative


class _Pool(Protocol):
    pool: str
    gpu: GpuKind | None
    capacity: str
    commitment: CommitmentCost | None

    @property
    def hourly_min(self) -> float: ...

    @property
    def hourly_max(self) -> float: ...


def own_rate(cfg: StackConfig, kind: GpuKind | None, capacity: str) -> float | None:
    """The stack's own rate for GPUs of `kind` bought as `capacity`: its `pricing:` override, else, on an existing
    cluster priced as a provider (`existing.priceAs`), the rate it states it pays that provider (`currentRates`)."""
    if kind is None:
        return None
    override = cfg.pricing.get(kind)
    wanted = (override.spot if capacity == "spot" else override.on_demand) if override is not None else None
    if wanted:
        return wanted
    return cluster_rate(cfg, kind)


def cluster_rate(cfg: StackConfig, kind: GpuKind) -> float | None:
    """An existing cluster priced as a provider: the rate `currentRates` states for `kind` there (one published
    price whatever the capacity type, as the provider's own list)."""
    alt = alternative(cfg.existing.price_as) if cfg.existing is not None and cfg.existing.price_as else None
    return cfg.current_rates.get(alt.slug, {}).get(kind) if alt is not None else None


def _list_name(cfg: StackConfig) -> str:
    if cfg.existing is not None and cfg.existing.price_as is not None:
        alt = alternative(cfg.existing.price_as)
        return f"{alt.name}'s published price" if alt is not None else f"the {cfg.existing.price_as} list price"
    return f"the {cfg.cloud.upper()} list price"


def rate_notes(cfg: StackConfig, pools: Sequence[_Pool]) -> tuple[str, ...]:
    """Plain words for each GPU pool priced at the stack's own rate, and for a committed discount at a ceiling."""
    notes = []
    for p in pools:
        rate = own_rate(cfg, p.gpu, p.capacity)
        if rate is not None and p.gpu is not None:
            key = "`pricing:`" if own_rate_is_override(cfg, p.gpu, p.capacity) else "`currentRates`"
            notes.append(f"cost: pool {p.pool}: {p.gpu.value} {p.capacity} at your rate ${rate:,.2f}/GPU-h "
                         f"({key}), not {_list_name(cfg)}")
        if (note := ceiling_note(cfg, p)) is not None:
            notes.append(note)
    return tuple(notes)


def own_rate_is_override(cfg: StackConfig, kind: GpuKind, capacity: str) -> bool:
    override = cfg.pricing.get(kind)
    return bool((override.spot if capacity == "spot" else override.on_demand) if override is not None else None)


def ceiling_note(cfg: StackConfig, pool: _Pool) -> str | None:
    """A commitment whose discount reaches what the provider advertises only as "up to": a best case, not a quote."""
    alt = alternative(cfg.existing.price_as) if cfg.existing is not None and cfg.existing.price_as else None
    c = pool.commitment
    if alt is None or alt.committed_ceiling is None or c is None or c.discount < alt.committed_ceiling - 1e-9:
        return None
    return (f"pool {pool.pool}: commitment at {c.discount:.0%} off is {alt.name}'s advertised best case (\"up to "
            f"{alt.committed_ceiling:.0%}\" for committed usage), a ceiling, not a quote; set commitment.rate or "
            "commitment.discount to your contract's figure")


def own_provider(alts: Sequence[AlternativeCost], cfg: StackConfig,
                 pools: Sequence[_Pool]) -> tuple[AlternativeCost, ...]:
    """The alternatives, with the stack's own provider (an existing cluster's `priceAs`) priced as its GPU pools:
    the same provider at the same terms (its `pricing:` and commitments), not its list price beside them."""
    own = cfg.existing.price_as if cfg.existing is not None else None
    alt = alternative(own) if own else None
    if alt is None:
        return tuple(alts)
    gpu = [p for p in pools if p.gpu is not None]
    figures = (sum(p.hourly_min for p in gpu), sum(p.hourly_max for p in gpu))
    return tuple(replace(a, own=figures) if a.name == alt.name else a for a in alts)
