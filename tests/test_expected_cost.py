"""Expected cost at a traffic profile and cost per token, against figures worked out by hand."""

from __future__ import annotations

import copy
import json

import pytest

from infra.compare import cost_delta
from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.expected_report import expected_json
from infra.platforms import pool_facts
from infra.report import delta_json
from tests.conftest import assert_one_config_error, stack_config

RATE = 2.0  # USD per A100-40GB node-hour (1 GPU per node), set through `pricing:` so the arithmetic is round
# Per A100 node-hour the stack also pays its boot disk (200 GB at $0.10/GB-month over 730 h) and, with private
# nodes, Cloud NAT's $0.0014 per VM-hour (infra/fees.py).
NODE_FEES = 200 * 0.10 / 730 + 0.0014


def small_stack(**traffic) -> dict:
    """One A100 pool (1..4 one-GPU nodes at $2/h), one model (1..4 replicas), no training, no rollout."""
    raw = stack_config("prod")
    raw["nodePools"] = [{"name": "a100-serving", "gpu": "A100-40GB", "gpusPerNode": 1, "minNodes": 1,
                         "maxNodes": 4, "capacity": "on-demand"}]
    raw["models"][0]["replicas"] = {"min": 1, "max": 4}
    raw.pop("training")
    raw.pop("rollout")
    raw["artifacts"].pop("trainingImage", None)
    raw["artifacts"].pop("rolloutImage", None)
    raw["pricing"] = {"A100-40GB": {"onDemand": RATE}}
    raw["traffic"] = traffic
    # No gateway: these figures are the GPU fleet's (the gateway's own are tests/test_gateway_stack.py's).
    raw["serving"].pop("gateway")
    raw["models"][0].pop("fallbacks")
    raw.pop("togetherApiKey")
    return raw


def cost_of(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def test_twelve_hours_at_four_replicas_and_twelve_at_one_every_day():
    cost = cost_of(small_stack(peakHours="08:00-20:00", peakDays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))
    e = cost.expected
    # Pool: 12 h x 4 nodes + 12 h x 1 node = 60 node-hours a day x $2 = $120/day, $840/week.
    assert e.pools_per_week["a100-serving"] == pytest.approx(840)
    # The whole stack: its minimum (every pool at its floor, 1 A100 node) all day, plus 3 more A100 nodes for 12 h
    # with their fees: 36 node-hours x ($2 + $0.0274 disk + $0.0014 NAT) above the minimum.
    assert e.daily == pytest.approx(cost.daily_min + 36 * (RATE + NODE_FEES))
    assert e.weekday_daily == pytest.approx(e.weekend_daily)  # every day has the same peak
    assert e.monthly == pytest.approx(e.daily / 24 * 730)


def test_weekends_are_off_peak_by_default():
    e = cost_of(small_stack()).expected
    pool = e.pools_per_week["a100-serving"]
    # Weekdays: $120 (as above); Saturday and Sunday at 1 node all day: 24 x $2 = $48. Week: 5 x 120 + 2 x 48 = $696.
    assert pool == pytest.approx(696)
    weekday_minus_weekend = 36 * (RATE + NODE_FEES)  # the peak's 3 extra nodes for 12 h
    assert e.weekday_daily - e.weekend_daily == pytest.approx(weekday_minus_weekend)


def test_profile_replicas_override_the_range_and_whole_nodes_follow():
    # Peak 3, off-peak 2 on one-GPU nodes: 12 x 3 + 12 x 2 = 60 node-hours on weekdays, 48 on weekend days.
    e = cost_of(small_stack(models={"qwen-7b": {"peak": 3, "offPeak": 2}})).expected
    assert e.pools_per_week["a100-serving"] == pytest.approx((5 * 60 + 2 * 48) * RATE)


def test_working_hours_scale_to_the_minimum_outside_them_in_their_own_time_zone():
    raw = small_stack(timezone="UTC")
    raw["models"][0]["replicas"] = {"min": 0, "max": 4}
    raw["nodePools"][0]["minNodes"] = 0
    # Working hours 08:00-20:00 Berlin = 07:00-19:00 UTC in January (UTC+1); peak 08:00-20:00 UTC.
    raw["serving"] = {"workingHours": {"timezone": "Europe/Berlin", "start": "0 8 * * 1-5", "end": "0 20 * * 1-5"}}
    e = cost_of(raw).expected
    # A weekday: 07-08 UTC working but off-peak: KEDA's cron trigger holds 1 replica; 08-19 peak: 4 replicas;
    # 19-20 peak but outside working hours: scaled to min 0. 1 + 11 x 4 = 45 node-hours x $2 = $90; weekends $0.
    assert e.pools_per_week["a100-serving"] == pytest.approx(5 * 90)


def test_cost_per_token_and_per_inference_at_expected_load():
    raw = small_stack(peakDays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tokensPerInference=500)
    raw["models"][0]["throughput"] = {"outputTokensPerSecond": 1000, "concurrency": 64}
    (t,) = cost_of(raw).expected.tokens
    # 60 replica-hours a day x 3,600 s x 1,000 tok/s = 216M output tokens for the pool's $120 (its only model).
    assert t.per_million == pytest.approx(120 / 216)  # $0.5556 per 1M output tokens
    assert t.per_inference == pytest.approx(120 / 216 * 500 / 1e6)  # $0.000278: under the $0.0005 target
    assert not t.above_target
    raw["models"][0]["throughput"]["outputTokensPerSecond"] = 100  # ten times slower: 21.6M tokens a day
    # for $120: $5.5556 per 1M, x 500 tokens = $0.0027778 per inference
    (slow,) = cost_of(raw).expected.tokens
    assert slow.per_inference == pytest.approx(0.0027778, abs=1e-7)
    assert slow.above_target
    assert expected_json(cost_of(raw))["tokens"][0]["aboveTarget"] is True


def test_seed_workload_expected_cost():
    raw = stack_config("prod")
    raw["traffic"] = {}  # the defaults: 12 replicas 08:00-20:00 on weekdays, 4 otherwise
    e = cost_of(raw).expected
    # A100 pool at $3.67/node-h (GCP list, a2-highgpu-1g): weekday 12 h x 12 + 12 h x 4 = 192 node-hours = $704.64,
    # weekend day 96 node-hours = $352.32; week 5 x 704.64 + 2 x 352.32 = $4,227.84.
    assert e.pools_per_week["a100-serving"] == pytest.approx(4227.84)
    assert e.pools_per_week["h100-training"] == 0  # the job is suspended, as the minimum counts it
    assert e.pools_per_week["rollout"] == pytest.approx(1.553888 * 24 * 7)  # its 1-node minimum
    assert expected_json(cost_of(raw))["daily"]["weekday"] - expected_json(cost_of(raw))["daily"]["weekendDay"] \
        == pytest.approx(352.32 + 96 * NODE_FEES, abs=0.01)


def test_no_profile_no_expected_figure():
    raw = stack_config("prod")
    raw.pop("traffic")
    assert cost_of(raw).expected is None


def test_compare_shows_the_expected_delta():
    raw = small_stack()
    base = cost_of(raw)
    more = copy.deepcopy(raw)
    more["traffic"] = {"models": {"qwen-7b": {"peak": 3}}}  # one node fewer for 12 h on 5 weekdays a week
    delta = delta_json(cost_delta("main", base, cost_of(more)))
    assert delta["expected"]["daily"] == pytest.approx(-(12 * 5 / 7) * (RATE + NODE_FEES), abs=0.01)


def test_profile_names_unknown_models_and_replicas_outside_the_range():
    assert_one_config_error(small_stack(models={"qwen-70b": {"peak": 2}}), ["traffic.models.qwen-70b", "no model"])
    assert_one_config_error(small_stack(models={"qwen-7b": {"peak": 9}}),
                            ["traffic.models.qwen-7b.peak = 9", "allowed: 1..4"])
    assert_one_config_error(small_stack(peakHours="8-20"), ["traffic.peakHours = '8-20'", "HH:MM-HH:MM"])
    assert_one_config_error(small_stack(timezone="Mars/Olympus"), ["traffic.timezone", "IANA"])


def test_shipped_prod_cost_per_inference_against_the_seed_target():
    (t,) = cost_of(stack_config("prod")).expected.tokens
    # The A100 pool's $4,227.84 a week (test_seed_workload_expected_cost) buys 1,152 replica-hours x 3,600 s x
    # 495 tok/s = 2,052,864,000 output tokens: $2.0595 per 1M; x 128 tokens = $0.000264 per inference (< $0.0005).
    assert t.per_million == pytest.approx(4227.84 / 2052.864, abs=1e-4)
    assert t.per_inference == pytest.approx(0.00026362, abs=1e-8)
    assert not t.above_target


def test_the_pr_comment_shows_the_expected_cost_and_its_change(tmp_path):
    from tests.test_workflows import pr_module

    folder = tmp_path / "preview-prod"
    folder.mkdir()
    plan = {"guards": [], "cost": {"daily": {"min": 399.17, "max": 1301.94},
                                   "expected": {"daily": {"average": 652.8}}},
            "costDelta": {"daily": {"min": 0, "max": 0}, "expected": {"daily": -25.5}}}
    (folder / "plan.json").write_text(json.dumps(plan))
    (folder / "plan.exit").write_text("0\n")
    row, _ = pr_module().stack_row(folder)
    assert "| $652.80 (-$25.50) |" in row  # the average expected $/day and its change against the base


def test_the_terminal_report_shows_expected_beside_min_max_and_flags_cost_above_target():
    from rich.console import Console

    from infra.expected_report import expected_summary, tokens_table

    raw = small_stack(peakDays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tokensPerInference=500)
    raw["models"][0]["throughput"] = {"outputTokensPerSecond": 100, "concurrency": 8}
    cost = cost_of(raw)
    summary = expected_summary(cost)
    assert summary.startswith(f"Expected at the traffic profile: ${cost.expected.weekday_daily:,.2f}/")
    # No training job and no rollout workers: nothing counts without a profile, so nothing is named after max.
    assert summary.endswith(f"max ${cost.daily_max:,.2f}/day")
    console = Console(record=True, width=200)
    console.print(tokens_table(cost.expected))
    text = console.export_text()
    assert "$0.002778 above target" in text  # $0.0027778 per inference (test above) > $0.0005
    assert "$5.5556" in text  # per 1M output tokens
    assert "a lower bound" in text  # every running replica at its measured throughput, all the time


def test_unreadable_working_hours_count_as_always_up():
    raw = small_stack()
    raw["models"][0]["replicas"] = {"min": 0, "max": 4}
    raw["nodePools"][0]["minNodes"] = 0
    # `?` as the day of week: KEDA reads it as `*` (every day), this walk does not (`L` is refused by the config now).
    raw["serving"] = {"workingHours": {"start": "0 10 * * ?", "end": "0 20 * * ?"}}
    # As if always up: 12 peak hours x 4 nodes x $2 = $96 on each of 5 weekdays, nothing off-peak (min 0) = $480.
    # Read as 10:00-20:00 it would be 10 h x 4 x $2 x 5 = $400: the walk errs on the dearer side.
    assert cost_of(raw).expected.pools_per_week["a100-serving"] == pytest.approx(480)


def test_cron_day_names_and_sunday_as_seven():
    from infra.expected import _cron_minutes

    # MON-FRI at 08:30: Monday 08:30 is minute 510 of the week, Friday's 4 x 1,440 later; 7 is Sunday (day 6).
    assert sorted(_cron_minutes("30 8 * * MON-FRI")) == [d * 1440 + 510 for d in range(5)]
    assert _cron_minutes("0 0 * * 7") == [6 * 1440]
