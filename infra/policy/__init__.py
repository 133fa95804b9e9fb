"""The policy pack's rules: every guard of `plan`, as a Pulumi stack policy — one implementation, two entry points.

`python -m infra plan` runs the guards (infra/guards) on what Pulumi's mock engine recorded;
`pulumi preview --policy-pack infra/policy` runs the same functions on what the real engine is
about to declare. Each guard is one StackValidationPolicy named after its function. A `fail`
verdict is a violation; a `warn` verdict is one only where the pack is advisory. The pack is
mandatory in prod (a violation stops `preview` and `up`) and advisory in dev and staging.

What the pack sees, and its limits:
- the stack config comes from the engine (the Pulumi CLI hands policy packs the stack's config, secrets decrypted,
  as PULUMI_CONFIG, and the stack's name as PULUMI_STACK), validated as the program validates it: a region of a
  fleet gets its Fleet.<fleet>.yaml merged, its peers added and its artifacts checked against its siblings', read
  from the project folder (not the working folder: the CLI starts a Python pack in the pack's own folder);
- resources arrive with their planned properties (`props`): Kubernetes objects as declared. A
  value the engine cannot know during preview (an ID, an address) is "(known after apply)"; a
  guard that needs one reports the policy as not applicable in that preview instead of guessing;
- the engine does not say which resources are components: ours are the `llmfleet:` types.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra import sdk
from infra.config import ConfigError, StackConfig, parse_engine_config
from infra.config.base import NAMESPACE
from infra.guards import config_guards, resource_guards
from infra.guards.base import Guard, StackPlan, Verdict
from infra.guards.verdicts import MANDATORY_TIERS
from infra.planned import PlannedResource
from infra.program import stack_plan
from infra.sdk import is_policy_proxy, is_policy_unknown, policy_target

PACK_NAME = "llm-fleet-guards"
# The project folder (Pulumi.yaml, the stack files, a fleet's Fleet.<fleet>.yaml): the pack ships in it, at
# infra/policy. The Pulumi CLI starts a Python pack with the pack's folder as its working folder
# (pulumi/pulumi sdk/go/common/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer: `pwd := policyPackPath`).
PROJECT = Path(__file__).resolve().parent.parent.parent
UNKNOWN = "(known after apply)"  # the plan's marker for the same thing
COMPONENT_PREFIX = "llmfleet:"
STACK_TYPE = "pulumi:pulumi:Stack"

Report = Callable[[str, str | None], None]


def enforcement_level(tier: str) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if tier in MANDATORY_TIERS else EnforcementLevel.ADVISORY


def violations(verdict: Verdict, level: EnforcementLevel) -> list[str]:
    """What a verdict reports: failures always; warnings only where they cannot block (advisory)."""
    if verdict.status == "fail":
        return [verdict.message]
    if verdict.status == "warn" and level == EnforcementLevel.ADVISORY:
        return [f"warning: {verdict.message}"]
    return []


def _plain(value: Any) -> tuple[Any, bool]:
    """Policy props as plain data (the guards' input), and whether any value is unknown."""
    if is_policy_proxy(value):
        value = policy_target(value)  # the proxy raises on unknowns; read what it wraps
    if isinstance(value, Mapping):
        items = {k: _plain(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(u for _, u in items.values())
    if isinstance(value, Sequence) and not isinstance(value, str):
        elems = [_plain(v) for v in value]
        return [v for v, _ in elems], any(u for _, u in elems)
    if is_policy_unknown(value):
        return UNKNOWN, True
    if isinstance(value, float) and value.is_integer():
        return int(value), False  # the wire format has only doubles, as in the plan
    return value, False


def planned_resources(resources: Sequence[PolicyResource]) -> tuple[tuple[PlannedResource, ...], bool]:
    """The guards' view of the stack's resources, and whether any property is unknown (preview)."""
    planned, any_unknown = [], False
    for r in resources:
        if r.resource_type == STACK_TYPE:
            continue
        inputs, unknown = _plain(r.props)
        any_unknown |= unknown
        parent = r.opts.parent or ""
        planned.append(PlannedResource(
            urn=r.urn, type=r.resource_type, name=r.name,
            parent="" if f"::{STACK_TYPE}::" in parent else parent,
            custom=not r.resource_type.startswith(COMPONENT_PREFIX), protect=bool(r.opts.protect), inputs=inputs,
            # The engine's record of what this resource waited for: the same facts `plan` records.
            dependencies=tuple(sorted(d.urn for d in r.dependencies or [])),
            property_dependencies={k: tuple(sorted(d.urn for d in deps))
                                   for k, deps in (r.property_dependencies or {}).items() if deps},
            provider=r.provider.urn if r.provider is not None else "",
            custom_timeouts=_timeouts(r.opts.custom_timeouts)))
    return tuple(planned), any_unknown


def _timeouts(timeouts: PolicyCustomTimeouts | None) -> dict[str, float]:
    """Custom timeouts that are set (the engine reports an unset one as 0 seconds)."""
    if timeouts is None:
        return {}
    seconds = {"create": timeouts.create_seconds, "update": timeouts.update_seconds,
               "delete": timeouts.delete_seconds}
    return {op: float(s) for op, s in seconds.items() if s}


def guard_policy(guard: Guard, cfg: StackConfig) -> StackValidationPolicy:
    base = stack_plan(cfg)
    level = enforcement_level(cfg.tier)

    def validate(args: StackValidationArgs, report: Report) -> None:
        resources, unknown = planned_resources(args.resources)
        try:
            verdict = guard(StackPlan(cfg, base.pools, base.cost, resources))
        except (ValueError, TypeError, KeyError) as e:
            if not unknown:
                raise
            args.not_applicable(f"needs values known only after apply: {e}")
            return
        for message in violations(verdict, level):
            report(message, None)

    # The guard's docstring, else its module's: each says what the rule protects.
    doc = (guard.__doc__ or sys.modules[guard.__module__].__doc__ or guard.__name__).strip().splitlines()[0]
    return StackValidationPolicy(name=guard.__name__.replace("_", "-"), description=doc, validate=validate,
                                 enforcement_level=level)


def config_error_policy(problems: list[str]) -> StackValidationPolicy:
    """Without a valid config there is no tier and no guard: say why, and block."""

    def validate(args: StackValidationArgs, report: Report) -> None:
        for line in problems:
            report(line, None)

    return StackValidationPolicy(name="stack-config-is-valid", description="the stack config passes validation",
                                 validate=validate, enforcement_level=EnforcementLevel.MANDATORY)


def policies(cfg: StackConfig) -> list[StackValidationPolicy]:
    return [guard_policy(g, cfg) for g in config_guards() + resource_guards()]


def running_stack() -> str | None:
    """The stack the engine runs the pack for. The CLI sets PULUMI_STACK (and PULUMI_PROJECT, PULUMI_DRY_RUN) for a
    policy pack (pulumi/pulumi analyzer_plugin.go constructEnv, from `target.Name` in pkg/engine/update.go);
    pulumi_policy 1.21 reads the same variable (policy.py, _configure_runtime_settings)."""
    return os.environ.get("PULUMI_STACK") or None


def running_config(root: Path = PROJECT) -> StackConfig:
    """The running stack's config as the program sees it (infra.config.load_config under `pulumi up`).

    Plaintext secrets are not judged here (no secret_keys): the pack is handed decrypted values without the list of
    keys that were secret; `pulumi up` and `plan` judge them where the stack file is known."""
    values, stack = sdk.engine_config(), running_stack()
    if stack is None and f"{NAMESPACE}:fleet" in values:
        # Without its name a region cannot find its siblings: no peers, no drift check. Refuse, never guess.
        raise ConfigError([f"config error: {NAMESPACE}:fleet = {values[f'{NAMESPACE}:fleet']!r}: a region of a fleet, "
                           "but the engine named no stack (PULUMI_STACK); run the pack through `pulumi preview "
                           "--policy-pack infra/policy --stack <region>`"])
    return parse_engine_config(values, stack=stack, root=root)


def policies_for_running_stack(root: Path = PROJECT) -> list[StackValidationPolicy]:
    """The pack for the stack the engine runs it on (its config as handed to policy packs)."""
    try:
        return policies(running_config(root))
    except ConfigError as e:
        return [config_error_policy(e.problems)]
