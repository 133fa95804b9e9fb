"""Every key of the stack configuration says what it does: the generated reference (docs/config.md) reads it."""

from __future__ import annotations

import dataclasses

from infra.config import TIER_PROFILES, StackConfig


def _blocks() -> list[tuple[str, dict]]:
    schema = StackConfig.model_json_schema(by_alias=True)
    objects = [(name, block) for name, block in schema["$defs"].items() if block.get("type") == "object"]
    return [("StackConfig", schema), *objects]


def test_every_key_has_a_one_line_description():
    undescribed = [f"{name}.{key}" for name, block in _blocks() for key, prop in block["properties"].items()
                   if not prop.get("description", "").strip() or "\n" in prop["description"]]
    assert not undescribed, f"keys without a one-line description (a docstring under the field): {undescribed}"


def test_every_block_has_a_description():
    assert not [name for name, block in _blocks() if not block.get("description")]


def test_tier_profiles_are_built_from_keywords():
    assert all(f.kw_only for f in dataclasses.fields(TIER_PROFILES["prod"]))
