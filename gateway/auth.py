"""Who may do what on the gateway: the stack's model API key calls the inference routes, and nothing else.

LiteLLM's proxy without a key database knows one key, its `master_key`, and that key is its administrator (every
management route). The model API key is sent by every client and, in a fleet, held by the peer regions: it must not
be that. So the launcher gives LiteLLM a master key made at start and known to no one, and this module is LiteLLM's
`general_settings.custom_auth` (litellm 1.108.7 proxy/auth/user_api_key_auth.py: a configured custom auth function
decides every authenticated route, before LiteLLM's own checks; proxy_server.py loads it with get_instance_fn):
- the model API key on an inference route: a caller, with no admin role;
- the same key anywhere else (management, spend, config, cache, UI routes): 403;
- any other key, or none: 401;
- LiteLLM's public routes (its liveness probe and the like): as LiteLLM itself treats them, view-only, no key.
"""

from __future__ import annotations

import hmac
import os
from typing import Any, Literal

CLIENT_KEY_ENV = "LLM_FLEET_GATEWAY_CLIENT_KEY"
# The OpenAI-compatible inference API the gateway offers: what clients and peers call, with and without /v1.
INFERENCE_ROUTES = frozenset(
    f"{prefix}/{path}" for prefix in ("", "/v1")
    for path in ("chat/completions", "completions", "embeddings", "models"))

Decision = Literal["caller", "public", "forbidden", "unauthorized"]


def decide(route: str, api_key: str | None, client_key: str, public_routes: frozenset[str]) -> Decision:
    if route in public_routes:
        return "public"
    key = (api_key or "").removeprefix("Bearer ").strip()
    if not key or not hmac.compare_digest(key.encode(), client_key.encode()):
        return "unauthorized"
    return "caller" if route in INFERENCE_ROUTES else "forbidden"


async def user_api_key_auth(request: Any, api_key: str) -> Any:
    """LiteLLM's custom_auth hook: a UserAPIKeyAuth for a caller, or a ProxyException (401 / 403)."""
    from litellm.proxy._types import LiteLLMRoutes, LitellmUserRoles, ProxyException, UserAPIKeyAuth

    route = request.url.path
    decision = decide(route, api_key, os.environ[CLIENT_KEY_ENV], frozenset(LiteLLMRoutes.public_routes.value))
    if decision == "public":
        return UserAPIKeyAuth(user_role=LitellmUserRoles.INTERNAL_USER_VIEW_ONLY)
    if decision == "caller":
        return UserAPIKeyAuth(api_key="llm-fleet-model-api-key", user_role=LitellmUserRoles.INTERNAL_USER)
    if decision == "forbidden":
        raise ProxyException(message=f"{route} is not an inference route; the model API key calls only "
                             f"{', '.join(sorted(r for r in INFERENCE_ROUTES if r.startswith('/v1')))}",
                             type="auth_error", param="route", code=403)
    raise ProxyException(message="invalid or missing API key: send the stack's model API key as a Bearer token",
                         type="auth_error", param="api_key", code=401)
