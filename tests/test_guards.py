"""Guards as plain functions of a StackPlan: each passes on the shipped stacks and fails on its broken case."""

from __future__ import annotations

from infra.config import parse_stack_config
from infra.guards import run_guards
from infra.guards.budget import budget_covers_max_fleet
from infra.guards.pools import every_gpu_pool_is_used
from infra.program import stack_plan
from tests.conftest import STACKS, stack_config, with_object_edited


def plan_for(raw):
    return stack_plan(parse_stack_config(raw))


def test_all_guards_pass_on_shipped_stacks():
    for stack in STACKS:
        verdicts = run_guards(plan_for(stack_config(stack)))
        # A shipped stack file may hold documentation ranges as placeholders: the guard says so, and only that.
        examples = "controlPlane" in stack_config(stack) and "203.0.113.0/24" in str(stack_config(stack))
        assert [(v.guard, v.status) for v in verdicts if v.status != "pass"] == (
            [("no-example-network-ranges", "warn")] if examples else []), (stack, verdicts)


def test_a_documentation_range_in_any_key_is_named_with_its_key():
    from infra.guards.example_ranges import example_ranges, no_example_network_ranges

    raw = stack_config("prod")
    raw["serving"].update(expose="internal-load-balancer", apiClientCidrs=["10.0.0.0/8", "192.0.2.0/28"])
    verdict = no_example_network_ranges(plan_for(raw))
    assert verdict.status == "warn"
    assert verdict.message.startswith("serving.apiClientCidrs[1] 192.0.2.0/28, controlPlane.authorizedNetworks[0] "
                                      "203.0.113.0/24, controlPlane.authorizedNetworks[1] 198.51.100.16/28:")
    raw["controlPlane"]["authorizedNetworks"] = ["198.51.99.0/24"]  # next to TEST-NET-2, not in it
    raw["serving"]["apiClientCidrs"] = ["10.0.0.0/8"]
    assert no_example_network_ranges(plan_for(raw)).status == "pass"
    # Addresses, IPv6 and ranges wider than a documentation one: only what lies inside one is an example's.
    assert example_ranges({"a": ["2001:db8:1::/48", "2001:db9::/32", "203.0.113.7", "203.0.0.0/16", "gke",
                                 "3fff:10::/32", "233.252.0.0/28"]}) == [
        "a[0] 2001:db8:1::/48", "a[2] 203.0.113.7", "a[5] 3fff:10::/32", "a[6] 233.252.0.0/28"]


def test_budget_guard_is_an_error_in_prod_and_a_warning_in_staging():
    for stack, status in (("prod", "fail"), ("staging", "warn")):
        raw = stack_config(stack)
        raw["budget"]["monthlyAmount"] = 10
        verdict = budget_covers_max_fleet(plan_for(raw))
        assert verdict.status == status
        assert "exceeds budget.monthlyAmount 10 USD" in verdict.message


def test_budget_guard_boundary_is_the_monthly_cost_at_max():
    # prod at its maximum costs $57.868437/h x 730 h = $42,243.96 a month (nodes and fees, worked out in
    # tests/test_cost.py).
    raw = stack_config("prod")
    raw["budget"]["monthlyAmount"] = 42244
    assert budget_covers_max_fleet(plan_for(raw)).status == "pass"
    raw["budget"]["monthlyAmount"] = 42243
    assert budget_covers_max_fleet(plan_for(raw)).status == "fail"


def test_unused_gpu_pool_fails():
    raw = stack_config("dev")
    raw["nodePools"].append({"name": "spare-a100", "gpu": "A100-80GB", "maxNodes": 1})
    verdict = every_gpu_pool_is_used(plan_for(raw))
    assert verdict.status == "fail" and "spare-a100" in verdict.message


def test_a_pool_used_only_by_training_counts_as_used():
    raw = stack_config("dev")
    del raw["training"]
    verdict = every_gpu_pool_is_used(plan_for(raw))
    assert verdict.status == "fail" and "h100-training" in verdict.message


# Resource guards: each passes on the rendered shipped stacks and fails on a deliberately broken object.

import copy  # noqa: E402

import pytest  # noqa: E402

from infra.guards.base import StackPlan  # noqa: E402
from infra.guards.exposure import no_unrequested_load_balancer  # noqa: E402
from infra.guards.images import images_pinned_by_digest  # noqa: E402
from infra.guards.scheduling import (  # noqa: E402
    autoscaling_fits_pool,
    gpu_pods_fit_one_node,
    gpu_pods_select_and_tolerate_their_pool,
    termination_grace_covers_drain,
)


def rendered(plan_of, stack: str, kind: str, name: str, edit) -> StackPlan:
    """The stack's plan with one rendered object changed by `edit`."""
    return with_object_edited(plan_of(stack), kind, name, edit)


def vllm_container(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]


RESOURCE_GUARD_CASES = [
    (gpu_pods_fit_one_node, "prod", "Deployment", "vllm-qwen-7b",
     lambda o: vllm_container(o)["resources"]["requests"].update(memory="500Gi"),
     "requests 500.0 GiB, a a100-serving node offers"),
    (gpu_pods_fit_one_node, "prod", "Deployment", "vllm-qwen-7b",
     lambda o: vllm_container(o)["resources"]["limits"].update({"nvidia.com/gpu": "2"}),
     "asks for 2 GPUs, a a100-serving node has 1"),
    (gpu_pods_fit_one_node, "prod", "Deployment", "vllm-qwen-7b",
     lambda o: vllm_container(o)["resources"]["requests"].update({"ephemeral-storage": "900Gi"}),
     "raise the pool's diskSizeGb"),
    (gpu_pods_select_and_tolerate_their_pool, "prod", "Deployment", "vllm-qwen-7b",
     lambda o: o["spec"]["template"]["spec"].pop("tolerations"),
     "does not tolerate nvidia.com/gpu=present:NoSchedule of pool a100-serving"),
    (gpu_pods_select_and_tolerate_their_pool, "prod", "Job", "trainer",
     lambda o: o["spec"]["template"]["spec"].update(nodeSelector={"llm-fleet.dev/pool": "rollout"}),
     "matches no GPU pool"),
    (termination_grace_covers_drain, "prod", "Deployment", "vllm-qwen-7b",
     lambda o: o["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30),
     "terminationGracePeriodSeconds 30 < preStop 0 + drain 600"),
    (autoscaling_fits_pool, "prod", "ScaledObject", "vllm-qwen-7b",
     lambda o: o["spec"].update(maxReplicaCount=13),
     "replicas at maximum need 13 GPUs, the pool has at most 12"),
    (autoscaling_fits_pool, "prod", "HorizontalPodAutoscaler", "rollout-worker",
     lambda o: o["spec"].update(maxReplicas=400),
     "replicas at maximum request 400 CPU"),
    (no_unrequested_load_balancer, "prod", "Service", "vllm-qwen-7b",
     lambda o: o["spec"].update(type="LoadBalancer"),
     "is a LoadBalancer but serving.expose is 'cluster-ip'"),
    (images_pinned_by_digest, "staging", "Deployment", "rollout-worker",
     lambda o: vllm_container(o).update(image="us-central1-docker.pkg.dev/x/llm-fleet/rollout-worker:latest"),
     "images not pinned by digest: us-central1-docker.pkg.dev/x/llm-fleet/rollout-worker:latest"),
]


@pytest.mark.parametrize(("guard", "stack", "kind", "name", "edit", "message"), RESOURCE_GUARD_CASES,
                         ids=[f"{c[0].__name__}-{c[2]}" for c in RESOURCE_GUARD_CASES])
def test_resource_guard_passes_shipped_and_fails_broken(plan_of, guard, stack, kind, name, edit, message):
    assert guard(rendered(plan_of, stack, kind, name, lambda o: None)).status == "pass"
    verdict = guard(rendered(plan_of, stack, kind, name, edit))
    assert verdict.status == "fail"
    assert message in verdict.message


def test_unpinned_images_only_warn_in_dev(plan_of):
    def by_tag(o):
        o["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/rollout-worker:0.1.0"

    verdict = images_pinned_by_digest(rendered(plan_of, "dev", "Deployment", "rollout-worker", by_tag))
    assert verdict.status == "warn" and "rollout-worker:0.1.0" in verdict.message


def test_autoscaling_guard_sums_models_sharing_a_pool(make_stack):
    from infra.plan import run_plan

    def two_models(c):
        second = copy.deepcopy(c["models"][0])
        second["name"] = "qwen-7b-b"
        c["models"].append(second)
        c["artifacts"]["modelRevisions"]["qwen-7b-b"] = "a" * 40
        for m in c["models"]:
            m["replicas"] = {"min": 1, "max": 8}

    root, name = make_stack("prod", two_models)
    plan = run_plan(name, root)
    verdicts = {v.guard: v for v in plan.verdicts}
    assert verdicts["autoscaling-fits-pool"].status == "fail"
    assert "need 16 GPUs, the pool has at most 12" in verdicts["autoscaling-fits-pool"].message
