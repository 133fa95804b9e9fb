"""The gateway's cost as the plan shows it: its pods, and each fallback provider with its price, its expected share
of the model's tokens and what that costs a day (the terminal table and the `cost.gateway` object of `--json`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from infra.cost_gateway import GatewayCost


def _price(x: float | None) -> str:
    return "-" if x is None else f"${x:.2f}"


def _tokens(x: float | None) -> str:
    return "unknown" if x is None else f"{x / 1e6:,.1f}M"


def gateway_backends_table(gateway: GatewayCost) -> Table:
    table = Table(title="Gateway backends beyond the stack's own replicas (USD, at the expected share of each "
                        "model's tokens)", title_justify="left")
    for col in ("model", "backend", "$/1M in", "$/1M out", "share", "tokens/day in", "tokens/day out",
                "$/day expected"):
        table.add_column(col, justify="left" if col in ("model", "backend") else "right", no_wrap=True)
    for b in gateway.backends:
        daily = b.daily_expected
        table.add_row(b.model, b.backend, _price(b.usd_per_1m_input_tokens), _price(b.usd_per_1m_output_tokens),
                      f"{b.share:.0%}", _tokens(b.input_tokens_per_day), _tokens(b.output_tokens_per_day),
                      "-" if daily is None else f"${daily:,.2f}")
    return table


def gateway_json(gateway: GatewayCost | None) -> dict[str, Any] | None:
    if gateway is None:
        return None
    return {
        "pods": {"min": gateway.pods_min, "max": gateway.pods_max, "podHourly": round(gateway.pod_hourly, 4),
                 "dailyMin": round(gateway.pods_hourly_min * 24, 2),
                 "dailyMax": round(gateway.pods_hourly_max * 24, 2)},
        "backends": [{"model": b.model, "backend": b.backend, "usdPer1MInputTokens": b.usd_per_1m_input_tokens,
                      "usdPer1MOutputTokens": b.usd_per_1m_output_tokens, "share": b.share,
                      "inputTokensPerDay": b.input_tokens_per_day, "outputTokensPerDay": b.output_tokens_per_day,
                      "dailyExpected": None if b.daily_expected is None else round(b.daily_expected, 2)}
                     for b in gateway.backends],
        "backendsDailyExpected": round(gateway.backends_daily_expected, 2),
    }
