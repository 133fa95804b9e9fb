"""Issue 17, "Low — the load-balancer guard matches the text 'internal' … and Gateways/NodePorts aren't checked".

The value half (an `…-internal: "false"` annotation is public) is tests/test_contract_exposure.py's: the guard reads
each cloud's known annotations and their values (infra/flows/rendered.py INTERNAL_LB_VALUES, with its sources). Here:
NodePort Services and Ingress / Gateway API objects, which no config key asks for, fail `no-unrequested-entry-points`;
on the code before this change no guard looked at them.
"""

from __future__ import annotations

import pytest

from infra.guards.base import StackPlan
from infra.guards.exposure import no_unrequested_entry_points
from infra.planned import PlannedResource
from infra.program import stack_plan
from tests.conftest import with_object_edited


def _obj(api_version: str, kind: str, name: str, spec: dict) -> PlannedResource:
    group = api_version.split("/")[0] if "/" in api_version else "core"
    return PlannedResource(
        urn=f"urn:pulumi:test::llm-fleet::kubernetes:{group}:{kind}::{name}", type=f"kubernetes:{group}:{kind}",
        name=name, parent="", custom=True, protect=False,
        inputs={"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "llm-serving"},
                "spec": spec})


def _with(plan, extra: PlannedResource) -> StackPlan:
    base = stack_plan(plan.cfg)
    return StackPlan(plan.cfg, base.pools, base.cost, (*plan.resources, extra))


def test_shipped_stacks_declare_no_entry_point(shipped_plan):
    verdict = no_unrequested_entry_points(StackPlan(shipped_plan.cfg, stack_plan(shipped_plan.cfg).pools,
                                                    shipped_plan.cost, tuple(shipped_plan.resources)))
    assert (verdict.status, verdict.message) == ("pass", "no NodePort, Ingress or Gateway route")


def test_a_model_service_turned_nodeport_fails(plan_of):
    # A NodePort opens the API port on every node's address, past the ClusterIP and any load balancer's ranges.
    def nodeport(obj: dict) -> None:
        obj["spec"]["type"] = "NodePort"

    verdict = no_unrequested_entry_points(with_object_edited(plan_of("prod"), "Service", "vllm-qwen-7b", nodeport))
    assert verdict.status == "fail"  # every tier (infra/guards/verdicts.py)
    assert "Service llm-serving/vllm-qwen-7b is a NodePort: it opens its port on every node" in verdict.message
    assert "serving.expose is 'cluster-ip'" in verdict.message


@pytest.mark.parametrize(("api_version", "kind"), [
    ("networking.k8s.io/v1", "Ingress"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"),
])
def test_ingress_and_gateway_objects_nobody_asked_for_fail(plan_of, api_version, kind):
    verdict = no_unrequested_entry_points(_with(plan_of("prod"), _obj(api_version, kind, "public-llm", {})))
    assert verdict.status == "fail"
    assert f"{kind} llm-serving/public-llm routes traffic in from outside the cluster" in verdict.message

