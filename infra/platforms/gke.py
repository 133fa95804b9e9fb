"""GKE platform: network, cluster, node pools, registry, budget — and the `Platform` it returns.

Owns everything that is GCP-specific. The cluster is VPC-native, drops the default node pool
(so every pool is declared and sized here), uses Workload Identity and a release channel.
GPU pools get GKE-managed drivers, the GPU taint and the labels workloads select on.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.catalog import GPUS, GpuSpec, MachineShape
from infra.config import StackConfig
from infra.platforms import (
    CLOUD_TAINT_EFFECT,
    GPU_LABEL,
    KEDA_NAMESPACE,
    KEDA_OPERATOR_SA,
    POOL_LABEL,
    PURPOSE_LABEL,
    SYSTEM_DISK_GB,
    DashboardFactory,
    ManagedPrometheus,
    Platform,
    PoolFacts,
    catalog_pool_facts,
    exec_kubeconfig,
    gke_allocatable,
    stack_tags,
)
from infra.platforms.gcp_budget import GcpBudget

_APIS = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
)
# SSD persistent disks, created in the zone of the pod that claims them.
SSD_STORAGE_CLASS = "llm-fleet-ssd"


def _gke_gpu_selector(spec: GpuSpec, shape: MachineShape) -> dict[str, str]:
    return {"cloud.google.com/gke-accelerator": spec.gke_accelerator}


def gke_pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone, so cost and guards need no cloud."""
    return catalog_pool_facts(cfg, "gke", gke_allocatable, _gke_gpu_selector)


def gke_cluster_name(stack: str) -> str:
    return f"llm-fleet-{stack}"


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


def _kubeconfig(cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    # Authenticates through gke-gcloud-auth-plugin.
    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
        lambda a: exec_kubeconfig(a[0], f"https://{a[1]}", a[2], {
            "command": "gke-gcloud-auth-plugin", "provideClusterInfo": True,
            "installHint": "Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin)"}))


class GkePlatform(pulumi.ComponentResource):
    """A GKE cluster with one node pool per configured pool, a registry and a budget."""

    platform: Platform

    def __init__(self, name: str, args: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:GkePlatform", name, None, opts)
        cfg = args
        assert cfg.gcp is not None, "validated by config"
        gcp_cfg = cfg.gcp
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)
        # Stateful or slow-to-rebuild resources: `pulumi destroy` in prod must be a deliberate act.
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=cfg.profile.protect))
        labels = stack_tags(cfg)

        apis = [
            gcp.projects.Service(f"{name}-api-{api.split('.')[0]}", project=gcp_cfg.project, service=api,
                                 disable_on_destroy=False, opts=child)
            for api in _APIS
        ]
        after_apis = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=apis))

        network = gcp.compute.Network(f"{name}-vpc", project=gcp_cfg.project, auto_create_subnetworks=False,
                                      opts=after_apis)
        subnet = gcp.compute.Subnetwork(
            f"{name}-nodes",
            project=gcp_cfg.project,
            region=gcp_cfg.region,
            network=network.id,
            ip_cidr_range=gcp_cfg.subnet_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="pods", ip_cidr_range=gcp_cfg.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name="services",
                                                           ip_cidr_range=gcp_cfg.services_cidr),
            ],
            opts=child,
        )
        if gcp_cfg.private_nodes:
            # Private nodes have no external IPs: Cloud NAT lets them pull images and weights.
            router = gcp.compute.Router(f"{name}-router", project=gcp_cfg.project, region=gcp_cfg.region,
                                        network=network.id, opts=child)
            gcp.compute.RouterNat(
                f"{name}-nat", project=gcp_cfg.project, region=gcp_cfg.region, router=router.name,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES", opts=child,
            )

        node_sa = gcp.serviceaccount.Account(
            f"{name}-nodes-sa", project=gcp_cfg.project, account_id=f"llm-fleet-{stack}"[:24].rstrip("-") + "-nodes",
            display_name=f"llm-fleet {stack} GKE nodes", opts=after_apis,
        )
        # Least privilege for nodes: the role GKE defines for them ("Grant the minimum required role for GKE",
        # https://docs.cloud.google.com/kubernetes-engine/security/configure-node-service-accounts), plus pulling
        # our images (Artifact Registry is not in it). Workloads get their own identities.
        for role in ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"):
            gcp.projects.IAMMember(f"{name}-nodes-{role.split('/')[1].replace('.', '-').lower()}",
                                   project=gcp_cfg.project, role=role,
                                   member=node_sa.email.apply(lambda e: f"serviceAccount:{e}"), opts=child)

        private = (
            gcp.container.ClusterPrivateClusterConfigArgs(enable_private_nodes=True, enable_private_endpoint=False,
                                                          master_ipv4_cidr_block="172.16.0.0/28")
            if gcp_cfg.private_nodes else None
        )
        cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=gke_cluster_name(stack),
            project=gcp_cfg.project,
            location=gcp_cfg.region,
            node_locations=gcp_cfg.zones,
            network=network.id,
            subnetwork=subnet.id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name="pods", services_secondary_range_name="services"),
            # The default pool cannot be sized or tainted the way we need: drop it, declare our own.
            remove_default_node_pool=True,
            initial_node_count=1,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=gcp_cfg.release_channel),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{gcp_cfg.project}.svc.id.goog"),
            private_cluster_config=private,
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
                # DCGM: GPU utilisation and memory metrics, collected by GKE into Managed Prometheus.
                enable_components=["SYSTEM_COMPONENTS", "DCGM"]),
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2 enforces NetworkPolicy
            # Gateway API: KubeRay's incremental RayService upgrade splits traffic through it.
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            deletion_protection=cfg.profile.protect,
            resource_labels=labels,
            opts=stateful,
        )

        facts = gke_pool_facts(cfg)
        system = facts["system"]
        self._node_pool(name, cluster, cfg, system, node_sa, labels, spot=False, disk_gb=SYSTEM_DISK_GB)
        for pool in cfg.node_pools:
            self._node_pool(name, cluster, cfg, facts[pool.name], node_sa, labels,
                            spot=pool.capacity == "spot", disk_gb=pool.disk_size_gb, reservation=pool.reservation,
                            zones=pool.zones)

        registry = gcp.artifactregistry.Repository(
            f"{name}-registry",
            project=gcp_cfg.project,
            location=gcp_cfg.region,
            repository_id="llm-fleet",
            format="DOCKER",
            description="llm-fleet serving images (promoted by digest)",
            # Immutable tags: a digest promoted to prod can never be re-pointed under the same tag.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=cfg.tier != "dev"),
            labels=labels,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=apis)),
        )
        registry_url = pulumi.Output.concat(gcp_cfg.region, "-docker.pkg.dev/", gcp_cfg.project, "/",
                                            registry.repository_id)

        kubeconfig = pulumi.Output.secret(_kubeconfig(cluster))
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True, opts=child)
        k8s.storage.v1.StorageClass(
            f"{name}-ssd-storage",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SSD_STORAGE_CLASS, labels={"app.kubernetes.io/part-of":
                                                                                "llm-fleet"}),
            provisioner="pd.csi.storage.gke.io",
            parameters={"type": "pd-ssd"},
            # Bind where the pod lands, so the disk is created in the GPU node's zone.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Retain" if cfg.profile.protect else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )

        managed_prometheus = None
        if cfg.serving.monitoring == "platform":
            managed_prometheus = self._keda_reads_managed_prometheus(name, cfg, after_apis, apis)

        budget = None
        if cfg.budget is not None:
            budget = GcpBudget(f"{name}-budget", cfg, opts=pulumi.ResourceOptions(parent=self, depends_on=apis))

        self.cluster_name = cluster.name
        self.kubeconfig = kubeconfig
        self.registry_url = registry_url
        self.platform = Platform(
            cloud="gke",
            provider=provider,
            pools=facts,
            storage_class=SSD_STORAGE_CLASS,
            registry=registry_url,
            managed_prometheus=managed_prometheus,
            internal_lb_annotations={"networking.gke.io/load-balancer-type": "Internal"},
            exports={"clusterName": cluster.name, "kubeconfig": kubeconfig, "registryUrl": registry_url,
                     "budgetName": budget.budget_name if budget else None},
        )
        self.register_outputs({
            "clusterName": self.cluster_name,
            "kubeconfig": self.kubeconfig,
            "registryUrl": registry_url,
            "budgetName": budget.budget_name if budget else None,
        })

    def _keda_reads_managed_prometheus(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions,
                                       apis: list[gcp.projects.Service]) -> ManagedPrometheus:
        """A Google identity that may read Managed Prometheus, bound to KEDA's operator by Workload Identity."""
        assert cfg.gcp is not None
        project = cfg.gcp.project
        reader = gcp.serviceaccount.Account(
            f"{name}-keda-sa", project=project, account_id=f"keda-{pulumi.get_stack()}"[:24].rstrip("-") + "-metrics",
            display_name="KEDA: reads Managed Prometheus for autoscaling", opts=opts)
        gcp.projects.IAMMember(f"{name}-keda-monitoring-viewer", project=project, role="roles/monitoring.viewer",
                               member=reader.email.apply(lambda e: f"serviceAccount:{e}"),
                               opts=pulumi.ResourceOptions(parent=self))
        gcp.serviceaccount.IAMMember(
            f"{name}-keda-workload-identity", service_account_id=reader.name, role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{KEDA_NAMESPACE}/{KEDA_OPERATOR_SA}]",
            opts=pulumi.ResourceOptions(parent=self))
        return ManagedPrometheus(
            query_url=f"https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus",
            scraper_namespace="gmp-system",
            keda_pod_identity="gcp",
            keda_operator_annotations={"iam.gke.io/gcp-service-account": reader.email},
            # Managed Prometheus is project-wide: each series carries the `cluster` (and `namespace`) it came from
            # (https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed: a Rules query is scoped
            # as up{project_id=…, cluster=…, namespace=…}), so two stacks in one project stay apart only by it.
            series_labels={"cluster": gke_cluster_name(pulumi.get_stack())},
            dashboard=_cloud_monitoring_dashboard(project, apis),
        )

    def _node_pool(self, name: str, cluster: gcp.container.Cluster, cfg: StackConfig, facts: PoolFacts,
                   node_sa: gcp.serviceaccount.Account, labels: dict[str, str], *, spot: bool, disk_gb: int,
                   reservation: str | None = None, zones: list[str] | None = None) -> gcp.container.NodePool:
        assert cfg.gcp is not None
        gpu = GPUS[facts.gpu] if facts.gpu else None
        shape = gpu.shape("gke", facts.gpus_per_node, facts.machine_type) if gpu else None
        node_labels = {POOL_LABEL: facts.name, PURPOSE_LABEL: facts.purpose}
        if facts.gpu:
            node_labels[GPU_LABEL] = facts.gpu.value.lower()
        configured = next((p for p in cfg.node_pools if p.name == facts.name), None)
        if configured:
            node_labels.update(configured.labels)
        node_config = gcp.container.NodePoolNodeConfigArgs(
            machine_type=facts.machine_type,
            spot=spot,
            disk_size_gb=disk_gb,
            disk_type="pd-balanced",
            labels=node_labels,
            resource_labels=labels,
            taints=[gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value,
                                                              effect=CLOUD_TAINT_EFFECT[t.effect])
                    for t in facts.taints],
            service_account=node_sa.email,
            oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
            workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            # Image streaming: multi-GB vLLM images start before they are fully pulled.
            gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
            gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
            guest_accelerators=[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                type=gpu.gke_accelerator,
                count=facts.gpus_per_node,
                gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                    gpu_driver_version="LATEST"),
            )] if gpu else None,
            # Bundled local NVMe becomes ephemeral storage: emptyDir caches at local-SSD speed.
            ephemeral_storage_local_ssd_config=(
                gcp.container.NodePoolNodeConfigEphemeralStorageLocalSsdConfigArgs(local_ssd_count=shape.local_ssds)
                if shape and shape.local_ssds else None),
            reservation_affinity=gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                consume_reservation_type="SPECIFIC_RESERVATION",
                key="compute.googleapis.com/reservation-name",
                values=[reservation],
            ) if reservation else None,
        )
        return gcp.container.NodePool(
            f"{name}-pool-{facts.name}",
            project=cfg.gcp.project,
            cluster=cluster.id,
            location=cfg.gcp.region,
            # A pool held to some zones (a zonal reservation's) uses those; else every zone of the cluster.
            node_locations=zones or cfg.gcp.zones,
            # total_* are across all zones (plain min/max would be per zone and multiply by zone count).
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=facts.min_nodes,
                total_max_node_count=facts.max_nodes,
                # GPUs are scarce: take capacity in whichever zone has it rather than balancing zones.
                location_policy="ANY" if gpu else "BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # Surge upgrades would need a spare GPU node; replace GPU nodes one at a time instead.
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                max_surge=0 if gpu else 1, max_unavailable=1 if gpu else 0),
            node_config=node_config,
            opts=pulumi.ResourceOptions(parent=self),
        )
