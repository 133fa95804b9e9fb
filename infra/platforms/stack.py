"""What every platform reads from the stack alone: the tags its cloud resources carry, the cloud identity
each workload's service account asks for, and the budget its alarms watch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.config import StackConfig
from infra.names import (
    RAY_ROLLOUT_SERVICE_ACCOUNT,
    ROLLOUT_NAMESPACE,
    ROLLOUT_SERVICE_ACCOUNT,
    SERVING_NAMESPACE,
    SERVING_SERVICE_ACCOUNT,
    STACK_TAG,
    TIER_TAG,
    TRAINING_NAMESPACE,
    TRAINING_SERVICE_ACCOUNT,
)
from infra.seam import IdentityRequest, bucket_access


def identity_requests(cfg: StackConfig) -> dict[str, IdentityRequest]:
    """What each workload's service account needs, from config alone (workloads ask for it; plan notes show it).

    Serving reads its models' bucket sources and adapter stores and writes the shared compile cache, if any; the
    trainer writes its checkpoint bucket and the adapter stores (it publishes there); any workload also reads every
    bucket its own env, command or args name.
    """
    adapters = [root for m in cfg.models if (root := cfg.adapter_root(m)) is not None]
    # The shared compile cache (serving.coldStart.compileCache): every replica reads it and the first one seeds it.
    cache = cfg.compile_cache_url()
    requests = {"serving": IdentityRequest(
        "serving", SERVING_NAMESPACE, SERVING_SERVICE_ACCOUNT,
        bucket_access([m.source for m in cfg.models if not m.is_huggingface] + adapters, [cache] if cache else []),
        reads_staged_weights=True)}
    if cfg.rollout is not None:
        texts = [*cfg.rollout.env.values(), *cfg.rollout.command, *cfg.rollout.args]
        where = ((SERVING_NAMESPACE, RAY_ROLLOUT_SERVICE_ACCOUNT) if cfg.serving.mode == "kuberay"
                 else (ROLLOUT_NAMESPACE, ROLLOUT_SERVICE_ACCOUNT))
        requests["rollout"] = IdentityRequest("rollout", *where, bucket_access(texts))
    if cfg.training is not None:
        t = cfg.training
        requests["training"] = IdentityRequest(
            "training", TRAINING_NAMESPACE, TRAINING_SERVICE_ACCOUNT,
            bucket_access([*t.env.values(), *t.command, *t.args], [t.checkpoint_bucket or "", *adapters]))
    return requests


def stack_tags(cfg: StackConfig) -> dict[str, str]:
    """The labels/tags a stack's cloud resources carry (the budget counts what carries STACK_TAG)."""
    return {STACK_TAG: pulumi.get_stack(), TIER_TAG: cfg.tier}


@dataclass(frozen=True)
class BudgetAlerts:
    """A stack's monthly budget and when it alerts (shares of the amount, on actual and on forecast spend)."""

    monthly_amount: float
    currency: str
    thresholds: list[float]
    forecast_thresholds: list[float]
    emails: list[str]


def budget_alerts(cfg: StackConfig) -> BudgetAlerts | None:
    """The stack's budget (None: no budget alarm)."""
    b = cfg.budget
    if b is None:
        return None
    return BudgetAlerts(b.monthly_amount, b.currency, b.thresholds, b.forecast_thresholds, b.emails)
