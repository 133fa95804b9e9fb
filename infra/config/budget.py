"""Spend: the `budget` block, the `pricing` overrides, and `alerts` (where firing alerts go)."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, field_validator

from infra.config.base import ConfigModel


class Budget(ConfigModel):
    monthly_amount: float = Field(gt=0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    # Shares of the monthly amount. Actual spend alerts at each; forecast at each of the second list.
    thresholds: list[Annotated[float, Field(gt=0, le=2)]] = Field(default=[0.5, 0.9, 1.0])
    forecast_thresholds: list[Annotated[float, Field(gt=0, le=2)]] = Field(default=[1.0])
    emails: list[EmailStr] = Field(default=[], max_length=5)  # GCP allows 5 channels per budget

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
    on_demand: float | None = Field(default=None, gt=0)
    spot: float | None = Field(default=None, gt=0)


class AlertEmail(ConfigModel):
    """Alert e-mails. Alertmanager delivers mail itself, through an SMTP relay: it has no mail service of its own."""

    smarthost: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]  # host:port of the relay
    from_: EmailStr = Field(alias="from")
    to: list[EmailStr] = Field(default=[], max_length=10)  # default: budget.emails
    username: str | None = None
    # A secret: pulumi config set --secret --path 'llm-fleet:alerts.email.password' …
    password: str | None = None
    require_tls: bool = True


class Alerts(ConfigModel):
    """Where firing alerts go (Alertmanager receivers). Values marked secret are set with --secret --path."""

    email: AlertEmail | None = None
    slack_webhook_url: str | None = None  # a secret
    slack_channel: str | None = None  # default: the webhook's own channel
    webhook_url: str | None = None  # a secret: any Alertmanager webhook consumer (chat bridge, incident tool)
    pagerduty_routing_key: str | None = None  # a secret: PagerDuty Events API v2 key; pages on critical alerts
