"""Supervisor settings, read once from SERVING_* environment variables.

Validation happens before anything starts: a bad value ends the process with exit code 2 and
one line naming the variable (see `load_or_exit`), so vLLM is never started half-configured.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from serving import flags
from serving import kubernetes as k8s

ENV_PREFIX = "SERVING_"
EXIT_BAD_SETTINGS = 2

# The flags the supervisor sets itself (serving/flags.py says why each is refused in SERVING_EXTRA_ARGS).
MANAGED_FLAGS = frozenset(flags.MANAGED_FLAGS)

Port = Annotated[int, Field(ge=1, le=65535)]


class Settings(BaseSettings):
    """What the supervisor needs; every field is the env var SERVING_<FIELD NAME>."""

    # Each field's docstring is its meaning in `python -m serving --help` (serving/environment.py): one source.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, use_attribute_docstrings=True)

    model: str = Field(min_length=1)
    """The model to serve: a local directory (e.g. a mounted volume) or a Hugging Face id."""
    served_model_name: str | None = None
    """The name clients send as `model` (unset: SERVING_MODEL)."""
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    """GPUs one replica spans: vLLM's --tensor-parallel-size."""
    max_model_len: int | None = Field(default=None, ge=16)
    """Longest context in tokens: vLLM's --max-model-len (unset: the model's)."""
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    """Share of GPU memory vLLM may use, in (0, 1]: --gpu-memory-utilization (unset: vLLM's)."""
    # Before extra_args: its validator reads this one.
    allow_trust_remote_code: bool = False
    """true: SERVING_EXTRA_ARGS may carry --trust-remote-code, which runs the model repository's Python code here."""
    extra_args: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """More vLLM flags, shell-quoted ('--dtype bfloat16'); not the flags set above, --api-key, --hf-token, --config."""

    host: str = "0.0.0.0"
    """Bind address of vLLM's API and of the health server."""
    api_port: Port = k8s.API_PORT
    """Port of vLLM's OpenAI-compatible API (/v1/..., /metrics)."""
    health_port: Port = k8s.HEALTH_PORT
    """Port of the health server (/startupz, /readyz, /livez, /status, /metrics)."""

    drain_grace_s: float = Field(default=k8s.DRAIN_GRACE_S, ge=0, le=600)
    """Seconds to wait after SIGTERM for endpoints and load balancers to stop sending traffic."""
    drain_timeout_s: float = Field(default=k8s.DRAIN_TIMEOUT_S, gt=0, le=3600)
    """Longest wait, from SIGTERM, for in-flight requests to finish."""
    stop_timeout_s: float = Field(default=k8s.STOP_TIMEOUT_S, gt=0, le=600)
    """Seconds vLLM gets to exit after the drain, before SIGKILL."""
    drain_poll_s: float = Field(default=0.5, gt=0, le=10)
    """How often the drain reads vLLM's running and waiting requests."""

    canary_interval_s: float = Field(default=k8s.CANARY_INTERVAL_S, gt=0, le=3600)
    """Seconds between 1-token canary completions (they detect a wedged engine)."""
    canary_timeout_s: float = Field(default=k8s.CANARY_TIMEOUT_S, gt=0, le=600)
    """Timeout of one canary completion."""
    canary_failures: int = Field(default=k8s.CANARY_FAILURES, ge=1, le=100)
    """Canary failures in a row, with no engine progress, that fail /livez."""
    poll_interval_s: float = Field(default=2, gt=0, le=60)
    """How often vLLM's /health, /v1/models and /metrics are read."""
    check_timeout_s: float = Field(default=2, gt=0, le=60)
    """Timeout of each of those reads."""

    warmup_prompt: str | None = None
    """A completion that must succeed before the pod is ready (unset: none)."""
    warmup_timeout_s: float = Field(default=300, gt=0, le=3600)
    """Timeout of the warm-up completion."""
    api_key_file: Path | None = None
    """File (e.g. a mounted Secret) holding the API key; vLLM gets it as VLLM_API_KEY (unset: no key)."""
    state_dir: Path | None = None
    """Where container restarts are counted: a volume that outlives the container (the image: /cache/serving)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""

    adapter_root: str | None = None
    """LoRA adapter store whose `latest` is served: file:///path, s3://bucket/prefix or gs://… (unset: no LoRA)."""
    adapter_name: str = Field(default="policy", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Name clients send as `model` for the newest adapter; each version is also served as <name>@<step>."""
    max_lora_rank: int = Field(default=64, ge=1, le=512)
    """Largest LoRA rank the engine accepts: vLLM's --max-lora-rank (a higher-rank adapter fails to load)."""
    max_loras: int = Field(default=2, ge=2, le=64)
    """Adapter versions resident at once: vLLM's --max-loras; >= 2 so a new version loads before the old goes."""
    adapter_poll_s: float = Field(default=10, gt=0, le=3600)
    """How often the adapter store's `latest` pointer is read."""

    overflow_queue_depth: int | None = Field(default=None, ge=0, le=100_000)
    """Requests waiting in vLLM above which those marked `X-LLM-Fleet-Overflow: 1` get 429 (unset: never)."""
    compile_cache_url: str | None = None
    """vLLM compile cache shared by replicas: file:///path, s3://bucket/prefix or gs://… (unset: off)."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("compile_cache_url")
    @classmethod
    def _cache_scheme(cls, value: str | None) -> str | None:
        if value is not None and not any(
            value.startswith(scheme) and len(value) > len(scheme) for scheme in ("file:///", "s3://", "gs://")
        ):
            raise ValueError("must be file:///absolute/path, s3://bucket/prefix or gs://bucket/prefix")
        return value

    @field_validator("adapter_root")
    @classmethod
    def _adapter_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file:///", "s3://", "gs://")):
            raise ValueError("must be file:///absolute/path, s3://bucket/prefix or gs://bucket/prefix")
        return value

    @field_validator("extra_args", mode="before")
    @classmethod
    def _split_extra_args(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"not valid shell quoting ({exc})") from exc
        return value

    @field_validator("extra_args")
    @classmethod
    def _no_refused_flags(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # Judged as vLLM's parser reads them (`--api_key=…`, `--max-model`): serving/flags.py.
        reasons = flags.refused_flags(value, allow_trust_remote_code=info.data.get("allow_trust_remote_code", False))
        if reasons:
            raise ValueError("; ".join(reasons))
        return value

    @field_validator("api_key_file")
    @classmethod
    def _readable_key(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            key = value.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the API key file ({exc.strerror})") from exc
        if not key:
            raise ValueError("the API key file is empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.api_port == self.health_port:
            raise ValueError("SERVING_API_PORT and SERVING_HEALTH_PORT must differ")
        if self.drain_grace_s >= self.drain_timeout_s:
            raise ValueError("SERVING_DRAIN_GRACE_S must be shorter than SERVING_DRAIN_TIMEOUT_S")
        if self.overflow_queue_depth is not None:
            reasons = flags.refused_flags(self.extra_args, allow_trust_remote_code=True, overflow=True)
            if reasons:
                raise ValueError("SERVING_EXTRA_ARGS " + "; ".join(reasons))
        if self.adapter_root is not None:
            # Only here does SERVING_EXTRA_ARGS meet SERVING_ADAPTER_ROOT (fields validate in order).
            reasons = flags.refused_flags(self.extra_args, allow_trust_remote_code=True, adapters=True)
            if reasons:
                raise ValueError("SERVING_EXTRA_ARGS " + "; ".join(reasons))
        return self

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model

    @property
    def api_key(self) -> str | None:
        return self.api_key_file.read_text().strip() if self.api_key_file else None

    @property
    def wedge_window_s(self) -> float:
        """Longest time from a wedged engine to a failing /livez.

        Each of the `canary_failures` attempts waits out the interval, the canary's timeout and
        one metrics read (to tell a busy engine from a wedged one).
        """
        return self.canary_failures * (self.canary_interval_s + self.canary_timeout_s + self.check_timeout_s)

    @property
    def engine_death_window_s(self) -> float:
        """Longest time from a dead engine to a failing /livez (next /health poll times out or 503s)."""
        return self.poll_interval_s + self.check_timeout_s


def _shown(field: str, value: Any) -> Any:
    """A refused input as the error line shows it: a secret flag's value (`--api_key=…`) never reaches the log."""
    if field != "extra_args":
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return flags.redact(value)
    return " ".join(flags.redact(value.split())) if isinstance(value, str) else value  # before shell-splitting


def describe_error(exc: ValidationError) -> str:
    """One line: which variable, what is allowed."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p != "__root__"]
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a rule across variables: its message names them
            parts.append(msg)
        elif err["type"] == "missing":
            parts.append(f"{ENV_PREFIX}{loc[0].upper()}: required but not set")
        else:
            parts.append(f"{ENV_PREFIX}{loc[0].upper()}: {msg} (got {_shown(loc[0], err.get('input'))!r})")
    return "invalid settings: " + "; ".join(parts)


def load_or_exit() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_SETTINGS) from None
