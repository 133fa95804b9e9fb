"""The bench spec: which OpenAI-compatible endpoints to measure, at what price, under which workload.

Owns the schema of the spec file (YAML, camelCase keys like the stack files), its one-line errors (file, key, value,
what is allowed, the fix; worded by infra/config/messages.py as the stack's are) and the CLI's one-endpoint form.
API keys are never in the file: an endpoint names the environment variable that holds its key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from infra.config.base import ConfigError, ConfigModel, EnvName, Name
from infra.config.loading import _key_path
from infra.config.messages import plain


class Price(ConfigModel):
    """What the endpoint costs: per GPU-hour (your own replicas, a GPU cloud) or per token (a serverless API)."""

    gpu_hour_usd: float | None = Field(default=None, gt=0)
    """USD per GPU-hour, for an endpoint billed by the hour (with `gpus`)."""
    gpus: int | None = Field(default=None, ge=1)
    """GPUs behind the endpoint while it is measured (with `gpuHourUsd`)."""
    input_per_1m_usd: float | None = Field(default=None, ge=0)
    """USD per 1M prompt tokens, for an endpoint billed per token (with `outputPer1MUsd`)."""
    output_per_1m_usd: float | None = Field(default=None, ge=0)
    """USD per 1M output tokens, for an endpoint billed per token (with `inputPer1MUsd`)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Price:
        hourly = self.gpu_hour_usd is not None or self.gpus is not None
        per_token = self.input_per_1m_usd is not None or self.output_per_1m_usd is not None
        if hourly == per_token:
            raise ValueError("give either gpuHourUsd with gpus (billed per GPU-hour) or inputPer1MUsd with "
                             "outputPer1MUsd (billed per token), not both and not neither")
        if hourly and (self.gpu_hour_usd is None or self.gpus is None):
            raise ValueError("gpuHourUsd and gpus go together: the hourly cost is gpuHourUsd x gpus")
        if per_token and (self.input_per_1m_usd is None or self.output_per_1m_usd is None):
            raise ValueError("inputPer1MUsd and outputPer1MUsd go together (write 0 for a side that is free)")
        return self

    @property
    def per_hour(self) -> bool:
        return self.gpu_hour_usd is not None


BaseUrl = Annotated[str, Field(min_length=1)]


class Endpoint(ConfigModel):
    """One OpenAI-compatible endpoint: a stack's gateway, a serverless provider, a single vLLM server."""

    name: Name
    """A short name for the report, e.g. fleet-gateway or together."""
    base_url: BaseUrl
    """The API's base URL, up to and including /v1, e.g. https://api.together.xyz/v1."""
    model: str = Field(min_length=1)
    """The model name the endpoint serves it under (what requests send as `model`)."""
    api_key_env: EnvName | None = None
    """The environment variable holding the API key (the key itself never goes in the file). Default: no key."""
    tokenizer: str | None = None
    """A Hugging Face model id or local folder whose tokenizer sizes the prompts. Default: `model`."""
    api: Literal["completions", "chat"] = "completions"
    """Which OpenAI API the load uses: /completions (exact prompt lengths) or /chat/completions (for APIs without
    the former; the chat template adds a few tokens to each prompt)."""
    price: Price
    """What the endpoint costs: per GPU-hour or per token."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = urlparse(value)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError("not an http(s) URL; allowed: a base URL such as https://api.example.com/v1")
        return value.rstrip("/")

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class Workload(ConfigModel):
    """The load every endpoint gets, the same for all so the figures compare."""

    prompt_tokens: int = Field(default=256, ge=1, le=32768)
    """Prompt length in tokens (synthetic prompts)."""
    output_tokens: int = Field(default=128, ge=1, le=32768)
    """Output tokens per request (generation is not stopped early)."""
    concurrency: int = Field(default=4, ge=1, le=1024)
    """Requests in flight at once."""
    requests: int = Field(default=100, ge=1)
    """The load stops after this many requests..."""
    max_seconds: float = Field(default=300, gt=0)
    """...or after this many seconds, whichever comes first."""
    warmup_requests: int | None = Field(default=None, ge=0)
    """Requests sent (at `concurrency`) after the idle probe and before the load, not counted: a server's first
    batches of each size are slower (compilation, connection set-up). Default: `concurrency`."""
    ignore_eos: bool = True
    """Ask the server to generate all `outputTokens` (vLLM's `ignore_eos`, which vLLM-based servers accept); set
    false for an API that refuses unknown request fields (its answers may then end early)."""
    idle_seconds: float = Field(default=0, ge=0)
    """Seconds to wait before the first-request-after-idle probe (a serverless endpoint scales to zero after a few
    minutes idle: give that time to measure its cold start)."""


    @property
    def warmups(self) -> int:
        return self.concurrency if self.warmup_requests is None else self.warmup_requests


class BenchSpec(ConfigModel):
    """A bench run: endpoints side by side under one workload."""

    endpoints: list[Endpoint] = Field(min_length=1)
    """The endpoints to measure."""
    workload: Workload = Workload()
    """The load each endpoint gets."""

    @model_validator(mode="after")
    def _unique(self) -> BenchSpec:
        names = [e.name for e in self.endpoints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"endpoint names must be unique; {', '.join(dupes)} appears more than once")
        return self


def parse_spec(raw: Any, source: str) -> BenchSpec:
    """The validated spec, or a ConfigError with one line per problem naming the file and key."""
    if not isinstance(raw, dict):
        raise ConfigError([f"bench spec error: {source}: the file must be a block of `key: value` lines "
                           "(endpoints: [...], workload: {...})"])
    try:
        spec = BenchSpec.model_validate(raw)
    except ValidationError as e:
        raise ConfigError([f"bench spec error: {_key_path(err['loc']) or '(spec)'}"
                           f"{_detail(err)} (in {source})" for err in e.errors()]) from None
    missing = [f"bench spec error: endpoints[{i}].apiKeyEnv = {e.api_key_env}: the variable is not set; export it "
               f"with the endpoint's API key (in {source})"
               for i, e in enumerate(spec.endpoints) if e.api_key_env and not os.environ.get(e.api_key_env)]
    if missing:
        raise ConfigError(missing)
    return spec


def _detail(err: Any) -> str:
    path = _key_path(err["loc"]) or "(spec)"
    line = plain(err, BenchSpec, tuple(err["loc"]), path)
    return line.removeprefix(path)


def load_spec(path: Path) -> BenchSpec:
    return parse_spec(load_raw(path), str(path))


def load_raw(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError([f"bench spec error: {path}: cannot read it ({e.strerror})"]) from None
    except yaml.YAMLError as e:
        raise ConfigError([f"bench spec error: {path}: not valid YAML ({str(e).splitlines()[0]})"]) from None
