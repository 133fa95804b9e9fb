"""The `serving` block: how models are served (plain vLLM or KubeRay), exposed, scaled and watched."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from infra.catalog import INTERNAL_GATEWAY_CLASS
from infra.config.base import ConfigModel, Name, ipv4_networks
from infra.config.context import stack_context, with_defaults


class WorkingHours(ConfigModel):
    """When GPU models may run; outside these hours KEDA scales them to zero (dev tier)."""

    timezone: str = "UTC"
    start: str = "0 8 * * 1-5"
    end: str = "0 20 * * 1-5"

    @field_validator("start", "end")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a 5-field cron expression, e.g. '0 8 * * 1-5'")
        return value


class Serving(ConfigModel):
    """How models are served and who may reach them."""

    mode: Literal["vllm", "kuberay"] = "vllm"
    expose: Literal["cluster-ip", "internal-load-balancer"] = "cluster-ip"
    # Namespaces allowed to call the OpenAI API besides the rollout workers' (e.g. a gateway).
    api_access_from: list[Name] = Field(default=[])
    # expose: internal-load-balancer: the address ranges whose clients may call the API through the load
    # balancer (the Service's loadBalancerSourceRanges and the NetworkPolicy's ipBlocks). Default: the
    # stack's own network (GKE: gcp.subnetCidr, EKS: aws.vpcCidr), which is all an internal load balancer
    # can be reached from without peering; list peered or on-prem ranges here. (Filled by StackConfig.)
    api_client_cidrs: list[str] | None = None
    monitoring: Literal["platform", "self-hosted"] = "platform"  # platform: GKE Managed Prometheus
    drain_timeout_seconds: int = Field(default=120, ge=10, le=3600)
    working_hours: WorkingHours | None = None
    # KubeRay mode: the GatewayClass the incremental upgrade routes through (GKE: internal L7).
    gateway_class: str | None = None  # default per cloud: catalog.INTERNAL_GATEWAY_CLASS
    ray_target_ongoing_requests: int = Field(default=16, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _cloud_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None or context.cloud not in INTERNAL_GATEWAY_CLASS:
            return data
        return with_defaults(data, {"gatewayClass": INTERNAL_GATEWAY_CLASS[context.cloud]})

    @field_validator("api_client_cidrs")
    @classmethod
    def _client_cidrs(cls, value: list[str] | None) -> list[str] | None:
        return ipv4_networks(value, example="10.10.0.0/20")
