"""Each guard's verdict per tier when it finds what it checks for, and which verdicts stop `pulumi up`: one table.

The guards read their severity here (`severity`), the README's table is rendered from it (`markdown`), and the
plan's footer says from it what blocks `up` (`blocking_footer`). Two things stop `up`:
- a config guard's FAIL, in every tier: `program.run` refuses before any resource is declared;
- any FAIL where the policy pack (infra/policy) is mandatory, prod: a violation stops `preview` and `up`. In dev and
  staging the pack is advisory: a resource guard's FAIL is reported, and the update goes on.
A WARN never blocks. Some guards also WARN when they cannot check at all (Ray not installed, no workflows, an existing
cluster's cloud grants, no alert receiver): that is not the finding this table is about.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.config import TIER_PROFILES
from infra.guards.base import Status, Verdict

TIERS = ("dev", "staging", "prod")
MANDATORY_TIERS = ("prod",)  # where the policy pack is mandatory; advisory in the others
# The guards infra.guards.config_guards() runs (on the config alone: `program.run` refuses before declaring anything).
CONFIG_GUARDS = ("budget-covers-max-fleet", "every-gpu-pool-is-used", "warm-replicas-fit-pool-minimum",
                 "ladder-holds-its-models-at-max", "prod-models-have-a-non-spot-rung",
                 "spot-serving-drains-within-notice", "prod-models-have-a-fallback", "gateway-has-a-caller",
                 "drain-outlasts-gateway-requests", "no-example-network-ranges")

_FAIL: dict[str, Status] = dict.fromkeys(TIERS, "fail")
_WARN: dict[str, Status] = dict.fromkeys(TIERS, "warn")

# Guard -> tier -> the verdict when it finds the problem it checks for.
SEVERITY: dict[str, dict[str, Status]] = {
    # An over-budget fleet is an error where the tier profile says so (prod), a warning where a budget is a guess.
    "budget-covers-max-fleet": {t: "fail" if TIER_PROFILES[t].over_budget_is_error else "warn" for t in TIERS},
    "every-gpu-pool-is-used": _FAIL,
    # The autoscaler adds the nodes warm replicas ask for: slower cold starts and a dearer floor, not a broken stack.
    "warm-replicas-fit-pool-minimum": _WARN,
    "gpu-pods-fit-one-node": _FAIL,
    "gpu-pods-select-and-tolerate-their-pool": _FAIL,
    "termination-grace-covers-drain": _FAIL,
    "autoscaling-fits-pool": _FAIL,
    "no-unrequested-load-balancer": _FAIL,
    "no-unrequested-entry-points": _FAIL,
    # A keyless model API gives away GPU time and lets a request flood scale the fleet to its maximum.
    "serving-apis-require-a-key": _FAIL,
    "secrets-are-files": _FAIL,
    # The API server refuses the pod: the workload never starts.
    "limit-ranges-admit-every-pod": _FAIL,
    # Dev iterates on tags; staging and prod run exactly what was tested.
    "images-pinned-by-digest": {"dev": "warn", "staging": "fail", "prod": "fail"},
    "ray-serve-config-is-valid": _FAIL,
    "ray-replicas-fit-worker-groups": _FAIL,
    # A blue/green upgrade at peak waits for GPUs: upgrade off-peak, the stack is sound.
    "ray-upgrade-has-headroom": _WARN,
    "workloads-have-their-own-identity": _FAIL,
    # A serving replica that may move `latest` steers every rollout; a trainer that cannot write loses its run.
    "adapter-store-written-by-trainer-only": _FAIL,
    # vLLM preallocates the slots at start-up: too many leave no KV cache, the engine serves almost nothing.
    "lora-slots-fit-gpu-memory": _FAIL,
    "ci-installs-kubeconfig-exec": _FAIL,
    "ci-runner-reaches-cluster-api": _FAIL,
    # A pull request's code with a tier's secrets or cloud identity, unapproved (issue 17, Critical): every tier.
    "ci-secrets-need-approval": _FAIL,
    "network-policies-are-enforced": _FAIL,
    "resource-metrics-have-a-provider": _FAIL,
    "custom-resources-wait-for-their-definitions": _FAIL,
    "waits-cover-startup-and-rollouts-progress": _FAIL,
    "network-flows": _FAIL,
    "pods-pass-restricted": _FAIL,
    # Public nodes or an undeclared cluster-admin: prod refuses; dev and staging may opt out of private nodes.
    "nodes-private-and-admins-named": {"dev": "warn", "staging": "warn", "prod": "fail"},
    "alerts-reach-someone": _FAIL,  # a receiver that cannot deliver; none configured at all is a WARN
    "ladder-holds-its-models-at-max": _FAIL,
    # Dev and staging buy spot by default (staging is the prod shape on spot): the finding is reported, not raised.
    "prod-models-have-a-non-spot-rung": {"dev": "pass", "staging": "pass", "prod": "fail"},
    "spot-serving-drains-within-notice": {"dev": "pass", "staging": "pass", "prod": "warn"},
    # The gateway (issue 14): a prod model with nowhere to go fails every request when its replicas cannot answer.
    "prod-models-have-a-fallback": {"dev": "pass", "staging": "pass", "prod": "fail"},
    # A gateway nobody may call: pods, and a priced overflow, for no client (deploy review H1), in any tier.
    "gateway-has-a-caller": _FAIL,
    # A drain shorter than the longest request cuts it on every scale-in: prod loses no request (a stream breaks).
    "drain-outlasts-gateway-requests": {"dev": "warn", "staging": "warn", "prod": "fail"},
    # An example's placeholder range admits no one; the shipped examples must still plan, and a review sees it.
    "no-example-network-ranges": _WARN,
    # A key and the prompts in clear on the network, or a key readable in a ConfigMap or a pod spec: every tier.
    "gateway-backends-are-https": _FAIL,
    "no-key-in-plain-text": _FAIL,
}


def _config_guards_that_fail() -> list[str]:
    return [g for g in CONFIG_GUARDS if "fail" in SEVERITY[g].values()]


def severity(guard: str, tier: str) -> Status:
    """The verdict `guard` gives in `tier` when it finds its problem."""
    return SEVERITY[guard][tier]


def blocks_up(guard: str, tier: str) -> bool:
    """Whether the guard's finding stops `pulumi up` in this tier."""
    return severity(guard, tier) == "fail" and (guard in CONFIG_GUARDS or tier in MANDATORY_TIERS)


def markdown() -> str:
    """The README's table: guards grouped by their verdict in dev, staging and prod, and whether a FAIL blocks `up`."""
    groups: dict[tuple[Status, ...], list[str]] = {}
    for guard, by_tier in SEVERITY.items():
        groups.setdefault(tuple(by_tier[t] for t in TIERS), []).append(guard)
    rows = []
    for verdicts, guards in sorted(groups.items(), key=lambda item: -len(item[1])):
        names = ", ".join(f"`{g}`" for g in guards) if len(guards) < 5 else f"the other {len(guards)}"
        rows.append(f"| {' | '.join(v.upper() for v in verdicts)} | {names} |")
    config = ", ".join(f"`{g}`" for g in _config_guards_that_fail())
    return "\n".join([
        "| dev | staging | prod | guards |", "|---|---|---|---|", *rows, "",
        f"A FAIL stops `up` in prod (mandatory policy pack) and, in any tier, for {config}; a WARN never does.",
    ]) + "\n"


def blocking_footer(tier: str, verdicts: Iterable[Verdict]) -> str:
    """The plan's last line: which of this plan's verdicts would stop `pulumi up`, and why the others would not."""
    failed = [v.guard for v in verdicts if v.status == "fail"]
    blocking = [g for g in failed if g not in SEVERITY or blocks_up(g, tier)]
    reported = [g for g in failed if g not in blocking]
    if tier in MANDATORY_TIERS:
        rule = f"In {tier} every FAIL stops `pulumi up` (mandatory policy pack)"
    else:
        stopping = [g for g in CONFIG_GUARDS if severity(g, tier) == "fail"]
        rule = (f"In {tier} a FAIL of {', '.join(stopping)} stops `pulumi up`; other FAILs are reported by the "
                "advisory policy pack")
    found = (f"{', '.join(blocking)} would stop it" if blocking else "nothing here stops it")
    found += f"; {', '.join(reported)} reported only" if reported else ""
    return f"Blocks up: {found}. {rule}; a WARN never does. Verdicts per tier: infra/guards/verdicts.py (README)."
