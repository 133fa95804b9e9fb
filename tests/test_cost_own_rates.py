"""The rates a stack states as its own, marked in what the user sees (issue 12 review, items 4 and 5).

Every figure is worked out by hand in the comment beside it."""

from __future__ import annotations

import pytest

from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from infra.report import plan_json
from tests.conftest import stack_config


def _cost(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def _alt(cost, name):
    return next(a for a in cost.alternatives if a.name == name)


def test_prod_states_the_teams_modal_rate_and_modal_shows_the_1008_a_day_finance_knows():
    # Pulumi.prod.yaml: currentRates.modal.A100-40GB = 3.50. At max 12 replicas x 1 GPU x $3.50 x 24 h = $1,008.00
    # for the A100s; the training H100 stays at Modal's list $3.9492/h: 1 x 3.9492 x 24 = $94.78. Row: $1,102.78.
    modal = _alt(_cost(stack_config("prod")), "Modal")
    a100 = next(line for line in modal.lines if line.priced_as.value == "A100-40GB")
    assert a100.your_rate and a100.hourly_max * 24 == pytest.approx(1008.00)
    assert "A100-40GB at your rate $3.50/GPU-h" in modal.note
    assert round(modal.hourly_max * 24, 2) == 1102.78


def test_a_pricing_override_is_marked_your_rate_in_the_table_json_and_notes(plan_of):
    # coreweave-prod: pricing.A100-40GB.onDemand 2.06 replaces CoreWeave's list (which sells no A100-40GB).
    plan = plan_of("coreweave-prod")
    pools = {p["name"]: p for p in plan_json(plan)["pools"]}
    assert pools["a100-serving"]["yourRate"] is True and pools["h100-training"]["yourRate"] is False
    assert ("cost: pool a100-serving: A100-40GB on-demand at your rate $2.06/GPU-h (`pricing:`), not CoreWeave's "
            "published price") in plan.notes


def test_coreweave_on_coreweave_is_priced_as_the_stacks_own_pools_with_its_commitment(plan_of):
    # coreweave-prod's GPU pools by hand. a100-serving: 1 committed node at 8 x 2.06 x 0.4 = $6.592/h, a second
    # on-demand node 8 x 2.06 = $16.48/h. h100-training: 0..1 node of 8 x $6.155 (49.24/8) = $49.24/h.
    # min: 6.592 x 24 = $158.21/day; max: (6.592 + 16.48 + 49.24) x 24 = $1,735.49/day.
    # At CoreWeave's list it would read $518.40 (1 node of A100-80GB 21.60 x 24) .. $2,218.56 (2 x 21.60 + 49.24) x 24.
    coreweave = _alt(plan_of("coreweave-prod").cost, "CoreWeave")
    assert round(coreweave.hourly_min * 24, 2) == 158.21
    assert round(coreweave.hourly_max * 24, 2) == 1735.49
    assert round(coreweave.list_hourly_max * 24, 2) == 2218.56
    assert coreweave.note.startswith("this stack's own provider: priced as its GPU pools")


def test_other_stacks_keep_coreweave_at_its_list_price():
    # prod (GKE): CoreWeave is an alternative, not the stack's provider: 2 A100-80GB nodes + 1 H100 node at max,
    # (2 x 21.60 + 49.24) x 24 = $2,218.56.
    coreweave = _alt(_cost(stack_config("prod")), "CoreWeave")
    assert coreweave.own is None and round(coreweave.hourly_max * 24, 2) == 2218.56


def test_the_60_percent_contract_discount_is_noted_as_coreweaves_ceiling(plan_of):
    notes = plan_of("coreweave-prod").notes
    assert ("pool a100-serving: commitment at 60% off is CoreWeave's advertised best case (\"up to 60%\" for "
            "committed usage), a ceiling, not a quote; set commitment.rate or commitment.discount to your "
            "contract's figure") in notes


def test_a_contract_discount_below_the_ceiling_gets_no_ceiling_note():
    raw = stack_config("coreweave-prod")
    raw["nodePools"][0]["commitment"] = {"plan": "contract", "nodes": 1, "discount": 0.45}
    assert not any("advertised best case" in n for n in _cost(raw).notes)
