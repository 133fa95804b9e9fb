"""GKE platform: network, cluster, node pools, registry, budget — and the `Platform` it returns.

Owns everything that is GCP-specific. The cluster is VPC-native, drops the default node pool
(so every pool is declared and sized here), uses Workload Identity and a release channel.
GPU pools get GKE-managed drivers, the GPU taint and the labels workloads select on.
"""

from __future__ import annotations

import hashlib
import json
import re

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.catalog import GPUS, GpuSpec, MachineShape
from infra.config import StackConfig
from infra.names import (
    GPU_LABEL,
    KEDA_METRICS_SERVER_PORT,
    KEDA_NAMESPACE,
    KEDA_OPERATOR_SA,
    KEDA_WEBHOOK_PORT,
    PART_OF,
    POOL_LABEL,
    PURPOSE_LABEL,
)
from infra.platforms.gcp_budget import GcpBudget
from infra.platforms.kubeconfig import exec_kubeconfig
from infra.platforms.nodes import CLOUD_TAINT_EFFECT, SYSTEM_DISK_GB, catalog_pool_facts, gke_allocatable
from infra.platforms.seam import (
    DashboardFactory,
    ExecPlugin,
    IdentityRequest,
    ManagedPrometheus,
    Platform,
    PoolFacts,
    WorkloadIdentity,
)
from infra.platforms.stack import stack_tags

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
# IAM's rule for a service account id: 6-30 characters matching [a-z]([-a-z0-9]*[a-z0-9]) (CreateServiceAccountRequest
# account_id, https://docs.cloud.google.com/python/docs/reference/iam/latest/google.cloud.iam_admin_v1.types.CreateServiceAccountRequest).
ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
# Bucket roles (https://cloud.google.com/storage/docs/access-control/iam-roles): objectViewer gets and lists
# objects; objectUser also creates, updates and deletes them (a checkpoint overwrite is a delete + create),
# without objectAdmin's power to change object ACLs.
READ_ROLE, WRITE_ROLE = "roles/storage.objectViewer", "roles/storage.objectUser"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"


def gcp_service_account_id(stem: str, stack: str, suffix: str, *, keep_truncated: bool = False) -> str:
    """A valid, stable account id `<stem>-<stack>-<suffix>` for a Google service account of this stack.

    Used as is when valid. Otherwise (a stack name with uppercase, dots or underscores, or one too long) the
    stack part is lowercased, cleaned and cut, and a hash of the real stack name keeps ids of different stacks
    apart. `keep_truncated`: the account exists already under the cut-without-hash id of earlier versions,
    which is kept where valid, because changing an id replaces the account (and its bindings).
    """
    room = 30 - len(suffix) - 1
    plain = f"{stem}-{stack}"
    legacy = plain[:room].rstrip("-") + f"-{suffix}"
    if ACCOUNT_ID.fullmatch(legacy) and (keep_truncated or len(plain) <= room):
        return legacy
    digest = hashlib.sha256(stack.encode()).hexdigest()[:6]
    clean = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", plain.lower()))
    account = f"{clean[:room - 7].rstrip('-')}-{digest}-{suffix}"
    assert ACCOUNT_ID.fullmatch(account), account
    return account
# GatewayClasses whose load balancer runs Envoy proxies in a regional proxy-only subnet that must exist first
# ("If you are using the regional or cross-region GatewayClasses, you must enable a proxy-only subnet":
# cloud.google.com/kubernetes-engine/docs/how-to/deploying-gateways).
REGIONAL_GATEWAY_CLASSES = ("gke-l7-rilb", "gke-l7-regional-external-managed")
# On private clusters GKE's own rule (gke-<cluster>-<hash>-master) lets the control plane reach nodes on these
# ports only (cloud.google.com/kubernetes-engine/docs/how-to/private-clusters#add_firewall_rules).
GKE_MASTER_PORTS = (443, 10250)
# Where Google Cloud's health check probes come from, for Envoy-based load balancers too: the proxies' traffic comes
# from the proxy-only subnet, the probes from these ranges (cloud.google.com/load-balancing/docs/firewall-rules:
# "allows health check probes to reach your backend instances"; Google's regional internal Application Load Balancer
# sample admits 130.211.0.0/22 and 35.191.0.0/16 beside the proxy subnet: terraform-google-modules/
# terraform-docs-samples lb/internal_http_lb_with_mig_backend/main.tf). With container-native NEGs the probe targets
# the endpoint, i.e. the pod's serving port (the Gateway's health checks use port_specification USE_SERVING_PORT
# unless a HealthCheckPolicy sets a port), so a NetworkPolicy on the pod must admit these ranges on that port.
GCP_HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")


def node_tag(stack: str) -> str:
    """The network tag every node of the stack carries: what our firewall rules target."""
    return f"llm-fleet-{stack}-node"[:63]


def needs_proxy_only_subnet(cfg: StackConfig) -> bool:
    """KubeRay's incremental upgrade routes through a Gateway; a regional GKE GatewayClass needs proxies."""
    return (cfg.cloud == "gke" and cfg.serving.mode == "kuberay"
            and cfg.profile.ray_upgrade == "NewClusterWithIncrementalUpgrade"
            and cfg.serving.gateway_class in REGIONAL_GATEWAY_CLASSES)


def _gke_gpu_selector(spec: GpuSpec, shape: MachineShape) -> dict[str, str]:
    return {"cloud.google.com/gke-accelerator": spec.gke_accelerator}


def gke_pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone, so cost and guards need no cloud."""
    return catalog_pool_facts(cfg, "gke", gke_allocatable, _gke_gpu_selector)


# The kubeconfig's credential plugin: a gcloud component (`gcloud components install gke-gcloud-auth-plugin`,
# https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl). In CI,
# google-github-actions/setup-gcloud installs components named in its `install_components` input (its README).
# The CI prerequisites guard reads this constant too: one source for what CI must install.
KUBECONFIG_EXEC = ExecPlugin(
    "gke-gcloud-auth-plugin",
    "add a google-github-actions/setup-gcloud step with `install_components: gke-gcloud-auth-plugin` before it")
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
            "command": KUBECONFIG_EXEC.command, "provideClusterInfo": True,
            "installHint": f"Install {KUBECONFIG_EXEC.command} "
                           f"(gcloud components install {KUBECONFIG_EXEC.command})"}))


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
        proxy_cidrs: tuple[str, ...] = ()
        if needs_proxy_only_subnet(cfg):
            # The regional internal Gateway's Envoy proxies take their addresses here; without it the Gateway never
            # programs and KubeRay's incremental upgrade stalls with both clusters up. GKE's gkegw1-l7-* firewall
            # rule admits this range to the backends (cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules).
            gcp.compute.Subnetwork(
                f"{name}-proxy-only", project=gcp_cfg.project, region=gcp_cfg.region, network=network.id,
                ip_cidr_range=gcp_cfg.proxy_only_subnet_cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE",
                opts=child)
            proxy_cidrs = (gcp_cfg.proxy_only_subnet_cidr,)
        if gcp_cfg.private_nodes and cfg.serving.mode == "vllm":
            # KEDA serves the HPA's external metrics on 6443 and its admission webhooks on 9443; GKE's master rule
            # opens only 443/10250 (github.com/kedacore/keda-docs content/troubleshooting/proxy-network.md, "GKE").
            gcp.compute.Firewall(
                f"{name}-master-to-keda", project=gcp_cfg.project, network=network.id, direction="INGRESS",
                description="GKE control plane -> KEDA metrics server (6443) and admission webhooks (9443)",
                source_ranges=[gcp_cfg.master_cidr],
                allows=[gcp.compute.FirewallAllowArgs(
                    protocol="tcp", ports=[str(KEDA_METRICS_SERVER_PORT), str(KEDA_WEBHOOK_PORT)])],
                target_tags=[node_tag(stack)], opts=after_apis)
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
            f"{name}-nodes-sa", project=gcp_cfg.project,
            account_id=gcp_service_account_id("llm-fleet", stack, "nodes", keep_truncated=True),
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
                                                          master_ipv4_cidr_block=gcp_cfg.master_cidr)
            if gcp_cfg.private_nodes else None
        )
        networks = cfg.control_plane.authorized_networks
        assert networks is not None, "validated by config"
        # Only these ranges reach the public endpoint; no blanket "any Google Cloud address" either.
        authorized = gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
            cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                cidr_block=cidr, display_name=f"controlPlane.authorizedNetworks[{i}]")
                for i, cidr in enumerate(networks)],
            gcp_public_cidrs_access_enabled=False)
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
            master_authorized_networks_config=authorized,
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
        system_pool = self._node_pool(name, cluster, cfg, system, node_sa, labels, spot=False, disk_gb=SYSTEM_DISK_GB)
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
        # Everything Kubernetes waits for a node that can run pods: the cluster itself comes up with none (its
        # default pool is removed), and Helm releases that wait for their pods would otherwise time out.
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[system_pool]))
        k8s.storage.v1.StorageClass(
            f"{name}-ssd-storage",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SSD_STORAGE_CLASS, labels=PART_OF),
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
            managed_prometheus = self._keda_reads_managed_prometheus(name, cfg, after_apis, apis, cluster)

        budget = None
        if cfg.budget is not None:
            budget = GcpBudget(f"{name}-budget", cfg, opts=pulumi.ResourceOptions(parent=self, depends_on=apis))

        self._name, self._project, self._after_apis, self._cluster = name, gcp_cfg.project, after_apis, cluster
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
            gateway_proxy_cidrs=proxy_cidrs,
            gateway_health_check_cidrs=GCP_HEALTH_CHECK_RANGES if proxy_cidrs else (),
            exports={"clusterName": cluster.name, "kubeconfig": kubeconfig, "registryUrl": registry_url,
                     "budgetName": budget.budget_name if budget else None},
            workload_identity=self._workload_identity,
        )
        self.register_outputs({
            "clusterName": self.cluster_name,
            "kubeconfig": self.kubeconfig,
            "registryUrl": registry_url,
            "budgetName": budget.budget_name if budget else None,
        })

    def _workload_identity(self, request: IdentityRequest) -> WorkloadIdentity:
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
        name, project = f"{self._name}-{request.name}", self._project
        account_id = gcp_service_account_id("llm-fleet", pulumi.get_stack(), request.name)
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        account = gcp.serviceaccount.Account(
            f"{name}-sa", project=project, account_id=account_id,
            display_name=f"llm-fleet {pulumi.get_stack()}: {request.namespace}/{request.service_account}",
            opts=self._after_apis)
        after_account = pulumi.ResourceOptions(parent=self, depends_on=[account])
        # The pool `<project>.svc.id.goog` exists once the cluster does: bound earlier, a first `up` fails with
        # "Error 400: Identity Pool does not exist" (terraform-google-modules/terraform-google-kubernetes-engine
        # issue #916, PR #301; google/kctf issue #193). The member stays a computed string so a preview shows it.
        grants: list[pulumi.Resource] = [gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity", service_account_id=f"projects/{project}/serviceAccounts/{email}",
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{request.namespace}/{request.service_account}]",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, self._cluster]))]
        for access in buckets:
            role = WRITE_ROLE if access.write else READ_ROLE
            grants.append(gcp.storage.BucketIAMMember(
                f"{name}-{access.bucket}-{role.rsplit('.', 1)[1].lower()}", bucket=access.bucket, role=role,
                member=f"serviceAccount:{email}", opts=after_account))
        return WorkloadIdentity({WORKLOAD_IDENTITY_ANNOTATION: email}, tuple(grants))

    def _keda_reads_managed_prometheus(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions,
                                       apis: list[gcp.projects.Service],
                                       cluster: gcp.container.Cluster) -> ManagedPrometheus:
        """A Google identity that may read Managed Prometheus, bound to KEDA's operator by Workload Identity."""
        assert cfg.gcp is not None
        project = cfg.gcp.project
        reader = gcp.serviceaccount.Account(
            f"{name}-keda-sa", project=project,
            account_id=gcp_service_account_id("keda", pulumi.get_stack(), "metrics", keep_truncated=True),
            display_name="KEDA: reads Managed Prometheus for autoscaling", opts=opts)
        gcp.projects.IAMMember(f"{name}-keda-monitoring-viewer", project=project, role="roles/monitoring.viewer",
                               member=reader.email.apply(lambda e: f"serviceAccount:{e}"),
                               opts=pulumi.ResourceOptions(parent=self))
        gcp.serviceaccount.IAMMember(
            f"{name}-keda-workload-identity", service_account_id=reader.name, role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{KEDA_NAMESPACE}/{KEDA_OPERATOR_SA}]",
            # The pool exists once the cluster does (see _workload_identity).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]))
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
            tags=[node_tag(pulumi.get_stack())],  # what the stack's firewall rules target
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
