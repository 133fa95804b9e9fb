"""GCP billing budget for one stack: thresholds, e-mail channels and a Pub/Sub topic for automation.

The budget watches the stack's project, narrowed to resources labelled with the stack, so
two stacks sharing a project (rare, but it happens in dev) each get their own alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.names import STACK_TAG
from infra.platforms.stack import BudgetAlerts


@dataclass(frozen=True)
class GcpBudgetArgs:
    project: str
    billing_account: str
    budget: BudgetAlerts


class GcpBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: GcpBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:GcpBudget", name, None, opts)
        budget = args.budget
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)

        # Automation (a Cloud Function that scales GPU pools to zero, a chat bot) subscribes here.
        topic = gcp.pubsub.Topic(f"{name}-alerts", project=args.project, name=f"llm-fleet-{stack}-budget",
                                 labels={STACK_TAG: stack}, opts=child)
        channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{i}", project=args.project, type="email",
                display_name=f"llm-fleet {stack} budget: {email}", labels={"email_address": email}, opts=child)
            for i, email in enumerate(budget.emails)
        ]
        project = gcp.organizations.get_project_output(project_id=args.project)
        rules = [gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="CURRENT_SPEND")
                 for t in budget.thresholds]
        rules += [gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="FORECASTED_SPEND")
                  for t in budget.forecast_thresholds]
        units = int(budget.monthly_amount)
        nanos = round((budget.monthly_amount - units) * 1e9)
        self.budget = gcp.billing.Budget(
            f"{name}",
            billing_account=args.billing_account,
            display_name=f"llm-fleet-{stack}",
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[project.number.apply(lambda n: f"projects/{n}")],
                labels={STACK_TAG: stack},
                calendar_period="MONTH",
            ),
            amount=gcp.billing.BudgetAmountArgs(specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                currency_code=budget.currency, units=str(units), nanos=nanos or None)),
            threshold_rules=rules,
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=[c.id for c in channels],
                pubsub_topic=topic.id,
                disable_default_iam_recipients=False,
            ),
            opts=child,
        )
        self.budget_name = self.budget.display_name
        self.topic = topic.id
        self.register_outputs({"budgetName": self.budget_name, "topic": self.topic})
