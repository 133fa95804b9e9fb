"""Guards as plain functions of a StackPlan: each passes on the shipped stacks and fails on its broken case."""

from __future__ import annotations

from infra.config import parse_stack_config
from infra.guards import run_guards
from infra.guards.budget import budget_covers_max_fleet
from infra.guards.pools import every_gpu_pool_is_used
from infra.program import stack_plan
from tests.conftest import STACKS, stack_config


def plan_for(raw):
    return stack_plan(parse_stack_config(raw))


def test_all_guards_pass_on_shipped_stacks():
    for stack in STACKS:
        verdicts = run_guards(plan_for(stack_config(stack)))
        assert [v.status for v in verdicts] == ["pass"] * len(verdicts), (stack, verdicts)


def test_budget_guard_is_an_error_in_prod_and_a_warning_in_staging():
    for stack, status in (("prod", "fail"), ("staging", "warn")):
        raw = stack_config(stack)
        raw["budget"]["monthlyAmount"] = 10
        verdict = budget_covers_max_fleet(plan_for(raw))
        assert verdict.status == status
        assert "exceeds budget.monthlyAmount 10 USD" in verdict.message


def test_budget_guard_boundary_is_the_monthly_cost_at_max():
    raw = stack_config("prod")
    monthly = plan_for(raw).cost.monthly_max
    raw["budget"]["monthlyAmount"] = monthly + 1
    assert budget_covers_max_fleet(plan_for(raw)).status == "pass"
    raw["budget"]["monthlyAmount"] = monthly - 1
    assert budget_covers_max_fleet(plan_for(raw)).status == "fail"


def test_unused_gpu_pool_fails():
    raw = stack_config("dev")
    raw["nodePools"].append({"name": "spare-a100", "gpu": "A100-80GB", "maxNodes": 1})
    verdict = every_gpu_pool_is_used(plan_for(raw))
    assert verdict.status == "fail" and "spare-a100" in verdict.message


def test_a_pool_used_only_by_training_counts_as_used():
    raw = stack_config("dev")
    del raw["training"]
    verdict = every_gpu_pool_is_used(plan_for(raw))
    assert verdict.status == "fail" and "h100-training" in verdict.message
