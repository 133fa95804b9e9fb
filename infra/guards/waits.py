"""Waits: Pulumi's wait on every workload covers what its pods may need, and every rollout can progress at peak.

A Deployment whose pods need longer than Pulumi waits fails `pulumi up` while the pods are still starting; a
rolling update that must surge a GPU pod where neither the pool nor the namespace's GPU quota has room never
progresses, so it also ends in that timeout (with half-rolled replicas left behind). Timings and defaults are
in `infra.waits`, with their sources.
"""

from __future__ import annotations

import math
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import PodTemplate, selected_pools
from infra.planned import PlannedResource
from infra.seam import PoolFacts
from infra.waits import (
    DEFAULT_HELM_WAIT_SECONDS,
    DEFAULT_WORKLOAD_WAIT_SECONDS,
    SKIP_AWAIT,
    needed_wait,
    needs_new_node,
    resolve,
    rollout_waves,
    waited_pool,
)

NAME = "waits-cover-startup-and-rollouts-progress"
WAITED_KINDS = {"Deployment", "StatefulSet", "Job"}
GPU = "requests.nvidia.com/gpu"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
# Kubernetes' probe defaults (periodSeconds 10, failureThreshold 3) and rolling-update defaults (25 % / 25 %).
PROBE_PERIOD, PROBE_FAILURES = 10, 3
DEFAULT_STRATEGY = {"maxSurge": "25%", "maxUnavailable": "25%"}


def startup_seconds(pod: dict[str, Any]) -> int:
    """The longest startup-probe window of the pod's containers (initialDelay + period x failureThreshold)."""
    windows = [0]
    for c in pod.get("containers", []):
        probe = c.get("startupProbe")
        if probe:
            windows.append(int(probe.get("initialDelaySeconds", 0))
                           + int(probe.get("periodSeconds", PROBE_PERIOD)) * int(probe.get("failureThreshold",
                                                                                          PROBE_FAILURES)))
    return max(windows)


def effective_waits(r: PlannedResource) -> dict[str, float]:
    """What Pulumi waits on create and update: customTimeouts, else the annotation, else the default."""
    annotation = ((r.inputs.get("metadata") or {}).get("annotations") or {}).get(TIMEOUT_ANNOTATION)
    fallback = float(annotation) if annotation is not None else DEFAULT_WORKLOAD_WAIT_SECONDS
    return {op: r.custom_timeouts.get(op) or fallback for op in ("create", "update")}


def _object(r: PlannedResource) -> tuple[str, str, str]:
    meta = r.inputs.get("metadata") or {}
    return str(r.inputs.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name") or r.name)


def max_replicas(plan: StackPlan, r: PlannedResource) -> int:
    """The most replicas the workload can have: its autoscaler's maximum, else spec.replicas, else 1."""
    _, namespace, name = _object(r)
    for other in plan.resources:
        kind, ns, _ = _object(other)
        spec = other.inputs.get("spec") or {}
        target = (spec.get("scaleTargetRef") or {}).get("name")
        if ns == namespace and target == name:
            if kind == "ScaledObject":
                return int(spec.get("maxReplicaCount", 100))  # KEDA's default maximum
            if kind == "HorizontalPodAutoscaler":
                return int(spec.get("maxReplicas", 1))
    return int((r.inputs.get("spec") or {}).get("replicas", 1))


def _gpus(pod: dict[str, Any]) -> int:
    return PodTemplate("", "", pod).gpus


def _wait_problems(plan: StackPlan, r: PlannedResource, pool: PoolFacts | None, waves: int) -> list[str]:
    kind, namespace, name = _object(r)
    pod = ((r.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
    startup = startup_seconds(pod)
    waits = effective_waits(r)
    node = " + a new node" if needs_new_node(pool) else ""
    # A replaced GPU pod holds its GPU until its drain ends: the next wave's pod may wait that long for it.
    freed = int(pod.get("terminationGracePeriodSeconds", 30)) if _gpus(pod) else 0
    needs = {"create": needed_wait(startup, pool), "update": needed_wait(startup, pool, waves, freed)}
    problems = []
    for op, need in needs.items():
        if op == "update" and kind == "Job":
            continue  # a Job's pod template cannot change
        if waits[op] < need:
            held = f" + {freed}s for the replaced pod's GPU" if freed else ""
            why = f"{waves} wave(s) x ({startup}s startup{held})" if op == "update" else f"{startup}s startup"
            problems.append(f"{kind} {namespace}/{name}: Pulumi waits {waits[op]:g}s on {op} but its pods may need "
                            f"{need}s ({why}{node}); set customTimeouts {op}=\"{need}s\"")
    return problems


def _quota_gpus(plan: StackPlan, namespace: str) -> float | None:
    for q in plan.resources:
        kind, ns, _ = _object(q)
        if kind == "ResourceQuota" and ns == namespace:
            hard = (q.inputs.get("spec") or {}).get("hard") or {}
            if GPU in hard:
                return float(parse_quantity(str(hard[GPU])))
    return None


def _progress_problems(plan: StackPlan, workloads: list[tuple[PlannedResource, tuple[PoolFacts, ...], int]],
                       r: PlannedResource, rungs: tuple[PoolFacts, ...], peak: int, surge: int,
                       unavailable: int) -> list[str]:
    kind, namespace, name = _object(r)
    pod = r.inputs["spec"]["template"]["spec"]
    gpus = _gpus(pod)
    if unavailable >= 1 or surge == 0 or gpus == 0:
        return []  # an old pod goes first, or nothing surges, or no GPU is scarce
    extra = surge * gpus
    problems = []

    def at_peak(same: Any) -> int:
        return sum(m * _gpus(w.inputs["spec"]["template"]["spec"]) for w, p, m in workloads if same(w, p))

    names = {p.name for p in rungs}
    if rungs and rungs[0].gpu is not None:  # a capacity ladder's rungs are one capacity
        used = at_peak(lambda w, ps: bool(names & {p.name for p in ps}))
        most = sum(p.max_gpus for p in rungs)
        if used + extra > most:
            pool = rungs[-1]  # the rung a surge pod falls to last
            where = f"pool {pool.name}" if len(rungs) == 1 else f"ladder {' > '.join(p.name for p in rungs)}"
            problems.append(
                f"{kind} {namespace}/{name}: at {peak} replicas its {where} ({most} GPUs at maxNodes) has no room "
                f"for the {surge} surge pod(s): the rollout hangs at peak; give the pool headroom "
                f"(nodePools[{pool.name}].maxNodes >= "
                f"{pool.max_nodes + math.ceil((used + extra - most) / pool.gpus_per_node)}) or set "
                "maxUnavailable >= 1")
    quota = _quota_gpus(plan, namespace)
    if quota is not None:
        used = at_peak(lambda w, p: _object(w)[1] == namespace)
        if used + extra > quota:
            problems.append(f"{kind} {namespace}/{name}: at {peak} replicas the GPU quota of {namespace} "
                            f"({quota:g}) admits no surge pod: the rollout hangs at peak; raise the quota to "
                            f"{used + extra} or set maxUnavailable >= 1")
    return problems


def _release_problems(plan: StackPlan) -> list[str]:
    problems = []
    for r in plan.resources:
        if r.type != "kubernetes:helm.sh/v3:Release" or r.inputs.get("skipAwait") is True:
            continue
        selector = dict((r.inputs.get("values") or {}).get("nodeSelector") or {})
        pool = next((p for p in plan.pools.values() if selector and selector.items() <= p.node_selector.items()),
                    None)
        need = needed_wait(0, pool) + (DEFAULT_HELM_WAIT_SECONDS if needs_new_node(pool) else 0)
        wait = float(r.inputs.get("timeout") or DEFAULT_HELM_WAIT_SECONDS)
        if wait < need:
            problems.append(f"Helm release {r.inputs.get('name') or r.name}: Pulumi waits {wait:g}s for its pods "
                            f"but pool {pool.name if pool else '?'} may first need a new node ({need}s with the "
                            f"chart's own start); set timeout={need}")
    return problems


def waits_cover_startup_and_rollouts_progress(plan: StackPlan) -> Verdict:
    """Pulumi's wait on each workload covers its startup budget; every rollout can progress at peak."""
    workloads = []
    # Pods of a negative priority (warm headroom's placeholders) give way to every other pod: at peak they hold no
    # GPU a rollout could need, and Pulumi does not wait for them (skipAwait).
    expendable = {(c.inputs.get("metadata") or {}).get("name") for c in plan.resources
                  if c.is_kubernetes_object and c.inputs.get("kind") == "PriorityClass"
                  and int(c.inputs.get("value") or 0) < 0}
    for r in plan.resources:
        kind, _, _ = _object(r)
        if not r.is_kubernetes_object or kind not in WAITED_KINDS:
            continue
        pod = ((r.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
        if pod.get("priorityClassName") in expendable:
            continue
        rungs = tuple(p for p in selected_pools(PodTemplate("", "", pod), plan.pools) if p is not None)
        workloads.append((r, rungs, max_replicas(plan, r)))
    problems, checked = [], 0
    for r, rungs, peak in workloads:
        pool = waited_pool(rungs)
        annotations = (r.inputs.get("metadata") or {}).get("annotations") or {}
        if str(annotations.get(SKIP_AWAIT, "")).lower() == "true":
            continue  # Pulumi does not wait (a suspended Job): nothing to time out
        checked += 1
        strategy = {**DEFAULT_STRATEGY, **((((r.inputs.get("spec") or {}).get("strategy") or {})
                                            .get("rollingUpdate")) or {})}
        surge = resolve(strategy["maxSurge"], peak, round_up=True)
        unavailable = resolve(strategy["maxUnavailable"], peak, round_up=False)
        waves = rollout_waves(peak, surge, unavailable)
        problems += _wait_problems(plan, r, pool, waves)
        if _object(r)[0] == "Deployment":
            problems += _progress_problems(plan, workloads, r, rungs, peak, surge, unavailable)
    problems += _release_problems(plan)
    if problems:
        return Verdict(NAME, "fail", " | ".join(problems))
    return Verdict(NAME, "pass", f"Pulumi's waits cover {checked} workload(s)' startup and node time; every "
                                 f"rollout can progress at its maximum")
