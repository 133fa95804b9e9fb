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


# Digits each unit of `costDelta.lines` is shown at (infra/cost_lines.py DIGITS: this script imports nothing of infra).
DIGITS = {"$/day": 2, "$/month": 2, "$/1M output tokens": 4, "$/inference": 6}


def _cell(line: dict, column: str) -> str:
    """One figure of a changed line: 'now (Δ)', '(new)' or 'gone (was …)'; '-' where neither side has it."""
    digits = DIGITS.get(line["unit"], 2)
    before = (line["base"] or {}).get(column)
    after = (line["head"] or {}).get(column)
    if before is None and after is None:
        return "-"
    if after is None:
        return f"gone (was ${before:,.{digits}f})"
    if before is None:
        return f"${after:,.{digits}f} (new)"
    change = round(after - before, digits)
    if change == 0:
        return f"${after:,.{digits}f}"
    return f"${after:,.{digits}f} ({'+' if change > 0 else '-'}${abs(change):,.{digits}f})"


def lines_table(stack: str, lines: list[dict]) -> str:
    """The stack's cost delta, line by line: each line that changed, and the totals (markdown)."""
    rows = [f"| {'**' + line['line'] + '**' if line['total'] else line['line']} | {line['unit']} | "
            f"{_cell(line, 'min')} | {_cell(line, 'expected')} | {_cell(line, 'max')} |" for line in lines]
    return "\n".join([f"**{stack}**: the cost lines that changed, and the totals — now (Δ)", "",
                      "| line | unit | min | expected | max |", "|---|---|--:|--:|--:|", *rows, ""])


def changes_of(preview: str) -> str:
    """`pulumi preview`'s resource summary ("2 to create, 1 to update"), or why there is none."""
    found = [f"{m.group(1)} {m.group(2)}" for line in preview.splitlines() if (m := CHANGE_LINE.match(line))]
    if found:
        return ", ".join(found)
    return "no changes" if "unchanged" in preview else "not previewed (offline plan only)"


def stack_lines(folder: Path) -> str:
    """The per-line delta table of one preview folder ("" when its plan did not run or has no delta)."""
    path = folder / "plan.json"
    exit_code = (folder / "plan.exit").read_text().strip() if (folder / "plan.exit").is_file() else ""
    if exit_code == "2" or not path.is_file() or not path.read_text().strip():
        return ""
    lines = (json.loads(path.read_text()).get("costDelta") or {}).get("lines")
    return lines_table(folder.name.removeprefix("preview-"), lines) if lines else ""


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
    rows, details, tables = [], [], []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("preview-")):
        row, detail = stack_row(folder)
        rows.append(row)
        details.append(detail)
        tables.append(stack_lines(folder))
    return "\n".join([
        MARKER,
        f"### llm-fleet preview (against `{base}`)",
        "",
        "| stack | guards | $/day at min (Δ) | $/day at max (Δ) | expected $/day (Δ) | resources to change |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *[t for t in tables if t],
        *[d for d in details if d],
        "Cost: the stack's prices (`infra/catalog.py` lists or its `pricing:`), at the autoscaling minimum, expected "
        f"at its traffic profile, and maximum; Δ against the stack file on `{base}`. Resources: `pulumi preview` "
        "with the policy pack `infra/policy`.",
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
