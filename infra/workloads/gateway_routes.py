"""The stack's routing table (gateway/spec.py GatewaySpec) built from its config: what the ConfigMap
`gateway-config` holds as `spec.json`.

Per model, in order: its own replicas (the model's in-cluster Service, with the stack's model API key), then its
`fallbacks` as declared; a provider-only model's first backend is its `provider`. Keys are never in the spec, only
the paths of the files the gateway pod mounts them at.
"""

from __future__ import annotations

from gateway.spec import Backend, GatewaySpec, Route, local_only
from infra.config import Model, StackConfig
from infra.config.gateway import Fallback
from infra.names import GATEWAY_PORT
from infra.workloads.gateway_tls import peer_tls_args, peer_tls_spec
from infra.workloads.kuberay import service_url as ray_service_url
from infra.workloads.secret_files import API_KEY_SECRET, api_key_file
from infra.workloads.vllm import model_lifecycle, service_url

# Where the Secret `gateway-backend-keys` is mounted: one file per backend, named as the backend.
BACKEND_KEYS_DIR = "/var/run/llm-fleet/backend-keys"
BACKEND_KEYS_SECRET = "gateway-backend-keys"
CLIENT_KEY_FILE = api_key_file(API_KEY_SECRET).path  # the model API key, at the rollout workers' path


def _external(route_model: str, fallback: Fallback) -> Backend:
    model = fallback.model or route_model
    return Backend(name=fallback.backend_name, kind="peer" if fallback.peer is not None else "provider",
                   # A peer is asked for its own replicas only: a request never fails over twice between regions.
                   base_url=fallback.url, model=local_only(model) if fallback.peer is not None else model,
                   api_key_file=f"{BACKEND_KEYS_DIR}/{fallback.backend_name}" if fallback.api_key else None,
                   usd_per_1m_input_tokens=fallback.usd_per_1m_input_tokens,
                   usd_per_1m_output_tokens=fallback.usd_per_1m_output_tokens)


def local_backend(model: Model, drain_timeout_seconds: int, kuberay: bool) -> Backend:
    """The stack's own replicas of `model`: its Service inside the cluster (in KubeRay mode the Serve app's, where
    `model` picks the LLM), which checks the model API key."""
    url = ray_service_url() if kuberay else service_url(model, model_lifecycle(model, drain_timeout_seconds))
    return Backend(name="local", kind="local", base_url=url, model=model.name, api_key_file=CLIENT_KEY_FILE)


def route(model: Model, drain_timeout_seconds: int, kuberay: bool = False) -> Route:
    first = (_external(model.name, model.provider.as_fallback()) if model.provider is not None
             else local_backend(model, drain_timeout_seconds, kuberay))
    return Route(model=model.name, backends=(first, *(_external(model.name, f) for f in model.fallbacks)))


def gateway_spec(cfg: StackConfig) -> GatewaySpec:
    """The routing table of a stack with `serving.gateway`, models in config order."""
    assert cfg.serving.gateway is not None, "only stacks with a gateway have a routing table"
    kuberay = cfg.serving.mode == "kuberay"
    routes = tuple(route(m, cfg.serving.drain_timeout_seconds, kuberay) for m in cfg.declared_models)
    return GatewaySpec(routes=routes, policy=cfg.serving.gateway.policy(), client_key_file=CLIENT_KEY_FILE,
                       port=GATEWAY_PORT, peer_tls=peer_tls_spec() if peer_tls_args(cfg) is not None else None)


def backend_key_refs(cfg: StackConfig) -> dict[str, str]:
    """Backend name -> the config key of the secret its key is in (the data keys of `gateway-backend-keys`)."""
    refs: dict[str, str] = {}
    for model in cfg.declared_models:
        backends = [model.provider.as_fallback()] if model.provider is not None else []
        for f in (*backends, *model.fallbacks):
            if f.api_key is not None:
                refs.setdefault(f.backend_name, f.api_key)
    return refs
