"""What GKE is, from config and catalog alone: names, ranges, pool facts, notes and the kubeconfig's exec plugin.

Nothing here creates a resource: cost, guards and the plan notes read these with no cloud call, and the
GKE components build from the same constants.
"""

from __future__ import annotations

import hashlib
import re

import pulumi

from infra.catalog import GpuSpec, MachineShape
from infra.config import StackConfig
from infra.platforms.buckets import bucket_notes
from infra.platforms.gke.compute_classes import pool_classes, with_compute_classes
from infra.platforms.nodes import catalog_pool_facts, gke_allocatable
from infra.platforms.prerequisites import unchecked_zone_notes
from infra.platforms.stack import identity_requests
from infra.seam import ExecPlugin, PoolFacts

APIS = (
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
# The kubeconfig's credential plugin: a gcloud component (`gcloud components install gke-gcloud-auth-plugin`,
# https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl). In CI,
# google-github-actions/setup-gcloud installs components named in its `install_components` input (its README).
# The CI prerequisites guard reads this constant too: one source for what CI must install.
KUBECONFIG_EXEC = ExecPlugin(
    "gke-gcloud-auth-plugin",
    "add a google-github-actions/setup-gcloud step with `install_components: gke-gcloud-auth-plugin` before it")


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


def workload_account_email(project: str, workload: str) -> str:
    """The Google service account a workload's Kubernetes one acts as (computed, so a preview can check it)."""
    return f"{gcp_service_account_id('llm-fleet', pulumi.get_stack(), workload)}@{project}.iam.gserviceaccount.com"


def node_tag(stack: str) -> str:
    """The network tag every node of the stack carries: what our firewall rules target."""
    return f"llm-fleet-{stack}-node"[:63]


def gke_cluster_name(stack: str) -> str:
    return f"llm-fleet-{stack}"


def needs_proxy_only_subnet(cfg: StackConfig) -> bool:
    """KubeRay's incremental upgrade routes through a Gateway; a regional GKE GatewayClass needs proxies."""
    return (cfg.serving.mode == "kuberay"
            and cfg.profile.ray_upgrade == "NewClusterWithIncrementalUpgrade"
            and cfg.serving.gateway_class in REGIONAL_GATEWAY_CLASSES)


def _gke_gpu_selector(spec: GpuSpec, shape: MachineShape) -> dict[str, str]:
    return {"cloud.google.com/gke-accelerator": spec.gke_accelerator}


def gke_pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone, so cost and guards need no cloud. A ladder's rung pools also carry
    its ComputeClass label and taint (infra/platforms/gke/compute_classes.py), so every pod on them asks for both."""
    facts = catalog_pool_facts(cfg, "gke", gke_allocatable, _gke_gpu_selector)
    return with_compute_classes(facts, pool_classes(cfg))


def gke_notes(cfg: StackConfig) -> tuple[str, ...]:
    if cfg.serving.monitoring == "self-hosted":
        return ("GKE: DCGM GPU metrics go to Managed Prometheus only; with serving.monitoring self-hosted the "
                "dashboard's GPU panel stays empty",)
    return ()


def gke_zone_check(region: str, machines: list[str]) -> str:
    """The command that lists which zones of `region` sell `machines`."""
    return (f"gcloud compute machine-types list --filter=\"name~'^({'|'.join(machines)})$' AND "
            f"zone~'^{region}-'\"")


def gke_bucket_notes(cfg: StackConfig) -> tuple[str, ...]:
    """The buckets GKE grants a workload's Google service account a role on (a bucket IAM member each)."""
    assert cfg.gcp is not None
    grants: dict[str, list[str]] = {}
    for request in identity_requests(cfg).values():
        # The same account id the workload identity gives the workload's Google service account.
        email = workload_account_email(cfg.gcp.project, request.name)
        for access in request.buckets:
            if access.scheme == "gs":
                grants.setdefault(f"gs://{access.bucket}", []).append(
                    f"{email} ({request.namespace}/{request.service_account}) "
                    f"{WRITE_ROLE if access.write else READ_ROLE}")
    # `gcloud storage buckets create` (cloud.google.com/sdk/gcloud/reference/storage/buckets); without
    # --location a bucket lands in the US multi-region (cloud.google.com/storage/docs/creating-buckets).
    create = f"gcloud storage buckets create {{}} --project={cfg.gcp.project} --location={cfg.gcp.region}"
    return bucket_notes(grants, create, "granting on a missing bucket fails `pulumi up`")


def gke_prerequisite_notes(cfg: StackConfig) -> tuple[str, ...]:
    assert cfg.gcp is not None
    return unchecked_zone_notes("gke", cfg.gcp.region, gke_pool_facts(cfg), gke_zone_check)
