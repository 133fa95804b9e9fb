"""What runs on the pools: the served `models`, the `training` job and the `rollout` workers.

Owns their schema, the replica range (its minimum defaults to the tier's), and the weight arithmetic
(bytes per parameter, vLLM's memory cap) a model is checked against.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from infra.catalog import GpuKind
from infra.config.base import ConfigModel, EnvName, Name
from infra.config.context import stack_context, with_defaults

# vLLM's default --gpu-memory-utilization: the share of each GPU vLLM allows itself.
GPU_MEMORY_UTILIZATION = 0.90
# Weights must leave this share of vLLM's budget free for the KV cache, activations and CUDA
# graphs; below ~20 % vLLM starts but serves only a handful of concurrent sequences.
WEIGHT_HEADROOM = 0.20
BYTES_PER_PARAMETER = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


class Replicas(ConfigModel):
    min: int = Field(ge=0)
    max: int = Field(ge=1)

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


def _parse_parameters(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _PARAMS.match(str(value))
    if not m:
        raise ValueError("parameters must be a number or a count like '8B', '70B', '350M'")
    return float(m["n"]) * _UNITS[m["unit"].upper()]


class ModelAutoscaling(ConfigModel):
    """KEDA triggers: queued requests per replica, and optionally KV-cache pressure."""

    waiting_requests_per_replica: float = Field(default=4, gt=0)
    kv_cache_usage_threshold: float | None = Field(default=None, gt=0, le=1)


class Model(ConfigModel):
    """A model to serve. Its revision is pinned in `artifacts.modelRevisions`, so promotion moves it."""

    name: Name
    source: str = Field(
        description="'hf://<org>/<repo>' (Hugging Face) or 'gs://…' / 's3://…' (a bucket path)",
        pattern=r"^(hf://[\w.-]+/[\w.-]+|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$",
    )
    parameters: float
    dtype: Literal["float32", "bfloat16", "float16", "fp8", "int8", "int4"] = "bfloat16"
    gpu: GpuKind
    pool: Name | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    max_model_len: int = Field(default=8192, ge=256)
    replicas: Replicas  # min defaults to the tier's
    autoscaling: ModelAutoscaling = ModelAutoscaling()

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_params(cls, value: Any) -> float:
        return _parse_parameters(value)

    @property
    def weights_gb(self) -> float:
        return self.parameters * BYTES_PER_PARAMETER[self.dtype] / 1e9

    @property
    def is_huggingface(self) -> bool:
        return self.source.startswith("hf://")


class Training(ConfigModel):
    """The single-GPU-node training job. Its image is `artifacts.trainingImage`."""

    gpu: GpuKind
    gpus: int = Field(default=1, ge=1)
    pool: Name | None = None
    command: list[str] = Field(default=[])
    args: list[str] = Field(default=[])
    env: dict[EnvName, str] = Field(default={})
    # Where checkpoints go: a bucket path (handed to the job as CHECKPOINT_DIR) or, without one,
    # a persistent volume of this size mounted at /checkpoints.
    checkpoint_bucket: Annotated[str, Field(pattern=r"^(gs|s3)://[\w.-]+(/\S*)?$")] | None = None
    checkpoint_volume_gb: int = Field(default=500, ge=10)
    # Suspended by default: `pulumi up` never starts GPU spend nobody asked for.
    suspend: bool = True


class Rollout(ConfigModel):
    """CPU rollout workers. Their image is `artifacts.rolloutImage`."""

    pool: Name
    replicas: Replicas
    cpu_per_worker: float = Field(default=1.0, gt=0)
    memory_gib_per_worker: float = Field(default=2.0, gt=0)
    command: list[str] = Field(default=[])
    args: list[str] = Field(default=[])
    env: dict[EnvName, str] = Field(default={})
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)
