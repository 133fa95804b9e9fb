"""The validation context: what a block's defaults depend on beyond its own keys.

`parse_stack_config` passes one `StackContext` as `model_validate(..., context=...)`; each block's
`mode="before"` validator reads the tier's profile and the cloud from it to fill what the stack leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationInfo

from infra.config.tiers import TierProfile


@dataclass(frozen=True)
class StackContext:
    """The stack-wide facts block defaults are read from."""

    profile: TierProfile
    cloud: str  # as written in the stack (the schema reports an unknown one)
    existing_gpus_per_node: int = 1  # the existing cluster preset's node size, in GPUs


def stack_context(info: ValidationInfo) -> StackContext | None:
    """The context of this validation; None when a model is validated on its own (no defaults are filled)."""
    return info.context if isinstance(info.context, StackContext) else None


def cloud_of(info: ValidationInfo) -> str:
    """The stack's cloud: nested models (pools) are checked against it."""
    context = stack_context(info)
    return context.cloud if context is not None else "gke"


def with_defaults(data: Any, defaults: dict[str, Any]) -> Any:
    """`data` (when it is a mapping of keys) with each missing key set to its default; anything else unchanged."""
    if not isinstance(data, dict):
        return data  # not an object: the schema reports it
    filled = dict(data)
    for key, value in defaults.items():
        filled.setdefault(key, value)
    return filled
