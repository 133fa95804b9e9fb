"""Issue 17, item 6 (Medium): operators and add-ons with least privilege. KEDA reads no Secret outside its own
namespace and watches only the serving namespace; the KubeRay operator watches only our namespaces; Grafana's
sidecar reads only its own namespace and no admin password sits in the release values. Also the Low finding
"KEDA's query spans the whole project": its PromQL is scoped to this cluster and namespace."""

from __future__ import annotations


def releases(plan) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in plan.of_type("kubernetes:helm.sh/v3:Release")}


def test_keda_reads_only_its_own_secrets_and_watches_only_serving(plan_of):
    # Finding "KEDA reads every Secret": chart keda 2.20.2 keeps cluster-wide secrets list/watch in the operator's
    # ClusterRole unless permissions.operator.restrict.secret is true (and the same for the metrics server).
    values = releases(plan_of("prod"))["keda"]["values"]
    assert values["permissions"] == {"operator": {"restrict": {"secret": True}},
                                     "metricServer": {"restrict": {"secret": True}}}
    assert values["watchNamespace"] == "llm-serving"  # the namespace of the ScaledObjects, nothing else
    # Its cloud identity stays (it queries Managed Prometheus through the Cloud Monitoring API), with one read role.
    roles = {r.inputs["role"] for r in plan_of("prod").of_type("gcp:projects/iAMMember:IAMMember")
             if "keda" in r.name}
    assert roles == {"roles/monitoring.viewer"}


def test_keda_query_is_scoped_to_this_cluster_and_namespace(plan_of):
    # Low finding "KEDA's query spans the whole project": Managed Prometheus is project-wide, so the query names
    # the model, this stack's cluster (llm-fleet-prod) and the serving namespace.
    (scaled,) = [o for o in plan_of("prod").manifests() if o["kind"] == "ScaledObject"]
    queue = next(t for t in scaled["spec"]["triggers"] if t["name"] == "queue")
    assert queue["metadata"]["query"] == \
        'sum(vllm:num_requests_waiting{model_name="qwen-7b",cluster="llm-fleet-prod",namespace="llm-serving"})'


def test_kuberay_operator_watches_only_our_namespaces(kuberay_plan):
    # Finding "the KubeRay operator watches the whole cluster": chart kuberay-operator 1.7.0 installs a ClusterRole
    # unless singleNamespaceInstall is on; then a Role in each watchNamespace entry. prod has training (a RayJob in
    # llm-training) besides the RayService in llm-serving.
    values = releases(kuberay_plan("prod"))["kuberay-operator"]["values"]
    assert values["singleNamespaceInstall"] is True
    assert values["watchNamespace"] == ["llm-serving", "llm-training"]


def test_grafana_sidecar_is_namespaced_and_sets_no_password(plan_of):
    # Findings "Grafana's sidecar reads Secrets cluster-wide" and "default admin password" (eks-prod: self-hosted).
    plan = plan_of("eks-prod")
    grafana = releases(plan)["kube-prometheus-stack"]["values"]["grafana"]
    assert grafana["rbac"] == {"namespaced": True}  # a Role in `monitoring`, no ClusterRole
    assert grafana["sidecar"]["dashboards"]["searchNamespace"] == "monitoring"
    assert grafana["sidecar"]["dashboards"]["resource"] == "configmap"
    assert "adminPassword" not in grafana  # the chart generates 40 random characters and keeps them
    (dashboard,) = [o for o in plan.manifests() if o["kind"] == "ConfigMap"
                    and o["metadata"]["name"] == "llm-fleet-vllm-dashboard"]
    assert dashboard["metadata"]["namespace"] == "monitoring"  # where the namespaced sidecar can read it
