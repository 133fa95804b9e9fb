"""The schema of a fleet's region list and of a region's GPU quota (the keys themselves: infra/config/fleetfile.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from infra.config.base import ConfigModel
from infra.config.gateway import ApiKeyRef, HttpsBaseUrl


class Region(ConfigModel):
    """One region stack of the fleet and how the other regions reach its gateway."""

    stack: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
    """The region's stack name (its file is `Pulumi.<stack>.yaml` beside the fleet file), e.g. `prod-eu`; also its
    name as a peer (`peer-<stack>` in the gateway's metrics)."""
    gateway: HttpsBaseUrl
    """Its gateway's OpenAI base URL as the other regions reach it: https:// (the gateway terminates TLS) on an internal
    address, ending in /v1, e.g. `https://gateway.prod-eu.internal.acme.example/v1`."""
    api_key: ApiKeyRef | None = None
    """The config key of the Pulumi secret (in each OTHER region's file) holding this region's gateway key (its
    `modelApiKey` output). Default: `llm-fleet:<stack in camelCase>GatewayKey`, e.g. `llm-fleet:prodEuGatewayKey`."""

    # Filled at the merge from the region's own stack file (its platform block's ranges), never written: the
    # sources a peer's calls arrive from, which this region's gateway NetworkPolicy and load balancer admit.
    networks: SkipJsonSchema[list[str]] = Field(default=[])
