"""`plan --json` and `plan --out` of every shipped stack and example (examples/fleet's under fleet/), against stored
expected output.

A refactor must leave both byte-identical. When a change is meant to alter them, regenerate on purpose and review the
diff like code:

    .venv/bin/python -m tests.test_expected_plans      # rewrites tests/data/expected/<stack>/
"""

from __future__ import annotations

import difflib
import json
import shutil
import sys
from pathlib import Path

import pytest

from infra.manifests import MARKER
from tests.conftest import EXAMPLES, FLEET, SEEDS, STACKS, _shipped_plan

EXPECTED = Path(__file__).parent / "data" / "expected"
ALL = STACKS + EXAMPLES + SEEDS + FLEET
REGENERATE = ("regenerate with `.venv/bin/python -m tests.test_expected_plans` if the change is meant, "
              "and review the diff")


def plan_json_text(stack: str) -> str:
    from infra.report import plan_json

    # Exactly what `python -m infra plan --json` prints (infra/cli.py).
    return json.dumps(plan_json(_shipped_plan(stack)), indent=2, sort_keys=False) + "\n"


def manifest_files(stack: str, out: Path) -> dict[str, str]:
    from infra.manifests import write_manifests

    written, _ = write_manifests(_shipped_plan(stack), out)
    return {p.name: p.read_text() for p in written}


def _first_difference(name: str, expected: str, actual: str) -> str:
    diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(), f"expected/{name}", f"now/{name}",
                                lineterm="", n=2)
    return "\n".join(list(diff)[:40])


@pytest.mark.parametrize("stack", ALL)
def test_plan_json_is_unchanged(stack):
    expected = (EXPECTED / stack / "plan.json").read_text()
    actual = plan_json_text(stack)
    assert actual == expected, f"{stack}: plan --json changed ({REGENERATE}):\n" + \
        _first_difference(f"{stack}/plan.json", expected, actual)


@pytest.mark.parametrize("stack", ALL)
def test_plan_out_manifests_are_unchanged(stack, tmp_path):
    folder = EXPECTED / stack / "manifests"
    expected = {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.name != MARKER}
    actual = manifest_files(stack, tmp_path)
    assert sorted(actual) == sorted(expected), f"{stack}: plan --out wrote other files ({REGENERATE})"
    changed = [name for name in sorted(actual) if actual[name] != expected[name]]
    assert not changed, f"{stack}: plan --out changed {changed} ({REGENERATE}):\n" + \
        _first_difference(changed[0], expected[changed[0]], actual[changed[0]])


def test_resources_come_in_an_order_the_engine_could_register_them():
    """The engine registers concurrently; the plan orders resources itself (what each waits for first, then by URN),
    so stored output is comparable and the policy pack's view (tests/test_policy.py) can be rebuilt in order."""
    for stack in ALL:
        seen: set[str] = set()
        for r in _shipped_plan(stack).resources:
            waits_for = {r.parent, r.provider, *r.dependencies, *(u for us in r.property_dependencies.values()
                                                                   for u in us)} - {""}
            assert waits_for <= seen, f"{stack}: {r.urn} comes before {sorted(waits_for - seen)}"
            seen.add(r.urn)


def regenerate() -> None:
    for stack in ALL:
        target = EXPECTED / stack
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "plan.json").write_text(plan_json_text(stack))
        written = manifest_files(stack, target / "manifests")
        (target / "manifests" / MARKER).unlink()  # the stored files are compared one by one; no marker needed
        print(f"{stack}: plan.json and {len(written)} manifests", file=sys.stderr)


if __name__ == "__main__":
    regenerate()
