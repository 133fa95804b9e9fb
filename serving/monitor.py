"""Watches the vLLM server and writes what it sees into HealthState.

Every call to vLLM has its own timeout and runs on a dedicated connection pool, so a busy or
hung vLLM costs the monitor at most that timeout and never delays the health endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx

from serving.health import HealthState
from serving.phase import Phase
from serving.settings import Settings
from serving.vllm_metrics import EngineLoad, parse_engine_load

log = logging.getLogger("serving.monitor")

CANARY_PROMPT = "Hello"


def _local_host(host: str) -> str:
    # vLLM binds the pod's address; the supervisor lives in the same network namespace.
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class VllmClient:
    """The few vLLM endpoints the supervisor reads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        host = _local_host(settings.host)
        self._http = httpx.AsyncClient(
            base_url=f"http://{host}:{settings.api_port}",
            headers=headers,
            timeout=settings.check_timeout_s,
            # No proxies from the environment: this is loopback traffic.
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def health_status(self) -> int:
        return (await self._http.get("/health")).status_code

    async def model_listed(self) -> bool:
        r = await self._http.get("/v1/models")
        if r.status_code != 200:
            return False
        return any(m.get("id") == self.settings.served_name for m in r.json().get("data", []))

    async def api_listening(self) -> bool:
        """False only when vLLM's API port refuses connections: then no request can be in flight.

        vLLM binds its API socket before building the engine but starts listening only when it
        starts serving (vllm/entrypoints/launchers/launcher.py `setup_server`: bind, no listen;
        uvicorn listens in `serve_http`), so during the model load a connection is refused.
        Any other outcome (an answer, a timeout from a saturated server) means requests can be
        in flight: the drain then reads vLLM's load to know when they are done.
        """
        try:
            await self._http.get("/health")
        except httpx.ConnectError:
            return False
        except httpx.HTTPError:
            return True
        return True

    async def engine_load(self) -> EngineLoad:
        r = await self._http.get("/metrics")
        r.raise_for_status()
        return parse_engine_load(r.text)

    async def server_load(self) -> int | None:
        """HTTP-level in-flight count (`--enable-server-load-tracking`); None if unavailable."""
        try:
            r = await self._http.get("/load")
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        return int(r.json().get("server_load", 0))

    async def load_lora(self, name: str, path: str, inplace: bool, timeout_s: float) -> httpx.Response:
        """vLLM 0.32's runtime adapter API (vllm/entrypoints/serve/lora/protocol.py `LoadLoRAAdapterRequest`)."""
        body = {"lora_name": name, "lora_path": path, "load_inplace": inplace}
        return await self._http.post("/v1/load_lora_adapter", json=body, timeout=timeout_s)

    async def unload_lora(self, name: str, timeout_s: float) -> httpx.Response:
        return await self._http.post("/v1/unload_lora_adapter", json={"lora_name": name}, timeout=timeout_s)

    async def complete(self, prompt: str, timeout_s: float, max_tokens: int = 1) -> float:
        """One short completion; returns its latency. Raises on any failure."""
        start = time.monotonic()
        r = await self._http.post(
            "/v1/completions",
            json={
                "model": self.settings.served_name,
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": 0,
            },
            timeout=timeout_s,
        )
        r.raise_for_status()
        if not r.json().get("choices"):
            raise ValueError("completion returned no choices")
        return time.monotonic() - start


class Monitor:
    """Polls /health, /v1/models and /metrics; runs the warm-up once and the canary periodically."""

    def __init__(self, settings: Settings, state: HealthState, client: VllmClient) -> None:
        self.settings = settings
        self.state = state
        self.client = client

    async def run(self) -> None:
        canary = asyncio.create_task(self._canary_loop())
        try:
            while not self.state.phase.terminal:
                await self.poll_once()
                await asyncio.sleep(self.settings.poll_interval_s)
        finally:
            canary.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await canary

    async def poll_once(self) -> None:
        s = self.state
        health, listed, load, server_load = await asyncio.gather(
            self.client.health_status(),
            self.client.model_listed(),
            self.client.engine_load(),
            self.client.server_load(),
            return_exceptions=True,
        )
        if isinstance(health, BaseException):
            s.vllm_health_status = None
            s.health_errors_in_a_row += 1
        else:
            s.vllm_health_status = health
            s.health_errors_in_a_row = 0
            s.observed_at = time.monotonic()
        s.model_listed = listed is True
        if isinstance(load, EngineLoad):
            s.load = load
        s.server_load = server_load if isinstance(server_load, int) else None

        if s.phase.phase is Phase.STARTING and s.vllm_health_status == 200 and s.model_listed:
            if self.settings.warmup_prompt and not s.warmed_up:
                await self._warm_up()
            if s.served() and s.phase.phase is Phase.STARTING:
                s.startup_complete = True
                s.phase.to(Phase.READY)
                log.info("model %r served: ready", self.settings.served_name)

    async def _warm_up(self) -> None:
        assert self.settings.warmup_prompt is not None
        try:
            latency = await self.client.complete(
                self.settings.warmup_prompt, timeout_s=self.settings.warmup_timeout_s, max_tokens=16
            )
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("warm-up completion failed (%s); retrying at the next poll", exc)
            return
        self.state.warmed_up = True
        log.info("warm-up completion took %.2fs", latency)

    async def _canary_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.canary_interval_s)
            # Only a serving engine is probed: during start-up the startup probe guards, and a
            # draining engine must not get new work (it would also keep the drain waiting).
            if self.state.phase.phase is Phase.READY:
                await self.canary_once()

    async def canary_once(self) -> None:
        s = self.state
        before = s.load.tokens_processed if s.load else None
        try:
            s.last_canary_latency_s = await self.client.complete(
                CANARY_PROMPT, timeout_s=self.settings.canary_timeout_s
            )
        except (httpx.HTTPError, ValueError) as exc:
            s.last_canary_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if await self._engine_progressed(before):
                # A saturated engine answers the canary late but still produces tokens:
                # busy, not wedged. Restarting it would drop all of that work.
                log.warning("canary failed (%s) but the engine is making progress", s.last_canary_error)
                return
            s.canary_failures_in_a_row += 1
            log.warning(
                "canary failed (%s); %d in a row", s.last_canary_error, s.canary_failures_in_a_row
            )
            return
        s.canary_failures_in_a_row = 0
        s.last_canary_error = None

    async def _engine_progressed(self, before: float | None) -> bool:
        if before is None:
            return False
        try:
            after = await self.client.engine_load()
        except (httpx.HTTPError, ValueError):
            return False
        self.state.load = after
        return after.tokens_processed > before
