"""What the stack renders, read from the planned resources: Kubernetes objects by kind, the pods they declare (with
their labels and named ports), Helm releases, and the addresses of the control plane and the Gateway's proxies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infra.config import StackConfig
from infra.flows.model import Addresses, Pods
from infra.planned import PlannedResource

# KubeRay labels every pod of a Ray cluster (ray-operator/controllers/ray/utils/constant.go v1.7.0).
RAY_NODE, RAY_NODE_TYPE, RAY_GROUP = "ray.io/is-ray-node", "ray.io/node-type", "ray.io/group"


def k8s_objects(resources: Iterable[PlannedResource], kind: str) -> list[PlannedResource]:
    return [r for r in resources if r.is_kubernetes_object and r.inputs.get("kind") == kind]


def namespace_of(r: PlannedResource) -> str:
    return str((r.inputs.get("metadata") or {}).get("namespace") or "default")


def _container_ports(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    return {p["name"]: int(p["containerPort"]) for c in pod_spec.get("containers") or []
            for p in c.get("ports") or [] if p.get("name")}


def rendered_pods(resources: Sequence[PlannedResource]) -> list[Pods]:
    """Pods the stack declares: Deployments and Jobs by their templates, RayServices and RayJobs by head and worker
    group (and a RayJob's submitter)."""
    pods: list[Pods] = []
    for kind in ("Deployment", "Job"):
        for r in k8s_objects(resources, kind):
            template = (r.inputs.get("spec") or {}).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            name = (r.inputs.get("metadata") or {}).get("name", r.name)
            pods.append(Pods(namespace_of(r), dict(labels), _container_ports(template.get("spec") or {}),
                             f"{namespace_of(r)}/{name}"))
    for r in k8s_objects(resources, "RayService") + k8s_objects(resources, "RayJob"):
        ray_spec = r.inputs.get("spec") or {}
        cluster = ray_spec.get("rayClusterConfig") or ray_spec.get("rayClusterSpec") or {}
        submitter = (ray_spec.get("submitterPodTemplate") or {}) if r.inputs.get("kind") == "RayJob" else {}
        if submitter:
            pods.append(Pods(namespace_of(r), dict((submitter.get("metadata") or {}).get("labels") or {}),
                             _container_ports(submitter.get("spec") or {}), f"{namespace_of(r)}/ray-job-submitter"))
        groups = [("head", "headgroup", cluster.get("headGroupSpec") or {}),
                  *[("worker", g.get("groupName", "workers"), g) for g in cluster.get("workerGroupSpecs") or []]]
        for node_type, group, spec in groups:
            template = spec.get("template") or {}
            labels = {**((template.get("metadata") or {}).get("labels") or {}),
                      RAY_NODE: "yes", RAY_NODE_TYPE: node_type, RAY_GROUP: group}
            pods.append(Pods(namespace_of(r), labels, _container_ports(template.get("spec") or {}),
                             f"{namespace_of(r)}/ray-{group}"))
    return pods


def helm_release(resources: Sequence[PlannedResource], name: str) -> PlannedResource | None:
    return next((r for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == name),
                None)


def of_type(resources: Sequence[PlannedResource], type_: str) -> list[PlannedResource]:
    return [r for r in resources if r.type == type_]


def control_plane(cfg: StackConfig, resources: Sequence[PlannedResource]) -> Addresses:
    for r in of_type(resources, "gcp:container/cluster:Cluster"):
        private = r.inputs.get("privateClusterConfig") or {}
        cidr = private.get("masterIpv4CidrBlock")
        return Addresses((cidr,) if private.get("enablePrivateNodes") and cidr else (), "GKE control plane",
                         "control-plane")
    if of_type(resources, "aws:eks/cluster:Cluster"):
        return Addresses((), "EKS control plane", "control-plane")
    return Addresses((), "the cluster's API server", "control-plane")


def proxy_only_ranges(resources: Sequence[PlannedResource]) -> tuple[str, ...]:
    return tuple(r.inputs["ipCidrRange"] for r in of_type(resources, "gcp:compute/subnetwork:Subnetwork")
                 if r.inputs.get("purpose") == "REGIONAL_MANAGED_PROXY" and r.inputs.get("role") == "ACTIVE")


# The annotation values that make a LoadBalancer Service internal, per cloud. A key alone proves nothing: the same
# keys with other values ask for a public address (`aws-load-balancer-internal: "false"`, `aws-load-balancer-scheme:
# internet-facing`), and a cloud's default, with no annotation, is a public address.
# - GKE: `networking.gke.io/load-balancer-type: "Internal"` creates an internal passthrough Network Load Balancer
#   (https://cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters).
# - AWS in-tree controller: `service.beta.kubernetes.io/aws-load-balancer-internal: "true"` (old manifests and docs
#   spell it "0.0.0.0/0"; https://github.com/kubernetes/website/issues/15771); new load balancers are
#   internet-facing by default (https://cloud.google.com/kubernetes-engine/multi-cloud/docs/aws/how-to/network-load-balancing).
# - AWS Load Balancer Controller: `service.beta.kubernetes.io/aws-load-balancer-scheme: internal` (vs
#   `internet-facing`); it deprecates the in-tree `…-internal` boolean in favour of the scheme
#   (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/).
INTERNAL_LB_VALUES: dict[str, frozenset[str]] = {
    "networking.gke.io/load-balancer-type": frozenset({"Internal"}),
    "service.beta.kubernetes.io/aws-load-balancer-internal": frozenset({"true", "0.0.0.0/0"}),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": frozenset({"internal"}),
}


def is_internal_load_balancer(annotations: Mapping[str, str] | None) -> bool:
    """True when a LoadBalancer Service's annotations ask its cloud for an internal address.

    At least one known key must carry an internal value, and no known key may carry another value: a Service
    annotated both ways (say, scheme internet-facing and internal "true") is read as public, the safe side.
    """
    known = {k: str(v) for k, v in (annotations or {}).items() if k in INTERNAL_LB_VALUES}
    return bool(known) and all(v in INTERNAL_LB_VALUES[k] for k, v in known.items())
