"""The `traffic` block and a model's measured `throughput`: what the plan's expected cost and cost per token
are computed from (infra/expected.py, infra/tokens.py).

Owns the profile's schema (peak hours, peak days, replicas at peak and off-peak per model, tokens per
inference) and the checks that tie it to the models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import ConfigModel
from infra.config.schedules import timezone

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^(?P<h1>\d{2}):(?P<m1>\d{2})-(?P<h2>\d{2}):(?P<m2>\d{2})$")


class Throughput(ConfigModel):
    """What one replica of a model serves, as measured (e.g. with vLLM's benchmark_serving)."""

    output_tokens_per_second: float = Field(gt=0)
    """Output tokens per second one replica generates at `concurrency` concurrent requests."""
    concurrency: int = Field(ge=1)
    """The concurrent requests the measurement was taken at."""
    source: str = ""
    """Where the figure comes from (a benchmark run, a published result); shown beside the cost per token."""


class ModelTraffic(ConfigModel):
    """One model's replicas at peak and off-peak."""

    peak: int | None = Field(default=None, ge=0)
    """Replicas running during peak hours. Default: the model's `replicas.max`."""
    off_peak: int | None = Field(default=None, ge=0)
    """Replicas running outside peak hours. Default: the model's `replicas.min`."""
    tokens_per_inference: int | None = Field(default=None, ge=1)
    """Output tokens of one inference of this model. Default: `traffic.tokensPerInference`."""
    input_tokens_per_day: float | None = Field(default=None, ge=0)
    """Prompt tokens the model is sent on an average day: with `serving.gateway` the cost table prices a provider's
    share of them (a provider-only model: all). Default: unknown (input tokens are not priced)."""
    output_tokens_per_day: float | None = Field(default=None, ge=0)
    """Output tokens the model generates on an average day (default: a model on GPUs, what its replicas serve at
    its `throughput`; a provider-only model, unknown)."""


class TrainingTraffic(ConfigModel):
    """How long the training job runs in a typical week: its pool's nodes are counted only while it runs."""

    hours_per_day: float | None = Field(default=None, ge=0, le=24)
    """Hours a day the job runs, every day (0..24). Give this or `hoursPerWeek`."""
    hours_per_week: float | None = Field(default=None, ge=0, le=168)
    """Hours a week the job runs (0..168), e.g. 40 for working-day runs. Give this or `hoursPerDay`."""

    @model_validator(mode="after")
    def _one(self) -> TrainingTraffic:
        if (self.hours_per_day is None) == (self.hours_per_week is None):
            raise ValueError("give exactly one of hoursPerDay (0..24) or hoursPerWeek (0..168), e.g. "
                             "{hoursPerWeek: 40}")
        return self

    @property
    def duty(self) -> float:
        """The share of the week the job runs, 0..1."""
        return self.hours_per_day / 24 if self.hours_per_day is not None else (self.hours_per_week or 0.0) / 168


class RolloutTraffic(ConfigModel):
    """The rollout workers running at peak and off-peak (their pool runs the nodes their CPU and memory need)."""

    peak: int | None = Field(default=None, ge=0)
    """Workers running during peak hours. Default: `rollout.replicas.max`."""
    off_peak: int | None = Field(default=None, ge=0)
    """Workers running outside peak hours. Default: `rollout.replicas.min`."""


class Traffic(ConfigModel):
    """A typical week of traffic: when the peak is and how many replicas each model runs then and otherwise."""

    timezone: str = "UTC"
    """The IANA time zone `peakHours` and `peakDays` are read in (default `UTC`)."""
    peak_hours: str = "08:00-20:00"
    """Peak hours of a peak day as `HH:MM-HH:MM` (default `08:00-20:00`; an end before the start wraps past
    midnight)."""
    peak_days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri"])
    """The days with peak hours (`mon`..`sun`; default Monday to Friday: weekends are off-peak all day)."""
    models: dict[str, ModelTraffic] = Field(default={})  # keys checked against the models (traffic_problems)
    """Per model name, `{peak, offPeak, tokensPerInference}`; a model left out runs `replicas.max` at peak and
    `replicas.min` off-peak."""
    tokens_per_inference: int | None = Field(default=None, ge=1)
    """Output tokens of one inference, for every model without its own; with a model's `throughput` it gives the
    plan's $ per inference (default: none, only $ per 1M output tokens is shown)."""
    training: TrainingTraffic | None = None
    """The training job's duty cycle, `{hoursPerDay}` or `{hoursPerWeek}`: the expected cost counts its nodes that
    share of the week. Default: none, the job counts as `training.suspend` says (suspended: no node; running: all
    week)."""
    rollout: RolloutTraffic | None = None
    """Rollout workers at peak and off-peak, `{peak, offPeak}` (defaults `rollout.replicas.max` and `.min`): the
    expected cost runs the rollout pool's nodes they need. Default: none, the pool counts at its minimum."""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return timezone(value)

    @field_validator("peak_hours")
    @classmethod
    def _peak_hours(cls, value: str) -> str:
        m = _HOURS.match(value)
        if not m or int(m["h1"]) > 24 or int(m["h2"]) > 24 or int(m["m1"]) > 59 or int(m["m2"]) > 59:
            raise ValueError("allowed: 'HH:MM-HH:MM', e.g. '08:00-20:00'")
        if value[:5] == value[6:]:
            raise ValueError("the peak starts and ends at the same time; allowed: 'HH:MM-HH:MM' with two times")
        return value

    @property
    def peak_minutes(self) -> tuple[int, int]:
        """(start, end) of the peak in minutes after midnight; end < start wraps past midnight."""
        m = _HOURS.match(self.peak_hours)
        assert m is not None, "validated"
        return int(m["h1"]) * 60 + int(m["m1"]), int(m["h2"]) * 60 + int(m["m2"])

    def replicas(self, name: str, low: int, high: int) -> tuple[int, int]:
        """(peak, off-peak) replicas of a model whose replica range is low..high."""
        own = self.models.get(name, ModelTraffic())
        return (high if own.peak is None else own.peak, low if own.off_peak is None else own.off_peak)

    def tokens_for(self, name: str) -> int | None:
        own = self.models.get(name)
        return own.tokens_per_inference if own and own.tokens_per_inference else self.tokens_per_inference


def rollout_workers(traffic: Traffic, low: int, high: int) -> tuple[int, int]:
    """(peak, off-peak) rollout workers, for workers ranging low..high; `traffic.rollout` must be given."""
    own = traffic.rollout or RolloutTraffic()
    return (high if own.peak is None else own.peak, low if own.off_peak is None else own.off_peak)


def workload_traffic_problems(traffic: Traffic | None, training: bool, rollout: tuple[int, int] | None) -> list[str]:
    """`traffic.training` needs a training job; `traffic.rollout` needs rollout workers, within their replicas."""
    if traffic is None:
        return []
    problems = []
    if traffic.training is not None and not training:
        problems.append("traffic.training: the stack has no training job; allowed only with `training:`; "
                        "remove traffic.training")
    if traffic.rollout is not None and rollout is None:
        problems.append("traffic.rollout: the stack has no rollout workers; allowed only with `rollout:`; "
                        "remove traffic.rollout")
    elif traffic.rollout is not None and rollout is not None:
        low, high = rollout
        for key, value in (("peak", traffic.rollout.peak), ("offPeak", traffic.rollout.off_peak)):
            if value is not None and not low <= value <= high:
                problems.append(f"traffic.rollout.{key} = {value}: outside rollout.replicas {{min: {low}, max: "
                                f"{high}}}; allowed: {low}..{high}, or widen rollout.replicas")
    return problems


def traffic_problems(traffic: Traffic | None, replicas: Mapping[str, tuple[int, int]],
                     provider_models: tuple[str, ...] = ()) -> list[str]:
    """The profile's models exist, and their replicas lie in their range (`replicas`: per model, min and max); a
    provider-only model (`provider_models`) has tokens, no replicas."""
    if traffic is None:
        return []
    problems = []
    for name, own in traffic.models.items():
        if name in provider_models:
            for key, value in (("peak", own.peak), ("offPeak", own.off_peak)):
                if value is not None:
                    problems.append(f"traffic.models.{name}.{key} = {value}: {name} is served by its provider only, "
                                    "with no replicas of the stack; allowed: inputTokensPerDay and outputTokensPerDay; "
                                    f"drop {key}")
            continue
        if name not in replicas:
            problems.append(f"traffic.models.{name}: no model named {name!r}; models: {sorted(replicas)}")
            continue
        low, high = replicas[name]
        for key, value in (("peak", own.peak), ("offPeak", own.off_peak)):
            if value is not None and not low <= value <= high:
                problems.append(f"traffic.models.{name}.{key} = {value}: outside the model's replicas "
                                f"{{min: {low}, max: {high}}}; allowed: {low}..{high}, or widen models[].replicas")
    return problems
