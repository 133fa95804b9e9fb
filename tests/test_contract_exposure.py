"""Exposure: a LoadBalancer Service counts as internal only when an annotation's VALUE asks its cloud for that.

The guard (`no_unrequested_load_balancer`) and the flows contract (`open_paths`) read a Service the same way;
each case is one hand-made Service, so the fact under test is the annotation and nothing else.
"""

from __future__ import annotations

import pytest

from infra.config import parse_stack_config
from infra.flows import open_paths
from infra.guards.base import StackPlan
from infra.guards.exposure import no_unrequested_load_balancer
from infra.plan import run_plan
from infra.planned import PlannedResource
from infra.program import stack_plan
from tests.conftest import EXAMPLES, STACKS, stack_config

GKE = "networking.gke.io/load-balancer-type"
AWS_INTREE = "service.beta.kubernetes.io/aws-load-balancer-internal"
AWS_LBC = "service.beta.kubernetes.io/aws-load-balancer-scheme"


def _internal_lb_cfg():
    raw = stack_config("prod")
    raw.setdefault("serving", {})["expose"] = "internal-load-balancer"
    return parse_stack_config(raw)


CFG = _internal_lb_cfg()
BASE = stack_plan(CFG)


def lb_service(annotations: dict[str, str] | None) -> PlannedResource:
    metadata = {"name": "vllm-qwen-7b", "namespace": "serving", **({"annotations": annotations} if annotations else {})}
    return PlannedResource(
        urn="urn:pulumi:test::llm-fleet::kubernetes:core/v1:Service::vllm-qwen-7b", type="kubernetes:core/v1:Service",
        name="vllm-qwen-7b", parent="", custom=True, protect=False,
        inputs={"apiVersion": "v1", "kind": "Service", "metadata": metadata,
                "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80}]}})


def verdicts(annotations: dict[str, str] | None) -> tuple[str, list[str]]:
    """The exposure guard's status and the flows contract's open-path statuses for one LoadBalancer Service."""
    service = lb_service(annotations)
    guard = no_unrequested_load_balancer(StackPlan(CFG, BASE.pools, BASE.cost, (service,)))
    return guard.status, [p.status for p in open_paths(CFG, [service])]


PUBLIC = [
    pytest.param(None, id="no-annotation"),
    pytest.param({AWS_INTREE: "false"}, id="aws-internal-false"),
    pytest.param({GKE: "External"}, id="gke-external"),
    pytest.param({AWS_LBC: "internet-facing"}, id="aws-scheme-internet-facing"),
    # Asked both ways: read as public (the AWS LB Controller takes the scheme over the deprecated boolean).
    pytest.param({AWS_INTREE: "true", AWS_LBC: "internet-facing"}, id="aws-conflicting"),
    # An unrelated annotation whose text mentions "internal" proves nothing.
    pytest.param({"example.com/internal-note": "internal"}, id="unrelated-key"),
]
INTERNAL = [
    pytest.param({GKE: "Internal"}, id="gke-Internal"),
    pytest.param({AWS_INTREE: "true"}, id="aws-internal-true"),
    pytest.param({AWS_INTREE: "0.0.0.0/0"}, id="aws-internal-legacy-cidr"),
    pytest.param({AWS_LBC: "internal"}, id="aws-scheme-internal"),
]


@pytest.mark.parametrize("annotations", PUBLIC)
def test_a_load_balancer_without_an_internal_value_is_public(annotations):
    assert verdicts(annotations) == ("fail", ["fail"])


@pytest.mark.parametrize("annotations", INTERNAL)
def test_a_load_balancer_with_its_clouds_internal_value_is_internal(annotations):
    assert verdicts(annotations) == ("pass", [])


@pytest.mark.parametrize("stack", [*STACKS, *EXAMPLES])
def test_every_platforms_own_annotations_make_an_internal_load_balancer(make_stack, stack):
    """What the platforms put on the Service for serving.expose: internal-load-balancer reads as internal."""
    def edit(cfg):
        cfg.setdefault("serving", {})["expose"] = "internal-load-balancer"
        if cfg.get("cloud") == "existing":  # no network llm-fleet knows: the clients must be listed
            cfg["serving"]["apiClientCidrs"] = ["10.0.0.0/8"]

    root, name = make_stack(stack, edit)
    plan = run_plan(name, root)
    services = [r for r in plan.resources if r.inputs.get("kind") == "Service"
                and (r.inputs.get("spec") or {}).get("type") == "LoadBalancer"]
    # Every shipped stack serves at most one model on its GPUs (dev the 1.5B, the others the 7B; dev-provider none,
    # its model is a provider's): that model's Service is the one load balancer.
    served = {"dev": ["vllm-qwen-1b5"], "dev-provider": []}.get(stack, ["vllm-qwen-7b"])
    assert [r.inputs["metadata"]["name"] for r in services] == served
    base = stack_plan(plan.cfg)
    stack_view = StackPlan(plan.cfg, base.pools, base.cost, tuple(plan.resources))
    assert no_unrequested_load_balancer(stack_view).status == "pass"
    assert [p for p in open_paths(plan.cfg, plan.resources) if "LoadBalancer" in p.message] == []
