"""The policy pack calls the guards `plan` calls: fed a real offline plan's resources, it reaches the same verdicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra import sdk
from infra.config import parse_engine_config
from infra.guards import config_guards, resource_guards
from infra.guards.base import StackPlan
from infra.plan import ROOT, read_stack_file, run_plan
from infra.policy import (
    PROJECT,
    UNKNOWN,
    planned_resources,
    policies,
    policies_for_running_stack,
    running_config,
)
from infra.program import stack_plan as config_plan

STACK_URN = "urn:pulumi:prod::llm-fleet::pulumi:pulumi:Stack::llm-fleet-prod"


def as_policy_resources(plan, edit=None) -> list[PolicyResource]:
    """What the engine hands a stack policy: type, name, URN, props, protect, parent, provider, dependencies and
    custom timeouts, from the offline plan."""
    stack = PolicyResource(STACK_URN.rsplit("::", 2)[1], {}, STACK_URN, "llm-fleet-prod",
                           PolicyResourceOptions(False, [], None, [], None, [], None), None, None, [], {})
    by_urn, out = {}, [stack]
    for r in plan.resources:
        props = copy.deepcopy(r.inputs)
        if edit is not None:
            edit(r, props)
        timeouts = PolicyCustomTimeouts(*(r.custom_timeouts.get(op, 0) for op in ("create", "update", "delete")))
        opts = PolicyResourceOptions(r.protect, [], None, [], timeouts, [], r.parent or STACK_URN)
        provider = by_urn.get(r.provider)
        provider_ref = (PolicyProviderResource(provider.resource_type, provider.props, provider.urn, provider.name)
                        if provider is not None else None)
        resource = PolicyResource(r.type, unknown_checking_proxy(props), r.urn, r.name, opts, provider_ref,
                                  by_urn.get(r.parent, stack), [by_urn[u] for u in r.dependencies],
                                  {k: [by_urn[u] for u in urns] for k, urns in r.property_dependencies.items()})
        by_urn[r.urn] = resource
        out.append(resource)
    return out


def run_policies(cfg, resources) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for policy in policies(cfg):
        reported: list[str] = []
        policy.validate(StackValidationArgs(resources), lambda message, urn=None, out=reported: out.append(message))
        found[policy.name] = reported
    return found


def verdicts_of(plan, resources) -> dict[str, str]:
    """What `plan` concludes, by guard function name, on the same resources."""
    base = config_plan(plan.cfg)
    with_resources = StackPlan(plan.cfg, base.pools, base.cost, planned_resources(resources)[0])
    return {g.__name__.replace("_", "-"): g(with_resources).status for g in config_guards() + resource_guards()}


def test_the_pack_sees_the_resources_plan_sees(shipped_plan):
    converted, unknown = planned_resources(as_policy_resources(shipped_plan))
    assert unknown is False
    assert list(converted) == shipped_plan.resources  # inputs, parents, protect and component flags alike


def test_shipped_stacks_pass_every_policy_and_prod_is_mandatory(shipped_plan):
    found = run_policies(shipped_plan.cfg, as_policy_resources(shipped_plan))
    assert found == {name: [] for name in found}
    assert len(found) == len(config_guards() + resource_guards())
    expected = EnforcementLevel.MANDATORY if shipped_plan.cfg.tier == "prod" else EnforcementLevel.ADVISORY
    assert {p.enforcement_level for p in policies(shipped_plan.cfg)} == {expected}


def _no_tolerations(r, props):
    if props.get("kind") == "Deployment" and props["metadata"]["name"] == "vllm-qwen-7b":
        props["spec"]["template"]["spec"].pop("tolerations")


def _tagged_rollout_image(r, props):
    if props.get("kind") == "Deployment" and props["metadata"]["name"] == "rollout-worker":
        props["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/rollout-worker:latest"


@pytest.mark.parametrize(("stack", "edit", "policy", "status", "message"), [
    ("prod", _no_tolerations, "gpu-pods-select-and-tolerate-their-pool", "fail",
     "does not tolerate nvidia.com/gpu=present:NoSchedule of pool a100-serving"),
    ("staging", _tagged_rollout_image, "images-pinned-by-digest", "fail",
     "images not pinned by digest: registry.example/rollout-worker:latest"),
    ("dev", _tagged_rollout_image, "images-pinned-by-digest", "warn",
     "warning: images not pinned by digest: registry.example/rollout-worker:latest"),
])
def test_a_broken_resource_fails_in_plan_and_in_the_pack(plan_of, stack, edit, policy, status, message):
    plan = plan_of(stack)
    resources = as_policy_resources(plan, edit)
    verdicts = verdicts_of(plan, resources)
    assert verdicts[policy] == status
    # Besides the break, only what the shipped file holds on purpose: prod's documentation ranges (placeholders).
    shipped = {"no-example-network-ranges"} if stack == "prod" else set()
    assert {name for name, s in verdicts.items() if s != "pass"} == {policy} | shipped
    found = run_policies(plan.cfg, resources)
    assert [m for m in found[policy] if message in m], found[policy]
    assert {name for name, reported in found.items() if reported} == {policy}  # a mandatory pack reports no WARN


def test_unknown_values_are_marked_not_guessed(plan_of):
    def unknown_image(r, props):
        if props.get("kind") == "Deployment" and props["metadata"]["name"] == "vllm-qwen-7b":
            props["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE

    converted, unknown = planned_resources(as_policy_resources(plan_of("prod"), unknown_image))
    assert unknown is True
    (deployment,) = [r for r in converted if r.inputs.get("kind") == "Deployment" and r.name.startswith("model-")]
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == UNKNOWN


@pytest.fixture
def no_program_config():
    """A policy pack process has no program config of its own; earlier plans in this process left some."""
    with sdk.no_explicit_config():
        yield


def test_the_pack_reads_the_stack_config_the_engine_hands_it(monkeypatch, no_program_config):
    config, _ = read_stack_file("prod", ROOT)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    pack = policies_for_running_stack()
    assert {p.enforcement_level for p in pack} == {EnforcementLevel.MANDATORY}

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**config, "llm-fleet:tier": "qa"}))
    (broken,) = policies_for_running_stack()
    reported: list[str] = []
    broken.validate(StackValidationArgs([]), lambda message, urn=None: reported.append(message))
    assert broken.enforcement_level == EnforcementLevel.MANDATORY
    assert reported == ["config error: llm-fleet:tier = 'qa': allowed: 'dev', 'staging' or 'prod'"]


def test_the_pack_process_answers_the_engine_over_grpc(plan_of):
    """`infra/policy/__main__.py` as the Pulumi CLI runs it (python -u): a gRPC analyzer, our policies, verdicts."""
    import subprocess
    import sys

    import grpc
    from google.protobuf import empty_pb2, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    plan = plan_of("prod")
    config, _ = read_stack_file("prod", ROOT)
    env = {"PULUMI_CONFIG": json.dumps(config), "PATH": "/usr/bin:/bin"}
    pack = subprocess.Popen([sys.executable, "-u", str(ROOT / "infra" / "policy" / "__main__.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(pack.stdout.readline())
        analyzer = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
        assert info.name == "llm-fleet-guards"
        assert {p.name for p in info.policies} == set(run_policies(plan.cfg, []))
        assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}

        def request(edit=None):
            resources = []
            for r in plan.resources:
                props = copy.deepcopy(r.inputs)
                if edit is not None:
                    edit(r, props)
                properties = struct_pb2.Struct()
                properties.update(props)
                # The engine also sends what each resource waits for: dependencies, provider, per-input deps.
                provider = next((p for p in plan.resources if p.urn == r.provider), None)
                resources.append(analyzer_pb2.AnalyzerResource(
                    type=r.type, properties=properties, urn=r.urn, name=r.name, parent=r.parent,
                    options=analyzer_pb2.AnalyzerResourceOptions(
                        protect=r.protect, customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
                            **r.custom_timeouts)),
                    dependencies=list(r.dependencies),
                    provider=analyzer_pb2.AnalyzerProviderResource(type=provider.type, urn=provider.urn,
                                                                   name=provider.name) if provider else None,
                    propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                                          for k, v in r.property_dependencies.items()}))
            return analyzer_pb2.AnalyzeStackRequest(resources=resources)

        assert list(analyzer.AnalyzeStack(request(), timeout=60).diagnostics) == []
        (diagnostic,) = analyzer.AnalyzeStack(request(_no_tolerations), timeout=60).diagnostics
        assert diagnostic.policyName == "gpu-pods-select-and-tolerate-their-pool"
        assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
        assert "does not tolerate nvidia.com/gpu=present:NoSchedule" in diagnostic.message
    finally:
        pack.kill()
        pack.communicate(timeout=30)


# --- a region of a fleet (examples/fleet) -------------------------------------------------------------------------

FLEET = ROOT / "examples" / "fleet"


@pytest.fixture
def region_engine(monkeypatch, no_program_config):
    """The engine's env for a pack run on a region stack: its file's values as PULUMI_CONFIG and, as the CLI sets it
    for a policy pack, PULUMI_STACK; the working folder is the pack's own, as the CLI starts it."""

    def run_on(stack: str, root: Path = FLEET) -> None:
        config, _ = read_stack_file(stack, root)
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
        monkeypatch.setenv("PULUMI_STACK", stack)
        monkeypatch.chdir(ROOT / "infra" / "policy")

    return run_on


def config_errors(pack) -> list[str]:
    (policy,) = pack
    assert policy.name == "stack-config-is-valid"
    reported: list[str] = []
    policy.validate(StackValidationArgs([]), lambda message, urn=None: reported.append(message))
    return reported


def test_the_pack_reads_the_fleet_from_the_project_folder_not_its_own():
    assert (PROJECT / "Pulumi.yaml").is_file() and PROJECT == ROOT


def test_on_a_region_the_pack_sees_the_merged_config_the_program_sees(region_engine, plan_of):
    region_engine("prod-us")
    cfg = running_config(FLEET)
    # The program's config under `pulumi up` (tests/test_regions.py: load_config of a region): fleet merged, peers
    # added, the peers' keys taken as backend keys.
    assert cfg == parse_engine_config(read_stack_file("prod-us", FLEET)[0], stack="prod-us", root=FLEET)
    assert [f.backend_name for f in cfg.models[0].fallbacks] == ["peer-prod-eu", "peer-prod-asia",
                                                                 "provider-together"]
    assert {"llm-fleet:prodEuGatewayKey", "llm-fleet:prodAsiaGatewayKey"} <= set(cfg.backend_keys)
    # ... so every policy passes on the region's own resources (its peers' load balancer is requested), mandatory.
    plan = run_plan("prod-us", FLEET)
    pack = policies_for_running_stack(FLEET)
    assert {p.enforcement_level for p in pack} == {EnforcementLevel.MANDATORY}
    found = {}
    for policy in pack:
        reported: list[str] = []
        policy.validate(StackValidationArgs(as_policy_resources(plan)),
                        lambda message, urn=None, out=reported: out.append(message))
        found[policy.name] = reported
    assert found == {name: [] for name in found} and len(found) == len(config_guards() + resource_guards())


def test_on_a_region_without_its_name_the_pack_refuses_instead_of_skipping_peers_and_drift(region_engine,
                                                                                          monkeypatch):
    region_engine("prod-eu")
    monkeypatch.delenv("PULUMI_STACK")
    assert config_errors(policies_for_running_stack(FLEET)) == [
        "config error: llm-fleet:fleet = 'prod': a region of a fleet, but the engine named no stack (PULUMI_STACK); "
        "run the pack through `pulumi preview --policy-pack infra/policy --stack <region>`"]


def test_a_region_whose_artifacts_drift_fails_in_the_pack(region_engine, tmp_path):
    for path in FLEET.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    asia = tmp_path / "Pulumi.prod-asia.yaml"
    asia.write_text(asia.read_text().replace("vllmVersion: 0.32.0", "vllmVersion: 0.31.0"))
    region_engine("prod-us", tmp_path)
    (line,) = config_errors(policies_for_running_stack(tmp_path))
    assert "llm-fleet:artifacts.vllmVersion" in line and "region prod-asia" in line and "0.32.0" in line, line
    assert "promote <source> prod" in line
