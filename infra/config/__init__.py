"""The stack's configuration: one typed, validated model, read once.

Owns the schema of every `llm-fleet:*` key in `Pulumi.<stack>.yaml`, the tier profiles (every tier
default lives in `TIER_PROFILES` and nowhere else), the checks that stop a bad stack before any
resource is declared, and the one-line error format. Nothing else in the project reads Pulumi config.

  base       the base model, ConfigError, shared value types, CIDR checks
  tiers      TierProfile and TIER_PROFILES
  context    the validation context (tier profile, cloud) each block's defaults are read from
  pools      node pools, the system pool, a GPU pool's machine shape
  workloads  models, the training job, the rollout workers
  serving    how models are served and exposed
  access     who may reach the cluster API and the model API (controlPlane)
  budget     budget, price overrides, alert receivers
  artifacts  the versions pulled at deploy time
  gcp / aws / existing   each platform's block and the rules only it has
  stack      StackConfig, the whole stack
  checks     the checks that span blocks
  peer_dns   a fleet region's gateway-peers load balancer: whether there is one, its DNS record's rules
  structure  the namespace, tier, cloud and platform block, checked first and reported alone
  networks / schedules   IPv4 ranges and their overlaps; cron expressions (cronsim) and time zones (zoneinfo)
  secrets    plaintext secrets (refused outside dev, warned in dev) and gated models without a token
  messages   pydantic's errors in plain words (no regexes, no class names), nearest keys and values
  stackfile  the stack file's YAML: syntax errors with their line, keys given twice, the `config:` wrapper
  loading    engine values → StackConfig, or one-line errors

This package re-exports what the rest of the project imports from `infra.config`.
"""

from infra.config.access import RUNNER_ADVICE
from infra.config.base import ANY_ADDRESS, NAMESPACE, ConfigError
from infra.config.existing import Existing, existing_node_size
from infra.config.loading import load_config, parse_engine_config, parse_stack_config
from infra.config.pools import NodePool, Taint, gpu_pool_shape
from infra.config.serving import WorkingHours
from infra.config.stack import StackConfig
from infra.config.tiers import TIER_PROFILES
from infra.config.workloads import (
    BYTES_PER_PARAMETER,
    GPU_MEMORY_UTILIZATION,
    WEIGHT_HEADROOM,
    Model,
    Rollout,
    Training,
)

__all__ = [
    "ANY_ADDRESS",
    "BYTES_PER_PARAMETER",
    "GPU_MEMORY_UTILIZATION",
    "NAMESPACE",
    "RUNNER_ADVICE",
    "TIER_PROFILES",
    "WEIGHT_HEADROOM",
    "ConfigError",
    "Existing",
    "Model",
    "NodePool",
    "Rollout",
    "StackConfig",
    "Taint",
    "Training",
    "WorkingHours",
    "existing_node_size",
    "gpu_pool_shape",
    "load_config",
    "parse_engine_config",
    "parse_stack_config",
]
