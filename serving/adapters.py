"""Hot load of LoRA adapters: watch the store's `latest` pointer and load each new version into the running engine.

A version goes in as `<name>@<step>` first, then `<name>` is repointed to it in place; only then are versions past
SERVING_MAX_LORAS unloaded. Whatever fails (store, checksums, rank, the engine's load) leaves the served version as it
was and is recorded in AdapterStatus (/status, /metrics).

vLLM 0.32 (vllm/entrypoints/openai/models/serving.py `load_lora_adapter`): loading a name that is already registered
is refused unless `load_inplace` is true; with it the adapter keeps its id and the engine loads the new weights first,
then swaps them (vllm/lora/worker_manager.py `add_adapter`), so `<name>` never disappears: no unload-then-load window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from pathlib import Path

import httpx

from serving import adapter_store
from serving.adapter_status import AdapterStatus
from serving.health import HealthState
from serving.monitor import VllmClient
from serving.settings import Settings

log = logging.getLogger("serving.adapters")

# A version that failed is tried again after this many polls (a transient store or engine error heals itself; a
# broken version is not hammered). A new pointer (step or publication time) is tried at once.
RETRY_AFTER_POLLS = 6
LOAD_TIMEOUT_S = 120.0


class AdapterLoadError(Exception):
    pass


class AdapterWatcher:
    def __init__(self, settings: Settings, state: HealthState, client: VllmClient, cache_dir: Path) -> None:
        assert settings.adapter_root is not None
        self.settings = settings
        self.state = state
        self.client = client
        self.cache_dir = cache_dir
        self.status = AdapterStatus(root=settings.adapter_root, name=settings.adapter_name)
        state.adapter = self.status
        self._failed: tuple[int, float] | None = None  # (step, published_at timestamp) of the last failure
        self._polls_since_failure = 0

    def versioned(self, step: int) -> str:
        return f"{self.settings.adapter_name}@{step}"

    async def run(self) -> None:
        while not self.state.phase.terminal:
            # Once the engine has served (latched): a /health poll that times out under load must not hold updates.
            if self.state.startup_complete:
                await self.poll_once()
            await asyncio.sleep(self.settings.adapter_poll_s)

    async def poll_once(self) -> None:
        st = self.status
        try:
            pointer = await asyncio.to_thread(adapter_store.read_pointer, st.root)
        except adapter_store.AdapterStoreError as exc:
            st.pointer_error = str(exc)
            log.warning("adapter pointer: %s", exc)
            return
        st.pointer_read, st.pointer_error = True, None
        st.pointer_step = None if pointer is None else pointer.step
        if pointer is None or (pointer.step == st.step and pointer.published_at == st.published_at):
            return
        key = (pointer.step, pointer.published_at.timestamp())
        if key == self._failed:
            self._polls_since_failure += 1
            if self._polls_since_failure < RETRY_AFTER_POLLS:
                return
        started = time.monotonic()
        try:
            await self._switch_to(pointer)
        except (AdapterLoadError, adapter_store.AdapterStoreError, httpx.HTTPError, OSError) as exc:
            st.load_failures += 1
            st.last_error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, AdapterLoadError) else str(exc)
            st.last_error_step = pointer.step
            self._failed, self._polls_since_failure = key, 0
            log.error("adapter step %d not loaded (still serving step %s): %s", pointer.step, st.step, st.last_error)
            return
        self._failed = None
        log.info(
            "adapter %r now serves step %d (fetch %.2fs, load %.2fs, %.2fs in all)",
            st.name, pointer.step, st.last_fetch_s or 0, st.last_load_s or 0, time.monotonic() - started,
        )

    async def _switch_to(self, pointer: adapter_store.Pointer) -> None:
        st = self.status
        dest = self.cache_dir / str(pointer.step)
        t0 = time.monotonic()
        if pointer.step not in st.resident:
            await asyncio.to_thread(adapter_store.fetch_version, st.root, pointer.step, dest)
        manifest = await asyncio.to_thread(adapter_store.read_manifest, dest)
        fetch_s = time.monotonic() - t0
        if manifest.rank > self.settings.max_lora_rank:
            raise AdapterLoadError(
                f"rank {manifest.rank} is above SERVING_MAX_LORA_RANK={self.settings.max_lora_rank}; "
                "raise the limit (models[].lora.maxRank) or train a smaller adapter"
            )
        t1 = time.monotonic()
        if pointer.step not in st.resident:
            await self._load(self.versioned(pointer.step), dest, inplace=False)
            st.resident.append(pointer.step)
        # `<name>` exists once a first version is in: from then on it is repointed in place.
        await self._load(st.name, dest, inplace=st.step is not None)
        st.last_load_s, st.last_fetch_s = time.monotonic() - t1, fetch_s
        st.step, st.published_at = pointer.step, pointer.published_at
        st.loads += 1
        st.last_error = st.last_error_step = None
        await self._unload_beyond_limit()

    async def _load(self, name: str, path: Path, inplace: bool) -> None:
        r = await self.client.load_lora(name, str(path), inplace=inplace, timeout_s=LOAD_TIMEOUT_S)
        if r.status_code != 200:
            raise AdapterLoadError(f"vLLM refused {name!r} ({r.status_code}): {_error_message(r)}")

    async def _unload_beyond_limit(self) -> None:
        st = self.status
        # The served version stays whatever its age (a rollback can point `latest` at an old step).
        while len(st.resident) > self.settings.max_loras:
            victim = next(s for s in st.resident if s != st.step)
            r = await self.client.unload_lora(self.versioned(victim), timeout_s=LOAD_TIMEOUT_S)
            if r.status_code not in (200, 404):
                log.warning("unloading %s failed (%d): %s", self.versioned(victim), r.status_code, _error_message(r))
                return
            st.resident.remove(victim)
            with contextlib.suppress(OSError):
                shutil.rmtree(self.cache_dir / str(victim))
            log.info("unloaded adapter %s", self.versioned(victim))


def _error_message(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return r.text[:300]
