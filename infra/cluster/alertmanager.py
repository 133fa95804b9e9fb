"""Where alerts go: the ONE Alertmanager configuration both monitoring dialects deliver.

GKE's managed Alertmanager and kube-prometheus-stack's Alertmanager read the same file format
(https://prometheus.io/docs/alerting/latest/configuration/); only where the file lives differs, and
`Monitoring` decides that. Without this file the managed one has a no-op config and the chart's
default routes everything to its `null` receiver: alerts fire and reach no one.
"""

from __future__ import annotations

from typing import Any

from infra.config import StackConfig

NOTIFY, PAGE, DROP = "llm-fleet-notify", "llm-fleet-page", "drop"
# Both Alertmanagers read the config from this key (GMP: OperatorConfig's default managedAlertmanager.configSecret;
# prometheus-operator: Alertmanager.spec.configSecret "should be available under the alertmanager.yaml key").
CONFIG_KEY = "alertmanager.yaml"
# kube-prometheus-stack's own rules: Watchdog always fires (a dead-man's switch), InfoInhibitor only inhibits.
_NEVER_NOTIFY = ("Watchdog", "InfoInhibitor")


def notification_targets(cfg: StackConfig) -> list[str]:
    """The integrations alerts are delivered through, e.g. ['email', 'slack'] ([] means nobody hears them)."""
    a = cfg.alerts
    kinds = [("email", a.email is not None and bool(email_recipients(cfg))), ("slack", a.slack_webhook_url),
             ("webhook", a.webhook_url), ("pagerduty", a.pagerduty_routing_key)]
    return [kind for kind, on in kinds if on]


def email_recipients(cfg: StackConfig) -> list[str]:
    email = cfg.alerts.email
    if email is None:
        return []
    return [str(e) for e in (email.to or (cfg.budget.emails if cfg.budget else []))]


def alertmanager_config(cfg: StackConfig) -> dict[str, Any]:
    """The Alertmanager config of this stack: every alert to the configured targets, critical ones also paged."""
    a = cfg.alerts
    notify: dict[str, Any] = {"name": NOTIFY}
    recipients = email_recipients(cfg)
    if a.email is not None and recipients:
        email: dict[str, Any] = {"to": ", ".join(recipients), "from": str(a.email.from_),
                                 "smarthost": a.email.smarthost, "require_tls": a.email.require_tls,
                                 "send_resolved": True}
        if a.email.username:
            email["auth_username"] = a.email.username
        if a.email.password:
            email["auth_password"] = a.email.password
        notify["email_configs"] = [email]
    if a.slack_webhook_url:
        slack: dict[str, Any] = {"api_url": a.slack_webhook_url, "send_resolved": True}
        if a.slack_channel:
            slack["channel"] = a.slack_channel
        notify["slack_configs"] = [slack]
    if a.webhook_url:
        notify["webhook_configs"] = [{"url": a.webhook_url, "send_resolved": True}]
    receivers: list[dict[str, Any]] = [notify, {"name": DROP}]
    routes: list[dict[str, Any]] = [{"receiver": DROP, "matchers": [f'alertname="{n}"']} for n in _NEVER_NOTIFY]
    if a.pagerduty_routing_key:
        receivers.append({"name": PAGE, "pagerduty_configs": [{"routing_key": a.pagerduty_routing_key,
                                                               "send_resolved": True}]})
        # Critical alerts page AND notify: `continue` lets the default receiver have them too.
        routes.append({"receiver": PAGE, "matchers": ['severity="critical"'], "continue": True})
    return {
        "route": {"receiver": NOTIFY, "group_by": ["alertname", "namespace", "model", "model_name"],
                  "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h", "routes": routes},
        "receivers": receivers,
        # A model that is down also queues requests: tell people once, about the cause.
        "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["namespace", "model_name"]}],
    }


_INTEGRATIONS = {"email_configs": ("to", "smarthost", "from"), "slack_configs": ("api_url",),
                 "webhook_configs": ("url",), "pagerduty_configs": ("routing_key",)}


def validate_alertmanager_config(config: dict[str, Any]) -> list[str]:
    """What Alertmanager would refuse to load: a route to a receiver that does not exist, an integration missing a
    field it needs (the checks of config.Load, prometheus/alertmanager config/config.go), or no route at all."""
    problems: list[str] = []
    receivers = config.get("receivers") or []
    names = [r.get("name") for r in receivers]
    if len(set(names)) != len(names) or None in names:
        problems.append(f"receivers {names}: every receiver needs a unique name")
    route = config.get("route")
    if not isinstance(route, dict) or not route.get("receiver"):
        return [*problems, "route: missing, or it names no receiver; the root route must have one"]
    if route.get("matchers"):
        problems.append("route.matchers: the root route must match every alert")

    def walk(node: dict[str, Any], where: str) -> None:
        if "receiver" in node and node["receiver"] not in names:
            problems.append(f"{where}.receiver = {node['receiver']!r}: no such receiver; receivers: {names}")
        for i, child in enumerate(node.get("routes") or []):
            walk(child, f"{where}.routes[{i}]")

    walk(route, "route")
    for r in receivers:
        for kind, needed in _INTEGRATIONS.items():
            for i, integration in enumerate(r.get(kind) or []):
                missing = [k for k in needed if not integration.get(k)]
                if missing:
                    problems.append(f"receivers[{r.get('name')}].{kind}[{i}]: missing {', '.join(missing)}")
    return problems
