"""A GatewaySpec as LiteLLM proxy's config file (model_list, router_settings, general_settings).

First version: the mapping of routes to LiteLLM deployments and fallbacks. The keys are read by the launcher from
the mounted files into the proxy's own process env and named here as `os.environ/<VAR>` (LiteLLM's form), so no key
is ever written into the rendered config, a ConfigMap or a pod's env.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.spec import Backend, GatewaySpec

CLIENT_KEY_ENV = "LLM_FLEET_GATEWAY_CLIENT_KEY"


def deployment_name(route_model: str, backend: Backend, first: bool) -> str:
    """The LiteLLM model group a backend is: the route's own name for the first backend, `<model>@<backend>` else."""
    return route_model if first else f"{route_model}@{backend.name}"


def key_env(backend: Backend) -> str:
    """The in-process env var the launcher puts this backend's key in."""
    return "LLM_FLEET_KEY_" + re.sub(r"[^A-Z0-9]", "_", backend.name.upper())


def render(spec: GatewaySpec) -> dict[str, Any]:
    policy = spec.policy
    model_list: list[dict[str, Any]] = []
    fallbacks: list[dict[str, list[str]]] = []
    for route in spec.routes:
        names = []
        for i, backend in enumerate(route.backends):
            name = deployment_name(route.model, backend, first=i == 0)
            names.append(name)
            params: dict[str, Any] = {
                "model": f"openai/{backend.model}",  # LiteLLM's OpenAI-compatible provider
                "api_base": backend.base_url,
                "timeout": policy.request_timeout_s,
                "stream_timeout": policy.first_byte_timeout_s,
            }
            if backend.api_key_file is not None:
                params["api_key"] = f"os.environ/{key_env(backend)}"
            info: dict[str, Any] = {"id": f"{route.model}/{backend.name}"}
            if backend.usd_per_1m_input_tokens is not None:
                info["input_cost_per_token"] = backend.usd_per_1m_input_tokens / 1e6
            if backend.usd_per_1m_output_tokens is not None:
                info["output_cost_per_token"] = backend.usd_per_1m_output_tokens / 1e6
            model_list.append({"model_name": name, "litellm_params": params, "model_info": info})
        if len(names) > 1:
            fallbacks.append({names[0]: names[1:]})
    return {
        "model_list": model_list,
        "router_settings": {
            "fallbacks": fallbacks,
            "num_retries": 0,  # a retry of the same backend is not a failover; fallbacks move on
            "allowed_fails": policy.failures_before_cooldown,
            "cooldown_time": policy.cooldown_s,
        },
        "litellm_settings": {"request_timeout": policy.request_timeout_s},
        "general_settings": {"master_key": f"os.environ/{CLIENT_KEY_ENV}"},
    }
