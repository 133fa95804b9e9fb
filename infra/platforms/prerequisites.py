"""What the plan cannot check about a platform's capacity and cluster features, said plainly.

Owns the plan notes for facts the catalog or the rendered resources do not settle: GPU pools in
regions whose selling zones the catalog does not know (every EKS region: zone names are per
account), and, on clusters we did not build, whether NetworkPolicies are enforced and whether a
metrics API serves the CPU autoscaler. Config alone decides them, like the pool facts.
"""

from __future__ import annotations

from infra.catalog import zones_selling
from infra.config import StackConfig, gpu_pool_shape


def unchecked_zone_notes(cfg: StackConfig) -> tuple[str, ...]:
    """GPU pools whose zones the catalog cannot check, with the command that checks them."""
    block = {"gke": cfg.gcp, "eks": cfg.aws}.get(cfg.cloud)
    if block is None:
        return ()
    unchecked = []
    for pool in cfg.node_pools:
        if pool.gpu is None:
            continue
        machine = gpu_pool_shape(pool, cfg.cloud).machine_type
        if zones_selling(cfg.cloud, machine, block.region) is None:
            unchecked.append((pool.name, machine))
    if not unchecked:
        return ()
    pools = ", ".join(f"{name} ({machine})" for name, machine in unchecked)
    machines = ",".join(sorted({machine for _, machine in unchecked}))
    if cfg.cloud == "eks":
        check = (f"aws ec2 describe-instance-type-offerings --region {block.region} --location-type "
                 f"availability-zone --filters Name=instance-type,Values={machines}")
    else:
        check = (f"gcloud compute machine-types list --filter=\"name~'^({machines.replace(',', '|')})$' AND "
                 f"zone~'^{block.region}-'\"")
    return (f"GPU zones unchecked: the catalog does not know which zones of {block.region} sell {pools}; a zone that "
            f"does not sell the machine fails node pool creation. Check with: {check}",)


def existing_cluster_notes(cfg: StackConfig) -> tuple[str, ...]:
    """On a cluster we did not build, what its own add-ons must provide."""
    if cfg.cloud != "existing":
        return ()
    notes = ["existing cluster: the stack's NetworkPolicies are enforced only if the cluster's CNI enforces them "
             "(e.g. Calico or Cilium; plain flannel or kubenet ignore them): check before relying on them"]
    if cfg.rollout is not None:
        notes.append("existing cluster: the rollout workers' CPU autoscaler needs the resource metrics API "
                     "(metrics-server): check `kubectl get apiservice v1beta1.metrics.k8s.io` reports Available")
    return tuple(notes)


def prerequisite_notes(cfg: StackConfig) -> tuple[str, ...]:
    return (*unchecked_zone_notes(cfg), *existing_cluster_notes(cfg))
