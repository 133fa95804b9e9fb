"""Reading `Pulumi.<stack>.yaml` itself: YAML syntax, keys given twice, and the `config:` wrapper.

PyYAML (what the project reads YAML with) keeps the last of two equal keys in one mapping without a word, and
names the text `<unicode string>` in its errors. Here the document is composed first, so every duplicate is found
with both of its lines and its key path, and a syntax error names the file, line and column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.config.base import NAMESPACE, ConfigError

SECRET_PLACEHOLDER = "[secret]"


def _duplicates(node: yaml.Node, path: str) -> list[str]:
    """`path: key given on lines a and b` for every mapping under `node` that repeats a key."""
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            here = f"{path}.{name}" if path and path != "config" else name  # `config.` adds nothing
            line = key.start_mark.line + 1
            if name in seen:
                found.append(f"{here}: given twice in one mapping, on lines {seen[name]} and {line}; YAML keeps only "
                             f"the last, so the value on line {seen[name]} is silently lost; remove one of them")
            else:
                seen[name] = line
            found += _duplicates(value, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicates(item, f"{path}[{i}]")
    return found


def read_stack_yaml(path: Path) -> dict[str, Any]:
    """The stack file's `config:` mapping. Raises ConfigError (`stack error: <file> …`, one line each)."""
    text = path.read_text()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        what = " ".join(str(p) for p in (getattr(e, "context", None), getattr(e, "problem", None)) if p) or str(e)
        raise ConfigError([f"stack error: {path.name}{where}: not valid YAML ({what}); check the indentation and "
                           "quoting there"]) from None
    duplicates = _duplicates(root, "") if root is not None else []
    if duplicates:
        raise ConfigError([f"stack error: {path.name}: {d}" for d in duplicates])
    if not isinstance(doc, dict):
        raise ConfigError([f"stack error: {path.name}: not a mapping of keys; allowed: a `config:` block of "
                           f"{NAMESPACE}:<key> entries"])
    pasted = [k for k in doc if isinstance(k, str) and k.startswith(f"{NAMESPACE}:")]
    if pasted:
        more = f" and {len(pasted) - 1} more {NAMESPACE}:* keys" if len(pasted) > 1 else ""
        raise ConfigError([f"stack error: {path.name}: {pasted[0]}{more} at the top level; "
                           "Pulumi reads stack settings only under `config:`, so all of them would be ignored; add "
                           "a line `config:` above them and indent them under it"])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError([f"stack error: {path.name}: config = {config!r}: not a block of keys; allowed: "
                           f"{NAMESPACE}:<key> entries indented under `config:`"])
    return config


def _mask_secrets(value: Any) -> tuple[Any, bool]:
    """Replace `secure:` values (which only the stack's key can decrypt) with a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        masked = {k: _mask_secrets(v) for k, v in value.items()}
        return {k: v for k, (v, _) in masked.items()}, any(s for _, s in masked.values())
    if isinstance(value, list):
        masked_items = [_mask_secrets(v) for v in value]
        return [v for v, _ in masked_items], any(s for _, s in masked_items)
    return value, False


def engine_shape(stack_config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """A `config:` block as the engine hands it to a program: JSON text per key (secrets masked), secret keys apart."""
    config, secret_keys = {}, []
    for key, value in stack_config.items():
        masked, secret = _mask_secrets(value)
        if ":" not in key:
            key = f"{NAMESPACE}:{key}"  # Pulumi's rule: a bare key belongs to the project
        config[key] = masked if isinstance(masked, str) else json.dumps(masked)
        if secret:
            secret_keys.append(key)
    return config, secret_keys
