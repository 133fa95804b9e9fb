"""Helpers shared by the gateway tests and benchmarks/gateway_overhead.py: the real gateway (LiteLLM's proxy via
`python -m gateway`, from its own venv) on loopback ports, and a raw SSE client that sees exactly how a stream ends.

Nothing here is a fake: the gateway is the version gateway/requirements.lock pins, the backends are real vLLM servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route as HttpRoute

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "serving"))

from serving_testkit import free_port, wait_http_ok  # noqa: E402  (importable once the path is set up above)

GATEWAY_PYTHON_ENV = "LLM_FLEET_GATEWAY_PYTHON"
# LiteLLM's response header naming the deployment that answered (proxy/common_request_processing.py,
# `x-litellm-model-id` = model_info.id, which litellm_config.deployment_id makes `<route>/<backend>`).
MODEL_ID_HEADER = "x-litellm-model-id"
# Filled by the scenarios, printed by conftest at the end of the run.
REPORT: dict[str, str] = {}


def gateway_python() -> Path | None:
    """The gateway venv's python ($LLM_FLEET_GATEWAY_PYTHON or .venv-gateway), None when it is not built."""
    explicit = os.environ.get(GATEWAY_PYTHON_ENV)
    path = Path(explicit) if explicit else ROOT / ".venv-gateway" / "bin" / "python"
    return path if path.exists() else None


def gateway_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "LLM_FLEET_KEY_"))}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "NO_PROXY": "*", "no_proxy": "*"})
    return env


@contextlib.contextmanager
def started_gateway(python: Path, spec_file: Path, port: int, log: Path,
                    timeout_s: float = 300) -> Iterator[subprocess.Popen[bytes]]:
    """`<gateway python> -m gateway --spec SPEC --port P` until /health/readiness answers 200."""
    from serving_testkit import started

    cmd = [str(python), "-m", "gateway", "--spec", str(spec_file), "--host", "127.0.0.1", "--port", str(port)]
    with started(cmd, gateway_env(), log) as proc:
        wait_http_ok(f"http://127.0.0.1:{port}/health/readiness", timeout_s, proc)
        yield proc


@dataclass
class StreamResult:
    """One streaming request through the gateway as the client saw it."""

    started_at: float
    backend: str | None = None  # the deployment id that answered (`<route>/<backend>`)
    status: int | None = None
    first_byte_at: float | None = None  # the first chunk (for chat: the role delta, sent with the first token)
    first_content_at: float | None = None  # the first chunk carrying generated text
    ended_at: float | None = None
    chunks: int = 0
    done: bool = False  # saw `data: [DONE]`
    finish_reason: str | None = None
    error: str | None = None  # an error event in the stream, an HTTP error or a cut connection
    texts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.done and self.error is None and self.finish_reason is not None

    @property
    def silent_truncation(self) -> bool:
        """Ended without [DONE] or a finish_reason and without any error the client could see."""
        return not self.ok and self.error is None


async def stream_completion(client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int,
                            api_key: str, on_first_content: Callable[[], None] | None = None) -> StreamResult:
    """POST /v1/chat/completions stream=true and read the raw SSE: how a stream ends is the point of the tests.

    Chat, not /v1/completions: LiteLLM 1.108.7 opens a text-completion stream lazily (the connection is made while
    the proxy already streams), so a dead backend there is a 500 with no fallback; chat streams read their first
    chunk inside the router (router.py `_read_first_chunk`) and fail over (see gateway/litellm_config.py)."""
    result = StreamResult(started_at=time.monotonic())
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream": True, "ignore_eos": True}
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {api_key}"}) as response:
            result.status = response.status_code
            result.backend = response.headers.get(MODEL_ID_HEADER)
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}: {(await response.aread())[:300]!r}"
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    result.done = True
                    continue
                event = json.loads(data)
                if "error" in event:
                    result.error = f"error event: {json.dumps(event['error'])[:300]}"
                    continue
                choices = event.get("choices") or []
                if choices:
                    if result.first_byte_at is None:
                        result.first_byte_at = time.monotonic()
                    result.chunks += 1
                    text = (choices[0].get("delta") or {}).get("content") or ""
                    result.texts.append(text)
                    if text and result.first_content_at is None:
                        result.first_content_at = time.monotonic()
                        if on_first_content is not None:
                            on_first_content()
                    result.finish_reason = choices[0].get("finish_reason") or result.finish_reason
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.ended_at = time.monotonic()
    return result


async def complete(client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int,
                   api_key: str) -> tuple[int, str | None, dict]:
    """A non-streaming chat completion: (status, answering deployment, body)."""
    response = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {api_key}"},
                                 json={"model": model, "messages": [{"role": "user", "content": prompt}],
                                       "max_tokens": max_tokens, "ignore_eos": True})
    return response.status_code, response.headers.get(MODEL_ID_HEADER), response.json()


class Backend500:
    """An OpenAI chat endpoint that answers 500 to every `fail_every`-th call (1: every call) and counts calls."""

    def __init__(self, fail_every: int) -> None:
        self.fail_every, self.calls, self.failed = fail_every, 0, 0
        self.port = free_port()

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.calls += 1
        if self.calls % self.fail_every == 0:
            self.failed += 1
            return JSONResponse({"error": {"message": "injected", "type": "server_error"}}, status_code=500)
        return JSONResponse({"id": "x", "object": "chat.completion", "created": int(time.time()),
                             "model": body["model"], "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                               "total_tokens": 2},
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": "hi"}}]})

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        app = Starlette(routes=[HttpRoute("/v1/chat/completions", self.chat, methods=["POST"])])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{self.port}/v1"
        finally:
            server.should_exit = True
            thread.join(10)
