"""Every shipped stack, run end to end through the real program under Pulumi's mock engine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, run_cli

NODE_POOL = "gcp:container/nodePool:NodePool"


def node_pools(plan) -> dict[str, dict]:
    return {r.name.removeprefix("gke-pool-"): r.inputs for r in plan.of_type(NODE_POOL)}


def test_every_stack_plans_cleanly(shipped_plan):
    assert shipped_plan.ok, shipped_plan.verdicts
    types = {r.type for r in shipped_plan.resources}
    assert {"gcp:container/cluster:Cluster", NODE_POOL, "gcp:billing/budget:Budget",
            "gcp:artifactregistry/repository:Repository", "pulumi:providers:kubernetes"} <= types
    # Every resource hangs under a component of ours: nothing is declared loose on the stack.
    top = {r.type for r in shipped_plan.resources if r.parent == ""}
    assert all(t.startswith("llmfleet:") for t in top), top


def test_prod_a100_pool_is_warm_4_and_autoscales_to_12(plan_of):
    pool = node_pools(plan_of("prod"))["a100-serving"]
    autoscaling = pool["autoscaling"]
    accel = pool["nodeConfig"]["guestAccelerators"][0]
    gpus = accel["count"]
    assert (autoscaling["totalMinNodeCount"] * gpus, autoscaling["totalMaxNodeCount"] * gpus) == (4, 12)
    assert "minNodeCount" not in autoscaling  # per-zone bounds would multiply by the zone count
    assert accel["type"] == "nvidia-tesla-a100"  # GKE's accelerator name for the A100 40GB
    assert accel["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"
    assert pool["nodeConfig"]["spot"] is False
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in pool["nodeConfig"]["taints"]
    assert pool["nodeConfig"]["labels"]["llm-fleet.dev/pool"] == "a100-serving"


def test_prod_has_one_h100_for_training_and_a_rollout_cpu_pool(plan_of):
    pools = node_pools(plan_of("prod"))
    h100 = pools["h100-training"]
    assert h100["nodeConfig"]["guestAccelerators"][0]["type"] == "nvidia-h100-80gb"
    assert h100["nodeConfig"]["guestAccelerators"][0]["count"] * h100["autoscaling"]["totalMaxNodeCount"] == 1
    assert h100["nodeConfig"]["ephemeralStorageLocalSsdConfig"]["localSsdCount"] == 2  # bundled NVMe used
    rollout = pools["rollout"]
    assert "guestAccelerators" not in rollout["nodeConfig"]
    assert rollout["nodeConfig"]["machineType"] == "n2-standard-32"
    assert "system" in pools


def test_dev_pools_are_spot_and_scale_to_zero(plan_of):
    pools = node_pools(plan_of("dev"))
    for name, pool in pools.items():
        if name == "system":
            continue
        assert pool["nodeConfig"]["spot"] is True, name
        assert pool["autoscaling"]["totalMinNodeCount"] == 0, name


def test_budget_has_its_thresholds_channels_and_topic(plan_of):
    plan = plan_of("prod")
    (budget,) = plan.of_type("gcp:billing/budget:Budget")
    b = budget.inputs
    assert b["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": "45000"}
    rules = {(r["thresholdPercent"], r["spendBasis"]) for r in b["thresholdRules"]}
    assert rules == {(0.5, "CURRENT_SPEND"), (0.9, "CURRENT_SPEND"), (1.0, "CURRENT_SPEND"),
                     (1.0, "FORECASTED_SPEND")}
    assert b["budgetFilter"]["labels"] == {"llm-fleet-stack": "prod"}
    channels = plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == [
        "finops@acme.example", "ml-platform@acme.example"]
    # Every budget update goes to both e-mail channels and to the stack's own Pub/Sub topic (for automation).
    (topic,) = plan.of_type("gcp:pubsub/topic:Topic")
    assert (topic.inputs["name"], topic.inputs["project"]) == ("llm-fleet-prod-budget", "acme-llm-prod")
    assert sorted(budget.property_dependencies["allUpdatesRule"]) == sorted([topic.urn, *(c.urn for c in channels)])


def test_stateful_resources_are_protected_in_prod_only(plan_of):
    stateful = {"gcp:container/cluster:Cluster", "gcp:artifactregistry/repository:Repository"}
    for stack, expected in (("prod", True), ("dev", False)):
        plan = plan_of(stack)
        for r in plan.resources:
            if r.type in stateful:
                assert r.protect is expected, (stack, r.name)
        (cluster,) = plan.of_type("gcp:container/cluster:Cluster")
        assert cluster.inputs["deletionProtection"] is expected


def test_cluster_is_vpc_native_private_with_workload_identity(plan_of):
    (cluster,) = plan_of("prod").of_type("gcp:container/cluster:Cluster")
    c = cluster.inputs
    assert c["removeDefaultNodePool"] is True
    assert c["networkingMode"] == "VPC_NATIVE"
    assert c["workloadIdentityConfig"]["workloadPool"] == "acme-llm-prod.svc.id.goog"
    assert c["releaseChannel"]["channel"] == "STABLE"
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    (nat,) = plan_of("prod").of_type("gcp:compute/routerNat:RouterNat")  # private nodes need NAT to pull images
    # and a node's share of ports grows with a failover's connections to one provider (64 at once otherwise)
    assert nat.inputs["enableDynamicPortAllocation"] is True and nat.inputs["maxPortsPerVm"] >= 4096
    assert nat.inputs["enableEndpointIndependentMapping"] is False
    # Issue 17 (dev nodes with public IPs): dev's nodes are private too, behind the same NAT.
    (dev_cluster,) = plan_of("dev").of_type("gcp:container/cluster:Cluster")
    assert dev_cluster.inputs["privateClusterConfig"]["enablePrivateNodes"] is True


def test_cli_json_has_pools_cost_and_budget():
    result = run_cli("plan", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    pools = {p["name"]: p for p in doc["pools"]}
    assert (pools["a100-serving"]["minGpus"], pools["a100-serving"]["maxGpus"]) == (4, 12)
    assert pools["h100-training"]["gpu"] == "H100-80GB"
    assert pools["rollout"]["gpu"] is None
    assert doc["budget"]["monthlyAmount"] == 45000 and doc["budget"]["name"] == "llm-fleet-prod"
    daily = doc["cost"]["daily"]
    assert 0 < daily["min"] < daily["max"]
    assert {a["name"] for a in doc["cost"]["alternatives"]} == {"Modal", "RunPod", "RunPod Serverless", "CoreWeave",
                                                                  "Lambda"}
    # Only the control plane's documentation ranges, placeholders in the shipped file, are not a pass.
    assert {g["guard"]: g["status"] for g in doc["guards"] if g["status"] != "pass"} == {
        "no-example-network-ranges": "warn"}
    assert doc["outputs"]["pools"]["a100-serving"]["gpu"] == "A100-40GB"
    assert doc["outputs"]["kubeconfig"] == "[secret]"


def test_cli_report_and_out_dir(tmp_path):
    result = run_cli("plan", "--stack", "dev", "--out", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    for text in ("GkePlatform", "l4-serving", "Cost", "Modal", "PASS budget-covers-max-fleet"):
        assert text in result.stdout
    files = {f.name: f for f in (tmp_path / "m").glob("*.yaml")}
    assert yaml.safe_load(files["storageclass-llm-fleet-ssd.yaml"].read_text())["volumeBindingMode"] == \
        "WaitForFirstConsumer"
    deployment = yaml.safe_load(files["deployment-llm-serving-vllm-qwen-1b5.yaml"].read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "scaledobject-llm-serving-vllm-qwen-1b5.yaml" in files


def test_over_budget_prod_fails_the_guard_and_exits_1(make_stack):
    root, name = make_stack("prod", lambda c: c["budget"].update(monthlyAmount=20000))
    result = run_cli("plan", "--stack", name, "--cwd", str(root), "--json")
    assert result.returncode == 1
    guards = {g["guard"]: g for g in json.loads(result.stdout)["guards"]}
    assert guards["budget-covers-max-fleet"]["status"] == "fail"
    assert "exceeds budget.monthlyAmount 20,000 USD" in guards["budget-covers-max-fleet"]["message"]


def test_over_budget_dev_only_warns(make_stack):
    root, name = make_stack("dev", lambda c: c["budget"].update(monthlyAmount=100))
    result = run_cli("plan", "--stack", name, "--cwd", str(root), "--json")
    assert result.returncode == 0
    guards = {g["guard"]: g["status"] for g in json.loads(result.stdout)["guards"]}
    assert guards["budget-covers-max-fleet"] == "warn"


def test_pulumi_up_path_refuses_a_failing_guard(make_stack):
    """The same program under `pulumi up` (enforce_guards) stops before declaring a resource."""
    from infra import program
    from infra.config import parse_stack_config
    from tests.conftest import stack_config

    raw = stack_config("prod")
    raw["nodePools"].append({"name": "idle-l4", "gpu": "L4", "minNodes": 0, "maxNodes": 1, "zones": ["us-central1-a"]})
    cfg = parse_stack_config(raw)
    with pytest.raises(program.GuardError, match="idle-l4"):
        program.run(cfg)


def test_secure_values_are_masked_not_decrypted(make_stack):
    from infra.plan import read_stack_file

    root, name = make_stack("dev", lambda c: c.update(hfToken={"secure": "v1:abc"}))
    config, secret_keys = read_stack_file(name, root)
    assert config["llm-fleet:hfToken"] == "[secret]" and secret_keys == ["llm-fleet:hfToken"]


def test_pulumi_entry_point_declares_what_the_plan_shows(plan_of):
    """Run `infra/` the way Pulumi's Python host does (runpy on the folder) and compare with the plan."""
    import runpy

    from infra import sdk
    from infra.plan import ROOT, mock_engine

    with mock_engine("prod") as (_, monitor):
        sdk.run_program(lambda: runpy.run_path(str(ROOT / "infra"), run_name="__main__"))

    declared = sorted((r.type, r.name, r.protect) for r in monitor.planned)
    planned = sorted((r.type, r.name, r.protect) for r in plan_of("prod").resources)
    assert declared == planned
    assert monitor.stack_outputs["pools"]["a100-serving"]["maxNodes"] == 12


def test_plan_runs_after_asyncio_run_left_the_thread_without_an_event_loop():
    """`asyncio.run` (the serving tests, any async caller) leaves no current loop; a plan must not care."""
    import asyncio

    from infra.plan import run_plan

    asyncio.run(asyncio.sleep(0))
    plan = run_plan("dev")
    assert plan.ok and plan.of_type("gcp:container/cluster:Cluster")


def test_a_refused_stack_file_leaves_the_process_able_to_plan_again(make_stack):
    """Promotion plans several stacks in one process: a refused one must not hang the next."""
    root, name = make_stack("prod", lambda c: c["nodePools"][0].update(gpu="A200"))
    script = (f"from pathlib import Path\nfrom infra.config import ConfigError\nfrom infra.plan import run_plan\n"
              f"try:\n    run_plan({name!r}, Path({str(root)!r}))\nexcept ConfigError:\n    pass\n"
              f"print(run_plan('prod').ok)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "True", result.stderr
    assert "Task was destroyed" not in result.stderr
