"""How long Pulumi waits for a workload to become ready, and how long it may need: one place for both.

Pulumi's Kubernetes provider waits for a Deployment or Job to be ready and fails the resource after 10
minutes by default (pulumi_kubernetes apps/v1 Deployment and batch/v1 Job docs: "If the Deployment has not
reached a Ready state after 10 minutes, it will time out ... override ... by setting the 'customTimeouts'
option"). The `customTimeouts` resource option wins over the `pulumi.com/timeoutSeconds` annotation, which
wins over that default (pulumi/pulumi-kubernetes#672). A Helm release waits `timeout` seconds, 300 by default
(pulumi-kubernetes provider/pkg/provider/helm_release.go `defaultTimeoutSeconds`).

What a pod may need: its startup probe's window (the kubelet gives up after it), plus a new node when its pool
autoscales (at zero, or full at peak). The cluster autoscaler itself waits up to 15 minutes for a node before
it gives up on it (kubernetes/autoscaler cluster-autoscaler/FAQ.md, `--max-node-provision-time` default 15m):
that is the node allowance. An update rolls pods out in waves of maxSurge + maxUnavailable pods, each wave
waiting for its pods to start, and Pulumi's wait covers the whole rollout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pulumi

from infra.seam import PoolFacts

NODE_PROVISION_SECONDS = 900
DEFAULT_WORKLOAD_WAIT_SECONDS = 600
DEFAULT_HELM_WAIT_SECONDS = 300
# A Helm release's own pods (operators, exporters) start in well under the provider's default; what they
# may wait for beyond it is a node.
HELM_RELEASE_TIMEOUT_SECONDS = NODE_PROVISION_SECONDS + DEFAULT_HELM_WAIT_SECONDS


# Pulumi's Kubernetes provider does not wait for an object carrying this annotation (a suspended Job, placeholders).
SKIP_AWAIT = "pulumi.com/skipAwait"
NO_WAIT = {SKIP_AWAIT: "true"}


def needs_new_node(pool: PoolFacts | None) -> bool:
    """A pool that autoscales can be at zero or full when a pod arrives: the pod waits for a new node."""
    return pool is not None and pool.min_nodes < pool.max_nodes


def waited_pool(rungs: Sequence[PoolFacts]) -> PoolFacts | None:
    """The pool a workload's wait is counted on: of a capacity ladder's rungs, one that may need a new node (a
    replica beyond the running nodes lands there), else the first; None: no pool."""
    return next((p for p in rungs if needs_new_node(p)), rungs[0] if rungs else None)


def rollout_waves(max_replicas: int, max_surge: int, max_unavailable: int) -> int:
    """How many rounds of pod starts a rolling update of `max_replicas` pods may take.

    Counted for the worst case, a rollout at peak: surge pods find no free node, so only as many new pods start
    at a time as old ones may go (or surge, where there is room): the larger of the two, not their sum.
    """
    return math.ceil(max(1, max_replicas) / max(1, max_surge, max_unavailable))


def unavailable_at_peak(peak: int) -> str:
    """maxUnavailable that is one pod at `peak` replicas and, wherever a whole percentage allows, none below it.

    Kubernetes turns a percentage into pods by rounding maxUnavailable down (apps/v1 RollingUpdateDeployment:
    "Absolute number is calculated from percentage by rounding down"), so ceil(100 / peak) % is 1 pod at peak and
    0 below for most peaks (12 -> 9 %: 1.08 -> 1, 11 x 9 % = 0.99 -> 0); where no whole percentage separates
    peak - 1 from peak (e.g. 11) it is also 1 pod one replica below peak.
    """
    return f"{math.ceil(100 / max(1, peak))}%"


def resolve(value: int | str, replicas: int, *, round_up: bool) -> int:
    """maxSurge (rounded up) or maxUnavailable (rounded down) as pods at `replicas` replicas."""
    if isinstance(value, str) and value.endswith("%"):
        exact = replicas * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def needed_wait(startup_seconds: int, pool: PoolFacts | None, waves: int = 1, freed_after_seconds: int = 0) -> int:
    """Seconds a create (one wave) or an update (`waves` waves) may take: one new node, then the pod starts. On an
    update each wave may also wait `freed_after_seconds` for a replaced pod to free what the new one needs: a GPU
    workload's pod holds its GPU (and its GPU quota) until its drain ends, up to its termination grace."""
    return (NODE_PROVISION_SECONDS if needs_new_node(pool) else 0) + waves * (startup_seconds + freed_after_seconds)


def custom_timeouts(startup_seconds: int, pool: PoolFacts | None, *, max_replicas: int, max_surge: int | str,
                    max_unavailable: int | str, freed_after_seconds: int = 0) -> pulumi.CustomTimeouts:
    """Pulumi waits for what the pods may need (never less than its own default); `freed_after_seconds`: see
    `needed_wait` (a GPU workload passes its pods' termination grace)."""
    surge = resolve(max_surge, max_replicas, round_up=True)
    unavailable = resolve(max_unavailable, max_replicas, round_up=False)
    create = max(DEFAULT_WORKLOAD_WAIT_SECONDS, needed_wait(startup_seconds, pool))
    update = max(DEFAULT_WORKLOAD_WAIT_SECONDS, needed_wait(startup_seconds, pool, rollout_waves(
        max_replicas, surge, unavailable), freed_after_seconds))
    return pulumi.CustomTimeouts(create=f"{create}s", update=f"{update}s")
