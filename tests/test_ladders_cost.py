"""What a capacity ladder costs: a model's replicas fill its rungs in order — the warm minimum on the first rungs,
the expected load rung 1 up to its maxNodes, then rung 2 — while each pool's maximum stays its own maxNodes."""

from __future__ import annotations

import pytest

from infra.config import parse_stack_config
from infra.cost import fleet_cost, gpus_used, warm_nodes
from infra.fleet import resolve_fleet
from infra.guards.base import StackPlan
from infra.guards.capacity import warm_replicas_fit_pool_minimum
from infra.ladder_fill import fill
from infra.platforms import pool_facts
from tests.test_ladders_config import prod_with_ladder

RUNGS = ("a100-serving", "a100-spot", "a100-ondemand")


def committed_ladder(replicas_min: int = 4) -> dict:
    """prod, qwen-7b (1 GPU a replica, 4..12) on committed a100 (4 nodes, gcp-cud-3y) -> spot (0..8) -> on-demand
    (0..4), at round prices: A100-40GB $3.00/h on demand, $1.00/h spot."""
    raw = prod_with_ladder()
    raw["nodePools"][0].update(maxNodes=4, capacity="reservation", reservation="a100-cud",
                               commitment={"plan": "gcp-cud-3y", "nodes": 4})
    raw["models"][0]["replicas"] = {"min": replicas_min, "max": 12}
    raw["pricing"] = {"A100-40GB": {"onDemand": 3.00, "spot": 1.00}}
    return raw


def cost_of(raw: dict):
    cfg = parse_stack_config(raw)
    fleet = resolve_fleet(cfg)
    return cfg, fleet, fleet_cost(cfg, fleet)


def pools(cost) -> dict:
    return {p.pool: p for p in cost.pools}


def test_the_minimum_is_the_four_committed_nodes_only():
    _, fleet, cost = cost_of(committed_ladder())
    # 4 warm replicas fill the committed rung (4 nodes of 1 GPU); spot and on-demand run none.
    assert {k: warm_nodes(fleet).get(k, 0) for k in RUNGS} == {"a100-serving": 4, "a100-spot": 0, "a100-ondemand": 0}
    p = pools(cost)
    # gcp-cud-3y: 57 % off $3.00 -> $1.29/GPU-h; 4 x 1.29 x 24 = $123.84/day, and nothing on the other rungs.
    assert p["a100-serving"].hourly_min * 24 == pytest.approx(123.84)
    assert p["a100-spot"].hourly_min == 0 and p["a100-ondemand"].hourly_min == 0


def test_the_ladders_maximum_is_its_worst_case_not_every_rung_full():
    _, _, cost = cost_of(committed_ladder())
    p = pools(cost)
    # 12 replicas at most: 4 on the committed nodes that always run; the other 8 on the dearest rungs first,
    # on-demand ($3.00) holds 4, spot ($1.00) the last 4 — not its 8 (4 + 8 + 4 = 16 nodes for 12 replicas).
    # committed 4 x 1.29 x 24 = 123.84; spot 4 x 1.00 x 24 = 96; on-demand 4 x 3.00 x 24 = 288.
    assert [p[r].hourly_max * 24 for r in RUNGS] == pytest.approx([123.84, 96.0, 288.0])
    assert [p[r].running_max_nodes for r in RUNGS] == [4, 4, 4] and p["a100-spot"].max_nodes == 8
    assert any("runs at most 4 of its 8 nodes" in n for n in cost.notes)


def test_an_on_demand_rung_that_can_take_the_whole_burst_is_the_maximum():
    raw = committed_ladder()
    raw["nodePools"][2]["maxNodes"] = 8  # on-demand can take all 8 burst replicas when spot is gone
    _, _, cost = cost_of(raw)
    p = pools(cost)
    # The 8 replicas beyond the committed 4 all on on-demand: 8 x 3.00 x 24 = 576; spot runs none: $0.
    assert [p[r].running_max_nodes for r in RUNGS] == [4, 0, 8]
    assert [p[r].hourly_max * 24 for r in RUNGS] == pytest.approx([123.84, 0.0, 576.0])


def test_twelve_replicas_at_peak_are_four_committed_and_eight_spot_not_on_demand():
    _, fleet, _ = cost_of(committed_ladder())
    peak = fill(fleet.models, {"qwen-7b": 12})
    assert peak.on("a100-serving") == {"qwen-7b": 4}
    assert peak.on("a100-spot") == {"qwen-7b": 8}
    assert peak.on("a100-ondemand") == {}
    # GPUs used per pool at (min, max): 4 replicas all committed; 12 = 4 committed + 8 spot.
    used = gpus_used(fleet)
    assert [used.get(r, (0, 0)) for r in RUNGS] == [(4, 4), (0, 8), (0, 0)]


def test_the_expected_week_pays_the_commitment_and_spot_at_peak_only():
    _, _, cost = cost_of(committed_ladder())
    e = cost.expected
    assert e is not None
    # prod's profile: 12 replicas 08:00-20:00 on weekdays, 4 otherwise.
    # Committed rung: 4 nodes paid all week, 4 x 1.29 x 168 = $866.88. Spot: 8 nodes x 12 h x 5 days = 480
    # node-hours x $1.00 = $480. On-demand: never reached, $0.
    assert e.pools_per_week["a100-serving"] == pytest.approx(866.88)
    assert e.pools_per_week["a100-spot"] == pytest.approx(480.0)
    assert e.pools_per_week["a100-ondemand"] == 0
    # The model pays both rungs it ran on: 866.88 + 480 = $1,346.88 a week.
    (load,) = [m for m in e.models if m.name == "qwen-7b"]
    assert load.cost_per_week == pytest.approx(1346.88)


def test_on_demand_takes_what_the_first_rungs_cannot_hold():
    # 14 replicas: 4 committed, 8 spot (full), the last 2 on on-demand.
    _, fleet, _ = cost_of(committed_ladder())
    placed = fill(fleet.models, {"qwen-7b": 14})
    assert [placed.on(r).get("qwen-7b", 0) for r in RUNGS] == [4, 8, 2]


def test_another_models_use_of_a_rung_is_counted_first():
    raw = committed_ladder()
    other = {**raw["models"][0], "name": "qwen-7b-b", "pool": "a100-spot", "replicas": {"min": 1, "max": 3}}
    other.pop("pools")
    raw["models"].append(other)
    raw["artifacts"]["modelRevisions"]["qwen-7b-b"] = raw["artifacts"]["modelRevisions"]["qwen-7b"]
    _, fleet, _ = cost_of(raw)
    # qwen-7b-b holds 3 of spot's 8 nodes at its maximum, so qwen-7b's 12 are 4 committed + 5 spot + 3 on-demand.
    placed = fill(fleet.models, {"qwen-7b": 12, "qwen-7b-b": 3})
    assert [placed.on(r).get("qwen-7b", 0) for r in RUNGS] == [4, 5, 3]
    assert placed.nodes("a100-spot", 1) == 8


def test_the_warm_guard_follows_the_fill():
    # replicas.min 6: 4 on the committed rung (its maxNodes), 2 on spot, whose minNodes is 0.
    raw = committed_ladder(replicas_min=6)
    cfg = parse_stack_config(raw)
    facts = pool_facts(cfg)
    plan = StackPlan(cfg, facts, fleet_cost(cfg, facts))
    verdict = warm_replicas_fit_pool_minimum(plan)
    assert verdict.status == "warn"
    assert ("pool a100-spot: qwen-7b (2 of its replicas.min 6 x 1 GPU, on this rung) hold 2 node(s) of 1 GPU(s) but "
            "nodePools[1].minNodes = 0; set minNodes: 2") in verdict.message
    assert "pool a100-serving" not in verdict.message
    # The 2 warm spot nodes are in the minimum: 123.84 + 2 x 1.00 x 24 = $171.84/day on the ladder.
    p = pools(plan.cost)
    assert sum(p[r].hourly_min for r in RUNGS) * 24 == pytest.approx(171.84)
