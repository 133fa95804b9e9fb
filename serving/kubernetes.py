"""The Kubernetes contract of the serving image, in one place.

The Pulumi workload code imports `pod_lifecycle()` and maps its result onto the pod spec
(probes, preStop, terminationGracePeriodSeconds, env). The same numbers reach the supervisor
through `PodLifecycle.env`, so the probe timings and the supervisor's drain/canary timings
cannot drift apart.

Pure on purpose: stdlib only (no fastapi/httpx/vllm), because the Pulumi program imports it.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

# Ports and paths the image serves; the Dockerfile EXPOSEs the same two ports and the
# settings module uses them as defaults.
API_PORT = 8000
HEALTH_PORT = 8081
METRICS_PATH = "/metrics"  # vLLM's own Prometheus endpoint, on the API port
STARTUP_PATH = "/startupz"
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/livez"

# Every supervisor setting is the env var ENV_PREFIX + its `Settings` field name upper-cased (serving/settings.py);
# tests/test_serving_contract.py parses every rendered Deployment's env back through `Settings`.
ENV_PREFIX = "SERVING_"

# The gateway marks what it sends to the stack's own replicas with this header; the image answers those (and only
# those) 429 while more than SERVING_OVERFLOW_QUEUE_DEPTH requests wait in vLLM (serving/overflow.py), so the gateway
# moves them to its next backend while rollout workers, which send no header, keep queueing.
OVERFLOW_HEADER = "X-LLM-Fleet-Overflow"
OVERFLOW_HEADER_VALUE = "1"

# Supervisor timings: the defaults of both pod_lifecycle() and serving.settings.Settings.
DRAIN_GRACE_S = 5
DRAIN_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
CANARY_INTERVAL_S = 15
CANARY_TIMEOUT_S = 10
CANARY_FAILURES = 3

# Assumptions behind the startup budget (see pod_lifecycle's docstring).
DEFAULT_LOAD_RATE_GB_PER_S = 0.2
DEFAULT_ENGINE_INIT_S = 300
STARTUP_SAFETY_FACTOR = 1.5
STARTUP_PERIOD_S = 10
# Time the kubelet, the supervisor and vLLM's own shutdown may overrun by before SIGKILL.
TERMINATION_MARGIN_S = 15


@dataclass(frozen=True)
class Probe:
    """One HTTP probe against the health server (maps 1:1 onto Kubernetes ProbeArgs)."""

    path: str
    port: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    success_threshold: int = 1
    initial_delay_seconds: int = 0

    @property
    def window_seconds(self) -> int:
        """How long the probe tolerates failure before it acts (restart / unready / give up)."""
        return self.period_seconds * self.failure_threshold


@dataclass(frozen=True)
class PodLifecycle:
    """Everything the pod spec needs to match the serving image's behaviour."""

    api_port: int
    health_port: int
    metrics_path: str
    startup_probe: Probe
    readiness_probe: Probe
    liveness_probe: Probe
    pre_stop: list[str] | None
    termination_grace_period_seconds: int
    startup_budget_seconds: int
    drain_timeout_seconds: int
    env: dict[str, str] = field(default_factory=dict)


def startup_budget_seconds(
    weights_gb: float,
    *,
    load_rate_gb_per_s: float = DEFAULT_LOAD_RATE_GB_PER_S,
    engine_init_s: int = DEFAULT_ENGINE_INIT_S,
) -> int:
    """Seconds a cold pod may take to serve its model: (init + weights / rate) * safety factor."""
    if weights_gb <= 0:
        raise ValueError(f"weights_gb must be > 0, got {weights_gb}")
    if load_rate_gb_per_s <= 0:
        raise ValueError(f"load_rate_gb_per_s must be > 0, got {load_rate_gb_per_s}")
    if engine_init_s < 0:
        raise ValueError(f"engine_init_s must be >= 0, got {engine_init_s}")
    return math.ceil((engine_init_s + weights_gb / load_rate_gb_per_s) * STARTUP_SAFETY_FACTOR)


def pod_lifecycle(
    *,
    weights_gb: float,
    drain_timeout_s: int = DRAIN_TIMEOUT_S,
    drain_grace_s: int = DRAIN_GRACE_S,
    stop_timeout_s: int = STOP_TIMEOUT_S,
    pre_stop_sleep_s: int = 0,
    canary_interval_s: int = CANARY_INTERVAL_S,
    canary_timeout_s: int = CANARY_TIMEOUT_S,
    canary_failures: int = CANARY_FAILURES,
    load_rate_gb_per_s: float = DEFAULT_LOAD_RATE_GB_PER_S,
    engine_init_s: int = DEFAULT_ENGINE_INIT_S,
    startup_budget_s: int | None = None,
    api_port: int = API_PORT,
    health_port: int = HEALTH_PORT,
) -> PodLifecycle:
    """Probes, preStop, grace period and supervisor env for a pod serving `weights_gb` of weights.

    Startup budget. A cold pod downloads (or reads from a cache volume) the weights, then vLLM
    profiles memory, compiles (torch.compile) and captures CUDA graphs. We budget
    ``(engine_init_s + weights_gb / load_rate_gb_per_s) * 1.5``: by default 300 s for init and
    compile plus 0.2 GB/s for weights — a pessimistic cold download from the Hugging Face hub
    (a warm HF_HOME volume reads at several GB/s, so restarts finish far inside the budget) —
    with a 1.5x safety factor. E.g. 16 GB (8B fp16) → 570 s; 140 GB (70B fp16) → 1500 s.
    A caller that knows better passes `startup_budget_s` instead (the Pulumi program passes its time-to-serve
    breakdown's in-container worst case times a margin: infra/time_to_serve.py), and the formula is not used.
    The startup probe polls `/startupz` every 10 s and gives up after budget / 10 failures.
    Until it succeeds the kubelet runs neither liveness nor readiness probes, so a long model
    load can never get the pod killed by the liveness probe.

    Readiness polls `/readyz` every 5 s: it is 503 until the model is listed and warmed up and
    from the first instant of a drain.

    Liveness polls `/livez` every 10 s and restarts the container after 3 failures. `/livez`
    itself already fails only on hard evidence (vLLM process gone, engine dead, or
    `canary_failures` 1-token canaries in a row failed while the engine made no progress),
    so the kubelet needs few repetitions. Worst case from a wedge to a restart:
    canary_failures * (canary_interval_s + canary_timeout_s) + liveness window.

    Termination. On SIGTERM the supervisor turns unready, waits `drain_grace_s` for endpoints
    and load balancers to catch up, then waits for vLLM's in-flight requests to finish — all
    within `drain_timeout_s` from the signal — and then gives vLLM `stop_timeout_s` to exit.
    The kubelet counts terminationGracePeriodSeconds from the start of preStop and SIGKILLs
    when it runs out, so it must be at least preStop + drain timeout + stop timeout + a margin;
    anything less cuts the drain short and drops in-flight requests. The supervisor already
    waits out the endpoint-propagation grace itself, so no preStop hook is needed by default;
    set `pre_stop_sleep_s` if something in front of the pod (e.g. a mesh sidecar) needs longer.
    """
    ints = {
        "drain_timeout_s": drain_timeout_s,
        "stop_timeout_s": stop_timeout_s,
        "canary_interval_s": canary_interval_s,
        "canary_timeout_s": canary_timeout_s,
        "canary_failures": canary_failures,
    }
    for name, value in ints.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0 <= drain_grace_s < drain_timeout_s:
        raise ValueError(f"drain_grace_s must be in [0, drain_timeout_s), got {drain_grace_s}")
    if pre_stop_sleep_s < 0:
        raise ValueError(f"pre_stop_sleep_s must be >= 0, got {pre_stop_sleep_s}")
    if api_port == health_port:
        raise ValueError("api_port and health_port must differ")

    if startup_budget_s is not None and startup_budget_s < STARTUP_PERIOD_S:
        raise ValueError(f"startup_budget_s must be >= {STARTUP_PERIOD_S}, got {startup_budget_s}")
    budget = startup_budget_s if startup_budget_s is not None else startup_budget_seconds(
        weights_gb, load_rate_gb_per_s=load_rate_gb_per_s, engine_init_s=engine_init_s
    )
    startup = Probe(
        path=STARTUP_PATH,
        port=health_port,
        period_seconds=STARTUP_PERIOD_S,
        timeout_seconds=5,
        failure_threshold=math.ceil(budget / STARTUP_PERIOD_S),
    )
    readiness = Probe(
        path=READINESS_PATH, port=health_port, period_seconds=5, timeout_seconds=3, failure_threshold=2
    )
    liveness = Probe(
        path=LIVENESS_PATH, port=health_port, period_seconds=10, timeout_seconds=5, failure_threshold=3
    )
    grace = pre_stop_sleep_s + drain_timeout_s + stop_timeout_s + TERMINATION_MARGIN_S
    settings = {
        "api_port": api_port,
        "health_port": health_port,
        "drain_grace_s": drain_grace_s,
        "drain_timeout_s": drain_timeout_s,
        "stop_timeout_s": stop_timeout_s,
        "canary_interval_s": canary_interval_s,
        "canary_timeout_s": canary_timeout_s,
        "canary_failures": canary_failures,
    }
    env = {env_name(k): str(v) for k, v in settings.items()}
    return PodLifecycle(
        api_port=api_port,
        health_port=health_port,
        metrics_path=METRICS_PATH,
        startup_probe=startup,
        readiness_probe=readiness,
        liveness_probe=liveness,
        pre_stop=["sleep", str(pre_stop_sleep_s)] if pre_stop_sleep_s else None,
        termination_grace_period_seconds=grace,
        startup_budget_seconds=budget,
        drain_timeout_seconds=drain_timeout_s,
        env=env,
    )


def env_name(setting: str) -> str:
    """The env var of the supervisor setting `setting` (a `Settings` field name): SERVING_<FIELD NAME>."""
    return ENV_PREFIX + setting.upper()


def model_env(
    *,
    model: str,
    served_model_name: str,
    tensor_parallel_size: int,
    max_model_len: int,
    extra_args: Sequence[str] = (),
) -> dict[str, str]:
    """The supervisor's env for the model it serves: what to load, under which name, with which engine flags.

    `model` is a Hugging Face id or a bucket path; `extra_args` are further vLLM flags (e.g. `--revision <sha>`),
    which must not repeat the flags the typed settings set nor carry secrets (serving/flags.py).
    """
    settings = {
        "model": model,
        "served_model_name": served_model_name,
        "tensor_parallel_size": str(tensor_parallel_size),
        "max_model_len": str(max_model_len),
        "extra_args": shlex.join(extra_args),
    }
    return {env_name(k): v for k, v in settings.items()}


def overflow_env(queue_depth: int | None) -> dict[str, str]:
    """The supervisor's env for the gateway's overflow: requests marked with OVERFLOW_HEADER get 429 while more than
    `queue_depth` wait in vLLM's queue. None: no overflow (the variable stays unset; nothing is ever refused)."""
    if queue_depth is None:
        return {}
    if isinstance(queue_depth, bool) or not isinstance(queue_depth, int) or queue_depth < 0:
        raise ValueError(f"overflow queue depth must be an integer >= 0 or None, got {queue_depth!r}")
    return {env_name("overflow_queue_depth"): str(queue_depth)}
