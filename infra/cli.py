"""`python -m infra <command>`: the offline plan (with a cost delta against a git ref), promotion, the config reference.

Exit codes: 0 all good; 1 a guard failed; 2 the stack file or config is invalid, or a promotion
was refused (nothing written) — one line per problem on stderr, never a traceback.
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
    plan.add_argument("--tier", metavar="FLEET",
                      help="plan every region stack of Fleet.<FLEET>.yaml together: per region and total cost and "
                           "GPUs, and the checks across regions (quota, peers, artifacts); instead of --stack")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON instead of a report")
    plan.add_argument("--out", type=Path,
                      help="write each rendered Kubernetes object as YAML into this folder: a new or empty one, or "
                           "one an earlier --out wrote (its files are replaced)")
    plan.add_argument("--compare", metavar="REF",
                      help="also report the change in $/day (at minimum and maximum) against the stack file at this "
                           "git ref, e.g. origin/main")
    _add_cwd(plan)
    facts = sub.add_parser("facts", help="what CI needs to know about a stack before signing in (cloud, registry), "
                                         "whatever the guards say: `key=value` lines for $GITHUB_OUTPUT")
    facts.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    _add_cwd(facts)
    promote = sub.add_parser("promote", help="copy the pinned artifacts of stack SRC into stack DST's file")
    promote.add_argument("src", metavar="SRC", help="the stack whose artifacts ran and passed, e.g. dev")
    promote.add_argument("dst", metavar="DST", help="the stack to promote them to, e.g. staging; or a fleet "
                                                    "(Fleet.<DST>.yaml): all its region stacks at once, or none")
    promote.add_argument("--dry-run", action="store_true", help="show the diff and the refusals; write nothing")
    promote.add_argument("--json", action="store_true", help="print the result as JSON (diff, image copies, notes)")
    _add_cwd(promote)
    table = sub.add_parser("cost-table", help="print the stack's cost beside the alternatives as a markdown table "
                                              "(the README holds prod's; `make docs` refreshes it)")
    table.add_argument("--stack", default="prod", help="stack name: reads Pulumi.<stack>.yaml (default: prod)")
    _add_cwd(table)
    sub.add_parser("readme", help="rewrite the generated tables of README.md (cost, guard verdicts) from the code")
    sub.add_parser("config-reference", help="print the stack configuration reference (docs/config.md) as markdown, "
                                            "rendered from the config schema; `make docs` writes it")
    from infra.bench.cli import add_parser as add_bench

    add_bench(sub)
    return parser


def _add_cwd(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-C", "--cwd", type=Path, default=Path.cwd(),
                        help="the project folder holding Pulumi.<stack>.yaml (default: the current folder)")


def _problems(lines: list[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    return EXIT_BAD_CONFIG


def _plan(args: argparse.Namespace) -> int:
    # Imported here so `--help` stays fast and a broken import is not mistaken for bad config.
    from infra.compare import cost_at_ref, cost_delta
    from infra.manifests import OutFolderError, check_out_folder, write_manifests
    from infra.plan import run_plan
    from infra.report import delta_json, plan_json, print_delta, print_plan

    if args.tier is not None:
        return _plan_fleet(args)
    try:
        if args.out is not None:
            check_out_folder(args.out)  # before planning: a refused folder costs nothing
        plan = run_plan(args.stack, args.cwd)
        delta = None
        if args.compare:
            delta = cost_delta(args.compare, cost_at_ref(args.stack, args.cwd, args.compare), plan.cost)
    except ConfigError as e:
        return _problems(e.problems)
    except OutFolderError as e:
        return _problems([f"usage error: {e}"])
    if args.json:
        doc = plan_json(plan)
        if delta is not None:
            doc["costDelta"] = delta_json(delta)
        print(json.dumps(doc, indent=2, sort_keys=False))
    else:
        print_plan(plan)
        if delta is not None:
            print_delta(delta)
    if args.out is not None:
        written, removed = write_manifests(plan, args.out)
        replaced = f" (removed the {removed} files of an earlier run first)" if removed else ""
        print(f"wrote {len(written)} Kubernetes objects to {args.out}{replaced}", file=sys.stderr)
    return EXIT_OK if plan.ok else EXIT_GUARD_FAILED


def _plan_fleet(args: argparse.Namespace) -> int:
    from infra.fleet_view import fleet_json, plan_fleet, print_fleet

    try:
        view = plan_fleet(args.tier, args.cwd)
    except ConfigError as e:
        return _problems(e.problems)
    if args.json:
        print(json.dumps(fleet_json(view), indent=2))
    else:
        print_fleet(view)
    return EXIT_OK if view.ok else EXIT_GUARD_FAILED


def _facts(args: argparse.Namespace) -> int:
    """cloud=<gke|eks|existing> and registry=<registryUrl> for CI. Guards are not evaluated: a failing guard must not
    leave CI without the stack's cloud (and so without credentials); an invalid stack file exits 2."""
    from infra import program, sdk
    from infra.plan import mock_engine

    try:
        with mock_engine(args.stack, args.cwd) as (cfg, monitor):
            sdk.run_program(lambda: program.run(cfg, enforce_guards=False))
    except ConfigError as e:
        return _problems(e.problems)
    registry = monitor.stack_outputs.get("registryUrl") or ""
    print(f"cloud={cfg.cloud}")
    print(f"registry={registry}")
    return EXIT_OK


def _promote(args: argparse.Namespace) -> int:
    from infra.promote import PromotionRefused, promote_all
    from infra.report import print_promotion, promotion_json

    try:  # DST a fleet (Fleet.<DST>.yaml): every region stack of it, or none
        promotions = promote_all(args.src, args.dst, args.cwd, dry_run=args.dry_run)
    except PromotionRefused as e:
        return _problems(e.problems)
    fleet = len(promotions) > 1 or promotions[0].dst != args.dst
    if args.json:
        doc = [promotion_json(p) for p in promotions]
        print(json.dumps({"fleet": args.dst, "stacks": doc} if fleet else doc[0], indent=2))
    else:
        for promotion in promotions:
            print_promotion(promotion)
    return EXIT_OK


def _config_reference(args: argparse.Namespace) -> int:
    from infra.config_reference import render

    sys.stdout.write(render())
    return EXIT_OK


def _cost_table(args: argparse.Namespace) -> int:
    from infra.cost_table import render, stack_cost

    try:
        sys.stdout.write(render(args.stack, stack_cost(args.stack, args.cwd)))
    except ConfigError as e:
        return _problems(e.problems)
    return EXIT_OK


def _readme(args: argparse.Namespace) -> int:
    from infra.plan import ROOT
    from infra.readme_tables import refresh, regions

    path = ROOT / "README.md"
    path.write_text(refresh(path.read_text()))
    print(f"README.md: refreshed {', '.join(regions(path.read_text()))}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {"plan": _plan, "cost-table": _cost_table, "readme": _readme, "facts": _facts, "promote": _promote,
            "config-reference": _config_reference}


def _bench(args: argparse.Namespace) -> int:
    from infra.bench.cli import command

    return command(args)


COMMANDS["bench"] = _bench


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)
