"""Pull-request helpers for preview.yml (standard library only: runs before and beside the venv).

    pr.py stacks BASE          JSON list of the stacks a pull request touches (vs. git ref BASE)
    pr.py comment DIR BASE     the one PR comment, in Markdown, from DIR/preview-<stack>/ folders

A stack is touched when its `Pulumi.<stack>.yaml` changed, or when anything every stack runs
changed (the program, its dependencies, the project file): then every stack is.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

MARKER = "<!-- llm-fleet-preview -->"
SHARED = ("infra/", "requirements.txt", "requirements.lock", "Pulumi.yaml", "pyproject.toml")
STACK_FILE = re.compile(r"^Pulumi\.([^./]+)\.yaml$")
CHANGE_LINE = re.compile(r"^\s*[-+~±]*\s*(\d+) (to create|to update|to delete|to replace|to import)\b")


def touched_stacks(changed: list[str], stacks: list[str]) -> list[str]:
    if any(path.startswith(SHARED) for path in changed):
        return sorted(stacks)
    named = {m.group(1) for path in changed if (m := STACK_FILE.match(path))}
    return sorted(named & set(stacks))


def stacks_command(base: str, root: Path = Path(".")) -> list[str]:
    diff = subprocess.run(["git", "-C", str(root), "diff", "--name-only", f"{base}...HEAD"],
                          check=True, capture_output=True, text=True).stdout.split()
    present = [m.group(1) for p in root.glob("Pulumi.*.yaml") if (m := STACK_FILE.match(p.name))]
    return touched_stacks(diff, present)


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _signed(x: float) -> str:
    return ("+" if x > 0 else "-" if x < 0 else "±") + _money(abs(x))


def changes_of(preview: str) -> str:
    """`pulumi preview`'s resource summary ("2 to create, 1 to update"), or why there is none."""
    found = [f"{m.group(1)} {m.group(2)}" for line in preview.splitlines() if (m := CHANGE_LINE.match(line))]
    if found:
        return ", ".join(found)
    return "no changes" if "unchanged" in preview else "not previewed (offline plan only)"


def stack_row(folder: Path) -> tuple[str, str]:
    stack = folder.name.removeprefix("preview-")
    read = {name: (folder / name).read_text() if (folder / name).is_file() else "" for name in
            ("plan.json", "plan.err", "plan.exit", "preview.txt")}
    changes = changes_of(read["preview.txt"])
    if read["plan.exit"].strip() == "2" or not read["plan.json"].strip():
        problem = (read["plan.err"].strip().splitlines() or ["the offline plan did not run"])[0]
        return f"| {stack} | ❌ `{problem}` | | | | {changes} |", ""
    plan = json.loads(read["plan.json"])
    failed = [g["guard"] for g in plan["guards"] if g["status"] == "fail"]
    warned = [g["guard"] for g in plan["guards"] if g["status"] == "warn"]
    guards = (f"❌ {', '.join(failed)}" if failed else f"⚠️ {', '.join(warned)}" if warned else "✅ all pass")
    delta, cost = plan.get("costDelta") or {}, plan["cost"]["daily"]
    d = delta.get("daily", {"min": 0, "max": 0})
    new = " (new stack)" if delta.get("newStack") else ""
    # Expected $/day at the stack's traffic profile (`traffic:`), with its change against the base where both have one.
    expected, e_delta = plan["cost"].get("expected"), (delta.get("expected") or {}).get("daily")
    shown = "-" if expected is None else _money(expected["daily"]["average"])
    shown += f" ({_signed(e_delta)})" if expected is not None and e_delta is not None else ""
    row = (f"| {stack} | {guards} | {_money(cost['min'])} ({_signed(d['min'])}){new} | "
           f"{_money(cost['max'])} ({_signed(d['max'])}) | {shown} | {changes} |")
    details = ""
    if read["preview.txt"].strip():
        details = (f"<details><summary>{stack}: pulumi preview</summary>\n\n```\n{read['preview.txt'].strip()}\n```\n"
                   "</details>\n")
    return row, details


def comment_command(directory: Path, base: str) -> str:
    rows, details = [], []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("preview-")):
        row, detail = stack_row(folder)
        rows.append(row)
        details.append(detail)
    return "\n".join([
        MARKER,
        f"### llm-fleet preview (against `{base}`)",
        "",
        "| stack | guards | $/day at min (Δ) | $/day at max (Δ) | expected $/day (Δ) | resources to change |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *[d for d in details if d],
        "Cost: list prices of `infra/catalog.py`, autoscaling minimum and maximum; Δ against the stack file on "
        f"`{base}`. Resources: `pulumi preview` with the policy pack `infra/policy`.",
        "",
    ])


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "stacks":
        print(json.dumps(stacks_command(argv[1])))
        return 0
    if len(argv) == 3 and argv[0] == "comment":
        print(comment_command(Path(argv[1]), argv[2]), end="")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
