"""Ray Serve LLM's OpenAI ingress, refusing requests without the stack's API key. Runs INSIDE the Ray cluster.

Ray Serve LLM (ray 2.60.0) checks no key itself: its OpenAI app is a FastAPI app built by
ray/llm/_internal/serve/core/ingress/ingress.py `init()` (exception, CORS, metrics and request-id middleware only)
and `OpenAiIngress`, whose endpoints never read an Authorization header; `build_openai_app` takes no key setting
(ray/llm/_internal/serve/core/ingress/builder.py `LLMServingArgs`). What it does take is the ingress class:
`ingress_cls_config.ingress_cls` ("module:Class", loaded with `load_class`; the constructor takes the same
arguments as `OpenAiIngress`, builder.py `IngressClsConfig`). This module is that class. infra/ never imports it:
infra/workloads/ray_api_key.py ships its source to every Ray pod as a ConfigMap on PYTHONPATH, so the
digest-pinned Ray image runs it unchanged and nothing is installed at start-up.

The key is read once, from the file SERVING_API_KEY_FILE names (the same setting as the vLLM serving image); no
file or an empty one fails the replica: the app never serves without a key. Every endpoint (vLLM's `--api-key`
guards every /v1 path too) wants `Authorization: Bearer <key>`, compared in constant time. Serve's own
`/-/healthz` and `/-/routes` (the proxy's, which the KubeRay operator probes) and Ray's metrics port stay keyless.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import HTTPException, Request, status
from ray.serve.llm.ingress import OpenAiIngress

KEY_FILE_ENV = "SERVING_API_KEY_FILE"
# OpenAiIngress's endpoints (ingress.py DEFAULT_ENDPOINTS, ray 2.60.0): every one is keyed.
KEYED_ENDPOINTS = ("models", "model_data", "completions", "chat", "embeddings", "transcriptions", "score",
                   "tokenize", "detokenize")


def read_key(environ: Mapping[str, str] = os.environ) -> str:
    path = environ.get(KEY_FILE_ENV)
    if not path:
        raise RuntimeError(f"{KEY_FILE_ENV} is not set: the model API would have no key")
    with open(path, encoding="utf-8") as f:
        key = f.read().strip()
    if not key:
        raise RuntimeError(f"{KEY_FILE_ENV} names an empty file ({path}): the model API would have no key")
    return key


def check_key(headers: Mapping[str, str], key: str) -> None:
    """Raise 401 unless the request carries `Authorization: Bearer <key>`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="invalid or missing API key",
                            headers={"WWW-Authenticate": "Bearer"})


def keyed(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` behind the key check. FastAPI reads the endpoint's signature: the original's, plus `request`
    where the original has none (models, model_data), so FastAPI hands every endpoint its Request."""
    signature = inspect.signature(method)
    passes_request = "request" in signature.parameters

    @functools.wraps(method)
    async def endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"] if passes_request else kwargs.pop("request")
        check_key(request.headers, self._llm_fleet_api_key)
        return await method(self, *args, **kwargs)

    if not passes_request:
        extra = inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), extra])
    return endpoint


class KeyedOpenAiIngress(OpenAiIngress):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._llm_fleet_api_key = read_key()  # before anything else: no key, no replica
        super().__init__(*args, **kwargs)


for _name in KEYED_ENDPOINTS:
    setattr(KeyedOpenAiIngress, _name, keyed(getattr(OpenAiIngress, _name)))
