"""How results are shown: the plan (a terminal report, JSON, rendered manifests on disk), its cost
delta against a git ref, and a promotion."""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.tree import Tree

from infra.commitments import commitment_json
from infra.compare import CostDelta
from infra.cost import HOURS_PER_MONTH, AlternativeCost, CostReport, PoolCost
from infra.cost_lines import deltas_json
from infra.delta_report import lines_table
from infra.expected_report import (
    expected_delta_json,
    expected_json,
    expected_summary,
    tokens_table,
)
from infra.flows import evaluate
from infra.gateway_report import gateway_backends_table, gateway_json
from infra.guards.verdicts import blocking_footer
from infra.plan import Plan, PlannedResource
from infra.promote import Promotion
from infra.time_to_serve_report import missing_lines, time_to_serve_json, time_to_serve_table

_STATUS_STYLE = {"pass": "[green]PASS[/]", "warn": "[yellow]WARN[/]", "fail": "[red]FAIL[/]"}


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _signed(x: float) -> str:
    return f"{'+' if x >= 0.005 else '-' if x <= -0.005 else '±'}${abs(x):,.2f}"


def resource_tree(plan: Plan) -> Tree:
    tree = Tree(f"[bold]stack {plan.stack}[/] (project llm-fleet, tier {plan.cfg.tier}, cloud {plan.cfg.cloud}) — "
                f"{len(plan.resources)} resources")
    children: dict[str, list[PlannedResource]] = {}
    for r in plan.resources:
        children.setdefault(r.parent, []).append(r)

    def add(node: Tree, parent_urn: str) -> None:
        # Components first, then by type and name: a stable order whatever order the engine registered in.
        for r in sorted(children.get(parent_urn, []), key=lambda r: (r.custom, r.type, r.name)):
            label = f"[bold]{r.name}[/] [dim]{r.type}[/]" + (" [magenta]protected[/]" if r.protect else "")
            add(node.add(label), r.urn)

    add(tree, "")
    return tree


def _node_range(p: PoolCost) -> str:
    """`min..max`; a ladder rung the models cannot fill shows the most it runs: `0..8 (4 run)`."""
    shown = f"{p.min_nodes}..{p.max_nodes}"
    return shown if p.running_max_nodes == p.max_nodes else f"{shown} ({p.running_max_nodes} run)"


def report_console() -> Console:
    """The terminal's width when printing to one; else $COLUMNS, else 200 (a file or a CI log keeps every column)."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=int(os.environ.get("COLUMNS") or 200))


def cost_table(cost: CostReport, width: int = 1000) -> Table:
    """Per pool its machine, GPUs, nodes and $/day; fees; the total. When the full table does not fit `width`,
    machine, GPUs, capacity and purpose share one cell and $/node-h goes, so no cell is cut."""
    full = _cost_table(cost, compact=False)
    return full if _natural_width(full) <= width else _cost_table(cost, compact=True)


def _natural_width(table: Table) -> int:
    """The columns a table takes with no cell wrapped."""
    console = Console(width=10_000, file=io.StringIO())
    return Measurement.get(console, console.options, table).maximum


def _cost_table(cost: CostReport, compact: bool) -> Table:
    table = Table(title=f"Cost (USD, list prices as of {cost.prices_as_of})", title_justify="left")
    names = [p.pool for p in cost.pools] + [f.label for f in cost.fees]
    table.add_column("pool", no_wrap=True, min_width=max(len(n) for n in names) if compact else None)
    if compact:
        table.add_column("machine, GPUs, capacity")
        table.add_column("nodes", justify="right")
    else:
        for col in ("purpose", "machine", "capacity", "GPUs/node", "nodes min..max", "GPUs paid/used max",
                    "$/node-h"):
            table.add_column(col, justify="right" if col.startswith(("$", "GPU", "nodes")) else "left", no_wrap=True)
    table.add_column("$/day min", justify="right", no_wrap=True)
    table.add_column("$/day max", justify="right", no_wrap=True)

    def row(pool: str, what: tuple[str, str, str, str], nodes: tuple[str, str, str], low: str, high: str,
            style: str | None = None) -> None:
        """what: purpose, machine, capacity, GPUs/node; nodes: min..max, paid/used, $/node-h."""
        if compact:
            gpus = what[3] if what[3] != "-" else ""
            cell = "\n".join(x for x in (what[1], gpus, ", ".join(x for x in (what[2], what[0]) if x)) if x)
            paid = f"\n{nodes[1]} GPUs" if nodes[1] not in ("", "-") else ""
            table.add_row(pool, cell, nodes[0] + paid, low, high, style=style)
        else:
            table.add_row(pool, what[0], what[1], what[2], what[3], *nodes, low, high, style=style)

    for p in cost.pools:
        paid = f"{p.gpus_paid_max} / {p.gpus_used_max}" if p.gpu else "-"
        row(p.pool, (p.purpose, p.machine_type, f"{p.capacity}, your rate" if p.your_rate else p.capacity,
                     f"{p.gpus_per_node} x {p.gpu.value}" if p.gpu else "-"),
            (_node_range(p), f"[yellow]{paid}[/]" if p.note else paid, _money(p.node_hourly)),
            _money(p.hourly_min * 24), _money(p.hourly_max * 24))
        if (c := p.commitment) is not None:  # of the pool's cost, what is paid whether its nodes run or not
            row("  committed", (c.plan, f"${c.gpu_hourly:.4f}/GPU-h ({c.discount:.0%} off)", "in the row above", ""),
                (f"{c.nodes}", "", _money(c.node_hourly)), _money(c.fixed_hourly * 24), _money(c.fixed_hourly * 24),
                style="dim")
        if p.spare_nodes:  # of the pool's minimum, the nodes only warm headroom's placeholders hold
            spare = f"  incl. {p.spare_nodes} warm spare node{'s' if p.spare_nodes > 1 else ''}"
            row(spare, ("headroom", "placeholder pods", "", ""),
                (f"+{p.spare_nodes}", "", _money(p.node_hourly)), _money(p.spare_hourly * 24), "-", style="dim")
    if cost.fees:
        table.add_section()
    for f in cost.fees:  # what the stack creates besides nodes, each labelled
        row(f.label, ("fee", f.basis, "", ""), ("", "", ""), _money(f.daily_min), _money(f.daily_max))
    if (g := cost.gateway) is not None:  # its pods: their share of the system pool's row (not added again)
        row("  gateway pods", ("gateway", "in pool system", "", ""), (f"{g.pods_min}..{g.pods_max} pods", "",
                                                                      _money(g.pod_hourly)),
            _money(g.pods_hourly_min * 24), _money(g.pods_hourly_max * 24), style="dim")
    table.add_section()
    row("total", ("", "", "", ""), ("", "", ""), _money(cost.daily_min), _money(cost.daily_max), style="bold")
    expected = f", expected {_money(cost.expected.monthly)}" if cost.expected is not None else ""
    table.caption = (f"{_money(cost.hourly_min)}/h at minimum, {_money(cost.hourly_max)}/h at maximum; per month "
                     f"({HOURS_PER_MONTH} h): min {_money(cost.hourly_min * HOURS_PER_MONTH)}{expected}, max "
                     f"{_money(cost.monthly_max)}. Source: {cost.prices_source}; fees: infra/fees.py "
                     f"({cost.fees_as_of})")
    return table


def alternatives_table(cost: CostReport) -> Table:
    table = Table(title=f"The same GPU workloads elsewhere, billed their way (published prices, the oldest from "
                        f"{cost.alternatives_as_of}; each row's date in --json)", title_justify="left")
    e = cost.expected  # with a traffic profile, each provider billed its way at the same replica walk
    for col in ("provider", "billed", "$/day min", *(("$/day expected",) if e else ()), "$/day max", "note"):
        table.add_column(col, justify="right" if col.startswith("$") else "left")
    table.add_row("this stack (GPU pools only)", "whole nodes", _money(cost.gpu_hourly_min * 24),
                  *((_money(cost.gpu_daily_expected or 0.0),) if e else ()), _money(cost.gpu_hourly_max * 24), "",
                  style="bold")
    for alt in cost.alternatives:
        billed = "per GPU-second" if alt.billing == "per-gpu" else "whole nodes"
        shown = (_money((alt.hourly_expected or 0.0) * 24),) if e else ()
        table.add_row(alt.name, billed, _money(alt.hourly_min * 24), *shown, _money(alt.hourly_max * 24),
                      alt.note or "")
    return table


def print_plan(plan: Plan, console: Console | None = None) -> None:
    console = console or report_console()
    console.print(resource_tree(plan))
    console.print()
    console.print(cost_table(plan.cost, console.width))
    if (expected := expected_summary(plan.cost)) is not None:
        console.print(expected, highlight=False)
        if plan.cost.expected is not None and (tokens := tokens_table(plan.cost.expected)) is not None:
            console.print(tokens)
    if plan.cost.gateway is not None and plan.cost.gateway.backends:
        console.print(gateway_backends_table(plan.cost.gateway))
    console.print()
    if plan.cost.alternatives:  # none when no model runs on the stack's own GPUs
        console.print(alternatives_table(plan.cost))
    console.print()
    if (serve := time_to_serve_table(plan.cfg)) is not None:  # issue 16: cold start
        console.print(serve)
        for line in missing_lines(plan.cfg):
            console.print(f"  [yellow]missing:[/] {line}", highlight=False)
        console.print()
    console.print("[bold]Guards[/]")
    for v in plan.verdicts:
        console.print(f"  {_STATUS_STYLE[v.status]} {v.guard}: {v.message}", highlight=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(blocking_footer(plan.cfg.tier, plan.verdicts), highlight=False)


def plan_json(plan: Plan) -> dict[str, Any]:
    cfg, cost = plan.cfg, plan.cost
    budget = cfg.budget
    return {
        "stack": plan.stack,
        "tier": cfg.tier,
        "cloud": cfg.cloud,
        "ok": plan.ok,
        "pools": [
            {"name": p.pool, "purpose": p.purpose, "machineType": p.machine_type, "capacity": p.capacity,
             "gpu": p.gpu.value if p.gpu else None, "gpusPerNode": p.gpus_per_node,
             "minNodes": p.min_nodes, "maxNodes": p.max_nodes, "maxNodesRunning": p.running_max_nodes,
             "minGpus": p.gpus_paid_min, "maxGpus": p.gpus_paid_max,
             # GPUs come a whole node at a time: paid (nodes x GPUs per node) vs. what the workloads can use.
             "gpusPaid": {"min": p.gpus_paid_min, "max": p.gpus_paid_max},
             "gpusUsed": {"min": p.gpus_used_min, "max": p.gpus_used_max},
             "note": p.note, "yourRate": p.your_rate}
            for p in cost.pools
        ],
        "budget": None if budget is None else {
            "monthlyAmount": budget.monthly_amount, "currency": budget.currency,
            "thresholds": budget.thresholds, "forecastThresholds": budget.forecast_thresholds,
            "emails": list(budget.emails),
            # The platform exports the budget it created; an existing cluster creates none (its note says so).
            "name": plan.outputs.get("budgetName"),
        },
        "cost": {
            "currency": "USD",
            "pricesAsOf": cost.prices_as_of,
            "pricesSource": cost.prices_source,
            "hourly": {"min": round(cost.hourly_min, 4), "max": round(cost.hourly_max, 4)},
            "daily": {"min": round(cost.daily_min, 2), "max": round(cost.daily_max, 2)},
            "monthlyMax": round(cost.monthly_max, 2),
            "expected": expected_json(cost),  # over a week of the traffic profile (null: no `traffic:`)
            "pools": [{"pool": p.pool, "nodeHourly": round(p.node_hourly, 4),
                       "dailyMin": round(p.hourly_min * 24, 2), "dailyMax": round(p.hourly_max * 24, 2),
                       **commitment_json(p.commitment),
                       # warmHeadroom: spare nodes kept for scale-outs; at the minimum they run and are paid, at the
                       # maximum the placeholders are preempted, so the maximum is unchanged.
                       **({"warmHeadroom": {"nodes": p.headroom, "spareNodesAtMin": p.spare_nodes,
                                            "dailyMin": round(p.spare_hourly * 24, 2)}} if p.headroom else {})}
                      for p in cost.pools],
            # What the stack creates besides nodes (control plane, NAT, load balancers, disks): in the totals.
            "feesAsOf": cost.fees_as_of,
            "fees": [{"label": f.label, "basis": f.basis, "dailyMin": round(f.daily_min, 2),
                      "dailyMax": round(f.daily_max, 2)} for f in cost.fees],
            "alternatives": [alternative_json(a) for a in cost.alternatives],
            "gpuDaily": {"min": round(cost.gpu_hourly_min * 24, 2), "max": round(cost.gpu_hourly_max * 24, 2)},
            "gateway": gateway_json(cost.gateway),  # its pods and paid backends (null: no gateway)
        },
        # Per model: node, image, weights, engine, compile seconds with their sources; the probe budget and scale-in
        # delay derived from them; what each missing mechanism would save (infra/time_to_serve.py).
        "timeToServe": time_to_serve_json(cfg),
        "guards": [{"guard": v.guard, "status": v.status, "message": v.message} for v in plan.verdicts],
        # The network paths the stack needs, and what admits (or blocks) each: see infra/flows/.
        "flows": [f.as_json() for f in evaluate(plan.cfg, plan.resources)],
        "resources": [resource_json(r) for r in plan.resources],
        "outputs": plan.outputs,
        "notes": plan.notes,
    }


def alternative_json(a: AlternativeCost) -> dict[str, Any]:
    """One provider's row: its total and, per GPU kind it bills, the rate, GPUs billed and any substitution."""
    return {"name": a.name, "source": a.source, "billing": a.billing, "dailyMin": round(a.hourly_min * 24, 2),
            "dailyMax": round(a.hourly_max * 24, 2), "notOffered": [k.value for k in a.not_offered],
            "ownProvider": a.own is not None, "note": a.note or None, "asOf": a.as_of,
            "dailyExpected": None if a.hourly_expected is None else round(a.hourly_expected * 24, 2),
            "lines": [{"gpus": [k.value for k in line.kinds], "pricedAs": line.priced_as.value,
                       "rate": round(line.rate, 4), "yourRate": line.your_rate, "nodeGpus": line.node_gpus,
                       # the minimum replicas' always-on rate (RunPod Serverless active workers), if any
                       "warmRate": None if line.warm_rate is None else round(line.warm_rate, 4),
                       "rateMin": round(line.rate if line.rate_min is None else line.rate_min, 4),
                       "gpusBilled": {"min": line.gpus_min, "max": line.gpus_max},
                       "dailyMin": round(line.hourly_min * 24, 2), "dailyMax": round(line.hourly_max * 24, 2),
                       # of which the pods' CPU and memory (Modal bills them besides the GPU)
                       "cpuMemoryDaily": {"min": round(line.host_min * 24, 2), "max": round(line.host_max * 24, 2)},
                       "note": line.note or None} for line in a.lines]}


def resource_json(r: PlannedResource) -> dict[str, Any]:
    """One resource as a reviewer checks it: its inputs (secrets masked) and everything it waits for."""
    from_inputs = {u for urns in r.property_dependencies.values() for u in urns}
    return {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent or None, "protect": r.protect,
            "inputs": r.inputs,
            # Everything the engine waits for before creating it (a component in dependsOn appears as its
            # custom descendants, as the SDK sends it); `dependsOn` is the part no input accounts for.
            "dependencies": list(r.dependencies),
            "dependsOn": [u for u in r.dependencies if u not in from_inputs],
            "propertyDependencies": {k: list(v) for k, v in r.property_dependencies.items()},
            "provider": r.provider or None,
            "customTimeouts": r.custom_timeouts or None}




def print_delta(delta: CostDelta, console: Console | None = None) -> None:
    console = console or report_console()
    console.print()
    console.print(lines_table(delta))  # every figure of the cost model that changed, and the totals


def delta_json(delta: CostDelta) -> dict[str, Any]:
    (base_min, base_max), head = delta.base_daily, delta.head
    return {
        "ref": delta.ref,
        "newStack": delta.base is None,
        "daily": {"min": round(delta.daily_min, 2), "max": round(delta.daily_max, 2)},
        "base": {"dailyMin": round(base_min, 2), "dailyMax": round(base_max, 2)},
        "head": {"dailyMin": round(head.daily_min, 2), "dailyMax": round(head.daily_max, 2)},
        "expected": expected_delta_json(delta.base, head),
        "pools": [{"pool": p.pool, "dailyMin": round(p.daily_min[1] - p.daily_min[0], 2),
                   "dailyMax": round(p.daily_max[1] - p.daily_max[0], 2)} for p in delta.pools],
        "fees": [{"label": f.pool, "dailyMin": round(f.daily_min[1] - f.daily_min[0], 2),
                  "dailyMax": round(f.daily_max[1] - f.daily_max[0], 2)} for f in delta.fees],
        "alternatives": [{"name": a.pool, "dailyMin": round(a.daily_min[1] - a.daily_min[0], 2),
                          "dailyMax": round(a.daily_max[1] - a.daily_max[0], 2)} for a in delta.alternatives],
        # Per line (pools, commitments, fees, totals in $/day and $/month, cost per token, alternatives), the
        # minimum, expected and maximum at the ref and now: the lines that changed, and the totals.
        "lines": deltas_json(delta.base, head),
    }


def print_promotion(promotion: Promotion) -> None:
    if not promotion.diff:
        print(f"nothing to promote: Pulumi.{promotion.dst}.yaml already has {promotion.src}'s artifacts")
        return
    print(promotion.diff, end="")
    if promotion.image_copies:
        print(f"\ncopy these images into {promotion.dst}'s registry before it deploys (same digest, no rebuild):")
        for src, dst in promotion.image_copies:
            print(f"  crane copy {src} {dst}")
    for note in promotion.notes:
        print(f"note: {note}")
    print(f"\nwrote Pulumi.{promotion.dst}.yaml" if promotion.written
          else "\ndry run: nothing written")


def promotion_json(promotion: Promotion) -> dict[str, Any]:
    return {"src": promotion.src, "dst": promotion.dst, "changed": bool(promotion.diff),
            "written": promotion.written, "diff": promotion.diff,
            "imageCopies": [{"from": s, "to": d} for s, d in promotion.image_copies], "notes": promotion.notes}
