"""Default-deny everywhere (issue 17, item 3 and the Medium findings "no default-deny ingress/egress; llm-rollout and
llm-training have no policy", High "llm-training has no NetworkPolicy at all")."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from infra.egress import egress_of
from infra.flows import evaluate
from infra.flows.isolation import chart_namespaces, denies, missing_default_deny
from infra.guards.base import StackPlan
from infra.guards.flows import network_flows
from infra.program import stack_plan
from infra.workloads.network import egress_policy_spec


def _guard(plan, resources):
    base = stack_plan(plan.cfg)
    return network_flows(StackPlan(plan.cfg, base.pools, base.cost, tuple(resources)))


def _policies(plan) -> dict[tuple[str, str], dict]:
    return {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]
            for r in plan.resources if r.inputs.get("kind") == "NetworkPolicy"}


def _flows(plan) -> dict[tuple[str, str, int | None, str], object]:
    return {(str(f.flow.source), str(f.flow.destination), f.port, f.flow.protocol): f
            for f in evaluate(plan.cfg, plan.resources)}


def test_every_llm_namespace_denies_both_directions_by_default(plan_of):
    # Before: only llm-serving had a policy (the model's, ingress only); llm-rollout and llm-training had none.
    policies = _policies(plan_of("prod"))
    for ns in ("llm-serving", "llm-rollout", "llm-training"):
        assert policies[(ns, "default-deny")] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, ns
    assert missing_default_deny(plan_of("prod").resources) == {}


def test_every_shipped_stack_has_default_deny_and_its_flows_pass(shipped_plan):
    assert missing_default_deny(shipped_plan.resources) == {}
    verdict = _guard(shipped_plan, shipped_plan.resources)
    assert verdict.status == "pass", verdict.message


@pytest.mark.parametrize("stack", ["eks-prod", "coreweave-prod", "seed-gke"])
def test_the_other_platforms_and_the_headroom_namespace_too(plan_of, stack):
    plan = plan_of(stack)
    assert missing_default_deny(plan.resources) == {}
    verdict = _guard(plan, plan.resources)
    assert verdict.status == "pass", verdict.message


def test_the_guard_fails_a_namespace_without_default_deny(plan_of):
    plan = plan_of("prod")
    without = [r for r in plan.resources if not (r.inputs.get("kind") == "NetworkPolicy"
                                                 and r.inputs["metadata"]["name"] == "default-deny"
                                                 and r.inputs["metadata"]["namespace"] == "llm-rollout")]
    verdict = _guard(plan, without)
    assert verdict.status == "fail"
    assert verdict.message.splitlines()[0] == (
        "namespace llm-rollout has no default-deny ingress or egress policy (a policy selecting every pod, with that "
        "policyType and no rule; fix: infra/cluster/default_deny.py)")


def test_an_ingress_only_deny_is_not_enough(plan_of):
    # The old headroom-style deny with only Ingress listed leaves egress open: the guard names egress alone.
    plan = plan_of("prod")
    out = []
    for r in plan.resources:
        if r.inputs.get("kind") == "NetworkPolicy" and r.inputs["metadata"]["name"] == "default-deny" \
                and r.inputs["metadata"]["namespace"] == "llm-training":
            inputs = copy.deepcopy(r.inputs)
            inputs["spec"]["policyTypes"] = ["Ingress"]
            r = dataclasses.replace(r, inputs=inputs)
        out.append(r)
    assert missing_default_deny(out) == {"llm-training": ["Egress"]}


def test_what_counts_as_a_default_deny():
    assert denies({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, "Egress")
    # A rule for the direction opens it; a selector narrows it to some pods: neither is a default-deny.
    assert not denies({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}, "Egress")
    assert not denies({"podSelector": {"matchLabels": {"a": "b"}}, "policyTypes": ["Egress"]}, "Egress")
    # No policyTypes: the API defaults to Ingress only, so such a policy denies ingress, never egress.
    assert denies({"podSelector": {}}, "Ingress") and not denies({"podSelector": {}}, "Egress")


def test_egress_is_rendered_from_the_declared_table(plan_of):
    # One source: the NetworkPolicy the trainer gets is exactly infra/egress.py's rules for it.
    plan = plan_of("prod")
    trainer = next(g for g in egress_of(plan.cfg) if g.name == "trainer-egress")
    assert _policies(plan)[("llm-training", "trainer-egress")] == egress_policy_spec(trainer)


def test_prod_trainer_egress_is_dns_https_and_the_gke_metadata_server(plan_of):
    # Worked by hand: GKE (Dataplane V2) -> DNS (UDP+TCP 53 to kube-dns), 443 anywhere, 169.254.169.254/32:80.
    flows = _flows(plan_of("prod"))
    src = "llm-training/trainer"
    expected = {(src, "kube-system/kube-dns", 53, "UDP"), (src, "kube-system/kube-dns", 53, "TCP"),
                (src, "any address (HTTPS) (0.0.0.0/0)", 443, "TCP"),
                (src, "the GKE metadata server (169.254.169.254/32)", 80, "TCP")}
    assert {k for k in flows if k[0] == src} == expected
    assert all(flows[k].allowed is True for k in expected)


def test_eks_pods_never_reach_the_node_metadata_address(plan_of):
    # On EKS 169.254.169.254 is the node's IMDS (node credentials); IRSA needs only STS over HTTPS.
    plan = plan_of("eks-prod")
    cidrs = {to["ipBlock"]["cidr"] for spec in _policies(plan).values() for rule in spec.get("egress") or []
             for to in rule.get("to") or [] if "ipBlock" in to}
    assert cidrs == {"0.0.0.0/0"}


def test_rollout_workers_may_call_only_the_serving_namespace_api_port(plan_of):
    # dev: no gateway, the workers call the model.
    spec = _policies(plan_of("dev"))[("llm-rollout", "rollout-worker-egress")]
    assert spec["egress"][0] == {"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "llm-serving"}}}], "ports": [{"port": 8000, "protocol": "TCP"}]}


def test_rollout_workers_via_the_gateway_may_call_only_the_gateway_pods(plan_of):
    spec = _policies(plan_of("prod"))[("llm-rollout", "rollout-worker-egress")]
    assert spec["egress"][0] == {"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "llm-gateway"}}, "podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "gateway"}}}], "ports": [{"port": 4000, "protocol": "TCP"}]}


def test_a_blocked_egress_fails_the_guard(plan_of):
    # Remove the rollout workers' egress policy: default-deny then blocks their calls to the gateway.
    plan = plan_of("prod")
    without = [r for r in plan.resources if not (r.inputs.get("kind") == "NetworkPolicy"
                                                 and r.inputs["metadata"]["name"] == "rollout-worker-egress")]
    verdict = _guard(plan, without)
    assert verdict.status == "fail"
    assert "needed flow blocked: llm-rollout/rollout-worker -> llm-gateway/gateway:4000/TCP" in verdict.message


def test_the_training_ray_cluster_is_reachable_only_by_itself_the_submitter_and_the_operator(kuberay_prod):
    # High finding: llm-training had no NetworkPolicy at all in KubeRay mode.
    spec = _policies(kuberay_prod)[("llm-training", "ray-trainer")]
    assert spec["podSelector"] == {"matchLabels": {"ray.io/is-ray-node": "yes"}}
    assert [rule.get("ports") for rule in spec["ingress"]] == [
        None, [{"port": 8265, "protocol": "TCP"}], [{"port": 8265, "protocol": "TCP"}]]
    flows = _flows(kuberay_prod)
    for key in (("llm-training/ray-job-submitter", "llm-training/ray-headgroup", 8265, "TCP"),
                ("kuberay-system/kuberay-operator", "llm-training/ray-headgroup", 8265, "TCP"),
                ("llm-training/ray-h100-training", "llm-training/ray-headgroup", 6379, "TCP")):
        assert flows[key].allowed is True, key
    assert missing_default_deny(kuberay_prod.resources) == {}


def test_chart_namespaces_are_named_not_denied(plan_of):
    # Helm charts' namespaces stay out (their flows are the charts'); the guard names them.
    assert chart_namespaces(plan_of("eks-prod").resources) == [
        "keda", "monitoring", "nvidia-dcgm-exporter", "nvidia-device-plugin"]
