"""GKE platform: network, cluster, node pools, registry, identities, budget — and the `Platform` it returns.

Owns everything that is GCP-specific. The cluster is VPC-native, drops the default node pool
(so every pool is declared and sized here), uses Workload Identity and a release channel.
GPU pools get GKE-managed drivers, the GPU taint and the labels workloads select on.

- facts: names, ranges, pool facts, notes and the kubeconfig's exec plugin, from config alone
- args: `GkeArgs`, what the component is built from, and `args_from(cfg)`
- network: project APIs, VPC, subnets, the KEDA firewall rule, Cloud NAT
- cluster: the nodes' service account, the cluster, its kubeconfig and Artifact Registry
- node_pools: one node pool per pool
- identity: workload identities and KEDA's reader of Managed Prometheus
- platform: the `GkePlatform` component that composes them
"""

from infra.platforms.gke.args import GkeArgs, args_from
from infra.platforms.gke.facts import (
    ACCOUNT_ID,
    GCP_HEALTH_CHECK_RANGES,
    GKE_MASTER_PORTS,
    KUBECONFIG_EXEC,
    READ_ROLE,
    REGIONAL_GATEWAY_CLASSES,
    WRITE_ROLE,
    gcp_service_account_id,
    gke_bucket_notes,
    gke_notes,
    gke_pool_facts,
    gke_prerequisite_notes,
    gke_zone_check,
    needs_proxy_only_subnet,
)
from infra.platforms.gke.platform import GkePlatform

__all__ = [
    "ACCOUNT_ID", "GCP_HEALTH_CHECK_RANGES", "GKE_MASTER_PORTS", "KUBECONFIG_EXEC", "READ_ROLE",
    "REGIONAL_GATEWAY_CLASSES", "WRITE_ROLE", "GkeArgs", "GkePlatform", "args_from", "gcp_service_account_id",
    "gke_bucket_notes", "gke_notes", "gke_pool_facts", "gke_prerequisite_notes", "gke_zone_check",
    "needs_proxy_only_subnet",
]
