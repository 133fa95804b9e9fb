"""A bench result as a model's `throughput` block (Pulumi.<stack>.yaml models[].throughput), printed, not written.

The cost table's cost per token divides a replica's hourly cost by `outputTokensPerSecond` at `concurrency`
(infra/config/traffic.py Throughput, infra/tokens.py); a bench of one replica at the stack's concurrency is that
figure measured. Stack files are reviewed by people, so this prints the block to paste and edits nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from infra.config import ConfigError


def throughput_block(result_path: Path, endpoint: str, replicas: int = 1) -> str:
    try:
        result = json.loads(result_path.read_text())
        entries = {e["name"]: e for e in result["endpoints"]}
        workload, date = result["workload"], result["date"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError([f"bench result error: {result_path}: not a result `python -m infra bench --out` wrote "
                           f"({type(e).__name__}: {e})"]) from None
    if endpoint not in entries:
        raise ConfigError([f"bench result error: --endpoint = {endpoint}: not in {result_path}; allowed: "
                           f"{', '.join(entries)}"])
    m = entries[endpoint]["measured"]
    if not m["completed"] or not m["output_tokens_per_s"]:
        raise ConfigError([f"bench result error: --endpoint = {endpoint}: no request succeeded in {result_path}, "
                           "so there is no throughput to use; rerun the bench"])
    source = (f"python -m infra bench: {result_path.name}, endpoint {endpoint}, {date}; "
              f"{workload['promptTokens']} in / {workload['outputTokens']} out, {m['completed']}/{m['sent']} ok"
              + (f", divided by {replicas} replicas" if replicas > 1 else ""))
    block = {"throughput": {"outputTokensPerSecond": round(m["output_tokens_per_s"] / replicas, 1),
                            "concurrency": max(1, round(workload["concurrency"] / replicas)), "source": source}}
    head = (f"# models[].throughput for the model behind `{endpoint}` ({entries[endpoint]['model']}): paste it under "
            "the model in Pulumi.<stack>.yaml.\n"
            "# It is per replica: measured through one replica, or give --replicas.\n")
    return head + yaml.safe_dump(block, sort_keys=False, width=200)
