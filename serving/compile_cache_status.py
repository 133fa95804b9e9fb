"""What the replica knows about the shared compile cache: written by serving.compile_cache, read by /status and
/metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class CompileCacheStatus:
    """What /status and /metrics show about the shared compile cache."""

    url: str
    key: str
    fetch: str = "pending"  # "hit", "miss" or "error"
    fetch_s: float | None = None
    fetched_bytes: int | None = None
    publish: str | None = None  # a Published.outcome, "skipped" (fetched: nothing new), or "error"
    publish_s: float | None = None
    errors: dict[str, int] | None = None
    last_error: str | None = None

    def failed(self, op: str, exc: Exception) -> None:
        self.errors = {**(self.errors or {}), op: (self.errors or {}).get(op, 0) + 1}
        self.last_error = f"{op}: {exc}"

    def as_dict(self) -> dict[str, object]:
        return {
            "url": self.url, "key": self.key, "fetch": self.fetch, "fetch_s": self.fetch_s,
            "fetched_bytes": self.fetched_bytes, "publish": self.publish, "publish_s": self.publish_s,
            "errors": dict(self.errors or {}), "last_error": self.last_error,
        }


def compile_cache_metrics(st: CompileCacheStatus) -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    yield GaugeMetricFamily("llm_fleet_compile_cache_hit", "1 when the start fetched a published compile cache",
                            value=float(st.fetch == "hit"))
    if st.fetch_s is not None:
        yield GaugeMetricFamily("llm_fleet_compile_cache_fetch_seconds", "store-to-disk time of the compile cache",
                                value=st.fetch_s)
    yield GaugeMetricFamily("llm_fleet_compile_cache_published", "1 when this replica published the entry",
                            value=float(st.publish == "published"))
    errors = CounterMetricFamily("llm_fleet_compile_cache_errors", "failed fetches and publications of the compile "
                                 "cache (serving went on)", labels=["op"])
    for op in ("fetch", "publish"):
        errors.add_metric([op], float((st.errors or {}).get(op, 0)))
    yield errors
