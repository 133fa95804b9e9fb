"""Cost delta: what a change to a stack does to its $/day, at the autoscaling minimum and maximum.

Owns: reading `Pulumi.<stack>.yaml` as it was at a git ref and pricing it. The ref's stack file is
priced with the working tree's cost model (config validation, pool facts, catalog), not with the
ref's own code: the delta then shows what the reviewed change does to spend, it is deterministic,
and no older code is imported or run. Consequences, by design: a catalog price update shows in the
plan's "prices as of" line, not as a delta; a ref whose stack file the current code rejects (a key
renamed in this change) is reported as such rather than priced. A stack file absent at the ref is a
new stack: the baseline is $0.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from infra.config import ConfigError, parse_engine_config
from infra.cost import HOURS_PER_DAY, CostReport
from infra.plan import read_stack_file
from infra.program import stack_plan


@dataclass(frozen=True)
class PoolDelta:
    pool: str
    daily_min: tuple[float, float]  # (at the ref, now)
    daily_max: tuple[float, float]


@dataclass(frozen=True)
class CostDelta:
    ref: str
    base: CostReport | None  # None: the stack file does not exist at the ref
    head: CostReport
    pools: tuple[PoolDelta, ...]  # pools whose cost changed, added or removed
    fees: tuple[PoolDelta, ...] = ()  # fee lines (control plane, NAT, LBs, disks) that changed, by label
    alternatives: tuple[PoolDelta, ...] = ()  # the same workload elsewhere, by provider, where it changed

    @property
    def base_daily(self) -> tuple[float, float]:
        return (self.base.daily_min, self.base.daily_max) if self.base else (0.0, 0.0)

    @property
    def daily_min(self) -> float:
        return self.head.daily_min - self.base_daily[0]

    @property
    def daily_max(self) -> float:
        return self.head.daily_max - self.base_daily[1]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise ConfigError(["compare error: --compare needs git, which is not installed"]) from None


def cost_at_ref(stack: str, root: Path, ref: str) -> CostReport | None:
    """The cost of `Pulumi.<stack>.yaml` as committed at `ref` (None if the file did not exist there)."""
    if _git(root, "rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        raise ConfigError([f"compare error: --compare {ref}: {root} is not in a git repository"])
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise ConfigError([f"compare error: --compare {ref}: no such commit, branch or tag "
                           "(in CI, fetch the base branch first)"])
    name = f"Pulumi.{stack}.yaml"
    shown = _git(root, "show", f"{ref}:./{name}")  # ./ : relative to the project folder, not the repo root
    if shown.returncode != 0:
        return None
    with tempfile.TemporaryDirectory(prefix="llm-fleet-compare-") as tmp:
        (Path(tmp) / name).write_text(shown.stdout)
        # A region of a fleet reads its fleet file and sibling stacks too: as they were at `ref`.
        listed = _git(root, "ls-tree", "--name-only", ref, ".").stdout.split()
        for other in (n for n in listed if n != name and n.endswith(".yaml") and n.startswith(("Pulumi.", "Fleet."))):
            (Path(tmp) / other).write_text(_git(root, "show", f"{ref}:./{other}").stdout)
        try:
            cfg = parse_engine_config(read_stack_file(stack, Path(tmp))[0], stack=stack, root=Path(tmp))
        except ConfigError as e:
            raise ConfigError([f"{line} (in {name} at {ref}, read by the current code)" for line in e.problems]) \
                from None
    return stack_plan(cfg).cost


def _changed(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> tuple[PoolDelta, ...]:
    return tuple(
        PoolDelta(name, (before.get(name, (0, 0))[0], after.get(name, (0, 0))[0]),
                  (before.get(name, (0, 0))[1], after.get(name, (0, 0))[1]))
        for name in [*after, *(n for n in before if n not in after)]
        if before.get(name) != after.get(name)
    )


def cost_delta(ref: str, base: CostReport | None, head: CostReport) -> CostDelta:
    def daily(report: CostReport | None) -> dict[str, tuple[float, float]]:
        return {p.pool: (p.hourly_min * HOURS_PER_DAY, p.hourly_max * HOURS_PER_DAY)
                for p in (report.pools if report else ())}

    def fees(report: CostReport | None) -> dict[str, tuple[float, float]]:
        return {f.label: (f.daily_min, f.daily_max) for f in (report.fees if report else ())}

    def elsewhere(report: CostReport | None) -> dict[str, tuple[float, float]]:
        return {a.name: (a.hourly_min * HOURS_PER_DAY, a.hourly_max * HOURS_PER_DAY)
                for a in (report.alternatives if report else ())}

    return CostDelta(ref=ref, base=base, head=head, pools=_changed(daily(base), daily(head)),
                     fees=_changed(fees(base), fees(head)), alternatives=_changed(elsewhere(base), elsewhere(head)))
