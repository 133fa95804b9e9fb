"""Network flows: every namespace the stack creates denies all ingress and egress by default, every path the stack
needs is allowed by the rendered NetworkPolicies and firewalls, and no path is open that nobody needs (a public
cluster API endpoint, a public LoadBalancer). See infra/flows/."""

from __future__ import annotations

from infra.guards.base import StackPlan, Verdict


def network_flows(plan: StackPlan) -> Verdict:
    from infra.flows import evaluate, open_paths
    from infra.flows.isolation import chart_namespaces, missing_default_deny

    name = "network-flows"
    results = evaluate(plan.cfg, plan.resources)
    opened = open_paths(plan.cfg, plan.resources)
    blocked = [r for r in results if r.allowed is False]
    failures = [f"namespace {ns} has no default-deny {' or '.join(d.lower() for d in dirs)} policy (a policy "
                f"selecting every pod, with that policyType and no rule; fix: infra/cluster/default_deny.py)"
                for ns, dirs in missing_default_deny(plan.resources).items()]
    failures += [f"needed flow blocked: {r.line()}" for r in blocked]
    failures += [f"open path nobody needs: {o.message}" for o in opened if o.status == "fail"]
    if failures:
        return Verdict(name, "fail", "\n".join(failures))
    unchecked = [r for r in results if r.allowed is None]
    allowed = len(results) - len(unchecked)
    message = f"{allowed} needed flows allowed"
    if unchecked:
        message += f", {len(unchecked)} not checkable from the plan ({'; '.join(sorted({r.by[0] for r in unchecked}))})"
    for o in opened:
        message += f"; {o.message}"
    if charts := chart_namespaces(plan.resources):
        message += (f"; no default-deny in the Helm charts' namespaces {', '.join(charts)} (their pods' flows are "
                    "the charts': infra/cluster/default_deny.py)")
    return Verdict(name, "pass", message)
