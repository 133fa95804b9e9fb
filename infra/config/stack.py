"""The whole stack: `StackConfig`, the one typed model of every `llm-fleet:*` key, read once.

Owns the top-level keys, the defaults that depend on more than one block (the tier's budget, the model
API's client ranges from the stack's own network), and the lookups of a workload's pool.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from infra.catalog import SYSTEM_MACHINE_TYPE, GpuKind
from infra.config.access import ControlPlane
from infra.config.artifacts import Artifacts
from infra.config.aws import Aws
from infra.config.base import Cloud, ConfigModel, Tier
from infra.config.budget import Alerts, Budget, CurrentRates, PriceOverride, check_current_rates
from infra.config.cold_start import compile_cache_url
from infra.config.context import StackContext, stack_context
from infra.config.existing import Existing
from infra.config.gateway import take_backend_keys
from infra.config.gcp import Gcp
from infra.config.lora import adapter_root
from infra.config.pools import NodePool, SystemPool
from infra.config.regions import CaCertificate, Region
from infra.config.serving import Serving
from infra.config.stackfile import SECRET_PLACEHOLDER
from infra.config.tiers import TIER_PROFILES, TierProfile
from infra.config.traffic import Traffic
from infra.config.workloads import Model, Rollout, Training


class StackConfig(ConfigModel):
    """Everything under the `llm-fleet:` namespace of `Pulumi.<stack>.yaml`. Unknown keys are errors."""

    tier: Tier
    """The environment tier, `dev`, `staging` or `prod`: every tier default (capacity, minimums, protection,
    budget, release channel, API access) follows from it."""
    cloud: Cloud = "gke"
    """Where the stack runs: `gke` (default), `eks` or `existing`; each needs its own block, and only it."""
    gcp: Gcp | None = None
    """`cloud: gke`: the GCP project, region, zones and VPC ranges."""
    aws: Aws | None = None
    """`cloud: eks`: the AWS region, zones and VPC."""
    existing: Existing | None = None
    """`cloud: existing`: how to reach the cluster and how its GPU nodes are labelled and sized."""
    node_pools: list[NodePool] = Field(min_length=1)
    """The GPU and CPU node pools (at least one)."""
    # Validated (so it gets its cloud's machine type) when the cloud has one; an existing cluster has none of ours.
    system_pool: SystemPool = Field(default_factory=SystemPool.model_construct)
    """The small CPU pool for cluster services (KEDA, operators, monitoring): `{machineType, minNodes, maxNodes}`."""
    # `cfg.models` is the models on the stack's GPUs (what pools, cost and workloads place); `provider_models` the
    # provider-only ones the gateway routes out.
    declared_models: list[Model] = Field(default=[], alias="models")
    """The models to serve: on the stack's GPUs, or (with `provider`) by a provider only."""
    training: Training | None = None
    """The single-node GPU training job; default: none."""
    rollout: Rollout | None = None
    """The CPU rollout workers (required in KubeRay mode, whose Ray head runs on their pool); default: none."""
    budget: Budget | None = None
    """The monthly budget. Default: `{monthlyAmount: 1000}` in dev, `{monthlyAmount: 5000}` in staging; prod
    requires one."""
    alerts: Alerts = Alerts()
    """Where Alertmanager sends firing alerts: `email`, Slack, a webhook, PagerDuty."""
    # Validated when left out, so the block's defaults for the cloud and tier apply.
    serving: Serving = Field(default={}, validate_default=True)  # type: ignore[assignment]
    """How models are served, exposed, scaled and watched."""
    control_plane: ControlPlane = Field(default={}, validate_default=True)  # type: ignore[assignment]
    """Who may reach the cluster API: `{authorizedNetworks}`."""
    hf_token: str | None = None
    """A secret: the Hugging Face token for gated models (`pulumi config set --secret llm-fleet:hfToken hf_…`);
    it reaches pods only through a Kubernetes Secret."""
    # The values of the secrets a backend's `apiKey` names (taken out of the top-level keys, gateway.py).
    backend_keys: SkipJsonSchema[dict[str, str]] = Field(default={})
    artifacts: Artifacts
    """Every version pulled at deploy time (images by digest, charts, model revisions), promoted as one unit."""
    pricing: dict[GpuKind, PriceOverride] = Field(default={})
    """Per GPU kind, `{onDemand, spot}` USD per GPU-hour overriding the catalog's prices."""
    current_rates: CurrentRates = Field(default={})
    """The rates you pay today at the providers the plan compares this stack with, per provider and GPU kind in USD
    per GPU-hour, e.g. `{modal: {A100-80GB: 3.50}}`; each replaces that provider's list price (marked "your rate"),
    and on an existing cluster priced as that provider (`existing.priceAs`) it prices the cluster's GPUs too. A stated
    rate is all-in (Modal's CPU and memory are not added to it). Providers: modal, runpod, runpod-serverless,
    coreweave, lambda."""
    fleet: str | None = None
    """A region stack only: the fleet it belongs to, e.g. `prod`; its shared keys are then read from
    `Fleet.<fleet>.yaml` beside the stack file, and this file holds only the regional ones (README: "Several
    regions")."""
    regions: list[Region] = Field(default=[])
    """A fleet file only: its region stacks, `[{stack, gateway, apiKey?}]`; each region's gateway gets the others as
    `peer` fallbacks, and `plan --tier <fleet>` plans them together."""
    model_api_key: str | None = None
    """A secret: the stack's model API key, instead of a generated one (`modelApiKey` output either way). Required on
    a fleet region other regions fall back to: they must hold it (as `llm-fleet:<stack>GatewayKey`) before any region's
    first `up`. Make it with `openssl rand -hex 32` (docs/regions.md)."""
    peer_ca_cert: CaCertificate | None = None
    """A fleet file only: the fleet CA's certificate (PEM). Each region's gateway gets a certificate it signs for the
    region's `gateway` name and trusts its peers by it (README: "Several regions")."""
    peer_ca_key: str | None = None
    """A secret in each region's file: the fleet CA's private key (PEM), with which `pulumi up` issues the region's
    gateway certificate (`pulumi config set --secret llm-fleet:peerCaKey --stack <region> < fleet-ca.key`)."""
    # The quota is the cloud's, per project and region: GCP's NVIDIA_A100_GPUS etc. (`gcloud compute regions describe
    # <region>`, cloud.google.com/compute/resource-usage#gpu_quota), AWS's "Running On-Demand P instances" (in vCPUs).
    gpu_quota: dict[GpuKind, int] = Field(default={})
    """Per GPU kind, the GPUs the region's quota allows, e.g. `{A100-40GB: 16}`; `plan --tier` fails a region whose
    pools could grow past it. Default: none stated (not checked)."""
    traffic: Traffic | None = None
    """A typical week of traffic, `{timezone, peakHours, peakDays, models, tokensPerInference, training, rollout}`:
    the plan shows the expected cost (and, with `models[].throughput`, the cost per token) beside the minimum and
    maximum."""

    @field_validator("model_api_key")
    @classmethod
    def _long_key(cls, value: str | None) -> str | None:
        if value is not None and value != SECRET_PLACEHOLDER and len(value) < 32:
            raise ValueError(f"{len(value)} characters; allowed: 32 or more; make one with openssl rand -hex 32")
        return value

    @field_validator("current_rates")
    @classmethod
    def _known_providers(cls, value: CurrentRates) -> CurrentRates:
        return check_current_rates(value)

    @model_validator(mode="before")
    @classmethod
    def _stack_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        context = stack_context(info)
        if context is None or not isinstance(data, dict):
            return data
        filled = take_backend_keys(data)
        if context.cloud in SYSTEM_MACHINE_TYPE:
            filled.setdefault("systemPool", {})
        serving = filled.get("serving")
        if isinstance(serving, dict) and serving.get("expose") == "internal-load-balancer":
            # An internal load balancer is reachable from the stack's own network: that is the default client range.
            own = _own_network(filled, context)
            if own is not None and "apiClientCidrs" not in serving:
                filled["serving"] = {**serving, "apiClientCidrs": own}
        if "budget" not in filled and context.profile.default_budget_usd is not None:
            filled["budget"] = {"monthlyAmount": context.profile.default_budget_usd}
        return filled

    @property
    def models(self) -> tuple[Model, ...]:
        """The models served on the stack's own GPUs, in config order."""
        return tuple(m for m in self.declared_models if m.provider is None)

    @property
    def provider_models(self) -> tuple[Model, ...]:
        """The provider-only models (no GPU of the stack; the gateway routes them out)."""
        return tuple(m for m in self.declared_models if m.provider is not None)

    @property
    def profile(self) -> TierProfile:
        return TIER_PROFILES[self.tier]

    def pool(self, name: str) -> NodePool:
        return next(p for p in self.node_pools if p.name == name)

    def pool_for(self, gpu: GpuKind, pool: str | None, purpose: str) -> NodePool | None:
        """The pool a GPU workload lands on: the named one, else the first of that GPU kind and purpose."""
        if pool is not None:
            return next((p for p in self.node_pools if p.name == pool), None)
        candidates = [p for p in self.node_pools if p.gpu == gpu]
        return next((p for p in candidates if p.purpose == purpose), candidates[0] if candidates else None)

    def model_pool(self, model: Model) -> NodePool:
        """The model's preferred pool: its `pool`, the first rung of its `pools`, else the default for its GPU."""
        pool = self.pool_for(model.gpu, model.pools[0] if model.pools else model.pool, "serving")
        assert pool is not None, "validated in the cross-checks"
        return pool

    def model_pools(self, model: Model) -> tuple[NodePool, ...]:
        """Every pool the model may run on, in priority order: its ladder's rungs, or its one pool."""
        if model.pools is None:
            return (self.model_pool(model),)
        return tuple(self.pool(name) for name in model.pools)

    def adapter_root(self, model: Model) -> str | None:
        """Where `model`'s LoRA adapters are published (a URL), or None: the model serves no adapters."""
        if model.lora is None:
            return None
        return adapter_root(model.lora, self.training.checkpoint_bucket if self.training else None)

    @property
    def has_peers(self) -> bool:
        """A fleet region whose gateway falls back to other regions, or that other regions fall back to."""
        return any(f.peer is not None for m in self.declared_models for f in m.fallbacks) or \
            any(r.calls_me for r in self.regions)

    @property
    def own_region(self) -> Region | None:
        """A fleet region: its own entry in the fleet's `regions`."""
        return next((r for r in self.regions if r.own), None)

    def peer_networks(self) -> tuple[str, ...]:
        """A fleet region: the ranges of the regions that fall back to it, which its gateway admits."""
        return tuple(dict.fromkeys(n for r in self.regions if r.calls_me for n in r.networks))

    def compile_cache_url(self) -> str | None:
        """The shared compile cache's URL (serving.coldStart.compileCache resolved), or None: no shared cache."""
        return compile_cache_url(self.serving.cold_start, self.training.checkpoint_bucket if self.training else None)

    def ladders(self) -> tuple[tuple[str, ...], ...]:
        """The distinct capacity ladders (pool names in priority order), in the order their first model appears."""
        seen: dict[tuple[str, ...], None] = {}
        for model in self.models:
            if model.pools is not None:
                seen.setdefault(tuple(model.pools), None)
        return tuple(seen)


def _own_network(data: dict[str, Any], context: StackContext) -> list[Any] | None:
    """[the stack's own network range], as written (or defaulted) in its platform block: GKE's subnet, EKS's VPC.

    None without a platform block of ours (an existing cluster): its network is unknown.
    """
    block = data.get({"gke": "gcp", "eks": "aws"}.get(context.cloud, ""))
    if not isinstance(block, dict):
        return None
    if context.cloud == "gke":
        return [block.get("subnetCidr", Gcp.model_fields["subnet_cidr"].default)]
    return [block.get("vpcCidr", Aws.model_fields["vpc_cidr"].default)]
