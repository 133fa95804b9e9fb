"""What the plan cannot check about a platform's capacity and cluster features, said plainly.

Owns the plan notes for facts the catalog or the rendered resources do not settle: GPU pools in
regions whose selling zones the catalog does not know (every EKS region: zone names are per
account), and, on clusters we did not build, whether NetworkPolicies are enforced and whether a
metrics API serves the CPU autoscaler. Config alone decides them, like the pool facts.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.catalog import zones_selling
from infra.config import StackConfig
from infra.seam import PoolFacts

# The command that lists which zones of a region sell the given machine types.
ZoneCheck = Callable[[str, list[str]], str]


def unchecked_zone_notes(cloud: str, region: str, pools: dict[str, PoolFacts], check: ZoneCheck) -> tuple[str, ...]:
    """GPU pools whose zones the catalog cannot check, with the command that checks them."""
    unchecked = [(facts.name, facts.machine_type) for facts in pools.values()
                 if facts.gpu is not None and zones_selling(cloud, facts.machine_type, region) is None]
    if not unchecked:
        return ()
    pools_text = ", ".join(f"{name} ({machine})" for name, machine in unchecked)
    machines = sorted({machine for _, machine in unchecked})
    return (f"GPU zones unchecked: the catalog does not know which zones of {region} sell {pools_text}; a zone that "
            f"does not sell the machine fails node pool creation. Check with: {check(region, machines)}",)


def existing_cluster_notes(cfg: StackConfig) -> tuple[str, ...]:
    """On a cluster we did not build, what its own add-ons must provide."""
    notes = ["existing cluster: the stack's NetworkPolicies are enforced only if the cluster's CNI enforces them "
             "(e.g. Calico or Cilium; plain flannel or kubenet ignore them): check before relying on them"]
    if cfg.rollout is not None:
        notes.append("existing cluster: the rollout workers' CPU autoscaler needs the resource metrics API "
                     "(metrics-server): check `kubectl get apiservice v1beta1.metrics.k8s.io` reports Available")
    return tuple(notes)
