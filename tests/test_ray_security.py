"""Issue 17, item 5 (High: the Ray dashboard and job submission on port 8265, remote code execution on GPU nodes,
bound to every address with no authentication): Ray's own token authentication is on, the pinned Ray supports it,
and from outside the Ray cluster only the KubeRay operator reaches the dashboard."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_config_error, stack_config, with_mode
from tests.test_kuberay import the

DASHBOARD = 8265
OPERATOR_PEER = {
    "namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kuberay-system"]}]},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator",
                                    "app.kubernetes.io/instance": "kuberay-operator"}}}


def policies(plan) -> dict[tuple[str, str], dict]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in plan.manifests()
            if o["kind"] == "NetworkPolicy"}


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_ray_service_runs_with_token_auth(kuberay_plan, stack):
    # Finding "Ray dashboard 8265 unauthenticated": KubeRay v1.7.0 turns Ray's token auth on only for an explicit
    # authOptions.mode 'token' (it then generates the token Secret and hands it to every Ray container and to its
    # own dashboard client). Today's spec has no authOptions at all.
    cluster = the(kuberay_plan(stack), "RayService")["spec"]["rayClusterConfig"]
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["rayVersion"] == "2.60.0"  # >= 2.52.0, the first Ray with token auth


def test_only_the_operator_reaches_the_dashboard_from_outside_ray(kuberay_plan):
    # Every ingress rule that admits 8265 from outside the Ray cluster names the KubeRay operator's pods in
    # kuberay-system and nothing else; the rule without ports admits only this namespace's Ray pods.
    policy = policies(kuberay_plan("prod"))[("llm-serving", "ray-llm")]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"ray.io/is-ray-node": "yes"}}
    dashboard_sources = []
    for rule in policy["ingress"]:
        ports = {p["port"] for p in rule.get("ports", [])}
        if not ports:
            assert rule["from"] == [{"podSelector": {"matchLabels": {"ray.io/is-ray-node": "yes"}}}]
        elif DASHBOARD in ports:
            dashboard_sources += rule["from"]
    assert dashboard_sources == [OPERATOR_PEER]


def test_the_training_ray_jobs_dashboard_admits_only_its_submitter_and_the_operator(kuberay_plan):
    # Finding "llm-training has no NetworkPolicy" (for the RayJob's Ray pods): today any pod in the cluster reaches
    # the training head's job-submission API. Now: Ray pods among themselves; on 8265 the submitter pod (by the label
    # of our submitterPodTemplate), and the operator (it polls the job's status there).
    policy = policies(kuberay_plan("prod"))[("llm-training", "ray-trainer")]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"ray.io/is-ray-node": "yes"}}
    assert policy["policyTypes"] == ["Ingress"]
    ray_peers, submitter, operator = policy["ingress"]
    assert ray_peers == {"from": [{"podSelector": {"matchLabels": {"ray.io/is-ray-node": "yes"}}}]}
    dashboard = [{"port": DASHBOARD, "protocol": "TCP"}]
    assert submitter == {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ray-job-submitter"}}}],
                         "ports": dashboard}
    assert operator == {"from": [OPERATOR_PEER], "ports": dashboard}


@pytest.mark.parametrize("version", ["2.51.2", "2.9.3"])
def test_a_ray_too_old_for_token_auth_is_refused(version):
    # 2.51.2 < 2.52.0 and 2.9.3 < 2.52.0 (a string comparison would let "2.9.3" through as > "2.52").
    raw = stack_config("prod")
    with_mode(raw, "kuberay")
    raw["artifacts"]["rayVersion"] = version
    assert_one_config_error(raw, [f"artifacts.rayVersion = '{version}'", "2.52.0", "token authentication"])


def test_the_ray_rollout_group_may_call_the_serve_service_on_eks(kuberay_plan):
    # Review finding: ray-llm-egress admitted only peers labelled ray.io/is-ray-node; EKS's policy agent allows a
    # ClusterIP only when the rule's peer matches the Service's selector (ray.io/cluster + ray.io/serve), so every
    # rollout call to llm-serve-svc:8000 would time out. A namespace peer on the serve port matches the Service.
    egress = policies(kuberay_plan("prod"))[("llm-serving", "ray-llm-egress")]["spec"]["egress"]  # the same on EKS
    assert {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "llm-serving"}}}],
            "ports": [{"port": 8000, "protocol": "TCP"}]} in egress
