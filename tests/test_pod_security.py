"""Restricted pods (issue 17, item 4 and the Medium/High findings: no Pod Security Admission labels on the llm-*
namespaces, the trainer failing the restricted profile, Ray pods with no securityContext)."""

from __future__ import annotations

from infra.guards.base import StackPlan
from infra.guards.pod_security import pods_pass_restricted, restricted_violations
from infra.guards.pods import pod_templates
from infra.program import stack_plan
from tests.conftest import resources_edited

PSA = "pod-security.kubernetes.io"


def _guard(plan, resources=None):
    base = stack_plan(plan.cfg)
    return pods_pass_restricted(StackPlan(plan.cfg, base.pools, base.cost,
                                          tuple(plan.resources if resources is None else resources)))


def test_llm_namespaces_enforce_restricted_at_a_pinned_version(plan_of):
    # Finding (Medium): no PSA labels on llm-*. Each namespace enforces, warns and audits `restricted` at v1.33.
    plan = plan_of("prod")
    labels = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in plan.resources
              if r.inputs.get("kind") == "Namespace"}
    assert set(labels) == {"llm-serving", "llm-rollout", "llm-training", "llm-gateway"}  # prod has a gateway
    for ns, got in labels.items():
        assert {k: v for k, v in got.items() if k.startswith(PSA)} == {
            f"{PSA}/enforce": "restricted", f"{PSA}/enforce-version": "v1.33",
            f"{PSA}/warn": "restricted", f"{PSA}/warn-version": "v1.33",
            f"{PSA}/audit": "restricted", f"{PSA}/audit-version": "v1.33"}, ns


def test_the_trainer_passes_restricted(plan_of):
    # Finding (Medium): "the trainer fails the restricted profile" — it had no securityContext at all.
    trainer = next(p for p in pod_templates(plan_of("prod").resources) if p.workload == "Job llm-training/trainer")
    assert restricted_violations(trainer.spec) == []
    assert trainer.spec["securityContext"]["runAsUser"] == 10001  # the images' user, not root


def test_todays_trainer_spec_fails_the_check():
    # The trainer as it was rendered before this change: no securityContext -> four restricted controls fail.
    old = {"containers": [{"name": "trainer", "image": "x"}], "volumes": [{"name": "dshm", "emptyDir": {}}]}
    assert restricted_violations(old) == [
        "container trainer: allowPrivilegeEscalation is not false",
        "container trainer: capabilities do not drop ALL",
        "container trainer: runAsNonRoot is not true (pod or container)",
        "container trainer: seccompProfile unset (pod or container: RuntimeDefault or Localhost)"]


def test_baseline_violations_are_named():
    spec = {"hostNetwork": True,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}],
                            "securityContext": {"privileged": True, "allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}]}
    assert restricted_violations(spec) == ["hostNetwork: true", "volume root: hostPath", "container c: privileged",
                                           "container c: hostPort", "container c: capabilities add SYS_ADMIN"]


def test_every_shipped_stack_passes(shipped_plan):
    verdict = _guard(shipped_plan)
    assert verdict.status == "pass", verdict.message


def test_a_privileged_vllm_pod_fails_prod(plan_of):
    plan = plan_of("prod")

    def privileged(inputs):
        inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True

    verdict = _guard(plan, resources_edited(plan, "Deployment", "vllm-qwen-7b", privileged))
    assert verdict.status == "fail"
    assert verdict.message == \
        "Deployment llm-serving/vllm-qwen-7b: container vllm: privileged (fix: infra/restricted.py)"


def test_a_namespace_without_enforce_restricted_fails(plan_of):
    plan = plan_of("prod")

    def unlabel(inputs):
        inputs["metadata"]["labels"] = {k: v for k, v in inputs["metadata"]["labels"].items()
                                        if not k.startswith(PSA)}

    verdict = _guard(plan, resources_edited(plan, "Namespace", "llm-training", unlabel))
    assert verdict.status == "fail"
    assert verdict.message.startswith(f"namespace llm-training: {PSA}/enforce is None, not 'restricted'")


def test_ray_pods_and_the_autoscaler_sidecar_pass(kuberay_prod):
    # Finding (High): Ray pods with no securityContext. Head, GPU group, rollout group, the RayJob's head, worker
    # and submitter, and the head's autoscaler sidecar: 7 pod specs, all restricted, as uid 1000 (the Ray image's).
    verdict = _guard(kuberay_prod)
    assert verdict.status == "pass", verdict.message
    assert verdict.message.startswith("8 pod specs pass")  # with prod's gateway pod
    ray = [p for p in pod_templates(kuberay_prod.resources) if p.workload.startswith(("RayService", "RayJob"))]
    assert {p.spec["securityContext"]["runAsUser"] for p in ray} == {1000}


def test_an_autoscaler_sidecar_without_security_context_fails(kuberay_prod):
    def drop(inputs):
        del inputs["spec"]["rayClusterConfig"]["autoscalerOptions"]["securityContext"]

    verdict = _guard(kuberay_prod, resources_edited(kuberay_prod, "RayService", "llm", drop))
    assert verdict.status == "fail"
    assert "RayService llm-serving/llm head autoscaler sidecar: container autoscaler: allowPrivilegeEscalation" \
        in verdict.message


def test_only_node_agent_namespaces_are_privileged_each_with_why(plan_of):
    # EKS installs NVIDIA's device plugin and DCGM exporter itself: their namespaces (created by the charts) are
    # labelled privileged with the reason; GKE runs both as its own add-ons, so prod has none.
    from infra.guards.pod_security import node_agent_namespaces

    eks = stack_plan(plan_of("eks-prod").cfg)
    agents = node_agent_namespaces(StackPlan(eks.cfg, eks.pools, eks.cost, tuple(plan_of("eks-prod").resources)))
    assert sorted(agents) == ["nvidia-dcgm-exporter", "nvidia-device-plugin"]
    assert "/var/lib/kubelet/device-plugins" in agents["nvidia-device-plugin"]
    prod = stack_plan(plan_of("prod").cfg)
    assert node_agent_namespaces(StackPlan(prod.cfg, prod.pools, prod.cost, tuple(plan_of("prod").resources))) == {}


def test_a_privileged_label_without_a_reason_exempts_nothing(plan_of):
    # Relabelling llm-serving privileged (no reason) neither exempts its pods nor passes the llm-* label check.
    plan = plan_of("prod")

    def privileged(inputs):
        inputs["metadata"]["labels"][f"{PSA}/enforce"] = "privileged"

    verdict = _guard(plan, resources_edited(plan, "Namespace", "llm-serving", privileged))
    assert verdict.status == "fail"
    assert verdict.message.startswith(f"namespace llm-serving: {PSA}/enforce is 'privileged', not 'restricted'")


def _api_token_pods(plan) -> list[str]:
    """Pods that get a Kubernetes API token: the pod's automountServiceAccountToken, else its account's."""
    accounts = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]):
                r.inputs.get("automountServiceAccountToken", True)
                for r in plan.resources if r.inputs.get("kind") == "ServiceAccount"}
    return sorted(p.workload for p in pod_templates(plan.resources)
                  if p.spec.get("automountServiceAccountToken",
                                accounts.get((p.namespace, p.spec.get("serviceAccountName", "default")), True)))


def test_only_the_ray_head_with_the_autoscaler_gets_an_api_token(kuberay_prod, plan_of):
    # High finding: Ray pods ran with default service accounts and mounted tokens. Only the serving head keeps
    # one: its autoscaler sidecar scales the worker groups through the API (KubeRay binds its Role to the head's
    # account). The training RayJob has no autoscaler; plain mode has no pod that calls the API.
    assert _api_token_pods(kuberay_prod) == ["RayService llm-serving/llm head"]
    assert _api_token_pods(plan_of("prod")) == []
