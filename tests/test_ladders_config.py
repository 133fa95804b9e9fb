"""Capacity ladders in the config: `models[].pools` names rungs in priority order; the fleet places the model on
all of them, preferred first; each broken ladder is refused with one line."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.config import parse_stack_config
from infra.fleet import resolve_fleet
from tests.conftest import assert_one_config_error, prod_on_one_pool


def prod_with_ladder(**model_edits: Any) -> dict[str, Any]:
    """prod with two more A100-40GB pools (spot 0..8, on-demand 0..4) and qwen-7b on the ladder of all three."""
    raw = prod_on_one_pool()
    serving = raw["nodePools"][0]  # a100-serving: on-demand, 4..12 nodes of 1 GPU
    raw["nodePools"][1:1] = [
        {**serving, "name": "a100-spot", "capacity": "spot", "minNodes": 0, "maxNodes": 8},
        {**serving, "name": "a100-ondemand", "minNodes": 0, "maxNodes": 4},
    ]
    raw["models"][0].update({"pools": ["a100-serving", "a100-spot", "a100-ondemand"], **model_edits})
    return raw


def test_a_ladder_places_the_model_on_every_rung_preferred_first():
    cfg = parse_stack_config(prod_with_ladder())
    (placement,) = resolve_fleet(cfg).models
    assert [p.name for p in placement.rungs] == ["a100-serving", "a100-spot", "a100-ondemand"]
    assert placement.pool.name == "a100-serving"
    assert cfg.ladders() == (("a100-serving", "a100-spot", "a100-ondemand"),)


def test_a_model_without_a_ladder_has_one_rung():
    cfg = parse_stack_config(prod_on_one_pool())
    (placement,) = resolve_fleet(cfg).models
    assert placement.rungs == (placement.pool,) and cfg.ladders() == ()


def test_the_ladder_may_hold_more_than_any_one_rung():
    # 12 + 8 + 4 = 24 one-GPU replicas; max 20 is above the first rung's 12 but within the ladder.
    raw = prod_with_ladder()
    raw["models"][0]["replicas"] = {"min": 4, "max": 20}
    parse_stack_config(raw)


@pytest.mark.parametrize("edit, fragments", [
    # 12 + 8 + 4 = 24 replicas at most.
    (lambda r: r["models"][0].update(replicas={"min": 4, "max": 30}),
     ["models[0].replicas.max = 30", "holds at most 24 replicas", "a100-serving 12, a100-spot 8, a100-ondemand 4",
      "raise a rung's maxNodes or add a rung"]),
    (lambda r: r["models"][0].update(pools=["a100-serving", "a100-spto"]),
     ["models[0].pools[1] = 'a100-spto'", "no such node pool", "a100-spot"]),
    (lambda r: r["models"][0].update(pools=["a100-serving", "h100-training"]),
     ["models[0].pools[1] = 'h100-training'", "H100-80GB, not 'A100-40GB'"]),
    (lambda r: r["models"][0].update(pools=["a100-serving", "a100-serving"]),
     ["models[0].pools", "a pool is named twice"]),
    (lambda r: r["models"][0].update(pool="a100-serving"),
     ["pool = 'a100-serving' and pools =", "give one"]),
    (lambda r: r["models"][0].update(pools=["a100-serving"]),
     ["models[0].pools"]),
])
def test_a_broken_ladder_is_refused_with_one_line(edit, fragments):
    raw = prod_with_ladder()
    edit(raw)
    assert_one_config_error(raw, fragments)


def test_models_sharing_a_rung_share_the_whole_ladder():
    raw = prod_with_ladder()
    second = {**copy.deepcopy(raw["models"][0]), "name": "qwen-7b-b", "pools": ["a100-spot", "a100-serving"],
              "replicas": {"min": 1, "max": 1}}
    raw["models"].append(second)
    raw["artifacts"]["modelRevisions"]["qwen-7b-b"] = raw["artifacts"]["modelRevisions"]["qwen-7b"]
    assert_one_config_error(raw, ["models[1].pools = ['a100-spot', 'a100-serving']",
                                  "also a rung of models[0].pools", "give both the same pools list"])
