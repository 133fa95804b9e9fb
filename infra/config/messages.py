"""Pydantic's validation errors in plain words: the key path, the value given, what is allowed, the nearest fix.

Owns the rewriting of each pydantic error type (no regexes, no class names, no "Input should be"), the meanings
of the schema's patterns, and the nearest-key lookup an unknown key is answered with. loading.py formats the line.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel

from infra.catalog import CPU_MACHINE_SYNTAX

# What each `Field(pattern=...)` of the schema means, in the words its error gives. A pattern missing here reads
# "not in the documented format": tests/test_config_mistakes.py checks every pattern of the schema has a meaning.
PATTERN_MEANINGS: dict[str, str] = {
    r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$":
        "a name of lowercase letters, digits and dashes, starting with a letter, at most 32 characters (e.g. qwen-7b)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name: letters, digits and underscores (e.g. LOG_LEVEL)",
    r"^[\w.\-/:]+(:[\w.\-]+)?(@sha256:[0-9a-f]{64})?$":
        "an image reference without spaces, e.g. registry/repo@sha256:<64 hex digits>",
    r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$":
        "a GCP project ID: 6 to 30 lowercase letters, digits and dashes, starting with a letter (e.g. acme-llm-dev)",
    r"^[a-z]+-[a-z]+[0-9]$": "a GCP region such as us-central1 or europe-west4",
    r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$":
        "a billing account ID: three groups of 6 uppercase hex digits, XXXXXX-XXXXXX-XXXXXX",
    r"^1\.[0-9]{2}$": "an EKS version written 1.NN, e.g. \"1.33\" (quoted, so YAML keeps it text)",
    r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$": "an S3 bucket name: 3 to 63 lowercase letters, digits, dots and dashes",
    r"^arn:aws:iam::[0-9]{12}:(role|user)/\S+$": "an IAM role or user ARN, arn:aws:iam::<12-digit account>:role/<name>",
    r"^(hf://[\w.-]+/[\w.-]+|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$":
        "hf://<org>/<repo> (Hugging Face), gs://<bucket>/<path> or s3://<bucket>/<path>",
    r"^(bucket:[\w.\-/]*|hf://[\w.-]+/[\w.-]+|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$":
        "bucket:<prefix> (under training.checkpointBucket), gs://<bucket>/<path>, s3://<bucket>/<path> or "
        "hf://<org>/<repo>",
    r"^(gs|s3)://[\w.-]+(/\S*)?$": "a bucket path, gs://<bucket>/<path> or s3://<bucket>/<path>",
    r"^(bucket:[\w.\-/]*|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$":
        "bucket:<prefix> (under training.checkpointBucket), gs://<bucket>/<path> or s3://<bucket>/<path>",
    r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/global/images/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$":
        "a Compute Engine image name (lowercase letters, digits and dashes) or projects/<project>/global/images/<name>",
    r"^[0-9a-f]{40}$": "a full commit hash, 40 lowercase hex digits (the model repo's commit, from its history page); "
                       "a branch or tag such as 'main' moves, so promotion would not move what was tested",
    r"^[A-Z]{3}$": "a three-letter currency code such as USD or EUR",
    r"^[A-Za-z0-9.-]+:[0-9]{1,5}$": "host:port, e.g. smtp-relay.example.com:587",
    r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$":
        "a Cloud DNS managed zone's name: lowercase letters, digits and dashes, starting with a letter, at most 63 "
        "characters (e.g. acme-internal; not its DNS name)",
    r"^Z[A-Z0-9]{1,31}$": "a Route 53 hosted zone ID: Z and uppercase letters and digits (e.g. Z0123456789ABCDEFGHIJ)",
}

_KINDS = {  # what a value of the wrong type should have been
    "int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text", "list_type": "a list, e.g. [a, b]", "dict_type": "a block of `key: value` lines",
    "model_type": "a block of `key: value` lines", "model_attributes_type": "a block of `key: value` lines",
}
_BOUNDS = {"greater_than": "greater than {gt}", "greater_than_equal": "{ge} or more", "less_than": "less than {lt}",
           "less_than_equal": "at most {le}", "too_short": "at least {min_length} item(s)",
           "too_long": "at most {max_length} item(s)", "string_too_short": "at least {min_length} character(s)",
           "string_too_long": "at most {max_length} character(s)"}


def cpu_machine_words(cloud: str) -> str:
    """The catalog's CPU machine syntax for `cloud` (`(m7i|c7i).(large|xlarge)`) in words, with an example."""
    groups = [g.split("|") for g in re.findall(r"\(([^)]*)\)", CPU_MACHINE_SYNTAX[cloud])]
    families = ", ".join(groups[0])
    if cloud == "gke":
        return f"<family>-<{'|'.join(groups[1])}>-<vCPUs> with a family among {families}, e.g. n2-standard-32"
    return f"<family>.<size> with a family among {families} and a size from {groups[1][0]} to {groups[1][-1]}, " \
           "e.g. m7i.8xlarge"


def number(value: Any) -> str:
    """A number as a person writes it: 4 not 4.0, 0.5 not 5e-01; anything else as repr."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return repr(value)
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def nearest(word: str, choices: list[str]) -> str | None:
    """The choice closest to a misspelt `word`, if one is close enough to be what was meant."""
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _unwrap(annotation: Any) -> Any:
    """The model class or container inside Optional[...] / Annotated[...]."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def keys_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The documented keys of the block at `loc` (camelCase), [] when `loc` does not lead to a block."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
            if field is None:
                return []
            current = field.annotation
        elif origin is list:
            current = typing.get_args(current)[0]
        elif origin is dict:
            current = typing.get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _allowed_literals(error: Mapping[str, Any]) -> list[str]:
    expected = str(error.get("ctx", {}).get("expected", ""))
    return [part.strip().strip("'") for part in expected.replace(" or ", ", ").split(",") if part.strip()]


def _percent_hint(kind: str, ctx: Mapping[str, Any], value: Any) -> str:
    """A share (at most 1 or 2) written as a percentage, `90` for 0.9: say the share it was meant to be."""
    top = ctx.get("le", ctx.get("lt")) if kind in ("less_than_equal", "less_than") else None
    if isinstance(top, int | float) and top <= 2 and isinstance(value, int | float) and 2 < value <= 200:
        return f" (a share, not a percentage); did you mean {number(value / 100)}?"
    return ""


def _one_of(items: list[str], show: Any) -> str:
    shown = [show(i) for i in items]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def plain(error: Mapping[str, Any], root: type[BaseModel], loc: tuple[int | str, ...], path: str,
          is_key: bool = False) -> str:
    """One pydantic error as `<path> = <value>: <what is wrong>; allowed: …` without pydantic's own words."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    # A key left empty in YAML (`maxNodes:`) arrives as None: say so rather than print Python's None.
    shown = f"{path} = (empty)" if value is None else \
        f"{path} = {number(value) if not isinstance(value, Mapping | list) else value}"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        known = keys_at(root, loc[:-1])
        guess = nearest(key, known)
        fix = f"did you mean {guess}?" if guess else f"allowed keys here: {', '.join(known)}" if known else \
            "check its spelling against docs/config.md"
        return f"{path}: unknown key; {fix}"
    if kind == "missing":
        return f"{path}: missing; this key is required"
    if kind == "string_pattern_mismatch":
        meaning = PATTERN_MEANINGS.get(ctx.get("pattern", ""), "the format docs/config.md gives for this key")
        return f"{shown}: not in the expected form; allowed: {meaning}"
    if kind in ("literal_error", "enum"):
        allowed = _allowed_literals(error)
        guess = nearest(str(value), allowed) if isinstance(value, str) else None
        hint = f"; did you mean {guess!r}?" if guess and guess != value else ""
        if is_key:  # a mapping's key (a GPU kind under pricing or existing.gpuNodes), not a value
            return f"{path}: {value!r} is not a key this block takes; allowed: {_one_of(allowed, str)}{hint}"
        return f"{shown}: allowed: {_one_of(allowed, repr)}{hint}"
    if kind in _KINDS:
        return f"{shown}: allowed: {_KINDS[kind]}"
    if kind in _BOUNDS:
        bounds = {k: number(v.value if isinstance(v, Enum) else v) for k, v in ctx.items()}
        return f"{shown}: allowed: {_BOUNDS[kind].format(**bounds)}{_percent_hint(kind, ctx, value)}"
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error" and isinstance(value, Mapping):
        # A block's own rule, whose sentence starts with the key and value at fault (`minNodes=5 is above …`):
        # the path gets that key, so the line names the full path as every other line does.
        key = re.match(r"^([a-z][A-Za-z]*)=", msg)
        return f"{path}.{key[1]}: {msg}" if key and key[1] in value else f"{path}: {msg}"
    return f"{shown}: {msg}"
