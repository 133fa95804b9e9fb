"""The `GkePlatform` component: composes network, cluster, node pools, registry, identities and budget into the
`Platform` every later layer consumes.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.names import PART_OF
from infra.platforms.gcp_budget import GcpBudget
from infra.platforms.gke.args import GkeArgs
from infra.platforms.gke.cluster import artifact_registry, gke_cluster, gke_kubeconfig, node_service_account
from infra.platforms.gke.compute_classes import gke_compute_classes
from infra.platforms.gke.facts import GCP_HEALTH_CHECK_RANGES, SSD_STORAGE_CLASS
from infra.platforms.gke.identity import keda_reads_managed_prometheus, workload_identity
from infra.platforms.gke.network import gke_network
from infra.platforms.gke.node_pools import gke_node_pool
from infra.platforms.gke.peers import gateway_peers_address
from infra.seam import IdentityRequest, Platform, WorkloadIdentity


class GkePlatform(pulumi.ComponentResource):
    """A GKE cluster with one node pool per configured pool, a registry and a budget."""

    platform: Platform

    def __init__(self, name: str, args: GkeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:GkePlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Stateful or slow-to-rebuild resources: `pulumi destroy` in prod must be a deliberate act.
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))

        net = gke_network(name, args, self)
        node_sa = node_service_account(name, args, net, self)
        cluster = gke_cluster(name, args, net, stateful)
        self._name, self._project, self._after_apis, self._cluster = name, args.project, net.after_apis, cluster
        pools = [gke_node_pool(name, args, spec, cluster, node_sa, self) for spec in args.node_pools]
        system_pool = pools[0]  # args.node_pools lists the system pool first
        registry_url = artifact_registry(name, args, net, stateful)
        peer_ip = None
        if args.peer_address is not None:
            peer_ip = gateway_peers_address(name, args.project, args.region, net.subnet, args.peer_address, child,
                                            pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(
                                                depends_on=net.apis)))

        kubeconfig = pulumi.Output.secret(gke_kubeconfig(cluster))
        # Everything Kubernetes waits for a node that can run pods: the cluster itself comes up with none (its
        # default pool is removed), and Helm releases that wait for their pods would otherwise time out.
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[system_pool]))
        # A ComputeClass per capacity ladder: GKE grows its rungs' node pools in ladder order.
        gke_compute_classes(name, args.ladders, {s.facts.name: p for s, p in zip(args.node_pools, pools, strict=True)},
                            provider, self)
        k8s.storage.v1.StorageClass(
            f"{name}-ssd-storage",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SSD_STORAGE_CLASS, labels=PART_OF),
            provisioner="pd.csi.storage.gke.io",
            parameters={"type": "pd-ssd"},
            # Bind where the pod lands, so the disk is created in the GPU node's zone.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Retain" if args.protect else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )

        managed_prometheus = None
        if args.managed_prometheus:
            managed_prometheus = keda_reads_managed_prometheus(name, args.project, net.after_apis, net.apis, cluster,
                                                               self)
        budget = None
        if args.budget is not None:
            budget = GcpBudget(f"{name}-budget", args.budget,
                               opts=pulumi.ResourceOptions(parent=self, depends_on=net.apis))

        self.cluster_name = cluster.name
        self.kubeconfig = kubeconfig
        self.registry_url = registry_url
        self.platform = Platform(
            cloud="gke",
            provider=provider,
            pools=args.pools,
            storage_class=SSD_STORAGE_CLASS,
            registry=registry_url,
            managed_prometheus=managed_prometheus,
            internal_lb_annotations={"networking.gke.io/load-balancer-type": "Internal"},
            gateway_proxy_cidrs=net.proxy_cidrs,
            gateway_health_check_cidrs=GCP_HEALTH_CHECK_RANGES if net.proxy_cidrs else (),
            peer_lb_ip=peer_ip,
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
        """A Google service account for the request's Kubernetes one (see `identity.workload_identity`)."""
        return workload_identity(self._name, self._project, request, self._after_apis, self._cluster, self)
