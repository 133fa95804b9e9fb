"""The gateway (serving.gateway): LiteLLM's proxy in front of the stack's models, one OpenAI-compatible endpoint,
`http://gateway.llm-gateway.svc.cluster.local:4000/v1`.

Objects, all in `llm-gateway` (default-deny and PSA restricted, infra/cluster/namespaces.py): the ConfigMap
`gateway-config` (`spec.json`, the routing table, gateway/spec.py), the Secret `gateway-backend-keys` (one data key
per peer or provider, from Pulumi secrets), the Deployment (the image runs `python -m gateway --spec …`, which reads
the mounted keys into its own process; no key is in an env value or a rendered file), its Service, HPA on CPU, PDB,
ingress NetworkPolicy and scrape config. Its egress is declared in infra/egress.py.

Probes: LiteLLM's proxy answers `GET /health/liveliness` (no auth, no backend call; 503 while shutting down) and
`GET /health/readiness` (no auth; 503 until ready) — docs.litellm.ai/docs/proxy/health "Probe endpoints" (page
updated 2026-10-10, read 2026-11-30); the data-plane side (gateway/) owns the launcher and corrects these if they
differ in the pinned version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from gateway.spec import to_json
from infra.cluster.monitoring import Monitoring, ScrapeEndpoint
from infra.config import StackConfig
from infra.config.gateway import Gateway as GatewayConfig
from infra.egress import GATEWAY_PODS
from infra.names import (
    GATEWAY_APP,
    GATEWAY_NAMESPACE,
    GATEWAY_PORT,
    GATEWAY_SERVICE_ACCOUNT,
    PART_OF,
    ROLLOUT_NAMESPACE,
)
from infra.restricted import container_security_args, pod_security_args
from infra.seam import Platform, PoolFacts
from infra.waits import custom_timeouts
from infra.workloads.gateway_routes import BACKEND_KEYS_DIR, BACKEND_KEYS_SECRET, backend_key_refs, gateway_spec
from infra.workloads.gateway_tls import (
    PEER_LB_PORT,
    PEER_TLS_DIR,
    PEER_TLS_PORT,
    PeerTlsArgs,
    peer_tls_args,
    peer_tls_secret,
)
from infra.workloads.identities import IdentityFactory, workload_service_account
from infra.workloads.network import namespace_peers
from infra.workloads.secret_files import FILE_MODE, api_key_file

CONFIG_DIR, SPEC_KEY = "/etc/llm-fleet/gateway", "spec.json"
LIVENESS_PATH, READINESS_PATH = "/health/liveliness", "/health/readiness"
STARTUP_PERIOD_S, STARTUP_FAILURES = 2, 30  # importing LiteLLM takes seconds; a minute before liveness counts
# The proxy stops accepting at SIGTERM, while kube-proxy, the load balancer and peers may still send to the pod for a
# few seconds after it is removed from the endpoints: it keeps serving that long first (the serving image waits the
# same propagation out itself, serving/kubernetes.py).
ENDPOINT_PROPAGATION_S = 5
SERVICE_URL = f"http://{GATEWAY_APP}.{GATEWAY_NAMESPACE}.svc.cluster.local:{GATEWAY_PORT}/v1"


@dataclass(frozen=True)
class GatewayArgs:
    settings: GatewayConfig  # replicas, resources, autoscaling target
    image: str  # artifacts.gatewayImage, by digest
    spec_json: str  # gateway.spec.to_json of the stack's routing table
    backend_keys: dict[str, str]  # backend name -> its key (secrets; become `gateway-backend-keys`)
    callers: tuple[str, ...]  # namespaces that may call it (llm-rollout with viaGateway, serving.apiAccessFrom)
    namespace: pulumi.Input[str]
    priority_class: pulumi.Input[str]
    api_key_secret: pulumi.Input[str]  # the model API key's Secret in llm-gateway (clients send it; models want it)
    node_selector: dict[str, str]  # the system pool: CPU nodes that always run
    pool: PoolFacts | None  # ... its facts, for Pulumi's wait (a new node when it must grow); None: not ours
    workload_identity: IdentityFactory
    monitoring: Monitoring
    cloud: str = "gke"
    peer_networks: tuple[str, ...] = ()  # a fleet region: where its peers' calls come from (cfg.peer_networks)
    peer_tls: PeerTlsArgs | None = None  # a fleet region: its certificate for its peers
    peer_lb_ip: pulumi.Input[str] | None = None  # the address the platform reserved for gateway-peers (GKE)
    peer_dns: Callable[[pulumi.Output[str]], None] | None = None  # writes the record on the LB's address (EKS)


def gateway_args(cfg: StackConfig, platform: Platform, *, namespace: pulumi.Input[str],
                 priority_class: pulumi.Input[str], api_key_secret: pulumi.Input[str],
                 monitoring: Monitoring) -> GatewayArgs:
    gw, image = cfg.serving.gateway, cfg.artifacts.gateway_image
    assert gw is not None and image is not None, "validated by config"
    callers = sorted({*([ROLLOUT_NAMESPACE] if cfg.rollout is not None and cfg.rollout.via_gateway else []),
                      *cfg.serving.api_access_from} - {GATEWAY_NAMESPACE})
    keys = {backend: cfg.backend_keys[ref] for backend, ref in backend_key_refs(cfg).items()}
    return GatewayArgs(settings=gw, image=image, spec_json=to_json(gateway_spec(cfg)), backend_keys=keys,
                       callers=tuple(callers), namespace=namespace, priority_class=priority_class,
                       api_key_secret=api_key_secret, node_selector=platform.system_node_selector,
                       pool=platform.pools.get("system"),
                       workload_identity=platform.workload_identity, monitoring=monitoring, cloud=cfg.cloud,
                       peer_networks=cfg.peer_networks(), peer_tls=peer_tls_args(cfg),
                       peer_lb_ip=platform.peer_lb_ip, peer_dns=platform.peer_dns)


# The peers' way in: a LoadBalancer Service with an internal address only, per cloud.
# - GKE: `networking.gke.io/load-balancer-type: "Internal"` makes an internal passthrough Network Load Balancer
#   (cloud.google.com/kubernetes-engine/docs/concepts/service-load-balancer-parameters), reachable from "networks
#   connected to your cluster's VPC network" (…/docs/internal-load-balancing); it is regional, so callers in other
#   regions need global access, `networking.gke.io/internal-load-balancer-allow-global-access: "true"` (GKE's
#   LoadBalancer parameters; read 2026-11-30). It passes TLS through: the backend terminates it.
# - EKS: the stack installs no AWS Load Balancer Controller, so the in-tree controller serves the Service:
#   `service.beta.kubernetes.io/aws-load-balancer-type: nlb` and `aws-load-balancer-internal: "true"` (new load
#   balancers are internet-facing otherwise: cloud.google.com/kubernetes-engine/multi-cloud/docs/aws/how-to/
#   network-load-balancing; the AWS LB Controller deprecates `…-internal` for `aws-load-balancer-scheme: internal`,
#   kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations; read 2026-11-30).
# - An existing cluster: no annotation is known to be internal there, so no Service.
# Its address: on GKE the platform reserves one (infra/platforms/gke/peers.py) and the Service pins it with
# `spec.loadBalancerIP` ("Static IP addresses" in cloud.google.com/kubernetes-engine/docs/concepts/service-load-
# balancer-parameters; an internal one is taken from the node subnet's primary range, which is where a reserved one
# must be: github.com/kubernetes/ingress-nginx/issues/9403, a GKE internal LB pinned that way; read 2026-11-30; the
# full text of GKE's internal-load-balancing page was not available here). Kubernetes calls the field
# deprecated in favour of implementation annotations, but it stays in the API (pulumi-kubernetes 4.34.2
# core/v1 ServiceSpec.load_balancer_ip); GKE's annotation for it could not be checked here, so the field is kept.
# EKS's in-tree controller takes no private address for an NLB: its Service annotations (kubernetes/cloud-provider-aws
# pkg/providers/v1/aws.go, ServiceAnnotationLoadBalancer*) have Elastic IPs (`…-eip-allocations`, internet-facing) and
# subnets, but not `aws-load-balancer-private-ipv4-addresses`, which only the AWS Load Balancer Controller reads
# (kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations). There the stable
# handle is the NLB's DNS name, kept while the Service lives.
# externalTrafficPolicy Local keeps the caller's address (kubernetes.io/docs/tasks/access-application-cluster/
# create-external-load-balancer/#preserving-the-client-source-ip), so the NetworkPolicy's ipBlocks can match it.
PEER_LB_ANNOTATIONS: dict[str, dict[str, str]] = {
    "gke": {"networking.gke.io/load-balancer-type": "Internal",
            "networking.gke.io/internal-load-balancer-allow-global-access": "true"},
    "eks": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
            "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
}


CONFIG_HASH_ANNOTATION = "llm-fleet.dev/config-hash"


def config_hash(spec_json: str, backend_keys: dict[str, str], peer_ca: str = "") -> str:
    """A digest of what the gateway reads at start (spec.json, the backends' keys, the fleet CA it trusts peers by):
    no key can be read back. Its own certificate is not in it: the gateway re-reads a renewed one by itself."""
    digest = hashlib.sha256(spec_json.encode() + peer_ca.encode())
    for backend, key in sorted(backend_keys.items()):
        digest.update(f"\0{backend}\0{key}".encode())
    return digest.hexdigest()[:16]


def _probe(path: str, *, period: int, failures: int, initial_delay: int = 0) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
                                 period_seconds=period, timeout_seconds=3, failure_threshold=failures,
                                 initial_delay_seconds=initial_delay)


class InferenceGateway(pulumi.ComponentResource):
    """The stack's one OpenAI-compatible endpoint; `url` is its in-cluster base URL."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:InferenceGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        gw, namespace = args.settings, args.namespace
        labels = {**GATEWAY_PODS, **PART_OF}
        meta = k8s.meta.v1.ObjectMetaArgs(name=GATEWAY_APP, namespace=namespace, labels=labels)
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=k8s.meta.v1.ObjectMetaArgs(name="gateway-config", namespace=namespace,
                                                                 labels=PART_OF),
            data={SPEC_KEY: args.spec_json}, opts=child)
        volumes = [
            k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=config.metadata.name)),
            api_key_file(args.api_key_secret).volume_args(),
            # The launcher renders LiteLLM's config to a private temp file: the root filesystem stays read-only.
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")),
        ]
        mounts = [k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                  api_key_file(args.api_key_secret).mount_args(),
                  k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
        if args.peer_tls is not None:
            certificate = peer_tls_secret(f"{name}-peer-tls", args.peer_tls, namespace, self)
            volumes.append(k8s.core.v1.VolumeArgs(name="peer-tls", secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=certificate.metadata.name, default_mode=FILE_MODE)))
            mounts.append(k8s.core.v1.VolumeMountArgs(name="peer-tls", mount_path=PEER_TLS_DIR, read_only=True))
        if args.backend_keys:
            keys = k8s.core.v1.Secret(
                f"{name}-backend-keys", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=BACKEND_KEYS_SECRET, namespace=namespace, labels=PART_OF),
                string_data={b: pulumi.Output.secret(v) for b, v in sorted(args.backend_keys.items())}, opts=child)
            volumes.append(k8s.core.v1.VolumeArgs(name="backend-keys", secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=keys.metadata.name, default_mode=FILE_MODE)))
            mounts.append(k8s.core.v1.VolumeMountArgs(name="backend-keys", mount_path=BACKEND_KEYS_DIR,
                                                      read_only=True))
        # Its own account, no cloud identity and no API token: it calls only its backends.
        sa = workload_service_account(f"{name}-sa", name=GATEWAY_SERVICE_ACCOUNT, namespace=namespace,
                                      workload_identity=args.workload_identity, parent=self)
        memory = f"{gw.resources.memory_gib:g}Gi"
        container = k8s.core.v1.ContainerArgs(
            name="gateway", image=args.image,
            command=["python", "-m", "gateway", "--spec", f"{CONFIG_DIR}/{SPEC_KEY}", "--port", str(GATEWAY_PORT)],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=GATEWAY_PORT),
                   *([k8s.core.v1.ContainerPortArgs(name="peers", container_port=PEER_TLS_PORT)]
                     if args.peer_tls is not None else [])],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": f"{gw.resources.cpu:g}", "memory": memory}, limits={"memory": memory}),
            startup_probe=_probe(LIVENESS_PATH, period=STARTUP_PERIOD_S, failures=STARTUP_FAILURES),
            liveness_probe=_probe(LIVENESS_PATH, period=10, failures=3),
            readiness_probe=_probe(READINESS_PATH, period=5, failures=2),
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["sleep", str(ENDPOINT_PROPAGATION_S)]))),
            volume_mounts=mounts, security_context=container_security_args(read_only_root_filesystem=True))
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment", metadata=meta,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No `replicas`: the HPA owns the count. Surge one, never below the current count.
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=GATEWAY_PODS),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="RollingUpdate", rolling_update=(
                    k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0))),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    # The launcher reads the routing table and the keys once, at start: a change to either rolls
                    # the pods, which the fixed object names alone would not.
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={
                        CONFIG_HASH_ANNOTATION: config_hash(args.spec_json, args.backend_keys,
                                                            args.peer_tls.ca_cert if args.peer_tls else "")}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=sa.metadata.name, automount_service_account_token=False,
                        priority_class_name=args.priority_class, enable_service_links=False,
                        node_selector=args.node_selector, security_context=pod_security_args(),
                        # A stream in flight finishes (or ends with an error) before the pod goes; the kubelet
                        # counts the preStop wait in the grace period.
                        termination_grace_period_seconds=(
                            ENDPOINT_PROPAGATION_S + int(min(gw.request_timeout_s, 600)) + 5),
                        # Apart where the system pool allows: one node or zone lost takes one gateway pod, not all.
                        topology_spread_constraints=[k8s.core.v1.TopologySpreadConstraintArgs(
                            max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
                            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=GATEWAY_PODS))
                            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")],
                        containers=[container], volumes=volumes))),
            # Pulumi waits for the startup budget per wave, plus a system node when that pool must grow.
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=custom_timeouts(
                STARTUP_PERIOD_S * STARTUP_FAILURES, args.pool, max_replicas=gw.replicas.max, max_surge=1,
                max_unavailable=0)))
        self.service = k8s.core.v1.Service(
            f"{name}-service", metadata=meta,
            spec=k8s.core.v1.ServiceSpecArgs(selector=GATEWAY_PODS, ports=[k8s.core.v1.ServicePortArgs(
                name="http", port=GATEWAY_PORT, target_port="http")]), opts=child)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa", metadata=meta,
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name),
                min_replicas=gw.replicas.min, max_replicas=gw.replicas.max,
                # CPU: the proxy's work per request (parsing, routing, streaming relay) is CPU-bound.
                metrics=[k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource", resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name="cpu", target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=gw.target_cpu_utilization)))]),
            opts=child)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=meta,
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=GATEWAY_PODS)),
            opts=child)
        peer_lb = args.cloud in PEER_LB_ANNOTATIONS and bool(args.peer_networks) and args.peer_tls is not None
        self.peers_address: pulumi.Output[str] | None = None
        if peer_lb:
            peers = k8s.core.v1.Service(
                f"{name}-peers", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{GATEWAY_APP}-peers", namespace=namespace, labels=labels,
                    annotations=PEER_LB_ANNOTATIONS[args.cloud]),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="LoadBalancer", selector=GATEWAY_PODS, external_traffic_policy="Local",
                    load_balancer_ip=args.peer_lb_ip,
                    load_balancer_source_ranges=list(args.peer_networks),
                    # TLS only: the peers' URLs are https:// on the default port (their egress allows 443).
                    ports=[k8s.core.v1.ServicePortArgs(name="peers", port=PEER_LB_PORT, target_port="peers")]),
                opts=child)
            # What the gateway's DNS name must resolve to (GKE: an IP; EKS: the NLB's internal DNS name).
            self.peers_address = peers.status.apply(_lb_address)
            if args.peer_dns is not None:
                args.peer_dns(self.peers_address)
        port = k8s.networking.v1.NetworkPolicyPortArgs(port=GATEWAY_PORT, protocol="TCP")
        peer_port = k8s.networking.v1.NetworkPolicyPortArgs(port=PEER_TLS_PORT, protocol="TCP")

        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", metadata=meta,
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=GATEWAY_PODS), policy_types=["Ingress"],
                ingress=[
                    *([k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=namespace_peers(list(args.callers)),
                                                                      ports=[port])] if args.callers else []),
                    # The other regions' gateways, through the internal load balancer (their calls keep their address).
                    *([k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c))
                        for c in args.peer_networks], ports=[peer_port])] if peer_lb else []),
                    # Its metrics are served on the proxy's port.
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=namespace_peers([args.monitoring.scraper_namespace]), ports=[port])]),
            opts=child)
        args.monitoring.pod_monitor(f"{GATEWAY_APP}-metrics", namespace, dict(GATEWAY_PODS),
                                    [ScrapeEndpoint("http", "/metrics")], opts=child)
        self.url = SERVICE_URL
        self.register_outputs({"url": self.url, "peersAddress": self.peers_address})


def _lb_address(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    ingress = status.load_balancer.ingress if status and status.load_balancer else None
    if not ingress:
        return ""
    return ingress[0].ip or ingress[0].hostname or ""
