"""The README's generated tables: prod's cost beside the alternatives (`python -m infra cost-table`) and each guard's
verdict per tier (infra/guards/verdicts.py), and the plan's footer saying which verdicts stop `pulumi up`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.guards.base import Verdict
from infra.guards.verdicts import SEVERITY, blocking_footer, blocks_up, markdown, severity
from infra.readme_tables import refresh, regions
from tests.conftest import ROOT, prod_on_one_pool, run_cli


@pytest.fixture
def priced_prod(tmp_path) -> Path:
    """prod on one on-demand A100 pool (4..12 nodes), with its prices stated in the stack itself, so the figures
    below are worked out from the file, not from the catalog."""
    raw = prod_on_one_pool()
    raw["pricing"] = {"A100-40GB": {"onDemand": 3.00}, "H100-80GB": {"spot": 2.00}}
    raw["currentRates"] = {"modal": {"A100-40GB": 3.50, "H100-80GB": 5.00}}
    doc = {"config": {f"llm-fleet:{k}": v for k, v in raw.items()}}
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def test_the_cost_table_puts_the_stack_beside_the_alternatives(priced_prod):
    result = run_cli("cost-table", "--stack", "prod", "-C", str(priced_prod))
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[:2] == ["| USD/day | min | expected | max |", "|---|--:|--:|--:|"]
    # GPU pools: 4 warm A100-40GB nodes x $3.00 x 24 = $288; at peak 12 x $3.00 x 24 + the spot H100 x $2.00 x 24
    # = $864 + $48 = $912.
    # Expected: prod's traffic runs 12 replicas 08:00-20:00 on weekdays and 4 otherwise: 5 x (12 x 12 + 12 x 4)
    # + 2 x 24 x 4 = 1,152 node-hours a week x $3.00 = $3,456 / 7 = $494 a day (the suspended H100: none).
    assert "| its GPU pools | $288 | $494 | $912 |" in rows
    # Modal at the team's own rates, per GPU used: 4 A100s at the minimum (training suspended) x $3.50 x 24 = $336;
    # expected 1,152 GPU-hours x $3.50 / 7 = $576; at peak 12 x $3.50 x 24 + the training H100 x $5.00 x 24 =
    # $1,008 + $120 = $1,128. A stated rate is all-in: no CPU or memory on top.
    assert "| Modal (your rate) | $336 | $576 | $1,128 |" in rows
    # RunPod does not sell the A100-40GB: the row says what it was priced as, never $0.
    runpod = next(r for r in rows if r.startswith("| RunPod ("))
    assert "as A100-80GB" in runpod and "| $0 |" not in runpod
    assert rows[2].startswith("| **prod** |") and rows[2].count("$") == 3  # min, expected (traffic profile), max


def test_a_missing_stack_is_one_line_and_exit_2(tmp_path):
    result = run_cli("cost-table", "--stack", "qa", "-C", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Pulumi.qa.yaml" in result.stderr


def test_the_readme_regions_are_rendered_between_their_markers():
    text = "intro\n<!-- guard-verdicts -->\nstale\n<!-- /guard-verdicts -->\noutro\n"
    assert refresh(text) == f"intro\n<!-- guard-verdicts -->\n{markdown()}<!-- /guard-verdicts -->\noutro\n"
    assert regions((ROOT / "README.md").read_text()) == ["cost-table:prod,seed-gke,seed-eks,seed-coreweave",
                                                         "guard-verdicts", "time-to-serve:prod,eks-prod,coreweave-prod"]


def test_every_guard_of_the_plan_has_a_verdict_per_tier():
    # The guards prod's plan reports (the stored expected plan) are exactly the table's.
    plan = json.loads((ROOT / "tests" / "data" / "expected" / "prod" / "plan.json").read_text())
    assert {g["guard"] for g in plan["guards"]} == set(SEVERITY)
    assert all(set(by_tier) == {"dev", "staging", "prod"} for by_tier in SEVERITY.values())


def test_the_table_says_what_the_issue_found_unpredictable():
    # A budget overrun warns in staging and fails in prod; an autoscaler over its pool fails everywhere.
    assert [severity("budget-covers-max-fleet", t) for t in ("dev", "staging", "prod")] == ["warn", "warn", "fail"]
    assert [severity("autoscaling-fits-pool", t) for t in ("dev", "staging", "prod")] == ["fail"] * 3
    table = markdown()
    assert "| WARN | WARN | FAIL | `budget-covers-max-fleet`" in table  # other guards may share the row
    assert "| WARN | FAIL | FAIL | `images-pinned-by-digest` |" in table


def test_the_guards_return_the_tables_verdict():
    from infra.guards.base import StackPlan
    from infra.guards.images import images_pinned_by_digest
    from infra.planned import PlannedResource

    class Cfg:
        tier = "dev"

    pod = PlannedResource("urn:x", "kubernetes:apps/v1:Deployment", "m", "", True, False,
                          {"kind": "Deployment", "metadata": {"name": "m"},
                           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "vllm:latest"}]}}}})
    for tier, expected in (("dev", "warn"), ("staging", "fail"), ("prod", "fail")):
        Cfg.tier = tier
        verdict = images_pinned_by_digest(StackPlan(Cfg(), {}, None, (pod,)))  # type: ignore[arg-type]
        assert verdict.status == expected, (tier, verdict)


def test_the_footer_says_which_failures_stop_up():
    failed = [Verdict("every-gpu-pool-is-used", "fail", "x"), Verdict("autoscaling-fits-pool", "fail", "y"),
              Verdict("ray-upgrade-has-headroom", "warn", "z")]
    # dev: the config guard stops `up` (program.run refuses); the resource guard is only reported (advisory pack).
    assert blocks_up("every-gpu-pool-is-used", "dev") and not blocks_up("autoscaling-fits-pool", "dev")
    dev = blocking_footer("dev", failed)
    assert dev.startswith("Blocks up: every-gpu-pool-is-used would stop it; autoscaling-fits-pool reported only")
    # prod: the policy pack is mandatory: both stop it.
    assert blocking_footer("prod", failed).startswith(
        "Blocks up: every-gpu-pool-is-used, autoscaling-fits-pool would stop it. In prod every FAIL")


def test_the_plan_prints_the_footer():
    out = run_cli("plan", "--stack", "staging").stdout
    # In staging an over-budget fleet only warns: the config guards that FAIL there are these three.
    assert "Blocks up: nothing here stops it. In staging a FAIL of every-gpu-pool-is-used, " \
        "ladder-holds-its-models-at-max, gateway-has-a-caller stops `pulumi up`" in out.replace("\n", " ")
