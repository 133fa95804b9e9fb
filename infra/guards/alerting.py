"""Firing alerts reach someone: an Alertmanager config is delivered where the Alertmanager reads it, and names a
receiver that sends somewhere.

Without it GKE's managed Alertmanager runs a no-op config and kube-prometheus-stack's routes every
alert to its `null` receiver: rules evaluate, alerts fire, nobody hears them.
"""

from __future__ import annotations

from typing import Any

from infra.cluster.alertmanager import (
    CONFIG_KEY,
    alertmanager_config,
    notification_targets,
    validate_alertmanager_config,
)
from infra.cluster.monitoring import GMP_ALERTMANAGER_SECRET, GMP_PUBLIC_NS
from infra.guards.base import StackPlan, Verdict
from infra.planned import PlannedResource

NAME = "alerts-reach-someone"
_RELEASE = "kubernetes:helm.sh/v3:Release"


def _secrets(plan: StackPlan) -> dict[tuple[str, str], PlannedResource]:
    out = {}
    for r in plan.resources:
        if r.inputs.get("kind") == "Secret" and r.inputs.get("apiVersion") == "v1":
            meta = r.inputs.get("metadata") or {}
            out[(meta.get("namespace", ""), meta.get("name", r.name))] = r
    return out


def _has_config(secret: PlannedResource | None) -> bool:
    return secret is not None and CONFIG_KEY in {**(secret.inputs.get("stringData") or {}),
                                                 **(secret.inputs.get("data") or {})}


def _delivery_problems(plan: StackPlan) -> list[str]:
    """Each Alertmanager in the plan reads a Secret holding our config."""
    problems: list[str] = []
    secrets = _secrets(plan)
    managed = any(str(r.inputs.get("apiVersion", "")).startswith("monitoring.googleapis.com/") for r in plan.resources)
    if managed and not _has_config(secrets.get((GMP_PUBLIC_NS, GMP_ALERTMANAGER_SECRET))):
        problems.append(f"GMP Rules are planned but no Secret {GMP_PUBLIC_NS}/{GMP_ALERTMANAGER_SECRET} with key "
                        f"{CONFIG_KEY}: the managed Alertmanager keeps its no-op config; create it from "
                        "infra/cluster/alertmanager.py alertmanager_config")
    for r in plan.resources:
        if r.type != _RELEASE or r.inputs.get("chart") != "kube-prometheus-stack":
            continue
        spec: dict[str, Any] = ((r.inputs.get("values") or {}).get("alertmanager") or {}).get("alertmanagerSpec") or {}
        secret_name = spec.get("configSecret")
        if not spec.get("useExistingSecret") or not secret_name:
            problems.append(f"Release {r.name}: alertmanager.alertmanagerSpec.useExistingSecret/configSecret unset: "
                            "the chart's config routes every alert to its 'null' receiver; point configSecret at "
                            "a Secret holding alertmanager_config")
        elif not _has_config(secrets.get((r.inputs.get("namespace", ""), secret_name))):
            problems.append(f"Release {r.name}: configSecret {secret_name!r} is not a planned Secret in namespace "
                            f"{r.inputs.get('namespace')!r} with key {CONFIG_KEY}; create it")
    return problems


def alerts_reach_someone(plan: StackPlan) -> Verdict:
    cfg = plan.cfg
    problems = _delivery_problems(plan)
    problems += [f"alertmanager config {p}" for p in validate_alertmanager_config(alertmanager_config(cfg))]
    if problems:
        return Verdict(NAME, "fail", "; ".join(problems))
    targets = notification_targets(cfg)
    if not targets:
        budget = ""
        if cfg.budget is not None and cfg.budget.emails:
            budget = (" (budget.emails get budget alarms only: Alertmanager mails through an SMTP relay, so set "
                      "alerts.email.smarthost and alerts.email.from to send alerts there too)")
        return Verdict(NAME, "warn", "alerts: no receiver is configured, so firing alerts reach no one"
                       f"{budget}; set llm-fleet:alerts.email, or alerts.slackWebhookUrl / alerts.webhookUrl / "
                       "alerts.pagerdutyRoutingKey (as secrets)")
    return Verdict(NAME, "pass", f"alerts are delivered by {', '.join(targets)}")
