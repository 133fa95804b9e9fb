"""The paths the stack needs (source, destination, port, why, and the fix if blocked), derived from what it renders:
the pods (Deployments, the RayService's head and worker groups), the ports they declare, what PodMonitor/PodMonitoring
objects scrape, and which of KEDA, KubeRay, a Gateway or an internal load balancer is in play. Pods we install by Helm
chart (KEDA, the KubeRay operator) are described by the labels and ports their pinned charts give them."""

from __future__ import annotations

from collections.abc import Sequence

from infra.cluster.kuberay import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from infra.config import ANY_ADDRESS, StackConfig
from infra.egress import egress_of
from infra.flows.model import Addresses, Flow, Pods
from infra.flows.network_policy import selector_matches
from infra.flows.rendered import (
    RAY_GROUP,
    RAY_NODE_TYPE,
    control_plane,
    helm_release,
    k8s_objects,
    namespace_of,
    proxy_only_ranges,
    rendered_pods,
)
from infra.names import (
    GATEWAY_APP,
    GATEWAY_NAMESPACE,
    KEDA_METRICS_SERVER_PORT,
    KEDA_NAMESPACE,
    KEDA_WEBHOOK_PORT,
)
from infra.planned import PlannedResource
from infra.platforms.gke import GCP_HEALTH_CHECK_RANGES, REGIONAL_GATEWAY_CLASSES

# KEDA's pods (chart 2.20.2: templates/metrics-server/deployment.yaml, templates/webhooks/deployment.yaml).
KEDA_METRICS_SERVER = {"app": "keda-operator-metrics-apiserver"}
KEDA_WEBHOOKS = {"app": "keda-admission-webhooks"}
KUBE_DNS = {"k8s-app": "kube-dns"}  # kube-dns / CoreDNS pods in kube-system on GKE and EKS
APP = "app.kubernetes.io/name"


def _model_source(source: str) -> Addresses:
    where = ("huggingface.co" if source.startswith("hf://") else "storage.googleapis.com"
             if source.startswith("gs://") else "the S3 endpoint")
    return Addresses((ANY_ADDRESS,), where, "internet")


def needed_flows(cfg: StackConfig, resources: Sequence[PlannedResource]) -> list[Flow]:
    pods = rendered_pods(resources)
    flows: list[Flow] = []
    via_gateway = cfg.rollout is not None and cfg.rollout.via_gateway
    rollouts = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "rollout-worker"]
    others = [Pods(ns, {}, {}, f"pods in namespace {ns}") for ns in cfg.serving.api_access_from]
    gateways = [p for p in pods if p.namespace == GATEWAY_NAMESPACE and p.labels.get(APP) == GATEWAY_APP]
    # The gateway calls each model; with rollout.viaGateway the rollout workers call the gateway instead.
    callers = [*([] if via_gateway else rollouts), *others, *gateways]
    gateway_fix = "admit it in the gateway's NetworkPolicy (infra/workloads/gateway.py)"
    for gateway in gateways:
        flows += [Flow(c, gateway, "http", "calls the models through the gateway", gateway_fix)
                  for c in [*(rollouts if via_gateway else []), *others] if c.namespace != GATEWAY_NAMESPACE]
        for network in cfg.peer_networks():  # a fleet region: the other regions' gateways fall back to this one
            peers = Addresses((network,), "a peer region's gateways (internal load balancer)", "lb-clients")
            # On the TLS listener (gateway/tls_front.py): the load balancer's 443 targets the pods' `peers` port.
            flows.append(Flow(peers, gateway, "peers", "peer regions fall back to this region's gateway (TLS)",
                              "admit the peers' ranges (regions' networks) on the gateway's peers port in its "
                              "NetworkPolicy"))
    dns = Pods("kube-system", KUBE_DNS, {"dns": 53}, "kube-system/kube-dns")
    sources = sorted({m.source for m in cfg.models})
    model_fix = "admit it in the model NetworkPolicy (infra/workloads/vllm.py)"

    for model in (p for p in pods if p.labels.get("app.kubernetes.io/name") == "vllm"):
        for caller in callers:
            flows.append(Flow(caller, model, "http", "calls the model's OpenAI API", model_fix))
        if cfg.serving.expose == "internal-load-balancer":
            clients = Addresses(tuple(cfg.serving.api_client_cidrs or ()), "clients behind the internal load balancer",
                                "lb-clients")
            flows.append(Flow(clients, model, "http", "serving.expose: internal-load-balancer",
                              "list the clients in serving.apiClientCidrs; the model NetworkPolicy admits them"))
        flows += _egress_flows(model, dns, sources)

    flows += _scrape_flows(cfg, resources, pods)

    if helm_release(resources, "keda") is not None:
        plane = control_plane(cfg, resources)
        fix = "a firewall rule from the master CIDR to the nodes on tcp:6443,9443 (infra/platforms/gke/network.py)"
        flows.append(Flow(plane, Pods(KEDA_NAMESPACE, KEDA_METRICS_SERVER, {"https": KEDA_METRICS_SERVER_PORT},
                                      "keda/keda-operator-metrics-apiserver"),
                          KEDA_METRICS_SERVER_PORT, "the HPA reads KEDA's external metrics through the API server",
                          fix))
        flows.append(Flow(plane, Pods(KEDA_NAMESPACE, KEDA_WEBHOOKS, {"http": KEDA_WEBHOOK_PORT},
                                      "keda/keda-admission-webhooks"),
                          KEDA_WEBHOOK_PORT, "the API server calls KEDA's admission webhook on ScaledObject writes",
                          fix))

    ray_services = k8s_objects(resources, "RayService")
    for r in ray_services:
        heads = [p for p in pods if p.namespace == namespace_of(r) and p.labels.get(RAY_NODE_TYPE) == "head"]
        workers = [p for p in pods if p.namespace == namespace_of(r) and p.labels.get(RAY_NODE_TYPE) == "worker"]
        ray_fix = "admit it in the Ray NetworkPolicy (infra/workloads/kuberay.py)"
        operator = Pods(KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS, {}, f"{KUBERAY_NAMESPACE}/kuberay-operator")
        for head in heads:
            flows.append(Flow(operator, head, "dashboard", "the KubeRay operator deploys and polls Serve apps "
                              "through the head's dashboard API", ray_fix))
            flows.append(Flow(operator, head, "serve", "the KubeRay operator health-checks the head's Serve proxy",
                              ray_fix))
            for worker in workers:
                flows.append(Flow(worker, head, "gcs", "Ray workers join the cluster through the head's GCS", ray_fix))
            for caller in [w for w in workers if w.labels.get(RAY_GROUP) == "rollout"] + callers:
                flows.append(Flow(caller, head, "serve", "calls the Serve app's OpenAI API", ray_fix))
            flows += _gateway_flows(r, head, resources)
        for worker in (w for w in workers if w.labels.get(RAY_GROUP) != "rollout"):
            flows += _egress_flows(worker, dns, sources)
    flows += _ray_job_flows(resources, pods)
    return _with_declared_egress(cfg, pods, dns, flows)


def _ray_job_flows(resources: Sequence[PlannedResource], pods: list[Pods]) -> list[Flow]:
    """The training RayJob's cluster: workers join the head, the operator polls the job on the head's dashboard."""
    flows: list[Flow] = []
    fix = "admit it in the training Ray NetworkPolicy (infra/workloads/network.py)"
    operator = Pods(KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS, {}, f"{KUBERAY_NAMESPACE}/kuberay-operator")
    for ns in sorted({namespace_of(r) for r in k8s_objects(resources, "RayJob")}):
        heads = [p for p in pods if p.namespace == ns and p.labels.get(RAY_NODE_TYPE) == "head"]
        for head in heads:
            flows.append(Flow(operator, head, "dashboard", "the KubeRay operator polls the RayJob's status through "
                              "the head's dashboard API", fix))
            flows += [Flow(w, head, "gcs", "Ray workers join the cluster through the head's GCS", fix)
                      for w in pods if w.namespace == ns and w.labels.get(RAY_NODE_TYPE) == "worker"]
    return flows


def _with_declared_egress(cfg: StackConfig, pods: list[Pods], dns: Pods, flows: list[Flow]) -> list[Flow]:
    """`flows` plus one flow per egress rule infra/egress.py declares for each rendered pod it selects (rules to
    every port, Ray's own traffic, are checked through the flows above), without repeating a flow already there."""
    def key(src: Pods | Addresses, dst: Pods | Addresses, port: int | str, protocol: str) -> tuple:
        if isinstance(port, str) and isinstance(dst, Pods):
            port = dst.ports.get(port, port)
        return str(src), dst.cidrs if isinstance(dst, Addresses) else str(dst), port, protocol

    seen = {key(f.source, f.destination, f.port, f.protocol) for f in flows}
    out = list(flows)
    fix = "declare it in infra/egress.py (rendered by infra/workloads/network.py)"
    for group in egress_of(cfg):
        for pod in (p for p in pods if p.namespace == group.namespace
                    and selector_matches({"matchLabels": dict(group.labels)}, p.labels)):
            for rule in (r for r in group.rules if r.port is not None):
                destinations: list[Pods | Addresses]
                if rule.cidr is not None:
                    destinations = [Addresses((rule.cidr,), rule.peer, "internet")]
                elif dict(rule.labels) == KUBE_DNS:
                    destinations = [dns]
                else:
                    destinations = [p for p in pods if p.namespace == rule.namespace and p.labels
                                    and selector_matches({"matchLabels": dict(rule.labels)}, p.labels)]
                for dst in destinations:
                    k = key(pod, dst, rule.port, rule.protocol)
                    if k not in seen:
                        seen.add(k)
                        out.append(Flow(pod, dst, rule.port, rule.why, fix, protocol=rule.protocol))
    return out


def _egress_flows(pod: Pods, dns: Pods, sources: list[str]) -> list[Flow]:
    fix = "add an egress rule to the pod's NetworkPolicy"
    flows = [Flow(pod, dns, 53, "resolves Service and model-source names", fix, protocol="UDP")]
    flows += [Flow(pod, _model_source(s), 443, f"downloads weights from {s}", fix) for s in sources]
    return flows


def _scrape_flows(cfg: StackConfig, resources: Sequence[PlannedResource], pods: list[Pods]) -> list[Flow]:
    """Every port a PodMonitoring / PodMonitor scrapes, from where the scrapers run."""
    flows = []
    for kind, endpoints_key in (("PodMonitoring", "endpoints"), ("PodMonitor", "podMetricsEndpoints")):
        for r in k8s_objects(resources, kind):
            spec = r.inputs.get("spec") or {}
            namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [namespace_of(r)]
            scraper_ns = "gmp-system" if kind == "PodMonitoring" else _ns_of_prometheus(resources)
            scraper = Pods(scraper_ns, {}, {}, f"scrapers in {scraper_ns}")
            targets = [p for p in pods if p.namespace in namespaces and p.labels
                       and selector_matches(spec.get("selector") or {}, p.labels)]
            for target in targets:
                for endpoint in spec.get(endpoints_key) or []:
                    flows.append(Flow(scraper, target, endpoint["port"], f"{kind} {namespace_of(r)}/"
                                      f"{(r.inputs.get('metadata') or {}).get('name')} scrapes {endpoint.get('path')}",
                                      "admit the scraper namespace on this port in the target's NetworkPolicy"))
    return flows


def _ns_of_prometheus(resources: Sequence[PlannedResource]) -> str:
    release = helm_release(resources, "kube-prometheus-stack")
    return str(release.inputs.get("namespace")) if release is not None else "monitoring"


def _gateway_flows(ray_service: PlannedResource, head: Pods, resources: Sequence[PlannedResource]) -> list[Flow]:
    strategy = (ray_service.inputs.get("spec") or {}).get("upgradeStrategy") or {}
    if strategy.get("type") != "NewClusterWithIncrementalUpgrade":
        return []
    gateway_class = (strategy.get("clusterUpgradeOptions") or {}).get("gatewayClassName")
    kind = "gateway-proxies"
    if gateway_class in REGIONAL_GATEWAY_CLASSES:
        proxies = Addresses(proxy_only_ranges(resources), f"{gateway_class} proxies (proxy-only subnet)", kind)
        fix = ("create a REGIONAL_MANAGED_PROXY subnet (gcp.proxyOnlySubnetCidr, infra/platforms/gke/network.py) "
               "and admit it on the serve port in the Ray NetworkPolicy")
    else:
        proxies = Addresses((), f"{gateway_class} proxies", kind)
        fix = "admit the Gateway's proxies on the serve port in the Ray NetworkPolicy"
    flows = [Flow(proxies, head, "serve", "the Gateway shifts traffic to the new cluster during an incremental "
                  "upgrade", fix)]
    if gateway_class in REGIONAL_GATEWAY_CLASSES:
        # The load balancer only sends to endpoints its health checks find healthy; those probes come from Google's
        # ranges, not the proxy-only subnet (infra/platforms/gke/facts.py GCP_HEALTH_CHECK_RANGES).
        # One flow per range: each is a separate source the policy must admit.
        flows += [Flow(Addresses((cidr,), f"{gateway_class} health checks", "health-checkers"), head, "serve",
                       "the Gateway's load balancer health-checks each backend pod on its serving port before "
                       "sending it traffic",
                       f"admit {cidr} on the serve port in the Ray NetworkPolicy (infra/workloads/kuberay.py)")
                  for cidr in GCP_HEALTH_CHECK_RANGES]
    return flows
