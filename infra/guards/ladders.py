"""Capacity ladders (`models[].pools`) are sound: the models sharing a ladder fit it at their maximum, a prod model
never rests on spot alone, and a serving replica on a spot rung can finish its drain inside the provider's notice.

Config guards (they read the config, the pool facts and the fleet): `plan`, `pulumi up` and the policy pack run them.

Tiers. Spot alone and spot reclaims that cut long requests fail or warn in prod only: dev and staging buy spot by
default (infra/config/pools.py) and staging is "the prod shape on spot capacity", so a finding there would fire on
every shipped non-prod stack and its fix (a pricier rung, a shorter drain than prod's) would defeat the tier's
purpose. Their verdicts still carry the numbers.
"""

from __future__ import annotations

from infra.guards.base import StackPlan, Verdict
from infra.guards.verdicts import severity
from infra.seam import PoolFacts

# Seconds a serving pod has between the provider's reclaim notice and the node's end, by platform:
# - GKE: Spot VMs get a 30 s notice; the kubelet's graceful node shutdown gives non-system pods the first 15 s
#   (GKE > 1.22.8-gke.200) and system pods the other 15 s; extendable to 120 s from GKE 1.35.0-gke.1171000
#   (cloud.google.com/kubernetes-engine/docs/concepts/spot-vms "Termination and graceful shutdown of Spot VMs" and
#   .../how-to/preemptible-vms, read 2026-11-30).
# - EKS: the EC2 Spot interruption notice comes two minutes before the instance stops (docs.aws.amazon.com/AWSEC2/
#   latest/UserGuide/spot-instance-termination-notices.html, read 2026-11-30). Managed node groups turn on Capacity
#   Rebalancing: on a rebalance recommendation EKS starts a replacement and, once it is Ready, cordons and drains the
#   old node (evictions honour terminationGracePeriodSeconds); if the 2-minute notice comes first, EKS drains then,
#   best effort (EKS user guide "Managed node groups", Spot section, as quoted by ec2spotworkshops.com
#   .../eksmanagednodegroupswithspot/spotlifecycle.html, read 2026-11-30). The notice is the bound we can count on.
# - existing clusters: the provider and its notice are unknown to llm-fleet.
SPOT_NOTICE_S: dict[str, int | None] = {"gke": 15, "eks": 120, "existing": None}
SPOT_NOTICE_FROM = {"gke": "GKE gives a pod 15 s of a Spot VM's 30 s preemption notice",
                    "eks": "AWS gives a 2-minute Spot interruption notice"}


def _packed(replicas: list[tuple[str, int]], rungs: tuple[PoolFacts, ...]) -> int:
    """How many of `replicas` ((model, GPUs each)) fit the rungs' nodes at maxNodes, whole replicas per node: first
    fit, largest first (exact when GPU counts divide each other, as tensor-parallel sizes 1, 2, 4, 8 do)."""
    free = [p.gpus_per_node for p in rungs for _ in range(p.max_nodes)]
    placed = 0
    for _, gpus in sorted(replicas, key=lambda r: -r[1]):
        node = next((i for i, left in enumerate(free) if left >= gpus), None)
        if node is not None:
            free[node] -= gpus
            placed += 1
    return placed


def ladder_holds_its_models_at_max(plan: StackPlan) -> Verdict:
    """The models sharing a ladder, all at replicas.max, fit its rungs at maxNodes (whole replicas per node)."""
    name, problems, ladders = "ladder-holds-its-models-at-max", [], plan.cfg.ladders()
    for ladder in ladders:
        models = [p.model for p in plan.fleet.models if tuple(r.name for r in p.rungs) == ladder]
        rungs = tuple(plan.pools[p] for p in ladder)
        replicas = [(m.name, m.tensor_parallel_size) for m in models for _ in range(m.replicas.max)]
        placed = _packed(replicas, rungs)
        if placed < len(replicas):
            need = " + ".join(f"{m.name} {m.replicas.max} x {m.tensor_parallel_size} GPU" for m in models)
            held = " + ".join(f"{p.name} {p.max_nodes} x {p.gpus_per_node} GPU" for p in rungs)
            problems.append(f"ladder {' > '.join(ladder)}: {need} = {len(replicas)} replicas at replicas.max; its "
                            f"rungs ({held}) hold {placed} of them; raise a rung's maxNodes, add a rung to "
                            "models[].pools, or lower replicas.max")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    if not ladders:
        return Verdict(name, "pass", "no capacity ladder (models[].pools)")
    return Verdict(name, "pass", f"{len(ladders)} capacity ladder(s) hold their models at replicas.max")


def prod_models_have_a_non_spot_rung(plan: StackPlan) -> Verdict:
    """A prod model must not rest on spot capacity alone: when spot is reclaimed or out of stock it has nowhere to
    run."""
    name = "prod-models-have-a-non-spot-rung"
    spot_only = [(i, p) for i, p in enumerate(plan.fleet.models) if all(r.capacity == "spot" for r in p.rungs)]
    if not spot_only:
        return Verdict(name, "pass", "every model has an on-demand or reservation rung")
    where = "; ".join(f"models[{i}] {p.name} runs only on spot ({', '.join(r.name for r in p.rungs)})"
                      for i, p in spot_only)
    status = severity(name, plan.cfg.tier)
    if status == "pass":
        return Verdict(name, "pass", f"{where} — allowed in {plan.cfg.tier}, where spot is the default capacity")
    return Verdict(name, status, f"{where}: a prod model needs a rung that is not spot; add an on-demand pool "
                                 "(with a commitment for its baseline) or a reservation pool after the spot one in "
                                 "models[].pools, a capacity ladder")


def spot_serving_drains_within_notice(plan: StackPlan) -> Verdict:
    """A serving replica on a spot rung finishes its drain before the provider reclaims the node."""
    name = "spot-serving-drains-within-notice"
    cloud, drain = plan.cfg.cloud, plan.cfg.serving.drain_timeout_seconds
    on_spot = sorted({r.name for p in plan.fleet.models for r in p.rungs if r.capacity == "spot"})
    if not on_spot:
        return Verdict(name, "pass", "no model serves on spot capacity")
    notice = SPOT_NOTICE_S[cloud]
    pools = ", ".join(on_spot)
    if notice is None:
        finding = (f"models serve on spot pool(s) {pools}; the preemption notice of an existing cluster's provider "
                   f"is unknown to llm-fleet: check that serving.drainTimeoutSeconds {drain} s fits it")
    elif drain > notice:
        finding = (f"models serve on spot pool(s) {pools} with serving.drainTimeoutSeconds {drain} s, but "
                   f"{SPOT_NOTICE_FROM[cloud]}: in-flight requests longer than {notice} s are lost when a spot "
                   "node is reclaimed; serve from a non-spot rung or accept the loss")
    else:
        return Verdict(name, "pass", f"serving on spot pool(s) {pools} drains within {drain} s and "
                                     f"{SPOT_NOTICE_FROM[cloud]}")
    status = severity(name, plan.cfg.tier)
    if status == "pass":
        return Verdict(name, "pass", f"{finding} — not warned in {plan.cfg.tier}, where spot is the default")
    return Verdict(name, status, finding)
