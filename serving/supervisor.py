"""The supervisor: runs vLLM as a child, serves health, drains on SIGTERM, fails loudly.

One asyncio loop hosts the health server (uvicorn), the monitor and the child-process watch.
vLLM's stdout/stderr are inherited, so its logs reach the container log unchanged and at no cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

from serving.adapters import AdapterWatcher
from serving.compile_cache import CompileCache
from serving.health import HealthState, create_app
from serving.monitor import Monitor, VllmClient
from serving.phase import Phase, exit_code
from serving.settings import Settings
from serving.vllm_command import build_vllm_command, build_vllm_env, command_for_log

log = logging.getLogger("serving.supervisor")

# Consecutive idle observations before the drain declares the server empty: one scrape can fall
# between a request leaving the scheduler and its response leaving the HTTP server.
IDLE_OBSERVATIONS = 2


def count_start(state_dir: Path | None) -> int:
    """Restarts of this container so far, counted in a file on a volume that outlives it."""
    if state_dir is None:
        return 0
    path = state_dir / f"starts-{socket.gethostname()}"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        previous = int(path.read_text()) if path.exists() else 0
        path.write_text(str(previous + 1))
    except (OSError, ValueError) as exc:
        log.warning("cannot count restarts in %s: %s", path, exc)
        return 0
    return previous


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.state = HealthState(
            model=settings.served_name,
            canary_failures_allowed=settings.canary_failures,
            stale_after_s=3 * settings.poll_interval_s + settings.check_timeout_s,
            warmup_required=bool(settings.warmup_prompt),
            process_alive=self._vllm_alive,
            restarts=count_start(settings.state_dir),
        )
        self.client = VllmClient(settings)
        self._drain_started = asyncio.Event()
        self._drain_started_at = 0.0

    def _vllm_alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    # -- signals -------------------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        if self.state.phase.terminal or self._drain_started.is_set():
            log.info("received %s again; drain already under way", signal.Signals(signum).name)
            return
        log.info("received %s: unready now, draining", signal.Signals(signum).name)
        # Synchronously, inside the handler: /readyz answers 503 from the very next request.
        self.state.phase.to(Phase.DRAINING)
        self._drain_started_at = time.monotonic()
        self._drain_started.set()

    # -- main ------------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

        server, server_task = await self._start_health_server()
        if server_task.done():
            log.error("health server could not start on port %d", self.settings.health_port)
            return 1
        try:
            return await self._supervise()
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await asyncio.wait_for(server_task, timeout=5)
            await self.client.aclose()

    async def _supervise(self) -> int:
        s = self.settings
        if self._drain_started.is_set():  # SIGTERM before we even started vLLM
            self.state.phase.to(Phase.STOPPED)
            return 0
        cache = await self._fetch_compile_cache() if s.compile_cache_url is not None else None
        if self._drain_started.is_set():  # SIGTERM while the cache was fetched
            self.state.phase.to(Phase.STOPPED)
            return 0
        cmd = build_vllm_command(s)
        log.info("starting vLLM: %s", command_for_log(cmd))
        # Own session: a Ctrl-C or a signal to our process group must not reach vLLM directly —
        # vLLM aborts in-flight requests on SIGTERM/SIGINT; only the drain decides when it stops.
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, env=build_vllm_env(s, os.environ), start_new_session=True
        )
        monitor = asyncio.create_task(Monitor(s, self.state, self.client).run())
        watchers = [monitor]
        if s.adapter_root is not None:
            watchers.append(asyncio.create_task(self._adapter_watcher().run()))
        if cache is not None:
            watchers.append(asyncio.create_task(self._publish_compile_cache(cache)))
        exited = asyncio.create_task(self.proc.wait())
        drain = asyncio.create_task(self._drain_started.wait())
        try:
            await asyncio.wait({exited, drain}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                # Decided from vLLM itself, never from our phase: its API serves (and takes
                # requests) before the monitor's next poll can mark start-up complete.
                if await self.client.api_listening():
                    await self._drain(exited)
                else:
                    log.info("vLLM's API is not listening yet: no request can be in flight, no drain")
                # vLLM dying on its own during the drain is still a crash, not a clean stop.
                asked = not exited.done() and await self._stop_vllm(exited)
                self.state.phase.to(Phase.STOPPED if asked else Phase.FAILED)
            else:
                self.state.phase.to(Phase.FAILED)
        finally:
            for task in (*watchers, drain):
                task.cancel()
            await self._kill_leftovers()
        rc = self.proc.returncode
        code = exit_code(self.state.phase.phase, rc)
        if self.state.phase.phase is Phase.FAILED:
            log.error("vLLM exited with %s without being asked to: exiting %d", rc, code)
        else:
            log.info("vLLM stopped after drain (returncode %s): exiting 0", rc)
        return code

    async def _fetch_compile_cache(self) -> CompileCache:
        """Fill VLLM_CACHE_ROOT from the shared store before vLLM starts; any failure only costs a compile."""
        cache = CompileCache(self.settings)
        self.state.compile_cache = st = cache.status
        await asyncio.to_thread(cache.fetch_before_start)
        if st.fetch == "error":
            log.warning("compile cache not fetched (vLLM compiles): %s", st.last_error)
        else:
            log.info("compile cache %s for key %s in %.2fs (%s bytes) into %s", st.fetch, st.key, st.fetch_s or 0,
                     st.fetched_bytes or 0, cache.cache_root)
        return cache

    async def _publish_compile_cache(self, cache: CompileCache) -> None:
        """Once the model is served (vLLM has compiled everything it compiles at start), seed the store."""
        while not self.state.startup_complete:
            if self.state.phase.terminal:
                return
            await asyncio.sleep(1)
        await asyncio.to_thread(cache.publish_when_served)
        st = cache.status
        if st.publish == "error":
            log.warning("compile cache not published (serving goes on): %s", st.last_error)
        else:
            log.info("compile cache for key %s: %s (%.2fs)", st.key, st.publish, st.publish_s or 0)

    def _adapter_watcher(self) -> AdapterWatcher:
        # Fetched versions live beside the restart count (a volume) so vLLM reads them from local disk.
        base = self.settings.state_dir or Path(tempfile.mkdtemp(prefix="serving-"))
        cache = base / "adapters" / self.settings.adapter_name
        cache.mkdir(parents=True, exist_ok=True)
        return AdapterWatcher(self.settings, self.state, self.client, cache)

    async def _drain(self, exited: asyncio.Task[int]) -> None:
        """Grace for endpoints to catch up, then wait for in-flight requests, bounded by the timeout."""
        s = self.settings
        deadline = self._drain_started_at + s.drain_timeout_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), timeout=s.drain_grace_s)
        idle = 0
        while not exited.done() and time.monotonic() < deadline:
            if await self._idle():
                idle += 1
                if idle >= IDLE_OBSERVATIONS:
                    waited = time.monotonic() - self._drain_started_at
                    log.info("drain: no requests in flight after %.1fs", waited)
                    return
            else:
                idle = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), timeout=s.drain_poll_s)
        if not exited.done():
            log.warning("drain timeout (%.0fs) reached, requests in flight: stopping vLLM", s.drain_timeout_s)

    async def _idle(self) -> bool:
        """True when vLLM's scheduler has nothing running or waiting and no response is being sent."""
        try:
            load = await self.client.engine_load()
        except Exception as exc:  # unknown is not idle: keep waiting (bounded by the timeout)
            log.warning("drain: cannot read vLLM metrics (%s)", exc)
            return False
        self.state.load = load
        # `/load` is the HTTP-level count; it can drift below zero after client disconnects, so
        # only a positive value is evidence of work in flight.
        http_in_flight = await self.client.server_load()
        self.state.server_load = http_in_flight
        return load.in_flight == 0 and (http_in_flight is None or http_in_flight <= 0)

    async def _stop_vllm(self, exited: asyncio.Task[int]) -> bool:
        """Ask vLLM to stop (SIGTERM, then SIGKILL after the stop timeout); True once it is gone."""
        assert self.proc is not None
        log.info("stopping vLLM (SIGTERM, %ss before SIGKILL)", self.settings.stop_timeout_s)
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout=self.settings.stop_timeout_s)
        except TimeoutError:
            log.warning("vLLM still running after %ss: SIGKILL", self.settings.stop_timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await exited
        return True

    async def _kill_leftovers(self) -> None:
        """vLLM's engine and worker processes share its session; none may outlive the supervisor."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.returncode is None:
            await self.proc.wait()

    async def _start_health_server(self) -> tuple[object, asyncio.Task[None]]:
        import uvicorn

        class _Server(uvicorn.Server):
            # The supervisor owns SIGTERM/SIGINT; uvicorn must not install its own handlers.
            def capture_signals(self) -> contextlib.AbstractContextManager[None]:
                return contextlib.nullcontext()

        config = uvicorn.Config(
            create_app(self.state),
            host=self.settings.host,
            port=self.settings.health_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve())
        for _ in range(200):  # bounded: ~10 s for the socket to bind
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        return server, task
