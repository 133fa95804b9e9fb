"""A resource as the engine received it: what the offline plan records, the policy pack converts, and the guards
and the network-flow checks read. No project imports, so every layer that reads resources can use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str  # parent URN ("" for the stack's direct children)
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    # What the engine waits for before creating this resource, as it received them: every URN in
    # `dependsOn` (a component there stands for its custom descendants: the SDK expands it) and every
    # resource an input came from (`property_dependencies`, per input); the explicit provider's URN
    # ("" for a default provider); custom timeouts in seconds ("create", "update", "delete") when set.
    dependencies: tuple[str, ...] = ()
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    provider: str = ""
    custom_timeouts: dict[str, float] = field(default_factory=dict)

    @property
    def is_kubernetes_object(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:") and "helm.sh" not in self.type
