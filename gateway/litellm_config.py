"""A GatewaySpec as LiteLLM proxy's config (model_list, router_settings, litellm_settings, general_settings).

Every key below was checked against the installed LiteLLM source, litellm==1.108.7 (gateway/requirements.lock);
paths are relative to site-packages/litellm. The keys are read by the launcher from the mounted files into the
proxy's own process env and named here as `os.environ/<VAR>` (LiteLLM's form), so no key is ever written into the
rendered config, a ConfigMap or a pod's env.

What the policy relies on (litellm 1.108.7):
- Fallbacks: router_settings.fallbacks `[{group: [next groups]}]` (router.py `Router.__init__(fallbacks=...)`,
  router_utils/fallback_event_handlers.py `get_fallback_model_group`). Every backend is its own model group, so the
  order is the spec's order and a group's failure moves to the next one.
- Before the first byte: router.py `_completion`/`_acompletion` read a stream's first chunk (`_read_first_chunk`)
  before handing the stream to the proxy, so a connection error, a 5xx, a 429 or a timeout before it is an ordinary
  failure that takes the fallback. Not so the legacy text API: `_atext_completion` returns a /v1/completions stream
  unopened, so a backend that fails before a streamed text completion's first byte is a 500 without fallback
  (non-streaming /v1/completions does fail over). Chat completions are the gateway's failover API.
- After the first byte: router.py `stream_with_fallbacks` (in `_acompletion_streaming_iterator`) re-raises the
  backend's error once any content was generated (`e.generated_content`); there is no setting for it, and the proxy
  (proxy/proxy_server.py `async_data_generator`) then sends an `error` event instead of `[DONE]`. The only
  mid-stream fallback left is one where nothing but the role delta was sent: the fallback's content is then the
  whole answer (no token repeated or mixed). tests/gateway/test_gateway_failover.py proves both sides.
- Timeouts: litellm_params.stream_timeout bounds each read of a streaming call (router.py `_get_stream_timeout`,
  passed to the OpenAI SDK as its httpx timeout: connect and every read), litellm_params.timeout a non-streaming
  one (`_get_non_stream_timeout`). LiteLLM has no separate per-deployment connect timeout: connect is bounded by
  the same value (the first-byte timeout for streams); a refused connection fails at once anyway.
- Cooldown: router_settings.allowed_fails / cooldown_time (router_utils/cooldown_handlers.py
  `_should_cooldown_deployment` -> `should_cooldown_based_on_allowed_fails_policy`: a deployment goes out for
  cooldown_time once its failure count is MORE than allowed_fails, the count living cooldown_time seconds from its
  first failure (`_increment_allowed_fails(ttl=cooldown_time)`), not a minute; it is tried again after).
  failures_before_cooldown N is therefore allowed_fails N-1. `_is_allowed_fails_set_on_router` ignores an
  allowed_fails equal to litellm's default (3) and falls back to a failure-rate rule, so the per-exception
  allowed_fails_policy carries the same number for every failure type that means "backend unwell" (it is consulted
  whenever a policy is set). `_is_cooldown_required` never cools down on an `APIConnectionError` (a refused
  connection fails over in milliseconds on every request instead). RateLimitErrorAllowedFails is set high so an
  overflow 429 moves only that request (a 429 otherwise counts towards cooldown and would take the local replicas
  out for cooldown_time).
- The last backend of a route is never cooled down (model_info.allowed_fails, which overrides the router's:
  cooldown_handlers.py `_get_deployment_cooldown_policy`): with nothing after it, a cooldown only turns its errors
  into 429s for every client (LiteLLM spares a lone deployment for the same reason, `is_lone_deployment`). It also
  shields the fallback from a LiteLLM 1.108.7 race seen in tests/gateway/test_gateway_failover.py: when a stream dies
  before its first content and the router continues it on the fallback, the dead stream's failure is logged by a
  task (streaming_handler.py `_log_stream_failure_and_raise`) on the logging object the fallback hop already
  re-pointed, so router.py `deployment_callback_on_failure` charges it to the fallback and cools it down.
- Overflow: litellm_params.extra_headers is sent with every call to that deployment (litellm/main.py
  `completion(extra_headers=...)` merged into the request headers by llms/openai/openai.py); local backends carry
  `X-LLM-Fleet-Overflow: 1`, which makes a saturated replica answer 429 (serving image,
  SERVING_OVERFLOW_QUEUE_DEPTH).
- Metrics: litellm_settings.callbacks ["prometheus"] (integrations/prometheus.py, no premium check in this
  version; proxy_server.py mounts /metrics for it) with require_auth_for_metrics_endpoint false
  (proxy/middleware/prometheus_auth_middleware.py) so Prometheus scrapes without the client key. Per backend
  (label model_id = `<route>/<backend>`): litellm_deployment_total_requests, _success_responses,
  _failure_responses, _successful_fallbacks, _failed_fallbacks, _cooled_down, litellm_llm_api_latency_metric,
  litellm_llm_api_time_to_first_token_metric, litellm_total_tokens_metric.
- Peers: a route served by the stack's own replicas also exists as `<model>@local` (gateway/spec.py LOCAL_ONLY),
  those replicas alone, as a last backend: a peer region's gateway asks for it, so a request that failed over to a
  peer is served there or refused (an overflow 429 included) and moves on to the caller's next backend, never to a
  third region or back (a full route would loop between regions that are all saturated).
- Auth: general_settings.custom_auth (proxy_server.py loads it with get_instance_fn, an importable dotted path;
  proxy/auth/user_api_key_auth.py calls it for every route that takes a key, before LiteLLM's own checks):
  gateway/auth.py, so the model API key is a caller's key and never LiteLLM's administrator (master_key).
- Probes: /health/liveliness and /health/readiness need no key and call no backend
  (proxy/health_endpoints/_health_endpoints.py); /health needs the key and calls every backend: not for probes.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.spec import Backend, GatewaySpec, local_only

# The administrator key LiteLLM requires, made by the launcher at start and known to no one (gateway/auth.py).
MASTER_KEY_ENV = "LLM_FLEET_GATEWAY_MASTER_KEY"
OVERFLOW_HEADER = "X-LLM-Fleet-Overflow"
# A 429 moves one request on; it never takes a backend out of rotation (see the module docstring).
_RATE_LIMITS_BEFORE_COOLDOWN = 1_000_000
_NEVER_COOL_DOWN = 1_000_000
# The route's last backend has nowhere to fail over to: a connection error or a 5xx before the first byte is tried
# twice more there (two: a burst can leave more than one stale pooled connection, see gateway/__main__.py).
# litellm 1.108.7 router_settings.model_group_retry_policy (types/router.py RetryPolicy, read by
# router_utils/get_retry_from_policy.py: the most specific exception class's field, else DefaultRetries, which
# covers APIConnectionError). Never a timeout (the whole request timeout has passed by then), a 429, or a
# request the backend refused as such; and never after the first byte (LiteLLM retries only streams that had sent
# no content). Seen in the kill test: the provider's idle connection closing under the fallback's request.
_LAST_BACKEND_RETRIES = {
    "DefaultRetries": 2, "InternalServerErrorRetries": 2, "ServiceUnavailableErrorRetries": 2,
    "TimeoutErrorRetries": 0, "RateLimitErrorRetries": 0, "BadRequestErrorRetries": 0,
    "AuthenticationErrorRetries": 0, "NotFoundErrorRetries": 0, "ContentPolicyViolationErrorRetries": 0,
}
# AllowedFailsPolicy fields (litellm/types/router.py) for failures that say the backend is unwell.
_UNWELL = ("TimeoutError", "InternalServerError", "ServiceUnavailableError", "BadGatewayError")


def deployment_name(route_model: str, backend: Backend, first: bool) -> str:
    """The LiteLLM model group a backend is: the route's own name for the first backend, `<model>@<backend>` else."""
    return route_model if first else f"{route_model}@{backend.name}"


def deployment_id(route_model: str, backend: Backend) -> str:
    """model_info.id: unique per deployment, and the `model_id` label of LiteLLM's per-deployment metrics."""
    return f"{route_model}/{backend.name}"


def key_env(backend: Backend) -> str:
    """The in-process env var the launcher puts this backend's key in."""
    return "LLM_FLEET_KEY_" + re.sub(r"[^A-Z0-9]", "_", backend.name.upper())


def _deployment(spec: GatewaySpec, group: str, route_model: str, backend: Backend, last: bool) -> dict[str, Any]:
    policy = spec.policy
    params: dict[str, Any] = {
        "model": f"openai/{backend.model}",  # LiteLLM's OpenAI-compatible provider
        "api_base": backend.base_url,
        "timeout": policy.request_timeout_s,
        # The first-byte timeout is there to move on; a route's last backend has nowhere to move to, so it gets the
        # whole request timeout (a slow answer beats an error; seen in the kill test, where the provider took over
        # 64 streams at once and passed 8 s before its first byte).
        "stream_timeout": policy.request_timeout_s if last else policy.first_byte_timeout_s,
        "max_retries": 0,  # the OpenAI SDK's own retries: a retry is not a failover
    }
    if backend.api_key_file is not None:
        params["api_key"] = f"os.environ/{key_env(backend)}"
    if backend.kind == "local" and policy.overflow_queue_depth is not None:
        params["extra_headers"] = {OVERFLOW_HEADER: "1"}
    info: dict[str, Any] = {"id": deployment_id(route_model, backend)}
    if last:
        info["allowed_fails"] = _NEVER_COOL_DOWN
    if backend.usd_per_1m_input_tokens is not None:
        info["input_cost_per_token"] = backend.usd_per_1m_input_tokens / 1e6
    if backend.usd_per_1m_output_tokens is not None:
        info["output_cost_per_token"] = backend.usd_per_1m_output_tokens / 1e6
    return {"model_name": group, "litellm_params": params, "model_info": info}


def render(spec: GatewaySpec) -> dict[str, Any]:
    policy = spec.policy
    allowed_fails = max(0, policy.failures_before_cooldown - 1)  # cooled down on the Nth failure
    model_list: list[dict[str, Any]] = []
    fallbacks: list[dict[str, list[str]]] = []
    last_group_retries: dict[str, dict[str, int]] = {}
    for route in spec.routes:
        names = []
        for i, backend in enumerate(route.backends):
            name = deployment_name(route.model, backend, first=i == 0)
            last = i == len(route.backends) - 1
            names.append(name)
            model_list.append(_deployment(spec, name, route.model, backend, last))
            if last:
                last_group_retries[name] = dict(_LAST_BACKEND_RETRIES)
        if len(names) > 1:
            fallbacks.append({names[0]: names[1:]})
        if route.backends[0].kind == "local":
            # What a peer region asks for: the same replicas, no fallbacks (its own come after this region).
            alias = local_only(route.model)
            deployment = _deployment(spec, alias, alias, route.backends[0], last=True)
            # ... but the peer waits for its first byte no longer than the caller waits for the peer's.
            deployment["litellm_params"]["stream_timeout"] = policy.first_byte_timeout_s
            model_list.append(deployment)
            last_group_retries[alias] = dict(_LAST_BACKEND_RETRIES)
    return {
        "model_list": model_list,
        "router_settings": {
            "fallbacks": fallbacks,
            "num_retries": 0,  # a retry of the same backend is not a failover; fallbacks move on
            "allowed_fails": allowed_fails,
            "allowed_fails_policy": {
                **{f"{kind}AllowedFails": allowed_fails for kind in _UNWELL},
                "RateLimitErrorAllowedFails": _RATE_LIMITS_BEFORE_COOLDOWN,
            },
            "cooldown_time": policy.cooldown_s,
            "model_group_retry_policy": last_group_retries,
        },
        "litellm_settings": {
            "request_timeout": policy.request_timeout_s,
            "callbacks": ["prometheus"],
            "require_auth_for_metrics_endpoint": False,
        },
        # The model API key (gateway/auth.py CLIENT_KEY_ENV) is checked there, which admits it to the inference routes
        # only; the master key opens the rest and nobody has it.
        "general_settings": {"master_key": f"os.environ/{MASTER_KEY_ENV}",
                             "custom_auth": "gateway.auth.user_api_key_auth"},
    }
