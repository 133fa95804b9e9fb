"""LoRA hot load against the real vLLM CPU engine: the trainer publishes, the supervised replica picks it up.

One supervised server for the module; the tests run in order (each publishes the next version into the same store).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_testkit import REPORT, SERVED_NAME, free_port, observe_startup, started, supervised_env, supervisor_cmd

from serving import adapter_store as store

pytestmark = pytest.mark.vllm

NAME = "policy"
MAX_RANK = 8
MAX_LORAS = 2
POLL_S = 1.0


@dataclass
class Replica:
    api: httpx.Client
    health: httpx.Client
    root: str
    store_dir: Path
    cache_dir: Path
    adapters: dict[str, Path]
    log: Path


@pytest.fixture(scope="module")
def replica(tiny_model: Path, lora_adapters: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    tmp = tmp_path_factory.mktemp("lora")
    store_dir = tmp / "store"
    root = store_dir.as_uri()
    store.publish(lora_adapters["v1"], root, 1, SERVED_NAME)  # published before the replica starts
    api_port, health_port = free_port(), free_port()
    env = supervised_env(
        tiny_model, api_port, health_port,
        SERVING_ADAPTER_ROOT=root, SERVING_ADAPTER_NAME=NAME, SERVING_MAX_LORA_RANK=str(MAX_RANK),
        SERVING_MAX_LORAS=str(MAX_LORAS), SERVING_ADAPTER_POLL_S=str(POLL_S), SERVING_POLL_INTERVAL_S="1",
        SERVING_STATE_DIR=str(tmp / "state"),
    )
    log = tmp / "supervisor.log"
    with started(supervisor_cmd(), env, log) as proc:
        health_url = f"http://127.0.0.1:{health_port}"
        observe_startup(health_url, proc, timeout_s=420)
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=60, trust_env=False) as api, \
                httpx.Client(base_url=health_url, timeout=10, trust_env=False) as health:
            yield Replica(api, health, root, store_dir, tmp / "state" / "adapters" / NAME, lora_adapters, log)


def adapter(r: Replica) -> dict[str, Any]:
    return r.health.get("/status").json()["adapter"]  # type: ignore[no-any-return]


def models(r: Replica) -> set[str]:
    return {m["id"] for m in r.api.get("/v1/models").json()["data"]}


def answer(r: Replica, model: str) -> str:
    body = {"model": model, "prompt": "hello world the", "max_tokens": 8, "temperature": 0}
    resp = r.api.post("/v1/completions", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["choices"][0]["text"])


def metric(r: Replica, name: str) -> float | None:
    for line in r.health.get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{") or line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(predicate: Any, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise TimeoutError(f"{what} not seen after {timeout_s}s")


def test_ready_only_once_the_published_adapter_is_served_under_both_names(replica: Replica) -> None:
    a = adapter(replica)
    assert a["step"] == 1 and a["served_as"] == [NAME, f"{NAME}@1"]
    assert a["age_s"] >= 0 and a["load_s"] > 0
    assert {NAME, f"{NAME}@1", SERVED_NAME} <= models(replica)
    # The adapter really changes the answers, and both names are the same weights.
    assert answer(replica, NAME) == answer(replica, f"{NAME}@1") != answer(replica, SERVED_NAME)
    assert metric(replica, "llm_fleet_adapter_step") == 1


STREAMS = r"""
import asyncio, json, sys
import httpx

async def one(c, i, model, max_tokens):
    body = {"model": model, "prompt": f"hello w{i}", "max_tokens": max_tokens, "stream": True, "ignore_eos": True}
    try:
        async with c.stream("POST", "/v1/completions", json=body) as r:
            if r.status_code != 200:
                return f"#{i}: HTTP {r.status_code} {(await r.aread())[:200]!r}"
            finish, chunks = None, 0
            async for line in r.aiter_lines():
                if line.startswith("data: {"):
                    chunks += 1
                    choice = json.loads(line[6:])["choices"][0]
                    finish = choice.get("finish_reason") or finish
            return None if finish == "length" else f"#{i}: finish={finish} after {chunks} chunks"
    except Exception as exc:
        return f"#{i}: {type(exc).__name__}: {exc}"

async def main(url, model, n, max_tokens):
    async with httpx.AsyncClient(base_url=url, timeout=600, trust_env=False) as c:
        print(json.dumps([f for f in await asyncio.gather(*(one(c, i, model, max_tokens) for i in range(n))) if f]))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


def test_a_new_version_is_picked_up_under_both_names_while_32_streams_run(replica: Replica) -> None:
    old = answer(replica, f"{NAME}@1")
    streams = subprocess.Popen([sys.executable, "-c", STREAMS, str(replica.api.base_url), NAME, "32", "300"],
                               stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: replica.api.get("/load").json()["server_load"] >= 8, 120, "8 streams in flight")
        published = time.monotonic()
        store.publish(replica.adapters["v2"], replica.root, 2, SERVED_NAME)
        wait_for(lambda: adapter(replica)["step"] == 2, 60, "step 2 served")
        pick_up = time.monotonic() - published  # from the trainer's publish call to both names served
        in_flight = replica.api.get("/load").json()["server_load"]
        out, _ = streams.communicate(timeout=600)
    finally:
        if streams.poll() is None:
            streams.kill()
    failures = json.loads(out.strip().splitlines()[-1])
    a = adapter(replica)
    REPORT["lora-1"] = (
        f"LoRA hot load: publish -> served {pick_up:.2f}s (poll {POLL_S}s; engine load {a['load_s']:.3f}s, "
        f"fetch {a['fetch_s']:.3f}s); 32 streams on {NAME!r} across the switch ({in_flight} still in flight "
        f"when it was served): {32 - len(failures)} ok, {len(failures)} failed"
    )
    print(REPORT["lora-1"])
    assert failures == []
    assert a["served_as"] == [NAME, f"{NAME}@2"] and a["resident_steps"] == [1, 2]
    new = answer(replica, NAME)
    assert new == answer(replica, f"{NAME}@2") and new != old
    assert answer(replica, f"{NAME}@1") == old  # a pinned version keeps answering as before
    assert pick_up < POLL_S + 10


def test_a_broken_version_leaves_the_previous_one_serving_and_is_reported(replica: Replica) -> None:
    serving = answer(replica, NAME)
    failures_before = metric(replica, "llm_fleet_adapter_load_failures_total") or 0

    # Rank above the limit: refused before the engine is asked.
    store.publish(replica.adapters["wide"], replica.root, 3, SERVED_NAME)
    wait_for(lambda: adapter(replica)["last_error_step"] == 3, 30, "step 3 failure")
    a = adapter(replica)
    assert "rank 16 is above SERVING_MAX_LORA_RANK=8" in a["last_error"]
    assert (a["step"], a["latest_step"]) == (2, 3)
    assert metric(replica, "llm_fleet_adapter_failing") == 1

    # Weights that do not match the manifest (corrupted in the store): the checksum stops them.
    staging = replica.store_dir.parent / "staging"
    store.publish(replica.adapters["v3"], staging.as_uri(), 4, SERVED_NAME)
    (staging / "versions" / "4" / "adapter_model.safetensors").write_bytes(b"corrupted")
    shutil.copytree(staging / "versions" / "4", replica.store_dir / "versions" / "4")
    shutil.copy(staging / "latest", replica.store_dir / "latest")
    wait_for(lambda: adapter(replica)["last_error_step"] == 4, 30, "step 4 failure")
    assert "sha256 does not match the manifest" in adapter(replica)["last_error"]

    # Files whose checksums match but that vLLM cannot read: the engine's refusal is reported the same way.
    bad = replica.store_dir.parent / "bad-weights"
    shutil.copytree(replica.adapters["v3"], bad)
    (bad / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    store.publish(bad, replica.root, 5, SERVED_NAME)
    wait_for(lambda: adapter(replica)["last_error_step"] == 5, 30, "step 5 failure")
    a = adapter(replica)
    assert "vLLM refused 'policy@5'" in a["last_error"], a["last_error"]
    assert a["step"] == 2 and f"{NAME}@5" not in models(replica)
    assert answer(replica, NAME) == serving  # still the previous version
    assert metric(replica, "llm_fleet_adapter_load_failures_total") == failures_before + 3
    assert metric(replica, "llm_fleet_adapter_step") == 2
    assert replica.health.get("/readyz").status_code == 200  # the replica keeps serving traffic

    # An unreadable pointer (a half-written object on a store without atomic writes): reported, nothing changes.
    latest = (replica.store_dir / "latest").read_text()
    (replica.store_dir / "latest").write_text("{")
    wait_for(lambda: adapter(replica)["pointer_error"] is not None, 30, "pointer error")
    assert "/latest is not JSON" in adapter(replica)["pointer_error"] and adapter(replica)["step"] == 2
    assert replica.health.get("/readyz").status_code == 200
    (replica.store_dir / "latest").write_text(latest)
    wait_for(lambda: adapter(replica)["pointer_error"] is None, 30, "pointer readable again")
    REPORT["lora-2"] = f"LoRA broken versions (rank, checksum, engine): step stays 2; last error: {a['last_error']}"


def test_versions_past_the_limit_are_unloaded_and_a_rollback_repoints_the_name(replica: Replica) -> None:
    store.publish(replica.adapters["v3"], replica.root, 6, SERVED_NAME)
    wait_for(lambda: adapter(replica)["step"] == 6, 30, "step 6 served")
    a = adapter(replica)
    assert a["resident_steps"] == [2, 6] and a["last_error"] is None
    assert models(replica) >= {NAME, f"{NAME}@2", f"{NAME}@6"} and f"{NAME}@1" not in models(replica)
    assert not (replica.cache_dir / "1").exists()  # its local copy is gone too
    assert metric(replica, "llm_fleet_adapter_failing") == 0

    # Rollback: the pointer moves back to a resident version; `policy` answers as step 2 again.
    step2 = answer(replica, f"{NAME}@2")
    (replica.store_dir / "latest").write_text(json.dumps({"step": 2, "published_at": "2026-11-30T00:00:00Z"}))
    wait_for(lambda: adapter(replica)["step"] == 2, 30, "rollback to step 2")
    assert answer(replica, NAME) == step2
    assert adapter(replica)["resident_steps"] == [2, 6]
