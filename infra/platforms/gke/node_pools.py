"""One GKE node pool per pool: machine, GPUs with GKE-managed drivers, taints, labels, local SSDs, autoscaling.

A plain function that creates the pool as a child of the `GkePlatform` component (its URN stays its).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.catalog import GPUS
from infra.platforms.gke.args import GkeArgs
from infra.platforms.gke.facts import node_tag
from infra.platforms.nodes import CLOUD_TAINT_EFFECT, NodePoolSpec


def gke_node_pool(name: str, args: GkeArgs, spec: NodePoolSpec, cluster: gcp.container.Cluster,
                  node_sa: gcp.serviceaccount.Account, parent: pulumi.Resource) -> gcp.container.NodePool:
    facts = spec.facts
    gpu = GPUS[facts.gpu] if facts.gpu else None
    node_config = gcp.container.NodePoolNodeConfigArgs(
        machine_type=facts.machine_type,
        spot=facts.capacity == "spot",
        disk_size_gb=spec.disk_gb,
        disk_type="pd-balanced",
        labels=spec.labels,
        resource_labels=args.labels,
        taints=[gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value,
                                                          effect=CLOUD_TAINT_EFFECT[t.effect])
                for t in facts.taints],
        service_account=node_sa.email,
        tags=[node_tag(pulumi.get_stack())],  # what the stack's firewall rules target
        oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
        # Image streaming: multi-GB vLLM images start before they are fully pulled. Also what a secondary boot disk
        # needs: "gcfs_config must be enabled=true for this feature to work" (pulumi_gcp 10.2.0 secondary_boot_disks).
        gcfs_config=gcp.container.NodePoolNodeConfigGcfsConfigArgs(enabled=True),
        # serving.coldStart.preloadImage: the serving image on a disk GKE attaches to each new serving GPU node, read
        # by containerd instead of pulled (cloud.google.com/kubernetes-engine/docs/how-to/data-container-image-
        # preloading). A changed disk image needs new nodes: GKE does not update it on existing ones.
        secondary_boot_disks=[gcp.container.NodePoolNodeConfigSecondaryBootDiskArgs(
            disk_image=args.preload_disk_image, mode="CONTAINER_IMAGE_CACHE")]
        if args.preload_disk_image and gpu and facts.purpose == "serving" else None,
        gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
        guest_accelerators=[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
            type=gpu.gke_accelerator,
            count=facts.gpus_per_node,
            gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                gpu_driver_version="LATEST"),
        )] if gpu else None,
        # Bundled local NVMe becomes ephemeral storage: emptyDir caches at local-SSD speed.
        ephemeral_storage_local_ssd_config=(
            gcp.container.NodePoolNodeConfigEphemeralStorageLocalSsdConfigArgs(local_ssd_count=spec.local_ssds)
            if spec.local_ssds else None),
        reservation_affinity=gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type="SPECIFIC_RESERVATION",
            key="compute.googleapis.com/reservation-name",
            values=[spec.reservation],
        ) if spec.reservation else None,
    )
    return gcp.container.NodePool(
        f"{name}-pool-{facts.name}",
        project=args.project,
        cluster=cluster.id,
        location=args.region,
        # A pool held to some zones (a zonal reservation's) uses those; else every zone of the cluster.
        node_locations=list(spec.zones) or args.zones,
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
        opts=pulumi.ResourceOptions(parent=parent),
    )
