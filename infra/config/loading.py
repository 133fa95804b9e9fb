"""Reading a stack's config: from the engine's values to a validated StackConfig, or one-line errors.

Owns the entry points (`load_config`, `parse_engine_config`, `parse_stack_config`), the validation
context the blocks' defaults are read from, the decoding of the engine's values and the error format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from infra import sdk
from infra.config.base import NAMESPACE, ConfigError, ConfigModel
from infra.config.checks import cross_checks
from infra.config.context import StackContext
from infra.config.existing import EXISTING_PRESETS
from infra.config.fleetfile import placement_problems, read_fleet
from infra.config.gateway import dangling_key_problems
from infra.config.messages import nearest, plain
from infra.config.peers import add_peers, artifact_drift
from infra.config.secrets import plaintext_secret_problems, provider_plaintext_problems
from infra.config.stack import StackConfig
from infra.config.stackfile import engine_shape
from infra.config.structure import namespace_problems, structure_problems
from infra.config.tiers import TIER_PROFILES


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(("function-", "constrained-")):
            path += f".{part}" if path else part
    return path


def _model_class_names() -> set[str]:
    names, todo = set(), [ConfigModel]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _describe(error: Mapping[str, Any]) -> str:
    # pydantic puts the model class name in the loc of model-level validators, and `[key]` after a mapping's key
    # it refused; drop them (only them: a GPU kind such as `A100-40GB` is a key users write).
    models = _model_class_names()
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and (p in models or p == "[key]")))
    path = _key_path(loc) or "(stack)"
    return plain(error, StackConfig, tuple(p for p in loc if not str(p).startswith(("function-", "constrained-"))),
                 path, is_key="[key]" in error["loc"])


def _without_knock_on_missing(errors: list[Any]) -> list[Any]:
    """`replicas: {maximum: 4}` is one mistake: drop "max: missing" where an unknown key beside it is its misspelling
    (its own line already says "did you mean max?")."""
    unknown = [(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"]
    return [e for e in errors if not (e["type"] == "missing" and any(
        parent == tuple(e["loc"][:-1]) and nearest(key, [str(e["loc"][-1])]) for parent, key in unknown))]


def _validation_context(data: Mapping[str, Any]) -> StackContext:
    """The stack-wide facts the blocks' defaults are read from; `data["tier"]` is known to be a tier."""
    cloud = data.get("cloud", "gke")
    existing = data.get("existing") if isinstance(data.get("existing"), dict) else {}
    preset_name = existing.get("preset", "nvidia-gpu-operator")
    preset = EXISTING_PRESETS.get(preset_name) if isinstance(preset_name, str) else None  # else the schema says
    return StackContext(profile=TIER_PROFILES[data["tier"]], cloud=cloud,
                        existing_gpus_per_node=preset.gpus_per_node if preset else 1)


def _lines(problems: list[str], source: str | None) -> ConfigError:
    where = f" (in {source})" if source else ""
    return ConfigError([f"config error: {NAMESPACE}:{p}{where}" for p in problems])


def parse_stack_config(raw: Mapping[str, Any], source: str | None = None) -> StackConfig:
    """Validate a stack's `llm-fleet:*` config (keys without the namespace). Raises ConfigError.

    `source`, the stack file's name, ends each line when known."""
    # The tier, the cloud and its platform block come first and alone: every other default hangs off them.
    structural = structure_problems(raw)
    if structural:
        raise _lines(structural, source)
    data = json.loads(json.dumps(raw))  # a copy, and proof the input is plain data
    # A backend's key renamed on one side only: the line that joins both sides, alone (not an "unknown key").
    dangling = dangling_key_problems(data, [f.alias or name for name, f in StackConfig.model_fields.items()])
    if dangling:
        raise _lines(dangling, source)
    try:
        cfg = StackConfig.model_validate(data, context=_validation_context(data))
    except ValidationError as e:
        raise _lines([_describe(err) for err in _without_knock_on_missing(e.errors())], source) from None
    problems = cross_checks(cfg)
    if problems:
        raise _lines(problems, source)
    return cfg


def _decode(value: str) -> Any:
    # Pulumi hands structured config to the program as JSON text and scalars as plain text; a key left empty in the
    # file (`llm-fleet:nodePools:` with nothing under it) arrives as `null`, shown as "(empty)" like a nested one.
    if value == "null":
        return None
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def engine_raw(values: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's `llm-fleet:<key>` values as the stack file's block: keys without the namespace, JSON decoded."""
    return {key.split(":", 1)[1]: _decode(value) if isinstance(value, str) else value
            for key, value in values.items() if key.startswith(f"{NAMESPACE}:")}


def merge_fleet(values: Mapping[str, Any], stack: str | None, root: Path) -> dict[str, Any]:
    """The engine's values of a region stack with its fleet's keys merged in (unchanged for a stack in no fleet).

    Also refuses artifacts that drift from the other regions' and adds the other regions as peer fallbacks."""
    fleet = values.get(f"{NAMESPACE}:fleet")
    if fleet is None:
        return dict(values)
    region_file = f"Pulumi.{stack}.yaml" if stack else "the stack file"
    fleet_config = read_fleet(str(fleet), root, region_file)
    fleet_name = f"Fleet.{fleet}.yaml"
    problems = placement_problems(values, fleet_config, region_file, fleet_name)
    if problems:
        raise ConfigError([f"config error: {p}" for p in problems])
    shaped, _ = engine_shape(fleet_config)
    merged = {**values, **shaped}
    if stack:
        problems = artifact_drift(stack, str(fleet), root)
        if problems:
            raise ConfigError([f"config error: {p}" for p in problems])
        merged = add_peers(merged, stack, fleet_name, root)
    return merged


def load_config(stack: str | None = None, root: Path | None = None) -> StackConfig:
    """Read every `llm-fleet:*` key of the running stack, once, and validate it; `stack` names its file in errors."""
    # The engine hands config over as the PULUMI_CONFIG environment map or (newer language hosts,
    # and `plan`) through set_all_config; the explicit map wins, as in pulumi.Config itself.
    # Plaintext secrets are judged where the stack file is known (`pulumi up`, `plan`), not in the policy pack, whose
    # process may be handed decrypted values without the list of keys that were secret.
    # A region of a fleet also reads Fleet.<fleet>.yaml and its sibling stack files: from `root`, else the current
    # folder, which under `pulumi up` is the project folder (Pulumi runs the program there).
    return parse_engine_config(sdk.engine_config(), stack=stack, secret_keys=sdk.secret_keys() if stack else None,
                               root=root)


def parse_engine_config(values: Mapping[str, Any], stack: str | None = None,
                        secret_keys: Collection[str] | None = None, root: Path | None = None) -> StackConfig:
    """Validate config in the engine's shape: `llm-fleet:<key>` → JSON text (structured) or plain text.

    With `secret_keys` (the engine's, `llm-fleet:<key>`), a secret-looking value in any other key is refused
    outside dev (warned about in dev: `config_warnings`)."""
    source = f"Pulumi.{stack}.yaml" if stack else None
    own = set(values)
    values = merge_fleet(values, stack, root or Path.cwd())
    documented = [f.alias or name for name, f in StackConfig.model_fields.items()]
    misspelt = namespace_problems(list(values), documented)
    if misspelt:
        raise ConfigError([f"config error: {p}" + (f" (in {source})" if source else "") for p in misspelt])
    raw = engine_raw(values)
    structural = structure_problems(raw)  # first and alone, before a secret's line too
    if structural:
        raise _lines(structural, source)
    if secret_keys is not None and raw.get("tier") in ("staging", "prod"):
        exposed = plaintext_secret_problems(raw, secret_keys, stack)
        # The providers' credentials (aws:secretKey, …) sit in the same file: full keys, so no namespace prefix.
        providers = provider_plaintext_problems(values, secret_keys, stack)
        if exposed or providers:
            where = f" (in {source})" if source else ""
            raise ConfigError([*(_lines(exposed, source).problems if exposed else []),
                               *(f"config error: {p}{where}" for p in providers)])
    try:
        return parse_stack_config(raw, source)
    except ConfigError as e:
        raise ConfigError(_in_fleet_file(e.problems, values, own, stack)) from None


def _in_fleet_file(problems: list[str], values: Mapping[str, Any], own: Collection[str],
                   stack: str | None) -> list[str]:
    """A region's line about a key its fleet file holds names that file (where the fix goes), not only the region's;
    a peer fallback's URL refused as its region's gateway URL is said once, at `regions[i].gateway`."""
    fleet = values.get(f"{NAMESPACE}:fleet")
    if fleet is None or not stack:
        return problems
    shared = {k.split(":", 1)[1] for k in values if k not in own}  # the keys the fleet file added
    region_file, fleet_file = f"Pulumi.{stack}.yaml", f"Fleet.{fleet}.yaml"
    gateways = set(re.findall(rf"config error: {NAMESPACE}:regions\[\d+\]\.gateway = ('[^']*')", "\n".join(problems)))
    out = []
    for line in problems:
        copied = re.match(rf"config error: {NAMESPACE}:models\[\d+\]\.fallbacks\[\d+\]\.url = ('[^']*')", line)
        if copied and copied[1] in gateways:
            continue
        key = re.match(rf"config error: {NAMESPACE}:([A-Za-z]+)", line)
        if key and key[1] in shared and line.endswith(f" (in {region_file})"):
            line = line.removesuffix(f" (in {region_file})") + f" (in {fleet_file}, read by {region_file})"
        out.append(line)
    return out
