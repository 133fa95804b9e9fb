"""Who reaches a RayJob's Ray cluster: its own Ray pods, and on the dashboard port (job submission: code execution on
the GPU node) only the job's submitter pod and the KubeRay operator (issue 17, item 5).

The RayService's cluster has its own policy beside it (infra/workloads/kuberay.py). Ray's token auth is not on for
the RayJob: KubeRay v1.7.0 gives the generated token to the Ray containers and to its own dashboard client, but not to
the K8sJobMode submitter pod (rayjob_controller.go getSubmitterTemplate/configureSubmitterContainer set no
RAY_AUTH_TOKEN), whose `ray job submit` would then be refused; this policy is the RayJob's gate.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.kuberay import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from infra.egress import SUBMITTER


def ray_job_dashboard_ingress(ray_job: str, dashboard_port: int, ray_node_label: dict[str, str]) -> list[dict]:
    """The ingress rules: Ray pods among themselves (GCS, object store, workers), the dashboard for the rest."""
    dashboard = [{"port": dashboard_port, "protocol": "TCP"}]
    return [
        {"from": [{"podSelector": {"matchLabels": ray_node_label}}]},
        # The submitter by the label our own submitterPodTemplate sets (infra/egress.py SUBMITTER; KubeRay v1.7.0
        # common/job.go GetSubmitterTemplate keeps the given template's labels), the one the flows contract reads.
        {"from": [{"podSelector": {"matchLabels": dict(SUBMITTER)}}], "ports": dashboard},
        # The RayJob controller polls the job's status on the dashboard (v1.7.0 rayjob_controller.go GetJobInfo).
        {"from": [{"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [KUBERAY_NAMESPACE]}]},
                   "podSelector": {"matchLabels": KUBERAY_OPERATOR_LABELS}}], "ports": dashboard},
    ]


def ray_dashboard_policy(name: str, namespace: pulumi.Input[str], labels: dict[str, str], ray_job: str,
                         dashboard_port: int, ray_node_label: dict[str, str],
                         parent: pulumi.Resource) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"ray-{ray_job}", namespace=namespace, labels=labels),
        spec={"podSelector": {"matchLabels": ray_node_label}, "policyTypes": ["Ingress"],
              "ingress": ray_job_dashboard_ingress(ray_job, dashboard_port, ray_node_label)},
        opts=pulumi.ResourceOptions(parent=parent))
