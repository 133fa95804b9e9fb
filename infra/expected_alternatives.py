"""What each alternative provider would bill at the stack's expected load: the same replica walk as the stack's own
expected cost (infra/expected.py), each provider billed its way at every load the walk met (infra/alternatives.py).

Owns only this weighting: per load (replicas per model, training running or not), the hours it lasts in the week
times the provider's hourly bill at that load, over the week's hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from infra.alternatives import AlternativeCost, demands, price_at
from infra.catalog import GpuKind
from infra.expected import ExpectedCost
from infra.fleet import Fleet
from infra.providers import alternative

WEEK_HOURS = 7 * 24


def expected_hourly(alt: AlternativeCost, fleet: Fleet, current: Mapping[str, Mapping[GpuKind, float]],
                    expected: ExpectedCost) -> float:
    """USD per hour, averaged over the week, that `alt` bills for the walk's loads."""
    provider = alternative(alt.name)
    assert provider is not None
    base = demands(fleet)
    models = len(fleet.models)
    total = 0.0
    for (replicas, training), hours in expected.loads.items():
        # The models' minimum replicas stay as they are (always-on workers bill at their own rate, e.g. RunPod's
        # active workers); the load sets how many run.
        wanted = [replace(d, replicas_max=r) for d, r in zip(base[:models], replicas, strict=True)]
        if training:
            wanted += [replace(d, replicas_min=1, replicas_max=1) for d in base[models:]]
        total += price_at(provider, tuple(wanted), current).hourly_max * hours if any(
            d.replicas_max for d in wanted) else 0.0
    return total / WEEK_HOURS


def with_expected(alts: Sequence[AlternativeCost], fleet: Fleet, current: Mapping[str, Mapping[GpuKind, float]],
                  expected: ExpectedCost | None, gpu_pools: Sequence[str]) -> tuple[AlternativeCost, ...]:
    """The alternatives with their expected USD per hour; the stack's own provider (`own`) takes the expected cost of
    the stack's GPU pools, as its min and max do. No traffic profile: unchanged."""
    if expected is None:
        return tuple(alts)
    own = sum(expected.pools_per_week.get(p, 0.0) for p in gpu_pools) / WEEK_HOURS
    return tuple(replace(a, hourly_expected=own if a.own is not None else expected_hourly(a, fleet, current, expected))
                 for a in alts)
