"""What every block of the stack configuration shares: the base model, the error type, the value types.

Owns: `ConfigModel` (camelCase keys, unknown keys refused, field docstrings as the reference's
descriptions), `ConfigError`, the constrained types used by several blocks, and the CIDR check.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

NAMESPACE = "llm-fleet"
ANY_ADDRESS = "0.0.0.0/0"


class ConfigError(pulumi.RunError):
    """A stack config that must not be deployed. Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# Marks a key the tier fills when the stack leaves it out (a `mode="before"` validator): required by the
# Python model, optional to whoever writes the stack, so the JSON schema does not list it as required.
TIER_DEFAULT: dict[str, Any] = {"x-default-from": "tier"}


def _reference_schema(schema: dict[str, Any]) -> None:
    # A key's docstring may wrap in the source; the reference shows it as one line.
    for prop in schema.get("properties", {}).values():
        if "description" in prop:
            prop["description"] = " ".join(prop["description"].split())
    defaulted = {key for key, prop in schema.get("properties", {}).items() if "x-default-from" in prop}
    if "required" in schema and defaulted:
        schema["required"] = [key for key in schema["required"] if key not in defaulted]


class ConfigModel(BaseModel):
    """A block of the stack configuration."""

    # camelCase keys in the stack file (Pulumi's convention), snake_case in Python. The docstring under
    # each field is its description in the JSON schema, from which docs/config.md is generated.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True,
        json_schema_extra=_reference_schema,
    )


Tier = Literal["dev", "staging", "prod"]
Cloud = Literal["gke", "eks", "existing"]
Capacity = Literal["spot", "on-demand", "reservation"]
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE"]
Name = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Image = Annotated[str, Field(pattern=r"^[\w.\-/:]+(:[\w.\-]+)?(@sha256:[0-9a-f]{64})?$")]


def ipv4_networks(value: list[str] | None, *, example: str) -> list[str] | None:
    """A list of IPv4 CIDRs without host bits (what firewalls and NetworkPolicy ipBlocks accept)."""
    for cidr in value or []:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise ValueError(f"{cidr!r} is not an IPv4 network address; allowed: CIDRs such as {example} "
                             "(no host bits)") from None
    return value


def opens_to_anyone(networks: list[str]) -> bool:
    """Whether a list of validated CIDRs includes a /0 (every address)."""
    return any(ipaddress.IPv4Network(n).prefixlen == 0 for n in networks)
