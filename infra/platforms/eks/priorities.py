"""Capacity ladders on EKS: cluster-autoscaler's priority expander, one global order over the stack's node groups.

How the autoscaler reads it (cluster-autoscaler 1.33.0, expander/priority/readme.md and priority.go, read
2026-11-30): a ConfigMap `cluster-autoscaler-priority-expander` in the autoscaler's namespace, key `priorities`,
YAML `{int: [regex, ...]}`; the highest priority among the scale-up options wins; each regex is matched
unanchored (`FindStringIndex`) against the node group's id, which on AWS is the Auto Scaling group's name
(cloudprovider/aws `AwsNodeGroup.Id`); a group that matches no regex "won't be used" for scale-up. So every node
group gets exactly one anchored regex, and none is left out.

The pinned chart (cluster-autoscaler 9.50.1, templates/priority-expander-configmap.yaml and role.yaml, read
2026-11-30) creates that ConfigMap from `expanderPriorities` (a string is copied verbatim) when `extraArgs.expander`
lists `priority`, and then lets the autoscaler's Role get/list/watch it. Expanders chain since 1.23 (FAQ "What are
Expanders?"): `priority,least-waste` breaks ties between equal priorities by least waste, as today.

The order: rung n of every ladder ranks above rung n+1 of every ladder (config guarantees ladders share no pool,
infra/config/ladders.py, so one order honours all of them). A pool in no ladder is its workload's only rung, so it
ranks with the first rungs: a pod pinned to one pool has no other option anyway, and nothing it needs waits behind
another model's fallback.

Falling to the next rung: when an Auto Scaling group cannot launch (spot or on-demand stockout), cluster-autoscaler
1.33's AWS provider reports its unfulfilled "placeholder" instances as out-of-resources errors, the autoscaler
removes them (shrinking the group back) and backs off from the group, so the next scale-up takes the next rung
(cloudprovider/aws/aws_cloud_provider.go and auto_scaling_groups.go, read 2026-11-30). Nothing moves pods back to a
preferred rung later (GKE's ComputeClass does; EKS has no such mechanism): a fallback node goes when scale-down
finds it underused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

# An EKS managed node group's Auto Scaling group is named `eks-<node group name>-<uuid>` (EKS 1.21 onwards: AWS
# blog "Amazon EKS 1.21 released", 2021-07-20, via docs.gruntwork.io knowledge-base/131, read 2026-11-30). Our node
# group names are `<pool>-` plus the Terraform provider's unique suffix (node_group_name_prefix; terraform-provider-
# aws internal/service/eks/node_group.go create.Name -> terraform-plugin-sdk helper/id PrefixedUniqueId: UTC
# timestamp to 4 decimals without the dot, 18 digits, then an 8-hex-digit counter; read 2026-11-30).
UNIQUE_SUFFIX = r"[0-9]{18}[0-9a-f]{8}"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STEP = 10  # room to insert a hand-made priority between rungs without renumbering


def asg_name_regex(pool: str) -> str:
    """The one regex (RE2 and Python alike) matching the Auto Scaling group of `pool`'s node group, and no other:
    anchored at both ends and pinned to the fixed-length suffix, so a pool named `a100` never matches the group of
    `a100-spot` (after `eks-a100-` the suffix must be 18 digits)."""
    assert re.fullmatch(r"[a-z0-9-]+", pool), f"pool name {pool!r} needs escaping"  # config's Name pattern
    return f"^eks-{pool}-{UNIQUE_SUFFIX}-{UUID}$"


def expander_priorities(pools: Sequence[str], ladders: Sequence[tuple[str, ...]]) -> dict[int, list[str]]:
    """Priority -> regexes over every node group (`pools`, each once): with the longest ladder of k rungs, rung n
    gets STEP * (k + 1 - n), and a pool in no ladder gets rung 1's."""
    depth = max(len(ladder) for ladder in ladders)
    rung = {pool: n for ladder in ladders for n, pool in enumerate(ladder, start=1)}
    priorities: dict[int, list[str]] = {}
    for pool in pools:
        priority = STEP * (depth + 1 - rung.get(pool, 1))
        priorities.setdefault(priority, []).append(asg_name_regex(pool))
    return dict(sorted(priorities.items(), reverse=True))


def priorities_yaml(pools: Sequence[str], ladders: Sequence[tuple[str, ...]]) -> str:
    """The ConfigMap's `priorities` value, as the autoscaler parses it (YAML map of int to list of strings)."""
    return yaml.safe_dump(expander_priorities(pools, ladders), sort_keys=False, default_flow_style=False).rstrip("\n")
