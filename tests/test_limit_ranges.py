"""Every declared pod gets past its namespace's LimitRange (infra/guards/limit_ranges.py).

The finding (issue 17's checkov pass, CKV_K8S_11): the namespaces' LimitRange had `default: {cpu: "1"}`, a LIMIT the
API server writes into every container without one; vLLM (10.5 CPUs requested in prod) and the trainer (24.5) set
no CPU limit on purpose, so each got limit 1 < request and the API server would refuse every such pod.
"""

from __future__ import annotations

import pytest

from infra.guards.limit_ranges import admission_problems, limit_ranges_admit_every_pod
from tests.conftest import STACKS, with_object_edited


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_is_admitted(plan_of, stack: str) -> None:
    (verdict,) = [v for v in plan_of(stack).verdicts if v.guard == "limit-ranges-admit-every-pod"]
    assert verdict.status == "pass", verdict.message


def test_the_old_cpu_default_is_refused_naming_each_pod(plan_of) -> None:
    def old_default(inputs: dict) -> None:
        inputs["spec"]["limits"][0]["default"] = {"cpu": "1", "memory": "1Gi"}

    verdict = limit_ranges_admit_every_pod(with_object_edited(plan_of("prod"), "LimitRange", "llm-fleet", old_default))
    assert verdict.status == "fail"
    # prod's a2-highgpu-1g (12 vCPU) keeps 10.5 for vLLM; the H100 node's trainer asks 24.5 (see the expected plan).
    assert "Deployment llm-serving/vllm-qwen-7b container vllm: cpu request 10.5 > the LimitRange's default limit 1" \
        in verdict.message
    assert "Job llm-training/trainer container trainer: cpu request 24.5" in verdict.message


@pytest.mark.parametrize(("container", "item", "problems"), [
    # No request: defaultRequest (100m) fits the default limit (1).
    ({}, {"default": {"cpu": "1"}, "defaultRequest": {"cpu": "100m"}}, []),
    # Its own limit wins over the default.
    ({"resources": {"requests": {"cpu": "4"}, "limits": {"cpu": "4"}}}, {"default": {"cpu": "1"}}, []),
    ({"resources": {"requests": {"memory": "2Gi"}}}, {"default": {"memory": "1Gi"}},
     ["memory request 2Gi > the LimitRange's default limit 1Gi"]),
    ({"resources": {"limits": {"memory": "8Gi"}}}, {"max": {"memory": "4Gi"}},
     ["memory limit 8Gi above the LimitRange's max 4Gi"]),
    ({"resources": {"requests": {"cpu": "50m"}}}, {"min": {"cpu": "100m"}},
     ["cpu request 50m below the LimitRange's min 100m"]),
])
def test_admission_replays_defaults_then_checks(container: dict, item: dict, problems: list[str]) -> None:
    assert admission_problems(container, item) == problems
