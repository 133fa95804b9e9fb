"""Existing clusters (CoreWeave, on-prem, kind): no cloud resources, nodes found by their labels, honest notes."""

from __future__ import annotations

import json

import pytest

from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from tests.conftest import EXAMPLES_DIR, assert_one_config_error, run_cli, stack_config
from tests.k8s_schema import is_core, validate

STACK = "coreweave-prod"


@pytest.fixture
def plan(plan_of):
    return plan_of(STACK)


def test_existing_cluster_plans_cleanly_and_creates_no_cloud_resources(plan):
    assert plan.ok, [v for v in plan.verdicts if v.status != "pass"]
    types = {r.type for r in plan.resources}
    # random: the model API key, generated inside Pulumi's state (no cloud call).
    assert all(t.startswith(("kubernetes:", "llmfleet:", "pulumi:providers:kubernetes", "random:",
                             "pulumi:providers:random")) for t in types), types
    (provider,) = [r for r in plan.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["context"] == "coreweave-llm-prod"
    assert not [o for o in plan.manifests() if o["kind"] == "StorageClass"]


def test_the_plan_says_budget_alarms_cannot_be_created(plan):
    assert any("NO budget alarm is created" in n for n in plan.notes)
    result = run_cli("plan", "--stack", STACK, "-C", str(EXAMPLES_DIR), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["budget"]["name"] is None
    assert any("NO budget alarm is created" in n for n in doc["notes"])
    report = run_cli("plan", "--stack", STACK, "-C", str(EXAMPLES_DIR))
    assert "NO budget alarm is created" in report.stdout.replace("\n", " ")


def test_gpu_pods_select_coreweave_labels(plan):
    deployment = next(o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] ==
                      "vllm-qwen-7b")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"gpu.nvidia.com/class": "A100_NVLINK"}
    assert "tolerations" not in spec or spec["tolerations"] == []
    job = next(o for o in plan.manifests() if o["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"gpu.nvidia.com/class": "H100_NVLINK_80GB"}
    # Cluster services run anywhere (no system node labels configured).
    release = next(r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "keda")
    assert release.inputs["values"]["nodeSelector"] == {}


def test_gpu_operator_preset_and_configured_taints():
    raw = stack_config(STACK)
    raw["existing"] = {"context": "kind-llm", "priceAs": "eks", "gpuNodes": {
        "H100-80GB": {"taints": [{"key": "nvidia.com/gpu", "value": "present"}], "vcpus": 64, "memoryGib": 512}}}
    raw["pricing"] = {}
    raw["nodePools"][0].update(minNodes=4, maxNodes=12)  # 1-GPU nodes: the preset's default node size
    cfg = parse_stack_config(raw)
    facts = pool_facts(cfg)
    assert facts["a100-serving"].node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
    assert facts["a100-serving"].gpus_per_node == 1  # the GPU operator preset assumes nothing about node size
    h100 = facts["h100-training"]
    assert [(t.key, t.effect) for t in h100.taints] == [("nvidia.com/gpu", "NoSchedule")]
    # 64 vCPUs, 512 GiB less the kubelet reservations GKE documents (used for clusters we did not build):
    # 0.06 + 0.01 + 2 x 0.005 + 60 x 0.0025 = 0.23 cores; 1 + 0.8 + 0.8 + 6.72 + 0.02 x 384 = 17.0 GiB + 100 MiB.
    assert h100.allocatable_cpu == pytest.approx(63.77, abs=0.005)
    assert h100.allocatable_memory_gib == pytest.approx(494.90, abs=0.005)
    # Priced as EKS: what the same GPUs would cost there.
    cost = {p.pool: p for p in fleet_cost(cfg, facts).pools}
    assert cost["a100-serving"].node_hourly == pytest.approx(2.75)


def test_cost_uses_the_named_price_list():
    cfg = parse_stack_config(stack_config(STACK))
    cost = fleet_cost(cfg, pool_facts(cfg))
    pools = {p.pool: p for p in cost.pools}
    # CoreWeave lists the 8-GPU HGX H100 node at $49.24 per node-hour (read 2026-09-20, infra/providers.py).
    assert pools["h100-training"].node_hourly == pytest.approx(49.24)
    assert pools["a100-serving"].node_hourly == pytest.approx(8 * 2.06)  # the stack's pricing: override
    assert (pools["a100-serving"].gpus_paid_max, pools["a100-serving"].gpus_used_max) == (16, 12)
    assert "CoreWeave" in cost.prices_source


def test_existing_objects_are_schema_valid(plan):
    kinds = set()
    for obj in plan.manifests():
        if is_core(obj) or obj["kind"] == "ScaledObject":
            validate(obj)
            kinds.add(obj["kind"])
    assert {"Deployment", "PersistentVolumeClaim", "Job"} <= kinds
    claim = next(o for o in plan.manifests() if o["kind"] == "PersistentVolumeClaim")
    assert "storageClassName" not in claim["spec"]  # the cluster's default StorageClass


def _edit(fn):
    raw = stack_config(STACK)
    fn(raw)
    return raw


BAD_EXISTING = [
    ("pool zones on a cluster we do not build", lambda c: c["nodePools"][0].update(zones=["zone-a"]),
     ["llm-fleet:nodePools[0].zones = ['zone-a']", "creates no nodes", "remove it"]),
    ("missing kubeconfig", lambda c: c["existing"].pop("context"),
     ["llm-fleet:existing.kubeconfig: missing", "pulumi config set --path --secret 'llm-fleet:existing.kubeconfig'",
      "existing.context"]),
    ("GPU kind the preset has no label for", lambda c: (c["nodePools"][0].update(gpu="L4"),
                                                        c["models"][0].update(gpu="L4"),
                                                        c["pricing"].update({"L4": {"onDemand": 0.8}})),
     ["llm-fleet:nodePools[0].gpu = 'L4'", "preset 'coreweave' has no node label for L4",
      "existing.gpuNodes.L4.labels"]),
    ("no price list", lambda c: c["existing"].pop("priceAs"),
     ["llm-fleet:existing.priceAs: missing", "coreweave"]),
    ("a price list without that GPU", lambda c: c.pop("pricing"),
     ["llm-fleet:existing.priceAs = 'coreweave'", "no price for A100-40GB", "pricing.A100-40GB.onDemand"]),
    ("a machine type for a GPU pool", lambda c: c["nodePools"][0].update(machineType="p4d.24xlarge"),
     ["llm-fleet:nodePools[0]", "existing.gpuNodes.A100-40GB"]),
    ("unknown preset", lambda c: c["existing"].update(preset="lambda"),
     ["llm-fleet:existing.preset = 'lambda'", "'nvidia-gpu-operator' or 'coreweave'"]),
]


@pytest.mark.parametrize(("case", "edit", "fragments"), BAD_EXISTING, ids=[c[0] for c in BAD_EXISTING])
def test_bad_existing_config_is_one_clear_line(case, edit, fragments):
    assert_one_config_error(_edit(edit), fragments)


def test_cli_refuses_a_missing_kubeconfig(make_stack):
    root, name = make_stack(STACK, lambda c: c["existing"].pop("context"))
    result = run_cli("plan", "--stack", name, "--cwd", str(root))
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("config error: llm-fleet:existing.kubeconfig: missing")


def test_a_secret_kubeconfig_stays_secret(make_stack):
    from infra.plan import read_stack_file, run_plan

    def secret(c):
        c["existing"].pop("context")
        c["existing"]["kubeconfig"] = {"secure": "v1:abc"}

    root, name = make_stack(STACK, secret)
    _, secret_keys = read_stack_file(name, root)
    assert secret_keys == ["llm-fleet:existing"]
    plan = run_plan(name, root)
    (provider,) = [r for r in plan.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider.inputs["kubeconfig"] == "[secret]" and "context" not in provider.inputs
