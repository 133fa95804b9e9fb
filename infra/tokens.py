"""Cost per token: what one model's output costs at the expected load of the stack's traffic profile.

Owns the arithmetic only. The assumption, stated wherever the figure is shown: every replica the profile runs
serves at the model's measured throughput (`models[].throughput`, output tokens per second at a stated
concurrency), and the model costs its share of its pool's expected cost (by GPU-hours; infra/expected.py).
Replicas idle for lack of traffic make the real figure higher.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import Model

# The seed's target: serving must cost less than $0.0005 per inference (issue 12, "Cost per token").
TARGET_PER_INFERENCE = 0.0005
ASSUMPTION = ("every replica the traffic profile runs serves at its measured throughput, all the time (so the cost per "
              "token is a lower bound); a model costs its GPU-hour share of its pool's expected cost, fees and the "
              "system and rollout pools not included")


@dataclass(frozen=True)
class TokenCost:
    model: str
    output_tokens_per_second: float  # per replica, as measured
    concurrency: int  # ... at this many concurrent requests
    source: str
    tokens_per_week: float  # output tokens the profile's replicas serve in a week
    cost_per_week: float  # USD: the model's share of its pool's expected cost
    tokens_per_inference: int | None

    @property
    def per_million(self) -> float | None:
        """USD per 1M output tokens (None when the profile runs no replica of the model)."""
        return self.cost_per_week / self.tokens_per_week * 1e6 if self.tokens_per_week else None

    @property
    def per_inference(self) -> float | None:
        if self.per_million is None or self.tokens_per_inference is None:
            return None
        return self.per_million * self.tokens_per_inference / 1e6

    @property
    def above_target(self) -> bool:
        return self.per_inference is not None and self.per_inference > TARGET_PER_INFERENCE


def token_cost(model: Model, tokens_per_inference: int | None, replica_hours_per_week: float,
               cost_per_week: float) -> TokenCost | None:
    """A model's cost per token, or None when it has no measured throughput."""
    if model.throughput is None:
        return None
    tps = model.throughput.output_tokens_per_second
    return TokenCost(model.name, tps, model.throughput.concurrency, model.throughput.source,
                     replica_hours_per_week * 3600 * tps, cost_per_week, tokens_per_inference)
