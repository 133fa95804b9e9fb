"""Health state and the health server's endpoints (/startupz, /readyz, /livez, /status, /metrics).

The endpoints never call vLLM themselves: a background monitor (serving.monitor) writes what it
observed into `HealthState`, and each request answers from that state in microseconds. That is
what keeps probes off the inference path — a probe can never queue behind generation traffic
or block the event loop, whatever vLLM is doing. Facts the supervisor knows first-hand (process
alive, draining) are read live, so readiness turns false the instant a drain starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from serving.adapter_status import AdapterStatus
from serving.compile_cache_status import CompileCacheStatus, compile_cache_metrics
from serving.phase import Phase, PhaseMachine
from serving.vllm_metrics import EngineLoad


@dataclass
class HealthState:
    model: str
    canary_failures_allowed: int
    stale_after_s: float  # vLLM observations older than this are not trusted for readiness
    warmup_required: bool
    process_alive: Callable[[], bool] = lambda: True
    phase: PhaseMachine = field(default_factory=PhaseMachine)
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    # Written by the monitor:
    vllm_health_status: int | None = None  # last HTTP status of vLLM /health; None = no answer
    health_errors_in_a_row: int = 0
    observed_at: float | None = None  # monotonic time of the last answered /health
    model_listed: bool = False
    warmed_up: bool = False
    startup_complete: bool = False  # latched: once served, /startupz stays 200
    canary_failures_in_a_row: int = 0
    last_canary_latency_s: float | None = None
    last_canary_error: str | None = None
    load: EngineLoad | None = None
    server_load: int | None = None
    adapter: AdapterStatus | None = None  # written by serving.adapters when SERVING_ADAPTER_ROOT is set
    compile_cache: CompileCacheStatus | None = None  # written by serving.compile_cache (SERVING_COMPILE_CACHE_URL)

    def served(self) -> bool:
        """Model served and (if configured) warmed up, according to the latest observations."""
        return (
            self.vllm_health_status == 200
            and self.model_listed
            and (self.warmed_up or not self.warmup_required)
        )


def liveness(state: HealthState, now: float | None = None) -> tuple[bool, str]:
    """Fail only on hard evidence the container must be restarted."""
    if not state.process_alive():
        return False, "vllm process is not running"
    if state.vllm_health_status == 503:
        return False, "vllm /health answers 503: engine dead"
    if state.canary_failures_in_a_row >= state.canary_failures_allowed:
        return False, (
            f"{state.canary_failures_in_a_row} canary completions in a row failed without engine "
            f"progress (last: {state.last_canary_error}): engine wedged"
        )
    if state.startup_complete and state.health_errors_in_a_row >= state.canary_failures_allowed:
        return False, f"vllm /health unanswered {state.health_errors_in_a_row} times in a row"
    return True, "ok"


def readiness(state: HealthState, now: float | None = None) -> tuple[bool, str]:
    now = time.monotonic() if now is None else now
    phase = state.phase.phase
    if phase is not Phase.READY:
        return False, {
            Phase.STARTING: "model loading",
            Phase.DRAINING: "draining",
        }.get(phase, f"phase {phase}")
    live, why = liveness(state, now)
    if not live:
        return False, why
    if state.observed_at is None or now - state.observed_at > state.stale_after_s:
        return False, "no recent answer from vllm /health"
    if state.vllm_health_status != 200:
        return False, f"vllm /health answered {state.vllm_health_status}"
    if not state.model_listed:
        return False, f"model {state.model!r} not listed by /v1/models"
    if state.warmup_required and not state.warmed_up:
        return False, "warm-up completion has not succeeded"
    if state.adapter is not None and (why := state.adapter.blocks_readiness()):
        return False, why
    return True, "ok"


def status(state: HealthState, now: float | None = None) -> dict[str, Any]:
    now = time.monotonic() if now is None else now
    return {
        "phase": str(state.phase.phase),
        "model": state.model,
        "uptime_s": round(now - state.started_at, 3),
        "in_flight": None
        if state.load is None
        else {"running": state.load.running, "waiting": state.load.waiting},
        "http_in_flight": state.server_load,
        "last_canary_latency_s": state.last_canary_latency_s,
        "canary_failures_in_a_row": state.canary_failures_in_a_row,
        "restarts": state.restarts,
        "ready": readiness(state, now)[0],
        "live": liveness(state, now)[0],
        "adapter": None if state.adapter is None else state.adapter.as_dict(),
        "compile_cache": None if state.compile_cache is None else state.compile_cache.as_dict(),
    }


class HealthCollector:
    """Prometheus view of the supervisor's own state, read at scrape time (what /status shows)."""

    def __init__(self, state: HealthState) -> None:
        self.state = state

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = time.monotonic()
        s = self.state
        phase = GaugeMetricFamily("llm_fleet_serving_phase", "1 for the supervisor's current phase", labels=["phase"])
        for p in Phase:
            phase.add_metric([str(p)], 1.0 if s.phase.phase == p else 0.0)
        yield phase
        yield GaugeMetricFamily("llm_fleet_serving_ready", "1 when /readyz answers 200",
                                value=float(readiness(s, now)[0]))
        yield GaugeMetricFamily("llm_fleet_serving_live", "1 when /livez answers 200", value=float(liveness(s, now)[0]))
        yield CounterMetricFamily("llm_fleet_serving_restarts", "container restarts seen by the supervisor",
                                  value=float(s.restarts))
        yield GaugeMetricFamily("llm_fleet_serving_canary_failures_in_a_row", "1-token canaries failed in a row",
                                value=float(s.canary_failures_in_a_row))
        if s.last_canary_latency_s is not None:
            yield GaugeMetricFamily("llm_fleet_serving_canary_latency_seconds", "latency of the last canary",
                                    value=s.last_canary_latency_s)
        yield GaugeMetricFamily("llm_fleet_serving_uptime_seconds", "seconds since the supervisor started",
                                value=now - s.started_at)
        if s.adapter is not None:
            yield from adapter_metrics(s.adapter)
        if s.compile_cache is not None:
            yield from compile_cache_metrics(s.compile_cache)


def adapter_metrics(a: AdapterStatus) -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labels = ["adapter"]

    def gauge(name: str, doc: str, value: float | None) -> Any:
        g = GaugeMetricFamily(f"llm_fleet_adapter_{name}", doc, labels=labels)
        if value is not None:
            g.add_metric([a.name], value)
        return g

    def counter(name: str, doc: str, value: float) -> Any:
        c = CounterMetricFamily(f"llm_fleet_adapter_{name}", doc, labels=labels)
        c.add_metric([a.name], value)
        return c

    yield gauge("step", "version (trainer step) served as the adapter's name", a.step)
    yield gauge("latest_step", "version the store's latest pointer names", a.pointer_step)
    yield gauge("published_age_seconds", "seconds since the served version was published", a.age_s())
    yield gauge("load_seconds", "engine load time of the served version", a.last_load_s)
    yield gauge("fetch_seconds", "store-to-disk time (with sha256 checks) of the served version", a.last_fetch_s)
    yield gauge("resident", "versions loaded in the engine", float(len(a.resident)))
    yield gauge("failing", "1 while the latest published version could not be loaded", float(
        a.last_error is not None and a.last_error_step == a.pointer_step))
    yield counter("loads", "versions loaded", float(a.loads))
    yield counter("load_failures", "versions that failed to load", float(a.load_failures))


def create_app(state: HealthState) -> Any:
    """The FastAPI app; imported lazily so `import serving` stays light."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI(title="serving health", docs_url=None, redoc_url=None, openapi_url=None)

    def answer(ok: bool, reason: str) -> JSONResponse:
        return JSONResponse({"ok": ok, "reason": reason}, status_code=200 if ok else 503)

    # Plain `def` handlers would run in a thread pool; these only read memory, so `async def`
    # answers inline without a thread hop and cannot block on anything.
    @app.get("/startupz")
    async def startupz() -> JSONResponse:
        ok = state.startup_complete
        return answer(ok, "ok" if ok else readiness(state)[1])

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return answer(*readiness(state))

    @app.get("/livez")
    async def livez() -> JSONResponse:
        return answer(*liveness(state))

    @app.get("/status")
    async def status_() -> JSONResponse:
        return JSONResponse(status(state))

    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(state))

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
