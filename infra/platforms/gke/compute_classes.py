"""Capacity ladders on GKE: one custom ComputeClass per ladder, whose priorities are the rungs' node pools in order.

What GKE documents, and what this module does with it (sources read 2026-11-30):
- The class: `apiVersion: cloud.google.com/v1`, `kind: ComputeClass`, a CRD GKE itself installs on every eligible
  cluster ("Custom ComputeClasses are available to configure and use in all eligible GKE clusters by default", in
  Autopilot and Standard "in version 1.30.3-gke.1451000 and later": cloud.google.com/kubernetes-engine/docs/
  concepts/about-custom-compute-classes). The stack creates its cluster on a release channel (config allows only
  RAPID, REGULAR, STABLE: infra/config/base.py) and no channel serves 1.30 any more — GKE minors 1.33 and older
  are at or past end of life by 2026-11 (endoflife.date/api/v1/products/google-kubernetes-engine, generated
  2026-04-10: 1.34 end of life 2026-10-01) — so no check is needed here.
- `priorities[].nodepools`: "preference of specific, preexisting nodepools"; a priority naming node pools may set
  nothing else ("Nodepool field cannot be set along with other fields": the CRD's own validation rule, GKE 1.33
  schema, datreeio/CRDs-catalog cloud.google.com/computeclass_v1.json, kept in tests/data/crds/).
- `activeMigration.optimizeRulePriority: true`: "workloads affected by given ComputeClass should be migrated to
  nodepool defined by higher priority rule, if possible" (CRD description); GKE replaces nodes lower in the
  fallback list with higher ones over time (cloud.google.com/kubernetes-engine/docs/concepts/about-compute-classes,
  "Active migration to higher priority nodes"; read in its ko/ja versions, paraphrased) — replicas move back to
  the committed rung when it has room again. The migration is a voluntary disruption, so it honours the model's
  PodDisruptionBudget (one replica at a time); the CRD reference names no version for it beyond the class's own.
- `nodePoolAutoCreation.enabled: false` (its default, written out): GKE never creates a pool of its own choosing;
  only the stack's priced pools grow.
- `whenUnsatisfiable: DoNotScaleUp` (the CRD's default, required in the schema, chosen on purpose): when no rung
  can grow, the replica stays Pending rather than GKE scaling up something outside the ladder, which the plan's
  cost and the budget guard would not have counted.
- How a manually created node pool joins a class: the node label and the NoSchedule taint
  `cloud.google.com/compute-class=<class>` on the pool (GKE's "configure manually created node pools" steps use
  `--node-labels` and `--node-taints` with that key — the steps themselves were not in the excerpts the search
  returned; confirmed by the CRD's own description, "Given ComputeClass affects only workloads using workload
  separation label equal to CCs name", and by a third-party cluster doing exactly this: anirudh-y-m.github.io/
  archive/summaries/GCP/Compute_class, read 2026-11-30). Pods select the class with a nodeSelector on that label
  (about-custom-compute-classes: "request that compute class in workloads"; GKE's concepts/node-auto-provisioning
  page, zh-CN version, paraphrased: a Pod that selects a ComputeClass gets nodes labelled
  cloud.google.com/compute-class=<class>). Whether
  GKE adds the matching toleration to pods that select the class was not confirmed in the docs read, so the
  rung pools' facts carry the taint (infra/platforms/gke/facts.py) and every pod placed on a rung — a ladder
  model, a single-pool model on a rung pool, a headroom placeholder — tolerates it explicitly, as it does the
  GPU taint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.names import PART_OF
from infra.seam import NodeTaint, PoolFacts

COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
API_VERSION, KIND = "cloud.google.com/v1", "ComputeClass"


def class_name(ladder: Sequence[str]) -> str:
    """The ComputeClass of a ladder: named for its first rung, which is in no other ladder (infra/config/ladders.py),
    so the name is unique, stays put when later rungs change, and is DNS-1123 (a pool name is at most 32 characters
    of [a-z0-9-], starting with a letter: `ladder-` + it is at most 39)."""
    return f"ladder-{ladder[0]}"


def pool_classes(cfg: StackConfig) -> dict[str, str]:
    """The ComputeClass each rung pool belongs to (pools on no ladder are absent)."""
    return {pool: class_name(ladder) for ladder in cfg.ladders() for pool in ladder}


def with_compute_classes(facts: Mapping[str, PoolFacts], classes: Mapping[str, str]) -> dict[str, PoolFacts]:
    """The pool facts with each rung pool's class label among the labels pods select, and its class taint."""
    out = dict(facts)
    for pool, name in classes.items():
        f = out[pool]
        out[pool] = dataclasses.replace(f, node_selector={**f.node_selector, COMPUTE_CLASS_LABEL: name},
                                        taints=(*f.taints, NodeTaint(COMPUTE_CLASS_LABEL, name, "NoSchedule")))
    return out


def compute_class_spec(node_pools: Sequence[pulumi.Input[str]]) -> dict:
    """A class whose priorities are `node_pools` (GKE's names of the rung pools), preferred first (see above)."""
    return {
        "priorities": [{"nodepools": [pool]} for pool in node_pools],
        "activeMigration": {"optimizeRulePriority": True},
        "nodePoolAutoCreation": {"enabled": False},
        "whenUnsatisfiable": "DoNotScaleUp",
    }


def gke_compute_classes(name: str, ladders: Sequence[Sequence[str]], node_pools: Mapping[str, pulumi.Resource],
                        provider: k8s.Provider, parent: pulumi.Resource) -> list[k8s.apiextensions.CustomResource]:
    """One ComputeClass per ladder, naming the GKE node pools (their real, auto-suffixed names) of its rungs."""
    classes = []
    for ladder in ladders:
        pools = [node_pools[p] for p in ladder]
        classes.append(k8s.apiextensions.CustomResource(
            f"{name}-{class_name(ladder)}", api_version=API_VERSION, kind=KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name(ladder), labels=PART_OF),
            spec=compute_class_spec([p.name for p in pools]),  # type: ignore[attr-defined]
            opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=pools)))
    return classes
