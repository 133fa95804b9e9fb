"""`python -m infra <command>`: the offline plan today; promotion and cost deltas later.

Exit codes: 0 all good; 1 a guard failed; 2 the stack file or config is invalid (one line per
problem on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra.config import ConfigError

EXIT_OK, EXIT_GUARD_FAILED, EXIT_BAD_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="run the stack's Pulumi program offline (mock engine): resources, cost, guards")
    plan.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON instead of a report")
    plan.add_argument("--out", type=Path, help="write each rendered Kubernetes object as YAML into this folder")
    plan.add_argument("-C", "--cwd", type=Path, default=Path.cwd(),
                      help="the project folder holding Pulumi.<stack>.yaml (default: the current folder)")
    return parser


def _plan(args: argparse.Namespace) -> int:
    # Imported here so `--help` stays fast and a broken import is not mistaken for bad config.
    from infra.plan import run_plan
    from infra.report import plan_json, print_plan, write_manifests

    try:
        plan = run_plan(args.stack, args.cwd)
    except ConfigError as e:
        for line in e.problems:
            print(line, file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.json:
        print(json.dumps(plan_json(plan), indent=2, sort_keys=False))
    else:
        print_plan(plan)
    if args.out is not None:
        written = write_manifests(plan, args.out)
        print(f"wrote {len(written)} Kubernetes objects to {args.out}", file=sys.stderr)
    return EXIT_OK if plan.ok else EXIT_GUARD_FAILED


COMMANDS = {"plan": _plan}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)
