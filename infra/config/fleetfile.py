"""A fleet: one definition (`Fleet.<name>.yaml`) shared by several region stacks (`Pulumi.<stack>.yaml`).

A region's stack file says `llm-fleet:fleet: prod`; its config is then the fleet file's `config:` merged with its
own. Each key lives in exactly one of the two files (`REGIONAL_KEYS` in the region's, the rest in the fleet's), so
the regions can differ only in what is regional. Also owns the checks that span the fleet's files: every region
pins the same artifacts (registries aside), and each region's gateway gets the other regions as `peer` fallbacks.

`infra.config.loading.merge_fleet` is the one merge: `parse_engine_config` (under `pulumi up`, the policy pack and
the offline plan) calls it on the engine's values, so every path reads the same files the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.config.base import NAMESPACE, ConfigError
from infra.config.stack import StackConfig
from infra.config.stackfile import read_stack_yaml

# What may differ between the regions of one fleet, and so is written in each region's file (and only there):
# placement and its network (cloud, platform block with region/zones/ranges, pools, control-plane ranges), regional
# registries (artifacts: images name the region's registry; their digests are checked equal below), regional prices
# and quotas, the region's budget, and every secret (Pulumi encrypts secrets per stack, with the stack's own key, so
# a secret cannot be written once for several stacks). Everything else (models, serving, training, rollout, traffic,
# alerts, the tier, the region list) is the fleet's, written once in Fleet.<name>.yaml.
REGIONAL_KEYS = frozenset({"fleet", "cloud", "gcp", "aws", "existing", "nodePools", "systemPool", "controlPlane",
                           "budget", "pricing", "currentRates", "gpuQuota", "hfToken", "artifacts",
                           "peerCaKey", "modelApiKey"})
FLEET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def fleet_file(fleet: str, root: Path) -> Path:
    return root / f"Fleet.{fleet}.yaml"


def _short(key: str) -> str:
    return key.split(":", 1)[1] if key.startswith(f"{NAMESPACE}:") else key


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def read_fleet(fleet: str, root: Path, region_file: str | None = None) -> dict[str, Any]:
    """`Fleet.<fleet>.yaml`'s `config:` block (keys with the namespace). Raises ConfigError, one line each."""
    if not FLEET_NAME.fullmatch(fleet):
        raise ConfigError([f"config error: {NAMESPACE}:fleet = {fleet!r}: not a fleet name; allowed: letters, digits, "
                           "'-', '_' and '.', naming a Fleet.<name>.yaml beside the stack file (e.g. prod)"])
    path = fleet_file(fleet, root)
    if not path.is_file():
        where = f" (in {region_file})" if region_file else ""
        raise ConfigError([f"config error: {NAMESPACE}:fleet = {fleet!r}: no file {path.name} in {root.resolve()}"
                           f"{where}; add it (the fleet's shared keys) or drop {NAMESPACE}:fleet"])
    config = {k if ":" in k else f"{NAMESPACE}:{k}": v for k, v in read_stack_yaml(path).items()}
    if not config:  # else each region would be refused for a missing tier, naming its own file
        raise ConfigError([f"config error: {path.name}: holds no settings (it is empty, has only comments, or lacks "
                           "the `config:` line); allowed: a `config:` block of the fleet's shared keys (tier, "
                           "regions, models, …); start from a copy of examples/fleet/Fleet.prod.yaml"])
    tier = config.get(f"{NAMESPACE}:tier")
    if fleet in ("dev", "staging", "prod") and tier is not None and tier != fleet:
        # `plan --tier prod` and `promote staging prod` name the fleet by the tier it is meant to be.
        raise ConfigError([f"config error: {NAMESPACE}:tier = {tier!r} in {path.name}: fleet {fleet!r} would run "
                           f"{tier}'s defaults in every region (capacity, protect, budget rules); allowed: "
                           f"{fleet!r} for a fleet named {fleet}; set tier: {fleet}, or rename the fleet"])
    return config


def fleet_regions(fleet: str, root: Path) -> list[dict[str, Any]]:
    """The fleet's `regions` entries as written (`{stack, gateway, apiKey?}`); [] when it lists none."""
    regions = read_fleet(fleet, root).get(f"{NAMESPACE}:regions")
    return [r for r in regions if isinstance(r, Mapping)] if isinstance(regions, list) else []


def placement_problems(region: Mapping[str, Any], fleet: Mapping[str, Any], region_file: str,
                        fleet_name: str) -> list[str]:
    problems, shared = [], shared_keys()
    for key, value in fleet.items():
        name = _short(key)
        if key in region:
            problems.append(f"{key}: given in both {region_file} and {fleet_name}; it belongs in "
                            f"{fleet_name if name not in REGIONAL_KEYS else region_file} only; remove it from "
                            f"{region_file if name not in REGIONAL_KEYS else fleet_name}")
        elif _is_secret(value) or name not in shared:
            why = "a secret (encrypted per stack)" if _is_secret(value) else \
                "a regional key" if name in REGIONAL_KEYS else "not a shared key (a secret's name, or misspelt)"
            problems.append(f"{key}: in {fleet_name}, but it is {why}; move it to {region_file} (and each region "
                            f"file of the fleet)")
    for key in region:
        name = _short(key)
        if key.startswith(f"{NAMESPACE}:") and key not in fleet and name in shared:
            problems.append(f"{key}: in {region_file}, but it is shared by the fleet (regions differ only in "
                            f"{', '.join(sorted(REGIONAL_KEYS))} and secrets); move it to {fleet_name}")
    return problems


def shared_keys() -> frozenset[str]:
    """The schema's keys that are not regional: the fleet file's (the schema owns the list)."""
    keys = {f.alias or name for name, f in StackConfig.model_fields.items()}
    return frozenset(keys - REGIONAL_KEYS - {"backendKeys"})


def decode(value: Any) -> Any:
    """An engine value as data: structured config arrives as JSON text."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
