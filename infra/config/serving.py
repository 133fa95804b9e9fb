"""The `serving` block: how models are served (plain vLLM or KubeRay), exposed, scaled and watched."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from infra.catalog import INTERNAL_GATEWAY_CLASS
from infra.config.base import ConfigModel, Name, ipv4_networks
from infra.config.cold_start import ColdStart
from infra.config.context import stack_context, with_defaults
from infra.config.gateway import DEFAULT_REQUEST_TIMEOUT_S, Gateway
from infra.config.schedules import cron_expression, timezone


class WorkingHours(ConfigModel):
    """When GPU models may run; outside these hours KEDA scales them to zero (dev tier)."""

    timezone: str = "UTC"
    """The IANA time zone the cron expressions are read in, e.g. `Europe/Berlin` (default `UTC`)."""
    start: str = "0 8 * * 1-5"
    """When models scale up: a 5-field cron expression (default `0 8 * * 1-5`, 08:00 on weekdays)."""
    end: str = "0 20 * * 1-5"
    """When models scale to zero: a 5-field cron expression (default `0 20 * * 1-5`, 20:00 on weekdays)."""

    @field_validator("start", "end")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_expression(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return timezone(value)


DEFAULT_DRAIN_TIMEOUT_S = 120


class Serving(ConfigModel):
    """How models are served and who may reach them."""

    mode: Literal["vllm", "kuberay"] = "vllm"
    """How models are served: `vllm` (plain Deployments, default) or `kuberay` (Ray Serve LLM on a RayService)."""
    expose: Literal["cluster-ip", "internal-load-balancer"] = "cluster-ip"
    """How the OpenAI API is exposed: `cluster-ip` (inside the cluster, default) or `internal-load-balancer`."""
    api_access_from: list[Name] = Field(default=[])
    """Namespaces allowed to call the OpenAI API besides the rollout workers' (e.g. a gateway's)."""
    # The internal load balancer's loadBalancerSourceRanges and the NetworkPolicy's ipBlocks; the default (filled
    # by StackConfig) is all an internal load balancer can be reached from without peering.
    api_client_cidrs: list[str] | None = None
    """With `expose: internal-load-balancer`: the IPv4 CIDRs whose clients may call the API. Default: the stack's
    own network (GKE `gcp.subnetCidr`, EKS `aws.vpcCidr`); required on an existing cluster; never 0.0.0.0/0."""
    monitoring: Literal["platform", "self-hosted"] = "platform"
    """Where metrics go: `platform` (default: the platform's choice, GKE Managed Prometheus; on EKS and existing
    clusters a kube-prometheus-stack we install) or `self-hosted` (a kube-prometheus-stack we install)."""
    drain_timeout_seconds: int = Field(default=DEFAULT_DRAIN_TIMEOUT_S, ge=10, le=3600)
    """Seconds a stopping replica may take to finish its requests (10..3600). Default: 120, or with a gateway its
    `requestTimeoutS` (default 600) when longer, so that no request the gateway lets run is cut by a drain."""
    working_hours: WorkingHours | None = None
    """When GPU models may run, `{timezone, start, end}`; outside them KEDA scales models to zero. Default: always."""
    gateway_class: str | None = None
    """KubeRay mode: the GatewayClass the incremental (prod) upgrade routes through. Default: `gke-l7-rilb` on
    GKE; on EKS and existing clusters name one the cluster runs."""
    ray_target_ongoing_requests: int = Field(default=16, ge=1)
    """KubeRay mode: ongoing requests per replica Ray Serve's autoscaler aims at (default 16)."""
    gateway: Gateway | None = None
    """One OpenAI-compatible endpoint per stack (LiteLLM's proxy, Service `gateway.llm-gateway:4000`): each model's
    own replicas first, then its `fallbacks`; `{replicas, resources, connectTimeoutS, firstByteTimeoutS,
    requestTimeoutS, failuresBeforeCooldown, cooldownS, overflowQueueDepth, expectedOverflowShare}`. Default: none
    (plain mode only; the image is `artifacts.gatewayImage`)."""

    cold_start: ColdStart = ColdStart()
    """How new replicas start faster, `{compileCache, weights, preloadImage}`: a shared compile cache, weights
    streamed from a bucket, the serving image preloaded on GKE GPU nodes. Default: none of them (the plan's time to
    serve says what each would save)."""

    @model_validator(mode="before")
    @classmethod
    def _cloud_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None or context.cloud not in INTERNAL_GATEWAY_CLASS:
            return data
        return with_defaults(data, {"gatewayClass": INTERNAL_GATEWAY_CLASS[context.cloud]})

    @model_validator(mode="before")
    @classmethod
    def _drain_outlasts_gateway_requests(cls, data: Any) -> Any:
        # A replica that stops mid-request cuts it (a stream breaks, a plain request starts over on the next
        # backend), so behind a gateway the drain lasts as long as the longest request it lets run. The drain ends
        # as soon as the replica is idle (docs/serving.md), so a long one costs only while requests run. A drain set
        # by hand is kept: the guard drain-outlasts-gateway-requests reports one that is shorter.
        gateway = data.get("gateway") if isinstance(data, dict) else None
        if not isinstance(gateway, dict) or "drain_timeout_seconds" in data:
            return data
        timeout = gateway.get("requestTimeoutS", gateway.get("request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S))
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
            return data  # the gateway's own validation reports a bad value; above the drain's maximum, the guard
        return with_defaults(data, {"drainTimeoutSeconds": max(DEFAULT_DRAIN_TIMEOUT_S, math.ceil(timeout))})

    @field_validator("api_client_cidrs")
    @classmethod
    def _client_cidrs(cls, value: list[str] | None) -> list[str] | None:
        return ipv4_networks(value, example="10.10.0.0/20")
