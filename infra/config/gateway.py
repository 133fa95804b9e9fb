"""The gateway's config: the `serving.gateway` block, a model's ordered `fallbacks`, and a provider-only model's
`provider`.

Owns their schema and the rules on their values: every external URL is https:// and an OpenAI base URL (ends in
`/v1`); a backend's key is named by the config key of a Pulumi secret (`apiKey: llm-fleet:modalApiKey`), whose value
the stack holds in `StackConfig.backend_keys` (taken out of the top-level keys by `take_backend_keys`); plain text
keys are refused outside dev by infra/config/secrets.py like any secret.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from gateway.spec import FailoverPolicy
from infra.config.base import NAMESPACE, TIER_DEFAULT, ConfigModel, Name
from infra.config.context import stack_context, with_defaults
from infra.config.messages import nearest

_DEFAULT_POLICY = FailoverPolicy()
DEFAULT_REQUEST_TIMEOUT_S = _DEFAULT_POLICY.request_timeout_s
API_KEY_REF = re.compile(rf"^{NAMESPACE}:[a-z][A-Za-z0-9]*$")


def https_base_url(value: str) -> str:
    """An external OpenAI-compatible base URL: https:// (a key travels with every request), ending in /v1."""
    if not value.startswith("https://"):
        scheme = value.split("://", 1)[0] + "://" if "://" in value else "no scheme"
        raise ValueError(f"{scheme} is not allowed outside the cluster (the API key and the prompts would cross the "
                         f"network in clear); allowed: an https:// URL; use https://{value.split('://', 1)[-1]}")
    if not value.rstrip("/").endswith("/v1"):
        raise ValueError(f"not an OpenAI base URL; allowed: an https:// URL ending in /v1, e.g. "
                         f"{value.rstrip('/')}/v1")
    return value.rstrip("/")


def api_key_ref(value: str | None) -> str | None:
    if value is not None and not API_KEY_REF.match(value):
        raise ValueError(f"allowed: the config key of a Pulumi secret, e.g. {NAMESPACE}:modalApiKey, set with "
                         f"`pulumi config set --secret {NAMESPACE}:modalApiKey <key>`")
    return value


# Field types with their rule: one definition for every URL outside the cluster and every named key.
HttpsBaseUrl = Annotated[str, AfterValidator(https_base_url)]
ApiKeyRef = Annotated[str, AfterValidator(api_key_ref)]


class Fallback(ConfigModel):
    """One backend a model's requests move to when the ones before it fail or overflow: another region's gateway
    (`peer`) or an external OpenAI-compatible provider (`provider`), tried in the order listed."""

    peer: Name | None = None
    """Another region's gateway, by a name of yours (its backend is `peer-<name>` in metrics). Give this or
    `provider`."""
    provider: Name | None = None
    """An external provider (Modal, RunPod, Together, …), by a name of yours (its backend is `provider-<name>`).
    Give this or `peer`."""
    url: HttpsBaseUrl
    """Its OpenAI base URL: https:// and ending in /v1, e.g. `https://acme--qwen.modal.run/v1`."""
    model: str | None = None
    """The name the backend knows the model by. Required for a provider; default for a peer: the same name."""
    usd_per_1m_input_tokens: float | None = Field(default=None, ge=0, alias="usdPer1MInputTokens")
    """A provider's price per 1M input tokens in USD (required for a provider: the cost table prices overflow)."""
    usd_per_1m_output_tokens: float | None = Field(default=None, ge=0, alias="usdPer1MOutputTokens")
    """A provider's price per 1M output tokens in USD (required for a provider)."""
    api_key: ApiKeyRef | None = None
    """The config key of the Pulumi secret holding the key it wants, e.g. `llm-fleet:modalApiKey` (set with
    `pulumi config set --secret llm-fleet:modalApiKey <key>`). Required for a provider; for a peer, its
    `modelApiKey`."""

    @model_validator(mode="after")
    def _one_kind(self) -> Fallback:
        if (self.peer is None) == (self.provider is None):
            raise ValueError("give exactly one of peer: <name> (another region's gateway) or provider: <name> (an "
                             "external OpenAI-compatible service), e.g. {provider: modal, url: https://…/v1, model: "
                             "…, usdPer1MInputTokens: …, usdPer1MOutputTokens: …, apiKey: llm-fleet:modalApiKey}")
        if self.provider is not None:
            missing = [k for k, v in (("model", self.model), ("usdPer1MInputTokens", self.usd_per_1m_input_tokens),
                                      ("usdPer1MOutputTokens", self.usd_per_1m_output_tokens),
                                      ("apiKey", self.api_key)) if v is None]
            if missing:
                raise ValueError(f"provider {self.provider!r} lacks {', '.join(missing)}; allowed: a provider with "
                                 "model, usdPer1MInputTokens, usdPer1MOutputTokens and apiKey (a secret's config key)")
        return self

    @property
    def backend_name(self) -> str:
        """Its name in the routing table and in the gateway's metrics."""
        return f"peer-{self.peer}" if self.peer is not None else f"provider-{self.provider}"


class Provider(ConfigModel):
    """A provider-only model's backend: an external OpenAI-compatible service that serves it instead of GPUs of
    the stack."""

    name: Name
    """The provider, by a name of yours (its backend is `provider-<name>` in metrics)."""
    url: HttpsBaseUrl
    """Its OpenAI base URL: https:// and ending in /v1."""
    model: str
    """The name the provider knows the model by."""
    usd_per_1m_input_tokens: float = Field(ge=0, alias="usdPer1MInputTokens")
    """Its price per 1M input tokens in USD."""
    usd_per_1m_output_tokens: float = Field(ge=0, alias="usdPer1MOutputTokens")
    """Its price per 1M output tokens in USD."""
    api_key: ApiKeyRef
    """The config key of the Pulumi secret holding its key, e.g. `llm-fleet:togetherApiKey`."""

    def as_fallback(self) -> Fallback:
        return Fallback(provider=self.name, url=self.url, model=self.model, api_key=self.api_key,
                        usd_per_1m_input_tokens=self.usd_per_1m_input_tokens,
                        usd_per_1m_output_tokens=self.usd_per_1m_output_tokens)


class GatewayReplicas(ConfigModel):
    """The gateway's pods: its HorizontalPodAutoscaler moves between `min` and `max` on CPU."""

    min: int = Field(ge=1, json_schema_extra=TIER_DEFAULT)
    """Fewest gateway pods. Default: 2 in prod (a PodDisruptionBudget keeps one up through a node drain), else 1."""
    max: int = Field(default=4, ge=1)
    """Most gateway pods (default 4)."""

    @model_validator(mode="before")
    @classmethod
    def _tier_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None:
            return data
        return with_defaults(data, {"min": context.profile.gateway_min_replicas})

    @model_validator(mode="after")
    def _order(self) -> GatewayReplicas:
        if self.min > self.max:
            raise ValueError(f"min={self.min} is above max={self.max}")
        return self


class GatewayResources(ConfigModel):
    """What one gateway pod requests (and its memory limit)."""

    cpu: float = Field(default=1.0, gt=0)
    """CPU cores requested per pod (default 1); the autoscaler aims at `targetCpuUtilization` of it."""
    memory_gib: float = Field(default=1.0, gt=0)
    """Memory requested per pod in GiB, also its limit (default 1)."""


class Gateway(ConfigModel):
    """One OpenAI-compatible endpoint in front of the stack's models (LiteLLM's proxy): each model's requests go to
    its own replicas first, then to its `fallbacks` in order."""

    replicas: GatewayReplicas = Field(default={}, validate_default=True)  # type: ignore[assignment]
    """The gateway's pod range, `{min, max}` (autoscaled on CPU)."""
    resources: GatewayResources = GatewayResources()
    """Per pod, `{cpu, memoryGib}`."""
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)
    """CPU utilisation in percent the autoscaler keeps the gateway at (default 70)."""
    connect_timeout_s: float = Field(default=_DEFAULT_POLICY.connect_timeout_s, gt=0)
    """Seconds a backend has to accept the connection before the request moves on (default 2)."""
    first_byte_timeout_s: float = Field(default=_DEFAULT_POLICY.first_byte_timeout_s, gt=0)
    """Seconds a backend has to send the first byte before the request moves on (default 30); never after it."""
    request_timeout_s: float = Field(default=DEFAULT_REQUEST_TIMEOUT_S, gt=0)
    """Seconds a whole request may take (default 600)."""
    failures_before_cooldown: int = Field(default=_DEFAULT_POLICY.failures_before_cooldown, ge=1)
    """Failures within a minute that take a backend out of rotation (default 3)."""
    cooldown_s: float = Field(default=_DEFAULT_POLICY.cooldown_s, gt=0)
    """Seconds a failing backend stays out before it is tried again (default 30)."""
    overflow_queue_depth: int | None = Field(default=_DEFAULT_POLICY.overflow_queue_depth, ge=0)
    """Requests waiting in a local replica's engine above which it answers the gateway 429 and the request moves to
    the next backend (default 8; null: never overflow, queue instead). Model pods get it as
    SERVING_OVERFLOW_QUEUE_DEPTH."""
    expected_overflow_share: float = Field(default=0.0, ge=0, le=1)
    """The share (0..1) of each local model's tokens you expect on its first paid fallback (overflow and failures):
    the cost table prices it at that provider's rate (default 0). One figure for the stack, as the policy that
    produces it (`overflowQueueDepth`) is one."""

    @model_validator(mode="after")
    def _timeouts(self) -> Gateway:
        if self.first_byte_timeout_s > self.request_timeout_s:
            raise ValueError(f"firstByteTimeoutS = {self.first_byte_timeout_s:g} is above requestTimeoutS = "
                             f"{self.request_timeout_s:g}; allowed: firstByteTimeoutS <= requestTimeoutS")
        return self

    def policy(self) -> FailoverPolicy:
        return FailoverPolicy(
            connect_timeout_s=self.connect_timeout_s, first_byte_timeout_s=self.first_byte_timeout_s,
            request_timeout_s=self.request_timeout_s, failures_before_cooldown=self.failures_before_cooldown,
            cooldown_s=self.cooldown_s, overflow_queue_depth=self.overflow_queue_depth)


def _referenced(entry: Any) -> Iterator[tuple[str, str]]:
    """(key path inside the model, apiKey value) of each backend key a raw model entry names."""
    if not isinstance(entry, Mapping):
        return
    provider = entry.get("provider")
    if isinstance(provider, Mapping) and isinstance(provider.get("apiKey"), str):
        yield "provider.apiKey", provider["apiKey"]
    for j, fallback in enumerate(entry.get("fallbacks") or [] if isinstance(entry.get("fallbacks"), list) else []):
        if isinstance(fallback, Mapping) and isinstance(fallback.get("apiKey"), str):
            yield f"fallbacks[{j}].apiKey", fallback["apiKey"]


def api_key_refs(raw: Mapping[str, Any]) -> dict[str, str]:
    """Top-level key (without the namespace) -> where it is named, for every backend key the raw stack names."""
    refs: dict[str, str] = {}
    models = raw.get("models")
    for i, entry in enumerate(models if isinstance(models, list) else []):
        for path, ref in _referenced(entry):
            if API_KEY_REF.match(ref):
                refs.setdefault(ref.split(":", 1)[1], f"models[{i}].{path}")
    return refs


def dangling_key_problems(raw: Mapping[str, Any], documented: Collection[str]) -> list[str]:
    """A backend's `apiKey` naming a key the stack lacks while the stack holds a key nothing names (renamed on one
    side only, or written without the namespace): one line joining the two, instead of an "unknown key" for the
    orphan that hides what names it. [] when every named key exists or no orphan is close to it."""
    orphans = [k for k in raw if k not in documented and k not in api_key_refs(raw)]
    problems = []
    models = raw.get("models")
    for i, entry in enumerate(models if isinstance(models, list) else []):
        fallbacks = entry.get("fallbacks") if isinstance(entry, Mapping) else None
        peers = {j: f.get("peer") for j, f in enumerate(fallbacks if isinstance(fallbacks, list) else [])
                 if isinstance(f, Mapping) and "peer" in f}
        for path, ref in _referenced(entry):
            name = ref.split(":", 1)[1] if API_KEY_REF.match(ref) else ref
            if API_KEY_REF.match(ref) and name in raw:
                continue
            orphan = name if name in orphans else nearest(name, orphans)
            if orphan is None:
                continue
            peer = next((p for j, p in peers.items() if path == f"fallbacks[{j}].apiKey"), None)
            if peer is not None:  # added from the fleet's regions: the user wrote only the key
                problems.append(f"{orphan}: not a key of this stack; the gateway calls peer region {peer} with the "
                                f"key {NAMESPACE}:{name}, which the stack lacks; rename {orphan} to {name}")
            elif orphan == name:
                problems.append(f"models[{i}].{path} = {ref!r}: allowed: the config key of a Pulumi secret with "
                                f"its namespace; did you mean apiKey: {NAMESPACE}:{name}?")
            else:
                problems.append(f"models[{i}].{path} = {ref!r}: the stack has no key {name}, and its key {orphan} "
                                f"is named by nothing; did you mean apiKey: {NAMESPACE}:{orphan}? (or rename "
                                f"{orphan} to {name})")
    return problems


def take_backend_keys(data: dict[str, Any]) -> dict[str, Any]:
    """The raw stack with each top-level key a backend's `apiKey` names moved into `backendKeys` (its config key ->
    value), so the schema's "unknown key" rule still refuses every key nothing names."""
    refs = api_key_refs(data)
    filled = {k: v for k, v in data.items() if k not in refs}
    keys = {f"{NAMESPACE}:{k}": data[k] for k in refs if k in data}
    if keys:
        filled["backendKeys"] = {**(data.get("backendKeys") or {}), **keys}
    return filled


def gateway_problems(*, mode: str, gateway: Gateway | None, models: list[Any], backend_keys: Mapping[str, str],
                     via_gateway: bool, gateway_image: str | None) -> list[str]:
    """The rules that tie the gateway to the rest of the stack. `models`: every declared model (config.Model)."""
    problems: list[str] = []
    if via_gateway and mode != "vllm":
        problems.append(f"rollout.viaGateway = true: serving.mode = {mode!r}, where the rollouts are Ray tasks that "
                        "call the Serve app directly; allowed in plain mode only (serving.mode: vllm); drop "
                        "rollout.viaGateway")
    if gateway is not None and gateway_image is None:
        problems.append("artifacts.gatewayImage: missing; required with serving.gateway; build images/gateway and "
                        "give it by digest, e.g. <registry>/llm-fleet/gateway@sha256:<64 hex>")
    if via_gateway and gateway is None:
        problems.append("rollout.viaGateway = true: the stack has no serving.gateway; allowed only with one; add "
                        "serving.gateway or drop rollout.viaGateway")
    names = [m.name for m in models]
    for i, model in enumerate(models):
        where = f"models[{i}]"
        if model.provider is not None and names.count(model.name) > 1:
            problems.append(f"{where}.name = {model.name!r}: used twice; model names must be unique")
        if gateway is None and (model.fallbacks or model.provider is not None):
            what = "provider" if model.provider is not None else "fallbacks"
            problems.append(f"{where}.{what}: the stack has no serving.gateway, which is what routes to it; add "
                            f"serving.gateway: {{}} (and artifacts.gatewayImage)")
        if model.fallbacks and model.fallbacks_none is not None:
            problems.append(f"{where}.fallbacksNone = {model.fallbacks_none!r}: the model has fallbacks; allowed: "
                            "one of them; drop fallbacksNone")
        backends = [f.backend_name for f in model.fallbacks]
        if model.provider is not None:
            backends.insert(0, f"provider-{model.provider.name}")
        for dup in sorted({b for b in backends if backends.count(b) > 1}):
            problems.append(f"{where}.fallbacks: backend {dup!r} is listed twice; each peer or provider once")
        refs = [(f"{where}.provider.apiKey", model.provider.api_key)] if model.provider is not None else []
        refs += [(f"{where}.fallbacks[{j}].apiKey", f.api_key) for j, f in enumerate(model.fallbacks)
                 if f.api_key is not None]
        for path, ref in refs:
            if ref not in backend_keys:
                problems.append(f"{path} = {ref!r}: the stack has no such key; allowed: the config key of a Pulumi "
                                f"secret; run pulumi config set --secret {ref} <the backend's API key>")
    return problems
