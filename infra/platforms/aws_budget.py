"""AWS Budgets for one stack: a monthly cost budget on the stack's tag, actual and forecast alerts.

The budget counts only cost tagged `llm-fleet-stack=<stack>` (the provider's default tags and the
node groups' launch templates put that tag on everything, instances included), so two stacks in
one account each get their own alarm. The tag is activated as a cost allocation tag here too:
AWS ignores tags in budgets until they are. Alerts go to the e-mails and to an SNS topic that
automation (a Lambda that scales GPU node groups to zero, a chat bot) subscribes to.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig

STACK_TAG = "llm-fleet-stack"


class AwsBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:AwsBudget", name, None, opts)
        cfg = args
        assert cfg.budget is not None
        budget = cfg.budget
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)

        topic = aws.sns.Topic(f"{name}-alerts", name=f"llm-fleet-{stack}-budget", opts=child)
        # AWS Budgets publishes to the topic under its own service principal.
        aws.sns.TopicPolicy(f"{name}-alerts-policy", arn=topic.arn, policy=topic.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "AwsBudgetsPublish", "Effect": "Allow", "Principal": {"Service": "budgets.amazonaws.com"},
                "Action": "SNS:Publish", "Resource": arn}]})), opts=child)
        tag = aws.costexplorer.CostAllocationTag(f"{name}-cost-tag", tag_key=STACK_TAG, status="Active", opts=child)

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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[tag]),
        )
        self.budget_name = self.budget.name
        self.topic = topic.arn
        self.register_outputs({"budgetName": self.budget_name, "topic": self.topic})
