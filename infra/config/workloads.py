"""What runs on the pools: the served `models`, the `training` job and the `rollout` workers.

Owns their schema, the replica range (its minimum defaults to the tier's), and the weight arithmetic
(bytes per parameter, vLLM's memory cap) a model is checked against.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from infra.catalog import GpuKind
from infra.config.base import TIER_DEFAULT, ConfigModel, EnvName, Name
from infra.config.context import stack_context, with_defaults
from infra.config.gateway import Fallback, Provider
from infra.config.lora import Lora
from infra.config.traffic import Throughput

# vLLM's default --gpu-memory-utilization: the share of each GPU vLLM allows itself.
GPU_MEMORY_UTILIZATION = 0.90
# Weights must leave this share of vLLM's budget free for the KV cache, activations and CUDA
# graphs; below ~20 % vLLM starts but serves only a handful of concurrent sequences.
WEIGHT_HEADROOM = 0.20
BYTES_PER_PARAMETER = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


class Replicas(ConfigModel):
    """How many replicas (pods) may run: the autoscaler moves between `min` and `max`."""

    min: int = Field(ge=0, json_schema_extra=TIER_DEFAULT)
    """Fewest replicas. Default: the tier's (dev 0, staging and prod 1); a vLLM model at 0 needs
    `serving.workingHours` to wake it."""
    max: int = Field(ge=1)
    """Most replicas (at least 1); for a model, its pool must hold `max` × `tensorParallelSize` GPUs."""

    @model_validator(mode="before")
    @classmethod
    def _tier_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None:
            return data
        return with_defaults(data, {"min": context.profile.min_replicas})

    @model_validator(mode="after")
    def _order(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min={self.min} is above max={self.max}")
        return self


_PARAMS = re.compile(r"^\s*(?P<n>\d+(\.\d+)?)\s*(?P<unit>[KMBT]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


# No model worth serving has fewer: a bare number below this is a count in billions missing its unit.
MIN_PARAMETERS = 1e6


def _parse_parameters(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, unit = float(value), ""
    elif (m := _PARAMS.match(str(value))) is not None:
        number, unit = float(m["n"]), m["unit"].upper()
    else:
        raise ValueError("not a parameter count; allowed: a count like '8B', '70B' or '350M'")
    if not unit and number < MIN_PARAMETERS:
        shown = f"{number:g}"
        raise ValueError(f"read as {shown} parameters, too few for a language model; allowed: a count with its "
                         f"unit, e.g. '8B', '70B', '350M'; did you mean {shown}B?")
    return number * _UNITS[unit]


def parameter_count(n: float) -> str:
    """A parameter count as the stack writes it: 7.6B, 70B, 350M."""
    for unit in ("T", "B", "M", "K"):
        if n >= _UNITS[unit]:
            return f"{n / _UNITS[unit]:.4g}{unit}"
    return f"{n:g}"


class ModelAutoscaling(ConfigModel):
    """KEDA triggers: queued requests per replica, and optionally KV-cache pressure."""

    waiting_requests_per_replica: float = Field(default=4, gt=0)
    """Queued requests per replica above which KEDA adds a replica (default 4)."""
    kv_cache_usage_threshold: float | None = Field(default=None, gt=0, le=1)
    """Share of the KV cache in use (0..1] above which KEDA adds a replica; default: not a trigger."""


# What only a model on the stack's own GPUs has; a provider-only model gives none of it.
GPU_ONLY_KEYS = ("source", "parameters", "dtype", "gpu", "pool", "pools", "tensor_parallel_size", "max_model_len",
                 "replicas", "autoscaling", "throughput", "lora")


class Model(ConfigModel):
    """A model to serve: on the stack's GPUs (`gpu`, `source`, `parameters`, `replicas`), or by a provider only
    (`provider`, no GPU). Its revision is pinned in `artifacts.modelRevisions`, so promotion moves it."""

    name: Name
    """The model's name (lowercase, dashes): names its Deployment or Ray app and its key in
    `artifacts.modelRevisions`; unique among the models."""
    source: str = Field(default=None, pattern=r"^(hf://[\w.-]+/[\w.-]+|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$")
    """Where the weights come from: `hf://<org>/<repo>` (Hugging Face) or `gs://…` / `s3://…` (a bucket path,
    streamed through vLLM's Run:ai streamer)."""
    parameters: float = None  # type: ignore[assignment]  # required on GPUs (_served_somewhere)
    """The model's parameter count: a number or a count like `7.6B`, `70B`, `350M`; with `dtype` it sizes the
    weights, which must fit the tensor-parallel group's GPUs."""
    dtype: Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4"] = "bfloat16"
    """The weights' data type (default `bfloat16`)."""
    gpu: GpuKind = None  # type: ignore[assignment]  # required on GPUs (_served_somewhere)
    """The GPU kind the model is served on; some node pool must provide it. Required unless `provider`."""
    pool: Name | None = None
    """The node pool to serve on. Default: the first pool of the model's GPU kind with purpose `serving`."""
    pools: list[Name] | None = Field(default=None, min_length=2)
    """A capacity ladder instead of one `pool`: two or more pools of the model's GPU kind in priority order, e.g. a
    committed baseline, then spot, then on-demand. A new replica lands on the first rung with room (GKE: a
    ComputeClass; EKS: cluster-autoscaler's priority expander; existing clusters: preferred node affinity). Models
    that share a rung share the whole ladder, in the same order."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """GPUs per replica (vLLM's tensor parallelism); at most the pool's `gpusPerNode` (default 1)."""
    max_model_len: int = Field(default=8192, ge=256)
    """Longest context (prompt + output) in tokens vLLM accepts (at least 256; default 8192)."""
    replicas: Replicas = None  # type: ignore[assignment]  # required on GPUs (_served_somewhere)
    """The replica range, `{min, max}`. Required unless `provider`."""
    autoscaling: ModelAutoscaling = ModelAutoscaling()
    """When KEDA adds replicas: `{waitingRequestsPerReplica, kvCacheUsageThreshold}`."""
    throughput: Throughput | None = None
    """What one replica serves, as measured: `{outputTokensPerSecond, concurrency, source}`; with `traffic` the
    plan shows $ per 1M output tokens and $ per inference. Default: unknown."""
    lora: Lora | None = None
    """LoRA adapters hot-loaded beside the weights, `{maxRank, maxLoras, source, name}`: the trainer publishes a
    version, every replica serves it within a poll without a restart. Default: none (full weights only)."""
    provider: Provider | None = None
    """A provider-only model: `{name, url, model, usdPer1MInputTokens, usdPer1MOutputTokens, apiKey}`. The stack
    declares no GPU and no Deployment for it; the gateway (`serving.gateway`) routes it to the provider and the cost
    table prices it at the provider's rate. Give it instead of `gpu`, `source`, `parameters` and `replicas`."""
    fallbacks: list[Fallback] = Field(default=[])
    """With `serving.gateway`: where its requests go when its own replicas fail or overflow, in order, each
    `{peer, url}` (another region's gateway) or `{provider, url, model, usdPer1MInputTokens, usdPer1MOutputTokens,
    apiKey}`. Default: none."""
    fallbacks_none: str | None = Field(default=None, min_length=3)
    """With `serving.gateway` in prod and no `fallbacks`: why the model has none, on purpose (e.g. "data may not
    leave the region")."""

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_params(cls, value: Any) -> float:
        return _parse_parameters(value)

    @model_validator(mode="after")
    def _served_somewhere(self) -> Model:
        if self.provider is not None:
            given = [f for f in GPU_ONLY_KEYS if f in self.model_fields_set]
            if given:
                keys = ", ".join(type(self).model_fields[f].alias or f for f in given)
                raise ValueError(f"provider {self.provider.name!r} and {keys}: a provider-only model has no GPU, "
                                 f"weights or replicas of the stack; drop {keys}, or drop provider to serve it on "
                                 "the stack's GPUs")
            return self
        missing = [k for k, v in (("gpu", self.gpu), ("source", self.source), ("parameters", self.parameters),
                                  ("replicas", self.replicas)) if v is None]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}; allowed: a model on the stack's GPUs (gpu, source, "
                             "parameters, replicas) or a provider-only model (provider: {name, url, model, "
                             "usdPer1MInputTokens, usdPer1MOutputTokens, apiKey})")
        return self

    @property
    def on_provider(self) -> bool:
        return self.provider is not None

    @model_validator(mode="after")
    def _one_placement(self) -> Model:
        if self.pool is not None and self.pools is not None:
            raise ValueError(f"pool = {self.pool!r} and pools = {self.pools}: give one; `pools` is a ladder whose "
                             f"first rung is the preferred pool (drop `pool`, or put {self.pool!r} first in `pools`)")
        return self

    @field_validator("pools")
    @classmethod
    def _distinct_rungs(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"{value}: a pool is named twice; each rung is a different pool")
        return value

    @property
    def weights_gb(self) -> float:
        return self.parameters * BYTES_PER_PARAMETER[self.dtype] / 1e9

    @property
    def is_huggingface(self) -> bool:
        return self.source.startswith("hf://")


class Training(ConfigModel):
    """The single-GPU-node training job. Its image is `artifacts.trainingImage`."""

    gpu: GpuKind
    """The GPU kind the job trains on; some node pool must provide it."""
    gpus: int = Field(default=1, ge=1)
    """GPUs the job uses, on one node: at most its pool's `gpusPerNode` (default 1)."""
    pool: Name | None = None
    """The node pool to train on. Default: the first pool of the GPU kind with purpose `training`, else of
    that GPU kind."""
    command: list[str] = Field(default=[])
    """The container's command; default: the image's entrypoint."""
    args: list[str] = Field(default=[])
    """The container's arguments; default: the image's."""
    env: dict[EnvName, str] = Field(default={})
    """Extra environment variables of the job."""
    checkpoint_bucket: Annotated[str, Field(pattern=r"^(gs|s3)://[\w.-]+(/\S*)?$")] | None = None
    """Where checkpoints go: a bucket path (`gs://…` or `s3://…`), handed to the job as `CHECKPOINT_DIR`.
    Default: a persistent volume of `checkpointVolumeGb` mounted at /checkpoints."""
    checkpoint_volume_gb: int = Field(default=500, ge=10)
    """Without `checkpointBucket`: the checkpoint volume's size in GB (default 500). A zonal disk: once written,
    later runs must land in its zone, so pin the training pool with `zones: [<one zone>]` or use a bucket."""
    # Suspended by default: `pulumi up` never starts GPU spend nobody asked for.
    suspend: bool = True
    """Whether the job is suspended (default true); set false to run it."""


class Rollout(ConfigModel):
    """CPU rollout workers. Their image is `artifacts.rolloutImage`."""

    pool: Name
    """The CPU node pool the workers run on (in KubeRay mode also the Ray head and CPU workers)."""
    replicas: Replicas
    """The worker count range, `{min, max}`."""
    cpu_per_worker: float = Field(default=1.0, gt=0)
    """CPU cores requested per worker (default 1)."""
    memory_gib_per_worker: float = Field(default=2.0, gt=0)
    """Memory requested per worker, in GiB (default 2)."""
    command: list[str] = Field(default=[])
    """The container's command; default: the image's entrypoint."""
    args: list[str] = Field(default=[])
    """The container's arguments; default: the image's."""
    env: dict[EnvName, str] = Field(default={})
    """Extra environment variables of the workers."""
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)
    """CPU utilisation in percent the autoscaler keeps the workers at (10..100; default 70)."""
    via_gateway: bool = False
    """Whether the workers call the models through `serving.gateway` (with its fallbacks) instead of each model's
    in-cluster Service directly (default false: ~1 ms, and no rollout traffic on a paid provider)."""
