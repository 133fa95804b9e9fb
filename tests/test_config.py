"""The stack config model: shipped stacks parse, tier defaults apply, every bad input gets one clear line."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.config import ConfigError, parse_stack_config
from tests.conftest import STACKS, assert_one_config_error, run_cli, stack_config


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_are_valid(stack):
    cfg = parse_stack_config(stack_config(stack))
    assert cfg.tier == stack


def test_prod_expresses_the_target_fleet():
    cfg = parse_stack_config(stack_config("prod"))
    a100 = [p for p in cfg.node_pools if p.gpu and p.gpu.value.startswith("A100")]
    assert len(a100) == 1
    assert (a100[0].min_nodes * a100[0].gpus_per_node, a100[0].max_gpus) == (4, 12)
    assert [p.gpu.value for p in cfg.node_pools if p.purpose == "training"] == ["H100-80GB"]
    assert cfg.training is not None and cfg.training.gpus == 1
    # ~100 CPU cores of rollouts: up to 4 n2-standard-32 nodes (128 vCPUs) for 100 one-core workers.
    rollout = cfg.pool(cfg.rollout.pool)
    assert (rollout.machine_type, rollout.max_nodes) == ("n2-standard-32", 4)
    assert (cfg.rollout.replicas.max, cfg.rollout.cpu_per_worker) == (100, 1)


def test_dev_defaults_are_spot_and_scale_to_zero():
    cfg = parse_stack_config(stack_config("dev"))
    assert all(p.capacity == "spot" and p.min_nodes == 0 for p in cfg.node_pools)
    assert all(m.replicas.min == 0 for m in cfg.models)


def test_staging_defaults_are_spot_with_one_warm_node():
    raw = stack_config("staging")
    cfg = parse_stack_config(raw)
    serving = cfg.pool("a100-serving")
    assert "minNodes" not in next(p for p in raw["nodePools"] if p["name"] == "a100-serving")
    assert (serving.capacity, serving.min_nodes) == ("spot", 1)


def test_prod_defaults_are_on_demand_and_protected():
    raw = stack_config("prod")
    for pool in raw["nodePools"]:
        pool.pop("capacity", None) if pool["name"] == "rollout" else None
    cfg = parse_stack_config(raw)
    assert cfg.pool("rollout").capacity == "on-demand"
    assert cfg.profile.protect is True
    assert parse_stack_config(stack_config("dev")).profile.protect is False


def test_explicit_values_beat_tier_defaults():
    raw = stack_config("dev")
    raw["nodePools"][0]["capacity"] = "on-demand"
    raw["nodePools"][0]["minNodes"] = 1
    cfg = parse_stack_config(raw)
    assert (cfg.node_pools[0].capacity, cfg.node_pools[0].min_nodes) == ("on-demand", 1)


def _edit(stack: str, fn) -> dict[str, Any]:
    raw = copy.deepcopy(stack_config(stack))
    fn(raw)
    return raw


def _set(path: list, value):
    def fn(raw):
        node = raw
        for part in path[:-1]:
            node = node[part]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return fn


_DELETE = object()

# (case, stack, edit, [fragments every message must contain])
BAD_CONFIGS = [
    ("unknown GPU kind", "prod", _set(["nodePools", 0, "gpu"], "A200"),
     ["llm-fleet:nodePools[0].gpu", "'A200'", "A100-40GB", "H100-80GB", "L4"]),
    ("pool min > max", "prod", _set(["nodePools", 0, "minNodes"], 20),
     ["llm-fleet:nodePools[0]", "minNodes=20", "maxNodes=12"]),
    ("replicas min > max", "prod", _set(["models", 0, "replicas"], {"min": 5, "max": 2}),
     ["llm-fleet:models[0].replicas", "min=5", "max=2"]),
    ("tensor parallel larger than GPUs per node", "prod", _set(["models", 0, "tensorParallelSize"], 2),
     ["llm-fleet:models[0].tensorParallelSize = 2", "1 GPU(s) per node", "'a100-serving'", "allowed: 1..1"]),
    ("model on a GPU kind no pool provides", "prod", _set(["models", 0, "gpu"], "L4"),
     ["llm-fleet:models[0].gpu = 'L4'", "no node pool provides", "A100-40GB, H100-80GB"]),
    ("weights do not fit", "prod", _set(["models", 0, "parameters"], "70B"),
     ["llm-fleet:models[0].parameters", "140.0 GB", "do not fit 1 x A100-40GB", "28.8 GB usable"]),
    ("prod without a budget", "prod", _set(["budget"], _DELETE),
     ["llm-fleet:budget: missing", "tier 'prod' requires a budget"]),
    ("budget <= 0", "prod", _set(["budget", "monthlyAmount"], 0),
     ["llm-fleet:budget.monthlyAmount = 0", "greater than 0"]),
    ("negative budget", "dev", _set(["budget", "monthlyAmount"], -5),
     ["llm-fleet:budget.monthlyAmount = -5", "greater than 0"]),
    ("malformed e-mail", "prod", _set(["budget", "emails"], ["ml-platform@acme.example", "finops-at-acme"]),
     ["llm-fleet:budget.emails[1] = 'finops-at-acme'", "email"]),
    ("reservation pool without a reservation name", "prod", _set(["nodePools", 0, "capacity"], "reservation"),
     ["llm-fleet:nodePools[0]", "reservation", "reservation name"]),
    ("a reservation on a spot pool", "prod", _set(["nodePools", 1, "reservation"], "h100-block"),
     ["llm-fleet:nodePools[1]", "reservation='h100-block'", "capacity='spot'", "allowed: capacity: reservation"]),
    ("pool zone outside the cluster's", "prod", _set(["nodePools", 0, "zones"], ["us-central1-b"]),
     ["llm-fleet:nodePools[0].zones = ['us-central1-b']", "not in gcp.zones", "allowed: distinct zones among"]),
    ("a duplicate budget threshold", "prod", _set(["budget", "thresholds"], [0.5, 0.9, 0.5]),
     ["llm-fleet:budget.thresholds = [0.5, 0.9, 0.5]", "0.5 listed twice", "allowed: distinct shares"]),
    ("unknown key", "prod", _set(["nodePools", 0, "gpuCount"], 2),
     ["llm-fleet:nodePools[0].gpuCount", "unknown key"]),
    ("unknown top-level key", "dev", _set(["budgets"], {"monthlyAmount": 3}),
     ["llm-fleet:budgets", "unknown key"]),
    ("unknown tier", "dev", _set(["tier"], "qa"),
     ["llm-fleet:tier = 'qa'", "allowed: 'dev', 'staging' or 'prod'"]),
    ("unpinned Hugging Face model", "prod", _set(["artifacts", "modelRevisions"], {}),
     ["llm-fleet:artifacts.modelRevisions.qwen-7b: missing", "revision"]),
    ("GPUs per node the machine family lacks", "prod", _set(["nodePools", 0, "gpusPerNode"], 3),
     ["llm-fleet:nodePools[0]", "gpusPerNode=3", "allowed: 1, 2, 4, 8"]),
    ("on-demand 1-GPU H100", "prod", _set(["nodePools", 1, "capacity"], "on-demand"),
     ["llm-fleet:nodePools[1]", "a3-highgpu-1g", "spot capacity only"]),
    ("model replicas beyond the pool", "prod", _set(["models", 0, "replicas", "max"], 16),
     ["llm-fleet:models[0].replicas.max = 16", "needs 16 GPUs", "at most 12"]),
    ("zone outside the region", "prod", _set(["gcp", "zones"], ["us-east1-b"]),
     ["llm-fleet:gcp", "'us-east1-b' is not a zone of region 'us-central1'"]),
    ("malformed parameter count", "prod", _set(["models", 0, "parameters"], "lots"),
     ["llm-fleet:models[0].parameters = 'lots'", "'8B'"]),
    ("CPU pool with an unpriced shape", "prod", _set(["nodePools", 2, "machineType"], "m1-ultramem-40"),
     ["llm-fleet:nodePools[2]", "'m1-ultramem-40'", "standard|highmem|highcpu"]),
    ("rollout on a GPU pool", "prod", _set(["rollout", "pool"], "a100-serving"),
     ["llm-fleet:rollout.pool = 'a100-serving'", "CPU pool"]),
    ("budget without a billing account", "prod", _set(["gcp", "billingAccount"], _DELETE),
     ["llm-fleet:gcp.billingAccount: missing"]),
    ("existing cluster without its block", "dev", _set(["cloud"], "existing"),
     ["llm-fleet:existing: missing", "cloud 'existing' needs existing.kubeconfig (a secret) or existing.context"]),
]


@pytest.mark.parametrize(("case", "stack", "edit", "fragments"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_one_clear_line(case, stack, edit, fragments):
    with pytest.raises(ConfigError) as err:
        parse_stack_config(_edit(stack, edit))
    lines = err.value.problems
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert lines[0].startswith("config error: llm-fleet:")


@pytest.mark.parametrize(("case", "stack", "edit", "fragments"),
                         [c for c in BAD_CONFIGS
                          if c[0] in ("unknown GPU kind", "weights do not fit", "prod without a budget")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_cli_refuses_bad_config_before_declaring_anything(case, stack, edit, fragments, make_stack):
    root, name = make_stack(stack, edit)
    result = run_cli("plan", "--stack", name, "--cwd", str(root))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # nothing planned, nothing printed
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragments[0] in lines[0]


def test_unknown_stack_names_the_stacks_there():
    result = run_cli("plan", "--stack", "qa")
    assert result.returncode == 2
    assert "Pulumi.qa.yaml" in result.stderr and "dev, prod, staging" in result.stderr


def test_several_problems_are_all_reported():
    raw = stack_config("prod")
    raw["nodePools"][0]["gpu"] = "A200"
    raw["budget"]["emails"] = ["nope"]
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    assert len(err.value.problems) == 2


# No per-example deadline: a busy CI machine made the first example (imports, schema build) take over 200 ms.
@settings(deadline=None)
@given(min_nodes=st.integers(0, 40), max_nodes=st.integers(0, 40))
def test_pool_bounds_property(min_nodes, max_nodes):
    raw = stack_config("dev")
    raw["nodePools"][2].update(minNodes=min_nodes, maxNodes=max_nodes)  # the CPU rollout pool
    if min_nodes > max_nodes:
        with pytest.raises(ConfigError, match=r"nodePools\[2\]"):
            parse_stack_config(raw)
    else:
        pool = parse_stack_config(raw).pool("rollout")
        assert (pool.min_nodes, pool.max_nodes) == (min_nodes, max_nodes)


# An A100-80GB leaves vLLM 80 GB x 0.90 (its memory cap) x 0.80 (20 % kept for KV cache and activations) = 57.6 GB
# of weights per GPU; weights are parameters x bytes per parameter (bf16 2, fp8 1, int4 0.5, float32 4).
WEIGHT_CASES = [
    (28, "bfloat16", 1, True),  # 56 GB <= 57.6
    (29, "bfloat16", 1, False),  # 58 GB > 57.6
    (14, "float32", 1, True),  # 56 GB
    (15, "float32", 1, False),  # 60 GB
    (120, "int4", 1, False),  # 60 GB > 57.6
    (120, "int4", 2, True),  # 60 GB <= 115.2
    (70, "bfloat16", 2, False),  # 140 GB > 115.2
    (70, "bfloat16", 4, True),  # 140 GB <= 230.4
    (70, "fp8", 2, True),  # 70 GB <= 115.2
    (405, "fp8", 8, True),  # 405 GB <= 460.8
    (405, "bfloat16", 8, False),  # 810 GB > 460.8
]


@pytest.mark.parametrize(("params_b", "dtype", "tp", "fits"), WEIGHT_CASES)
def test_a_model_is_accepted_exactly_when_its_weights_fit(params_b, dtype, tp, fits):
    raw = stack_config("prod")
    # a2-ultragpu is sold in us-central1-a and -c only (catalog.GPU_FAMILY_ZONES)
    raw["nodePools"][0].update(gpu="A100-80GB", gpusPerNode=8, minNodes=0, maxNodes=2,
                               zones=["us-central1-a", "us-central1-c"])
    raw["models"][0].update(gpu="A100-80GB", parameters=params_b * 1e9, dtype=dtype, tensorParallelSize=tp,
                            replicas={"min": 1, "max": 1})
    if fits:
        assert parse_stack_config(raw).models[0].tensor_parallel_size == tp
    else:
        with pytest.raises(ConfigError, match="do not fit") as err:
            parse_stack_config(raw)
        assert f"({57.6 * tp:.1f} GB usable" in str(err.value), str(err.value)


def test_an_error_under_a_gpu_kind_key_names_the_kind():
    """GPU kinds are keys users write (`pricing.A100-40GB`): the error path keeps them, though they are capitalised
    like the model class names pydantic puts in some error locations."""
    raw = stack_config("prod")
    raw["pricing"] = {"A100-40GB": {"onDemand": "cheap"}}
    assert_one_config_error(raw, ["llm-fleet:pricing.A100-40GB.onDemand = 'cheap'", "allowed: a number"])
