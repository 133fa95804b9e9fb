"""Spend: the `budget` block, the `pricing` overrides, the `currentRates` paid elsewhere, and `alerts` (where
firing alerts go)."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, field_validator

from infra.catalog import GpuKind
from infra.config.base import ConfigModel
from infra.providers import ALTERNATIVES


class Budget(ConfigModel):
    """The monthly cloud budget and its alerts (a GCP billing budget or an AWS budget)."""

    monthly_amount: float = Field(gt=0)
    """The monthly amount, in `currency`. Default budget: $1,000 in dev, $5,000 in staging; prod requires one."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    """ISO 4217 currency code of the amount (default `USD`; on EKS only `USD`)."""
    thresholds: list[Annotated[float, Field(gt=0, le=2)]] = Field(default=[0.5, 0.9, 1.0])
    """Shares of the amount (0..2] at which actual spend alerts; distinct (default [0.5, 0.9, 1.0])."""
    forecast_thresholds: list[Annotated[float, Field(gt=0, le=2)]] = Field(default=[1.0])
    """Shares of the amount (0..2] at which forecast spend alerts; distinct (default [1.0]); on EKS at most 10
    thresholds of both lists together (AWS's limit per budget)."""
    emails: list[EmailStr] = Field(default=[], max_length=5)  # GCP allows 5 channels per budget
    """Addresses the budget's alerts go to (at most 5)."""

    @field_validator("thresholds", "forecast_thresholds")
    @classmethod
    def _distinct(cls, value: list[float]) -> list[float]:
        # Alerts are at whole hundredths of a percent; the same one twice is refused by AWS and pointless on GCP.
        percents = [round(t * 100, 2) for t in value]
        twice = sorted({t for t, p in zip(value, percents, strict=True) if percents.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(str, twice))} listed twice; allowed: distinct shares of the amount")
        return value


class PriceOverride(ConfigModel):
    """Prices of one GPU kind that override the catalog's (GKE: us-central1, EKS: us-east-1 list prices)."""

    on_demand: float | None = Field(default=None, gt=0)
    """On-demand USD per GPU-hour; default: the catalog's (or the existing cluster's `priceAs` list)."""
    spot: float | None = Field(default=None, gt=0)
    """Spot USD per GPU-hour; default: the catalog's."""


# Per provider (its config name, infra/providers.py), per GPU kind: the USD per GPU-hour the team pays there.
CurrentRates = dict[str, dict[GpuKind, float]]


def check_current_rates(value: CurrentRates) -> CurrentRates:
    """Refuses a provider the comparison does not know (naming the ones it does) and a rate that is not positive."""
    known = [a.slug for a in ALTERNATIVES]
    for name, rates in value.items():
        if name not in known:
            raise ValueError(f"{name!r} is not a compared provider; allowed: {', '.join(known)}; "
                             "fix the name or remove its entry")
        for kind, rate in rates.items():
            if rate <= 0:
                raise ValueError(f"{name}.{kind.value} = {rate}: not a rate; allowed: USD per GPU-hour > 0; "
                                 "state what you pay or remove the entry")
    return value


class AlertEmail(ConfigModel):
    """Alert e-mails. Alertmanager delivers mail itself, through an SMTP relay: it has no mail service of its own."""

    smarthost: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]
    """The SMTP relay as `host:port`, e.g. `smtp.example.com:587`."""
    from_: EmailStr = Field(alias="from")
    """The sender address of alert mail."""
    to: list[EmailStr] = Field(default=[], max_length=10)
    """Recipients (at most 10). Default: `budget.emails`."""
    username: str | None = None
    """The relay's login user, if it needs one."""
    password: str | None = None
    """A secret: the relay's password (`pulumi config set --secret --path 'llm-fleet:alerts.email.password' …`)."""
    require_tls: bool = True
    """Whether the relay must speak TLS (default true)."""


class Alerts(ConfigModel):
    """Where firing alerts go (Alertmanager receivers). Values marked secret are set with --secret --path."""

    email: AlertEmail | None = None
    """Alert e-mail through an SMTP relay: `{smarthost, from, to, username, password, requireTls}`."""
    slack_webhook_url: str | None = None
    """A secret: a Slack incoming webhook URL alerts are posted to."""
    slack_channel: str | None = None
    """The Slack channel to post in; default: the webhook's own channel."""
    webhook_url: str | None = None
    """A secret: any Alertmanager webhook consumer (chat bridge, incident tool) alerts are posted to."""
    pagerduty_routing_key: str | None = None
    """A secret: a PagerDuty Events API v2 routing key; pages on critical alerts only."""
