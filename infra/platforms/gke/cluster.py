"""The GKE cluster: its nodes' service account, the VPC-native private cluster, its kubeconfig and registry.

Plain functions that create resources as children of the `GkePlatform` component (their URNs stay its).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.platforms.gke.args import GkeArgs
from infra.platforms.gke.facts import KUBECONFIG_EXEC, gcp_service_account_id, gke_cluster_name
from infra.platforms.gke.network import GkeNetwork
from infra.platforms.kubeconfig import exec_kubeconfig


def node_service_account(name: str, args: GkeArgs, net: GkeNetwork,
                         parent: pulumi.Resource) -> gcp.serviceaccount.Account:
    stack = pulumi.get_stack()
    node_sa = gcp.serviceaccount.Account(
        f"{name}-nodes-sa", project=args.project,
        account_id=gcp_service_account_id("llm-fleet", stack, "nodes", keep_truncated=True),
        display_name=f"llm-fleet {stack} GKE nodes", opts=net.after_apis,
    )
    # Least privilege for nodes: the role GKE defines for them ("Grant the minimum required role for GKE",
    # https://docs.cloud.google.com/kubernetes-engine/security/configure-node-service-accounts), plus pulling
    # our images (Artifact Registry is not in it). Workloads get their own identities.
    for role in ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"):
        gcp.projects.IAMMember(f"{name}-nodes-{role.split('/')[1].replace('.', '-').lower()}",
                               project=args.project, role=role,
                               member=node_sa.email.apply(lambda e: f"serviceAccount:{e}"),
                               opts=pulumi.ResourceOptions(parent=parent))
    return node_sa


def gke_cluster(name: str, args: GkeArgs, net: GkeNetwork, stateful: pulumi.ResourceOptions) -> gcp.container.Cluster:
    private = (
        gcp.container.ClusterPrivateClusterConfigArgs(enable_private_nodes=True, enable_private_endpoint=False,
                                                      master_ipv4_cidr_block=args.master_cidr)
        if args.private_nodes else None
    )
    # Only these ranges reach the public endpoint; no blanket "any Google Cloud address" either.
    authorized = gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
            cidr_block=cidr, display_name=f"controlPlane.authorizedNetworks[{i}]")
            for i, cidr in enumerate(args.authorized_networks)],
        gcp_public_cidrs_access_enabled=False)
    return gcp.container.Cluster(
        f"{name}-cluster",
        name=gke_cluster_name(pulumi.get_stack()),
        project=args.project,
        location=args.region,
        node_locations=args.zones,
        network=net.network.id,
        subnetwork=net.subnet.id,
        networking_mode="VPC_NATIVE",
        ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
            cluster_secondary_range_name="pods", services_secondary_range_name="services"),
        # The default pool cannot be sized or tainted the way we need: drop it, declare our own.
        remove_default_node_pool=True,
        initial_node_count=1,
        release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
            workload_pool=f"{args.project}.svc.id.goog"),
        private_cluster_config=private,
        master_authorized_networks_config=authorized,
        monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
            managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            # DCGM: GPU utilisation and memory metrics, collected by GKE into Managed Prometheus.
            enable_components=["SYSTEM_COMPONENTS", "DCGM"]),
        datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2 enforces NetworkPolicy
        # Gateway API: KubeRay's incremental RayService upgrade splits traffic through it.
        gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
        deletion_protection=args.protect,
        resource_labels=args.labels,
        opts=stateful,
    )


def artifact_registry(name: str, args: GkeArgs, net: GkeNetwork,
                      stateful: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The Docker repository the stack's images are pushed to; returns its URL (what image names start with)."""
    registry = gcp.artifactregistry.Repository(
        f"{name}-registry",
        project=args.project,
        location=args.region,
        repository_id="llm-fleet",
        format="DOCKER",
        description="llm-fleet serving images (promoted by digest)",
        # Immutable tags: a digest promoted to prod can never be re-pointed under the same tag.
        docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=args.immutable_tags),
        labels=args.labels,
        opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=net.apis)),
    )
    return pulumi.Output.concat(args.region, "-docker.pkg.dev/", args.project, "/", registry.repository_id)


def gke_kubeconfig(cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    # Authenticates through gke-gcloud-auth-plugin.
    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
        lambda a: exec_kubeconfig(a[0], f"https://{a[1]}", a[2], {
            "command": KUBECONFIG_EXEC.command, "provideClusterInfo": True,
            "installHint": f"Install {KUBECONFIG_EXEC.command} "
                           f"(gcloud components install {KUBECONFIG_EXEC.command})"}))
