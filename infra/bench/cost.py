"""Price applied to what was measured: $ per 1M output tokens and $ per inference, and the two rankings.

Per GPU-hour: the endpoint's hourly cost (gpuHourUsd x gpus) over the load's wall time, divided among what it
produced, i.e. the cost at the measured throughput with the GPUs busy only with this load. Per token: the provider's
input and output prices over the tokens the load sent and received. Both are all-in (input tokens included).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.bench.run import Measured
from infra.bench.spec import Price


@dataclass(frozen=True)
class Cost:
    usd_per_1m_output: float | None
    usd_per_inference: float | None


def cost(price: Price, m: Measured) -> Cost:
    if not m.completed or not m.output_tokens:
        return Cost(None, None)
    if price.per_hour:
        assert price.gpu_hour_usd is not None and price.gpus is not None
        total = price.gpu_hour_usd * price.gpus * m.duration_s / 3600
    else:
        assert price.input_per_1m_usd is not None and price.output_per_1m_usd is not None
        total = (m.input_tokens * price.input_per_1m_usd + m.output_tokens * price.output_per_1m_usd) / 1e6
    return Cost(total / m.output_tokens * 1e6, total / m.completed)


def ranking(rows: list[dict], key: str) -> list[str]:
    """Endpoint names, best (lowest `key`) first; endpoints without the figure (nothing succeeded) last."""
    known = sorted((r for r in rows if r[key] is not None), key=lambda r: r[key])
    return [r["name"] for r in known] + [r["name"] for r in rows if r[key] is None]
