"""AWS Budgets for one stack: a monthly cost budget on the stack's tag, actual and forecast alerts.

The budget counts only cost tagged `llm-fleet-stack=<stack>` (the provider's default tags and the
node groups' launch templates put that tag on everything, instances included), so two stacks in
one account each get their own alarm. AWS ignores a tag in budgets until it is an *active cost
allocation tag*, which this stack does NOT declare: a tag can be activated only once it has shown
up in billing data (~24 h after the first tagged resource), only from the payer (management)
account, and the activation is account-wide, so destroying one stack would deactivate it for
every other. The plan says so (`COST_TAG_NOTE`); the payer activates it once, by hand.
Alerts go to the e-mails and to an SNS topic that automation (a Lambda that scales GPU node
groups to zero, a chat bot) subscribes to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.names import STACK_TAG
from infra.platforms.stack import BudgetAlerts

COST_TAG_NOTE = (
    f"AWS budget: counts only spend tagged {STACK_TAG}; the payer (management) account must activate "
    f"{STACK_TAG} as a cost allocation tag once (Billing > Cost allocation tags, possible ~24 h after the first "
    "tagged resource appears in billing data) — until then the budget sees no spend")


@dataclass(frozen=True)
class AwsBudgetArgs:
    budget: BudgetAlerts


class AwsBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: AwsBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:AwsBudget", name, None, opts)
        budget = args.budget
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)

        topic = aws.sns.Topic(f"{name}-alerts", name=f"llm-fleet-{stack}-budget", opts=child)
        # AWS Budgets publishes to the topic under its own service principal.
        aws.sns.TopicPolicy(f"{name}-alerts-policy", arn=topic.arn, policy=topic.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "AwsBudgetsPublish", "Effect": "Allow", "Principal": {"Service": "budgets.amazonaws.com"},
                "Action": "SNS:Publish", "Resource": arn}]})), opts=child)

        def notification(kind: str, share: float) -> aws.budgets.BudgetNotificationArgs:
            return aws.budgets.BudgetNotificationArgs(
                notification_type=kind, comparison_operator="GREATER_THAN", threshold=round(share * 100, 2),
                threshold_type="PERCENTAGE", subscriber_email_addresses=list(budget.emails) or None,
                subscriber_sns_topic_arns=[topic.arn])

        self.budget = aws.budgets.Budget(
            f"{name}",
            name=f"llm-fleet-{stack}",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{budget.monthly_amount:.2f}",
            limit_unit=budget.currency,
            # The tag filter's value format: user:<tag key>$<tag value>.
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:{STACK_TAG}${stack}"])],
            notifications=[notification("ACTUAL", t) for t in budget.thresholds]
            + [notification("FORECASTED", t) for t in budget.forecast_thresholds],
            opts=child,
        )
        self.budget_name = self.budget.name
        self.topic = topic.arn
        self.register_outputs({"budgetName": self.budget_name, "topic": self.topic})
