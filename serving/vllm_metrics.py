"""Reading vLLM's Prometheus metrics (with prometheus_client's parser, not a hand-written one)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
# Monotonic token counters: if they move, the engine is making progress (busy, not wedged).
PROGRESS_COUNTERS = ("vllm:generation_tokens", "vllm:prompt_tokens")


@dataclass(frozen=True)
class EngineLoad:
    running: float
    waiting: float
    tokens_processed: float  # prompt + generation tokens since start

    @property
    def in_flight(self) -> float:
        return self.running + self.waiting


def parse_engine_load(text: str) -> EngineLoad:
    """Sum the in-flight gauges and token counters over all engines/models in one scrape.

    Raises ValueError if the gauges are missing: a scrape without them proves nothing about
    in-flight requests, and the drain must not mistake "unknown" for "idle".
    """
    sums = {RUNNING: 0.0, WAITING: 0.0, "tokens": 0.0}
    seen: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.name in (RUNNING, WAITING):
            seen.add(family.name)
            sums[family.name] += sum(s.value for s in family.samples if s.name == family.name)
        elif family.name in PROGRESS_COUNTERS:
            # The parser names counter families without "_total"; the samples carry it.
            sums["tokens"] += sum(s.value for s in family.samples if s.name.endswith("_total"))
    missing = {RUNNING, WAITING} - seen
    if missing:
        raise ValueError(f"metrics lack {', '.join(sorted(missing))}")
    return EngineLoad(running=sums[RUNNING], waiting=sums[WAITING], tokens_processed=sums["tokens"])
