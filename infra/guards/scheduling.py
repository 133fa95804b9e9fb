"""GPU pods land, fit and drain: the guards that keep pods out of Pending and requests alive."""

from __future__ import annotations

from collections import defaultdict

from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import GIB, PodTemplate, pod_templates, selected_pools


def gpu_pods_fit_one_node(plan: StackPlan) -> Verdict:
    """Every GPU pod's GPUs, CPU and memory fit one node of the pool it selects (of every rung of its ladder)."""
    name, problems = "gpu-pods-fit-one-node", []
    for pod in pod_templates(plan.resources):
        rungs = [p for p in selected_pools(pod, plan.pools) if p is not None]
        if pod.gpus == 0 or not rungs:
            continue  # pods without GPUs, and pods selecting no pool (the next guard's job)
        cpu, mem = pod.total_request("cpu"), pod.total_request("memory") / GIB
        disk = pod.total_request("ephemeral-storage") / GIB
        for pool in rungs:  # a capacity ladder's pod may land on any rung
            if pod.gpus > pool.gpus_per_node:
                problems.append(f"{pod.workload} asks for {pod.gpus} GPUs, a {pool.name} node has "
                                f"{pool.gpus_per_node}")
            if cpu > pool.allocatable_cpu:
                problems.append(f"{pod.workload} requests {cpu:g} CPU, a {pool.name} node offers "
                                f"{pool.allocatable_cpu:g}")
            if mem > pool.allocatable_memory_gib:
                problems.append(f"{pod.workload} requests {mem:.1f} GiB, a {pool.name} node offers "
                                f"{pool.allocatable_memory_gib:.1f} GiB")
            if disk > pool.ephemeral_storage_gib:
                problems.append(f"{pod.workload} needs {disk:.0f} GiB of node-local cache, a {pool.name} node has "
                                f"{pool.ephemeral_storage_gib} GiB (raise the pool's diskSizeGb)")
    if problems:
        return Verdict(name, "fail", "; ".join(problems) + " — the pod would stay Pending")
    return Verdict(name, "pass", "every GPU pod fits one node of its pool")


def gpu_pods_select_and_tolerate_their_pool(plan: StackPlan) -> Verdict:
    """Every GPU pod selects a GPU pool and tolerates its taints; a pod on a capacity ladder (one required
    node-affinity term per rung), every term selects a GPU pool of one GPU kind whose taints it tolerates."""
    name, problems = "gpu-pods-select-and-tolerate-their-pool", []
    for pod in pod_templates(plan.resources):
        if pod.gpus == 0:
            continue
        tolerated = {(t.get("key"), t.get("value"), t.get("effect")) for t in pod.spec.get("tolerations") or []}
        chosen = selected_pools(pod, plan.pools)
        kinds = {pool.gpu for pool in chosen if pool is not None and pool.gpu is not None}
        for i, pool in enumerate(chosen):
            where = f"its nodeSelector {pod.spec.get('nodeSelector')}" + (
                f" with required node-affinity term {i}" if len(chosen) > 1 else "")
            if pool is None or pool.gpu is None:
                problems.append(f"{pod.workload} requests GPUs but {where} matches no GPU pool")
                continue
            if len(kinds) > 1:
                problems.append(f"{pod.workload}: {where} selects pool {pool.name} of {pool.gpu.value}; its "
                                f"pools have {len(kinds)} GPU kinds, a replica needs one")
            for taint in pool.taints:
                if taint.effect != "PreferNoSchedule" and (taint.key, taint.value, taint.effect) not in tolerated:
                    problems.append(f"{pod.workload} does not tolerate {taint.key}={taint.value}:{taint.effect} "
                                    f"of pool {pool.name}")
    if problems:
        return Verdict(name, "fail", "; ".join(dict.fromkeys(problems)))
    return Verdict(name, "pass", "every GPU pod selects a GPU pool and tolerates its taints")


def termination_grace_covers_drain(plan: StackPlan) -> Verdict:
    """The kubelet must not SIGKILL a serving pod while it still drains in-flight requests."""
    name, problems, checked = "termination-grace-covers-drain", [], 0
    for pod in pod_templates(plan.resources):
        env = pod.env()
        if "SERVING_DRAIN_TIMEOUT_S" not in env:
            continue
        checked += 1
        pre_stop = 0.0
        for c in pod.spec.get("containers", []):
            command = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if command[:1] == ["sleep"]:
                pre_stop += float(command[1])
        needed = pre_stop + float(env["SERVING_DRAIN_TIMEOUT_S"]) + float(env.get("SERVING_STOP_TIMEOUT_S", 0))
        grace = float(pod.spec.get("terminationGracePeriodSeconds", 30))
        if grace < needed:
            problems.append(f"{pod.workload}: terminationGracePeriodSeconds {grace:g} < preStop {pre_stop:g} + "
                            f"drain {env['SERVING_DRAIN_TIMEOUT_S']} + stop {env.get('SERVING_STOP_TIMEOUT_S', 0)}")
    if problems:
        return Verdict(name, "fail", "; ".join(problems) + " — in-flight requests would be cut off")
    return Verdict(name, "pass", f"{checked} serving pod(s) get the time their drain needs")


def autoscaling_fits_pool(plan: StackPlan) -> Verdict:
    """At maximum autoscaling, the replicas' GPUs (or CPUs) fit the maximum of the pool (or ladder) they land on."""
    name = "autoscaling-fits-pool"
    pods = {p.name: p for p in pod_templates(plan.resources)}
    # Per pool, or per capacity ladder (its rungs, their maxima added up): one pod may use any rung.
    gpus_at_max: dict[tuple[str, ...], int] = defaultdict(int)
    cpu_at_max: dict[tuple[str, ...], float] = defaultdict(float)
    problems, unsized = [], []
    for r in plan.resources:
        kind, spec = r.inputs.get("kind"), r.inputs.get("spec", {})
        if kind == "ScaledObject":
            target, max_replicas = spec.get("scaleTargetRef", {}).get("name"), int(spec.get("maxReplicaCount", 100))
        elif kind == "HorizontalPodAutoscaler":
            target, max_replicas = spec.get("scaleTargetRef", {}).get("name"), int(spec.get("maxReplicas", 1))
        else:
            continue
        pod = pods.get(target)
        chosen = selected_pools(pod, plan.pools) if pod else [None]
        if pod is not None and None in chosen and _on_existing_system_nodes(plan, pod):
            unsized.append(f"{target} (at most {max_replicas} x {pod.total_request('cpu'):g} CPU)")
            continue
        if pod is None or None in chosen:
            problems.append(f"{kind} {r.name} scales {target!r}, which is no workload on a known pool")
            continue
        key = tuple(p.name for p in chosen if p is not None)
        if pod.gpus:
            gpus_at_max[key] += max_replicas * pod.gpus
        else:
            cpu_at_max[key] += max_replicas * pod.total_request("cpu")
    for names, gpus in gpus_at_max.items():
        rungs = [plan.pools[n] for n in names]
        most = sum(p.max_gpus for p in rungs)
        if gpus > most and len(rungs) == 1:
            problems.append(f"pool {names[0]}: replicas at maximum need {gpus} GPUs, the pool has at most "
                            f"{most} ({rungs[0].max_nodes} x {rungs[0].gpus_per_node})")
        elif gpus > most:  # worded as main's ladder guards word it (infra/guards/ladders.py)
            shape = " + ".join(f"{p.name} {p.max_nodes} x {p.gpus_per_node}" for p in rungs)
            problems.append(f"ladder {' > '.join(names)}: replicas at maximum need {gpus} GPUs, its rungs have at "
                            f"most {most} ({shape})")
    for names, cpu in cpu_at_max.items():
        rungs = [plan.pools[n] for n in names]
        offered = sum(p.allocatable_cpu * p.max_nodes for p in rungs)
        if cpu > offered:
            problems.append(f"pool {'+'.join(names)}: replicas at maximum request {cpu:g} CPU, the pool offers "
                            f"{offered:.1f} at {' + '.join(str(p.max_nodes) for p in rungs)} nodes")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    note = (f"; on the existing cluster's own system nodes, which this stack does not size: {', '.join(unsized)} "
            "- make sure they have that room") if unsized else ""
    return Verdict(name, "pass", "every autoscaler's maximum fits its pool's maximum" + note)


def _on_existing_system_nodes(plan: StackPlan, pod: PodTemplate) -> bool:
    """A CPU pod an existing cluster places on its own system nodes (existing.systemNodeLabels, or anywhere
    untainted when none are given): nodes the cluster's owner runs, not a pool the stack declares."""
    if plan.cfg.cloud != "existing" or pod.gpus:
        return False
    return (pod.spec.get("nodeSelector") or {}) == dict(plan.cfg.existing.system_node_labels)
