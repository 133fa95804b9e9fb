"""Google identities on GKE: a workload's Google service account (Workload Identity) with exactly its bucket roles,
and KEDA's reader of Managed Prometheus (with the Cloud Monitoring dashboard factory that goes with it).

Plain functions and a plain class that create resources as children of the `GkePlatform` component.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp

from infra.names import KEDA_NAMESPACE, KEDA_OPERATOR_SA
from infra.platforms.gke.facts import (
    READ_ROLE,
    WORKLOAD_IDENTITY_ANNOTATION,
    WRITE_ROLE,
    gcp_service_account_id,
    gke_cluster_name,
)
from infra.seam import DashboardFactory, IdentityRequest, ManagedPrometheus, WorkloadIdentity


def workload_identity(name: str, project: str, request: IdentityRequest, after_apis: pulumi.ResourceOptions,
                      cluster: gcp.container.Cluster, parent: pulumi.Resource) -> WorkloadIdentity:
    """A Google service account the Kubernetes one acts as, with a role on exactly each bucket it uses.

    Workload Identity by impersonation, as for KEDA (https://cloud.google.com/kubernetes-engine/docs/how-to/
    workload-identity, "link Kubernetes ServiceAccounts to IAM"): the service account's annotation names the
    Google account, and
    `roles/iam.workloadIdentityUser` for `<project>.svc.id.goog[<ns>/<sa>]` lets it do so. Chosen over
    granting the bucket role to the federated principal directly (principal://…/subject/ns/<ns>/sa/<sa>,
    no Google account): that identifier needs the project number, and leaves no annotation in the
    manifest to say which identity a pod has. Roles are bucket-level: scoping to a prefix would take IAM
    Conditions (or managed folders) set up on buckets the user owns, which this stack does not manage.
    Every name is computed here, not read back, so the plan (and a preview) can check the whole chain.
    """
    buckets = [b for b in request.buckets if b.scheme == "gs"]
    if not buckets:
        return WorkloadIdentity()
    name = f"{name}-{request.name}"
    account_id = gcp_service_account_id("llm-fleet", pulumi.get_stack(), request.name)
    email = f"{account_id}@{project}.iam.gserviceaccount.com"
    account = gcp.serviceaccount.Account(
        f"{name}-sa", project=project, account_id=account_id,
        display_name=f"llm-fleet {pulumi.get_stack()}: {request.namespace}/{request.service_account}",
        opts=after_apis)
    after_account = pulumi.ResourceOptions(parent=parent, depends_on=[account])
    # The pool `<project>.svc.id.goog` exists once the cluster does: bound earlier, a first `up` fails with
    # "Error 400: Identity Pool does not exist" (terraform-google-modules/terraform-google-kubernetes-engine
    # issue #916, PR #301; google/kctf issue #193). The member stays a computed string so a preview shows it.
    grants: list[pulumi.Resource] = [gcp.serviceaccount.IAMMember(
        f"{name}-workload-identity", service_account_id=f"projects/{project}/serviceAccounts/{email}",
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{project}.svc.id.goog[{request.namespace}/{request.service_account}]",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[account, cluster]))]
    for access in buckets:
        role = WRITE_ROLE if access.write else READ_ROLE
        grants.append(gcp.storage.BucketIAMMember(
            f"{name}-{access.bucket}-{role.rsplit('.', 1)[1].lower()}", bucket=access.bucket, role=role,
            member=f"serviceAccount:{email}", opts=after_account))
    return WorkloadIdentity({WORKLOAD_IDENTITY_ANNOTATION: email}, tuple(grants))


def _cloud_monitoring_dashboard(project: str, apis: list[gcp.projects.Service]) -> DashboardFactory:
    """Dashboards in Cloud Monitoring, which charts Managed Prometheus with PromQL: nothing on GKE loads Grafana's."""

    def create(name: str, title: str, panels: list[tuple[str, str]],
               opts: pulumi.ResourceOptions) -> pulumi.Resource:
        # A chart of a PromQL query: widget.xyChart.dataSets[].timeSeriesQuery.prometheusQuery
        # (https://cloud.google.com/monitoring/dashboards/api-examples, "Using MQL or PromQL with the API").
        body = {"displayName": title, "gridLayout": {"columns": "3", "widgets": [
            {"title": t, "xyChart": {"dataSets": [{"timeSeriesQuery": {"prometheusQuery": q}, "plotType": "LINE"}]}}
            for t, q in panels]}}
        after_apis = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=apis))
        return gcp.monitoring.Dashboard(name, project=project, dashboard_json=json.dumps(body, indent=1),
                                        opts=after_apis)

    return create


def keda_reads_managed_prometheus(name: str, project: str, after_apis: pulumi.ResourceOptions,
                                  apis: list[gcp.projects.Service], cluster: gcp.container.Cluster,
                                  parent: pulumi.Resource) -> ManagedPrometheus:
    """A Google identity that may read Managed Prometheus, bound to KEDA's operator by Workload Identity.

    KEDA needs one: Managed Prometheus is queried through the Cloud Monitoring API, never anonymously
    (docs.cloud.google.com/stackdriver/docs/managed-prometheus/query-api-ui, read 2026-11-30), and KEDA's `gcp` pod
    identity is how its scaler authenticates (keda.sh/docs/2.15/authentication-providers/gcp-workload-identity).
    roles/monitoring.viewer is the one predefined role that reads time series; it writes and administers nothing.
    """
    reader = gcp.serviceaccount.Account(
        f"{name}-keda-sa", project=project,
        account_id=gcp_service_account_id("keda", pulumi.get_stack(), "metrics", keep_truncated=True),
        display_name="KEDA: reads Managed Prometheus for autoscaling", opts=after_apis)
    gcp.projects.IAMMember(f"{name}-keda-monitoring-viewer", project=project, role="roles/monitoring.viewer",
                           member=reader.email.apply(lambda e: f"serviceAccount:{e}"),
                           opts=pulumi.ResourceOptions(parent=parent))
    gcp.serviceaccount.IAMMember(
        f"{name}-keda-workload-identity", service_account_id=reader.name, role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{project}.svc.id.goog[{KEDA_NAMESPACE}/{KEDA_OPERATOR_SA}]",
        # The pool exists once the cluster does (see workload_identity).
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[cluster]))
    return ManagedPrometheus(
        query_url=f"https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus",
        scraper_namespace="gmp-system",
        keda_pod_identity="gcp",
        keda_operator_annotations={WORKLOAD_IDENTITY_ANNOTATION: reader.email},
        # Managed Prometheus is project-wide: each series carries the `cluster` (and `namespace`) it came from
        # (https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed: a Rules query is scoped
        # as up{project_id=…, cluster=…, namespace=…}), so two stacks in one project stay apart only by it.
        series_labels={"cluster": gke_cluster_name(pulumi.get_stack())},
        dashboard=_cloud_monitoring_dashboard(project, apis),
    )
