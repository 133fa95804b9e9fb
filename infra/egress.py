"""Egress: where each pod of the stack may connect, as one table. It renders the pods' egress NetworkPolicies
(infra/workloads/network.py) and tells the flow check which egress paths are needed (infra/flows/needed.py), so
what is allowed and what is checked come from the same declaration.

Every namespace the stack owns denies all ingress and egress by default (infra/cluster/default_deny.py); these
rules are the exceptions, per pod group:

- DNS: kube-dns/CoreDNS pods in kube-system (`k8s-app: kube-dns` on GKE and EKS), UDP and TCP 53.
- HTTPS anywhere: model weights (huggingface.co, storage.googleapis.com, S3), buckets, the cloud's token endpoints
  (STS for IRSA), and for pods that call it the Kubernetes API server (443 on GKE and EKS). Names, not addresses,
  are what these services have: a NetworkPolicy cannot say "huggingface.co", so 443 to any address is the floor
  without an egress proxy.
- The GKE metadata server, for Workload Identity tokens: on Dataplane V2 (which our GKE clusters run,
  infra/platforms/gke/cluster.py) pods reach it at 169.254.169.254/32 on TCP 80 (GKE docs "Use Workload Identity
  Federation for GKE", network policy note; read 2026-11-30). Not opened on other clouds: on EKS that address is
  the node's IMDS, whose node credentials pods must not reach (IRSA needs only STS over HTTPS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from infra.config import StackConfig
from infra.names import (
    GATEWAY_APP,
    GATEWAY_NAMESPACE,
    GATEWAY_PORT,
    RAY_SUBMITTER_SERVICE_ACCOUNT,
    ROLLOUT_NAMESPACE,
    SERVING_NAMESPACE,
    TRAINING_NAMESPACE,
)
from serving.kubernetes import API_PORT

ANY_ADDRESS = "0.0.0.0/0"
KUBE_DNS_NAMESPACE, KUBE_DNS = "kube-system", {"k8s-app": "kube-dns"}
GKE_METADATA_CIDR, GKE_METADATA_PORT = "169.254.169.254/32", 80
# KubeRay labels every Ray pod (ray-operator/controllers/ray/utils/constant.go v1.7.0).
RAY_NODE = {"ray.io/is-ray-node": "yes"}
RAY_HEAD = {**RAY_NODE, "ray.io/node-type": "head"}
RAY_DASHBOARD_PORT = 8265
GATEWAY_PODS = {"app.kubernetes.io/name": GATEWAY_APP}
VLLM_PODS = {"app.kubernetes.io/name": "vllm"}
SUBMITTER = {"app.kubernetes.io/name": RAY_SUBMITTER_SERVICE_ACCOUNT}  # the RayJob's submitter pod


@dataclass(frozen=True)
class Egress:
    """One egress rule: to an address range (`cidr`) or to pods (`namespace` + `labels`), on `port` (None: all)."""

    why: str
    port: int | None
    protocol: str = "TCP"
    cidr: str | None = None
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    peer: str = ""  # what an address range is, for the flow report


@dataclass(frozen=True)
class PodEgress:
    """The egress of the pods of `namespace` carrying `labels`, named `name` (the NetworkPolicy's name)."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    rules: tuple[Egress, ...]


def _dns() -> list[Egress]:
    return [Egress("resolves Service and model-source names", 53, proto, namespace=KUBE_DNS_NAMESPACE,
                   labels=KUBE_DNS) for proto in ("UDP", "TCP")]


def _outside(why: str, cloud: str) -> list[Egress]:
    rules = [Egress(why, 443, cidr=ANY_ADDRESS, peer="any address (HTTPS)")]
    if cloud == "gke":
        rules.append(Egress("Workload Identity tokens from the GKE metadata server", GKE_METADATA_PORT,
                            cidr=GKE_METADATA_CIDR, peer="the GKE metadata server"))
    return rules


def egress_of(cfg: StackConfig) -> tuple[PodEgress, ...]:
    """Every pod group's egress in this stack. In KubeRay mode the rollouts are Ray tasks (the Ray cluster's
    egress), so only plain mode's rollout workers call the model API from llm-rollout (vLLM's API port)."""
    gw = cfg.serving.gateway
    return stack_egress(cloud=cfg.cloud, kuberay=cfg.serving.mode == "kuberay", serving_port=API_PORT,
                        training=cfg.training is not None, rollout=cfg.rollout is not None,
                        gateway=None if gw is None else (bool(cfg.models), _external_backends(cfg)),
                        rollout_via_gateway=cfg.rollout is not None and cfg.rollout.via_gateway)


def _external_backends(cfg: StackConfig) -> bool:
    return bool(cfg.provider_models) or any(m.fallbacks for m in cfg.models)


def stack_egress(*, cloud: str, kuberay: bool, serving_port: int, training: bool, rollout: bool,
                 gateway: tuple[bool, bool] | None = None, rollout_via_gateway: bool = False
                 ) -> tuple[PodEgress, ...]:
    """Every pod group's egress, for a stack on `cloud` in plain or KubeRay mode; `gateway`: (it routes to local
    models, it routes to peers or providers), or None without one."""
    weights = "downloads weights (Hugging Face, GCS, S3)"
    groups: list[PodEgress] = []
    if kuberay:
        groups.append(PodEgress("ray-llm-egress", SERVING_NAMESPACE, RAY_NODE, (
            Egress("Ray's own traffic (GCS, object store, workers) inside the cluster", None,
                   namespace=SERVING_NAMESPACE, labels=RAY_NODE),
            # The rollout group calls the Serve Service's ClusterIP. EKS's policy agent matches a ClusterIP only
            # through a rule whose peer matches the Service's selector ({ray.io/cluster, ray.io/serve}, not
            # is-ray-node): aws/amazon-network-policy-controller-k8s pkg/resolvers/endpoints.go
            # getMatchingServiceClusterIPs. A namespace peer on the serve port matches it there and everywhere.
            Egress("the rollout group calls the model's OpenAI API through the Serve Service", serving_port,
                   namespace=SERVING_NAMESPACE),
            *_dns(), *_outside(f"{weights}; the head's autoscaler calls the Kubernetes API", cloud))))
    else:
        groups.append(PodEgress("vllm-egress", SERVING_NAMESPACE, VLLM_PODS, (*_dns(), *_outside(weights, cloud))))
    if gateway is not None:
        local, external = gateway
        # Peers and providers have names, not addresses: 443 to any address, as for weights (module docstring).
        groups.append(PodEgress("gateway-egress", GATEWAY_NAMESPACE, GATEWAY_PODS, (
            # A namespace peer, as the rollout workers': EKS's policy agent matches a Service's ClusterIP only
            # through a peer that matches the Service's own selector (see the KubeRay rule above).
            *([Egress("routes requests to the stack's own models", serving_port, namespace=SERVING_NAMESPACE)]
              if local else []),
            *_dns(),
            *([Egress("fails over and overflows to peers and providers (HTTPS)", 443, cidr=ANY_ADDRESS,
                      peer="peers and providers (HTTPS)")] if external else []))))
    if rollout and not kuberay:
        rollout_pods = {"app.kubernetes.io/name": "rollout-worker"}
        calls = (Egress("calls the models through the gateway (rollout.viaGateway)", GATEWAY_PORT,
                        namespace=GATEWAY_NAMESPACE, labels=GATEWAY_PODS) if rollout_via_gateway else
                 Egress("calls the model's OpenAI API", serving_port, namespace=SERVING_NAMESPACE))
        groups.append(PodEgress("rollout-worker-egress", ROLLOUT_NAMESPACE, rollout_pods, (
            calls, *_dns(), *_outside("reads and writes its buckets", cloud))))
    if training and kuberay:
        groups.append(PodEgress("ray-trainer-egress", TRAINING_NAMESPACE, RAY_NODE, (
            Egress("Ray's own traffic inside the training cluster", None, namespace=TRAINING_NAMESPACE,
                   labels=RAY_NODE),
            *_dns(), *_outside("reads weights, writes checkpoints", cloud))))
        groups.append(PodEgress("ray-job-submitter-egress", TRAINING_NAMESPACE, SUBMITTER, (
            Egress("submits the job through the head's dashboard API", RAY_DASHBOARD_PORT,
                   namespace=TRAINING_NAMESPACE, labels=RAY_HEAD),
            *_dns())))
    elif training:
        groups.append(PodEgress("trainer-egress", TRAINING_NAMESPACE, {"app.kubernetes.io/name": "trainer"},
                                (*_dns(), *_outside("reads weights, writes checkpoints", cloud))))
    return tuple(groups)
