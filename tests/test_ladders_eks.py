"""Capacity ladders on EKS: cluster-autoscaler runs the priority expander over one global order of the node groups.

The rendered `priorities` are parsed the way the autoscaler does (YAML -> {int: [regex]}, each regex searched
unanchored in the Auto Scaling group's name, the highest priority wins) against the names EKS gives the groups'
Auto Scaling groups (`eks-<node group name>-<uuid>`, the node group name being `<pool>-` + Terraform's 26-character
unique suffix).
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest
import yaml

from infra.names import POOL_LABEL
from infra.plan import run_plan
from infra.platforms.eks.priorities import asg_name_regex, expander_priorities
from tests.conftest import stack_config
from tests.k8s_schema import validate
from tests.test_contract_monitoring import unknown_keys

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LADDER = ["a100-serving", "a100-spot", "a100"]


def eks_with_ladder() -> dict[str, Any]:
    """examples/eks-prod with two more p4d pools, `a100-spot` (spot, 0..2) and `a100` (on-demand, 0..1), and qwen-7b
    on the ladder a100-serving > a100-spot > a100. `a100` is a prefix of both other rungs' names on purpose."""
    raw = copy.deepcopy(stack_config("eks-prod"))
    serving = raw["nodePools"][0]  # a100-serving: on-demand, 1..2 nodes of 8 A100s
    raw["nodePools"][1:1] = [
        {**serving, "name": "a100-spot", "capacity": "spot", "minNodes": 0, "maxNodes": 2},
        {**serving, "name": "a100", "minNodes": 0, "maxNodes": 1},
    ]
    raw["models"][0]["pools"] = LADDER
    return raw


def plan_of_config(raw: dict[str, Any], tmp_path):
    doc = {"config": {f"llm-fleet:{k}": v for k, v in raw.items()}}
    (tmp_path / "Pulumi.ladder.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return run_plan("ladder", tmp_path)


def autoscaler_values(plan) -> dict[str, Any]:
    (release,) = [r.inputs for r in plan.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]
    return release["values"]


def chart_configmap(values: dict[str, Any]) -> dict[str, Any]:
    """What templates/priority-expander-configmap.yaml of chart 9.50.1 renders for a string `expanderPriorities`
    (`priorities: |-` then the string indented by 4), read back as YAML: the object the autoscaler watches."""
    body = "\n".join("    " + line for line in values["expanderPriorities"].splitlines())
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-autoscaler-priority-expander\n"
            f"  namespace: kube-system\ndata:\n  priorities: |-\n{body}\n")
    return yaml.safe_load(text)


def parse_priorities(text: str) -> dict[int, list[re.Pattern[str]]]:
    """The autoscaler's parsePrioritiesYAMLString: a YAML map of int to a list of regexes, each compiled."""
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict) and all(isinstance(k, int) and k > 0 for k in loaded), loaded
    return {prio: [re.compile(r) for r in regexes] for prio, regexes in loaded.items()}


def asg_name(pool: str) -> str:
    """An Auto Scaling group name as EKS gives one to the node group Terraform names `<pool>-` + suffix."""
    suffix = "20261130012543123400000001"  # 2026-11-30 01:25:43.1234 UTC, counter 1
    return f"eks-{pool}-{suffix}-{uuid.uuid4()}"


def priority_of(asg: str, priorities: dict[int, list[re.Pattern[str]]]) -> list[int]:
    """Every priority whose list has a regex found in `asg` (the autoscaler's groupIDMatchesList)."""
    return [prio for prio, regexes in priorities.items() if any(r.search(asg) for r in regexes)]


@pytest.fixture(scope="module")
def ladder_plan(tmp_path_factory):
    return plan_of_config(eks_with_ladder(), tmp_path_factory.mktemp("ladder"))


def test_a_ladder_turns_on_the_priority_expander_chained_with_least_waste(ladder_plan):
    values = autoscaler_values(ladder_plan)
    assert values["extraArgs"]["expander"] == "priority,least-waste"
    configmap = chart_configmap(values)
    validate(configmap)  # a core ConfigMap: data is a map of strings
    assert configmap["metadata"]["name"] == "cluster-autoscaler-priority-expander"


def test_the_priorities_are_a_value_the_pinned_chart_reads(ladder_plan):
    # 9.50.1's values.yaml has `expanderPriorities: {}`; its template copies a string value verbatim.
    version = stack_config("eks-prod")["artifacts"]["charts"]["clusterAutoscaler"]
    assert unknown_keys("cluster-autoscaler", version, autoscaler_values(ladder_plan)) == []


def test_every_node_group_matches_exactly_one_priority_and_the_ladder_order_holds(ladder_plan):
    values = autoscaler_values(ladder_plan)
    priorities = parse_priorities(chart_configmap(values)["data"]["priorities"])
    pools = [r.inputs["nodeGroupNamePrefix"].removesuffix("-") for r in ladder_plan.of_type(NODE_GROUP)]
    assert sorted(pools) == ["a100", "a100-serving", "a100-spot", "h100-training", "rollout", "system"]
    matched = {pool: priority_of(asg_name(pool), priorities) for pool in pools}
    # Three rungs: 30, 20, 10; pools in no ladder rank with the first rungs (30).
    assert matched == {"a100-serving": [30], "a100-spot": [20], "a100": [10],
                       "h100-training": [30], "rollout": [30], "system": [30]}


def test_balancing_similar_groups_never_spreads_one_rung_into_another(ladder_plan):
    # balance-similar-node-groups stays on: cluster-autoscaler 1.33's AWS comparator (processors/nodegroupset/
    # aws_nodegroups.go) calls two groups similar only if their node labels match apart from a fixed ignore list
    # (eks.amazonaws.com/nodegroup, lifecycle, ...), which does not hold our pool label: distinct per rung, the rungs
    # are never balanced together.
    labels = {r.inputs["nodeGroupNamePrefix"].removesuffix("-"): r.inputs["labels"]
              for r in ladder_plan.of_type(NODE_GROUP)}
    assert [labels[pool][POOL_LABEL] for pool in LADDER] == LADDER


def test_no_regex_matches_another_pool_whose_name_it_prefixes():
    # `a100` prefixes `a100-spot` and `a100-serving`: its regex must find neither group, nor a renamed copy.
    regex = re.compile(asg_name_regex("a100"))
    assert regex.search(asg_name("a100"))
    for other in ("a100-spot", "a100-serving", "a1000", "xa100"):
        assert not regex.search(asg_name(other)), other
    # Nor a group of another cluster's naming that merely contains ours.
    assert not regex.search("prefix-" + asg_name("a100"))


def test_the_longest_ladder_sets_the_depth_and_shorter_ladders_share_its_top():
    got = expander_priorities(["a", "b", "c", "d", "e", "sys"], [("a", "b", "c"), ("d", "e")])
    # Depth 3: rung 1 -> 30, rung 2 -> 20, rung 3 -> 10; the second ladder's rungs are 30 and 20; sys -> 30.
    assert {p: [r.split("-")[1] for r in rs] for p, rs in got.items()} == {
        30: ["a", "d", "sys"], 20: ["b", "e"], 10: ["c"]}


def test_a_stack_without_ladders_keeps_least_waste_and_no_priorities(plan_of):
    values = autoscaler_values(plan_of("eks-prod"))
    assert values["extraArgs"]["expander"] == "least-waste"
    assert "expanderPriorities" not in values
