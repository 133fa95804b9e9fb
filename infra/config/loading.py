"""Reading a stack's config: from the engine's values to a validated StackConfig, or one-line errors.

Owns the entry points (`load_config`, `parse_engine_config`, `parse_stack_config`), the validation
context the blocks' defaults are read from, the decoding of the engine's values and the error format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from infra import sdk
from infra.config.base import NAMESPACE, ConfigError, ConfigModel
from infra.config.checks import cross_checks
from infra.config.context import StackContext
from infra.config.existing import EXISTING_PRESETS
from infra.config.stack import StackConfig
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
    # pydantic puts the model class name in the loc of model-level validators; drop it (only it: a GPU kind such as
    # `A100-40GB` is a key users write).
    models = _model_class_names()
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p in models))
    path = _key_path(loc) or "(stack)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key; check its spelling against the documented keys"
    if kind == "missing":
        return f"{path}: missing; this key is required"
    value = error.get("input")
    msg = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and isinstance(value, Mapping):
        return f"{path}: {msg}"
    return f"{path} = {value!r}: {msg}"


def _validation_context(data: Mapping[str, Any]) -> StackContext:
    """The stack-wide facts the blocks' defaults are read from; `data["tier"]` is known to be a tier."""
    cloud = data.get("cloud", "gke")
    existing = data.get("existing") if isinstance(data.get("existing"), dict) else {}
    preset = EXISTING_PRESETS.get(existing.get("preset", "nvidia-gpu-operator"))
    return StackContext(profile=TIER_PROFILES[data["tier"]], cloud=cloud,
                        existing_gpus_per_node=preset.gpus_per_node if preset else 1)


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate a stack's `llm-fleet:*` config (keys without the namespace). Raises ConfigError."""
    tier = raw.get("tier")
    if tier not in TIER_PROFILES:
        # Every other default hangs off the tier: report it alone rather than its knock-on errors.
        shown = ": missing;" if tier is None else f" = {tier!r}:"
        raise ConfigError([f"config error: {NAMESPACE}:tier{shown} allowed: 'dev', 'staging' or 'prod'"])
    data = json.loads(json.dumps(raw))  # a copy, and proof the input is plain data
    try:
        cfg = StackConfig.model_validate(data, context=_validation_context(data))
    except ValidationError as e:
        raise ConfigError([f"config error: {NAMESPACE}:{_describe(err)}" for err in e.errors()]) from None
    problems = cross_checks(cfg)
    if problems:
        raise ConfigError([f"config error: {NAMESPACE}:{p}" for p in problems])
    return cfg


def _decode(value: str) -> Any:
    # Pulumi hands structured config to the program as JSON text and scalars as plain text.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def load_config() -> StackConfig:
    """Read every `llm-fleet:*` key of the running stack, once, and validate it."""
    # The engine hands config over as the PULUMI_CONFIG environment map or (newer language hosts,
    # and `plan`) through set_all_config; the explicit map wins, as in pulumi.Config itself.
    return parse_engine_config(sdk.engine_config())


def parse_engine_config(values: Mapping[str, Any]) -> StackConfig:
    """Validate config in the engine's shape: `llm-fleet:<key>` → JSON text (structured) or plain text."""
    raw = {
        key.split(":", 1)[1]: _decode(value) if isinstance(value, str) else value
        for key, value in values.items()
        if key.startswith(f"{NAMESPACE}:")
    }
    return parse_stack_config(raw)
