"""What the replica knows about its LoRA adapter: written by serving.adapters, read by /status, /readyz, /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class AdapterStatus:
    root: str
    name: str
    pointer_read: bool = False  # the store answered at least once
    pointer_step: int | None = None  # what `latest` names now (None: nothing published)
    pointer_error: str | None = None  # the last failed read of `latest`
    step: int | None = None  # the version served as `name`
    published_at: datetime | None = None
    resident: list[int] = field(default_factory=list)  # versions loaded as `name@step`, oldest first
    loads: int = 0
    load_failures: int = 0
    last_load_s: float | None = None  # engine load calls of the last successful version
    last_fetch_s: float | None = None  # store → local disk, sha256 checked
    last_error: str | None = None
    last_error_step: int | None = None

    def age_s(self, now: datetime | None = None) -> float | None:
        if self.published_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.published_at).total_seconds()

    def blocks_readiness(self) -> str | None:
        """Why the replica is not ready yet, or None.

        With a store configured, a replica is ready only once it knows what is published and, if something is,
        serves it (a replica serving nothing would answer `name` with 404).
        """
        if not self.pointer_read:
            return f"adapter store not read yet ({self.pointer_error or 'first read pending'})"
        if self.pointer_step is not None and self.step is None:
            why = f": {self.last_error}" if self.last_error else ""
            return f"adapter {self.name!r} (step {self.pointer_step}) not loaded yet{why}"
        return None

    def as_dict(self) -> dict[str, Any]:
        age = self.age_s()
        return {
            "name": self.name,
            "root": self.root,
            "step": self.step,
            "served_as": [self.name, f"{self.name}@{self.step}"] if self.step is not None else [],
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "age_s": None if age is None else round(age, 3),
            "latest_step": self.pointer_step,
            "resident_steps": list(self.resident),
            "load_s": self.last_load_s,
            "fetch_s": self.last_fetch_s,
            "loads": self.loads,
            "load_failures": self.load_failures,
            "last_error": self.last_error,
            "last_error_step": self.last_error_step,
            "pointer_error": self.pointer_error,
        }
