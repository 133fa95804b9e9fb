"""What the gateway costs: its own pods (CPU on the system pool) and the tokens it sends to paid providers.

Owns the arithmetic only. The gateway's pods run on the system pool, whose nodes (minNodes..maxNodes) are already
in the table and the totals: their line is their share of it (requested cores over a node's allocatable cores, at
the node's price, at the HPA's minimum and maximum), shown, not added again. A provider is priced per token
at its stated `usdPer1MInputTokens` / `usdPer1MOutputTokens`:
- a model on the stack's GPUs sends `serving.gateway.expectedOverflowShare` of its tokens to its first provider
  fallback (overflow and failures); later providers and peers are listed at no expected share (a peer bills its own
  stack);
- a provider-only model sends all of its tokens.
Tokens per day: `traffic.models.<name>.inputTokensPerDay` / `outputTokensPerDay` when stated; else, for a model on
GPUs, the output its replicas serve at its measured throughput over the traffic profile (infra/tokens.py), its input
unknown (not priced, and said so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.config import StackConfig
from infra.expected import ExpectedCost
from infra.seam import PoolFacts


@dataclass(frozen=True)
class BackendCost:
    model: str
    backend: str  # `provider-<name>` or `peer-<name>`, as in the routing table and the gateway's metrics
    usd_per_1m_input_tokens: float | None
    usd_per_1m_output_tokens: float | None
    share: float  # of the model's tokens expected on this backend
    input_tokens_per_day: float | None  # the model's, before the share (None: unknown)
    output_tokens_per_day: float | None

    @property
    def daily_expected(self) -> float | None:
        """USD per day at the expected share; None when neither the price nor the volume is known."""
        parts = [tokens * self.share * price / 1e6
                 for tokens, price in ((self.input_tokens_per_day, self.usd_per_1m_input_tokens),
                                       (self.output_tokens_per_day, self.usd_per_1m_output_tokens))
                 if tokens is not None and price is not None]
        return sum(parts) if parts else None


@dataclass(frozen=True)
class GatewayCost:
    pods_min: int
    pods_max: int
    pod_hourly: float  # one gateway pod's share of a system-pool node
    backends: tuple[BackendCost, ...]
    notes: tuple[str, ...] = ()

    @property
    def pods_hourly_min(self) -> float:
        return self.pods_min * self.pod_hourly

    @property
    def pods_hourly_max(self) -> float:
        return self.pods_max * self.pod_hourly

    @property
    def backends_daily_expected(self) -> float:
        return sum(b.daily_expected or 0.0 for b in self.backends)


def _output_per_day(cfg: StackConfig, name: str, expected: ExpectedCost | None) -> float | None:
    stated = cfg.traffic.models.get(name) if cfg.traffic is not None else None
    if stated is not None and stated.output_tokens_per_day is not None:
        return stated.output_tokens_per_day
    served = next((t for t in (expected.tokens if expected is not None else ()) if t.model == name), None)
    return served.tokens_per_week / 7 if served is not None else None


def gateway_cost(cfg: StackConfig, pools: Mapping[str, PoolFacts], node_hourly: Mapping[str, float],
                 expected: ExpectedCost | None) -> GatewayCost | None:
    """The gateway's cost, or None without one. `node_hourly`: each pool's price per node-hour."""
    gw = cfg.serving.gateway
    if gw is None:
        return None
    notes: list[str] = []
    system = pools.get("system")
    if system is not None and system.allocatable_cpu > 0:
        pod_hourly = node_hourly["system"] * gw.resources.cpu / system.allocatable_cpu
    else:
        pod_hourly = 0.0
        notes.append("gateway: its pods run on the cluster's own CPU nodes, which this stack does not price")
    backends: list[BackendCost] = []
    for model in cfg.declared_models:
        stated = cfg.traffic.models.get(model.name) if cfg.traffic is not None else None
        input_per_day = stated.input_tokens_per_day if stated is not None else None
        output_per_day = _output_per_day(cfg, model.name, expected)
        fallbacks = list(model.fallbacks)
        first_paid = None
        if model.provider is not None:
            fallbacks.insert(0, model.provider.as_fallback())
            first_paid = fallbacks[0]
        else:
            first_paid = next((f for f in fallbacks if f.provider is not None), None)
        for f in fallbacks:
            share = (1.0 if model.provider is not None else gw.expected_overflow_share) if f is first_paid else 0.0
            backends.append(BackendCost(model.name, f.backend_name, f.usd_per_1m_input_tokens,
                                        f.usd_per_1m_output_tokens, share, input_per_day, output_per_day))
        priced = first_paid is not None and (model.provider is not None or gw.expected_overflow_share > 0)
        missing = [k for k, v in (("inputTokensPerDay", input_per_day), ("outputTokensPerDay", output_per_day))
                   if v is None]
        if priced and first_paid is not None and missing:
            notes.append(f"gateway: {model.name}'s tokens on {first_paid.backend_name} are priced without "
                         f"traffic.models.{model.name}.{' and .'.join(missing)} (unknown): state them to price them")
    return GatewayCost(gw.replicas.min, gw.replicas.max, pod_hourly, tuple(backends), tuple(notes))
