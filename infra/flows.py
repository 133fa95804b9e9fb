"""Network flows: the paths the stack needs, and whether the rendered policies and firewalls allow them.

Owns three things, all pure functions of the config and the planned resources (inputs as a provider
receives them), so `plan`, the policy pack and `plan --json` see the same answer:

- `needed_flows`: every path something needs (source, destination, port, why), derived from what the
  stack renders: the pods (Deployments, the RayService's head and worker groups), the ports they
  declare, what PodMonitor/PodMonitoring objects scrape, and which of KEDA, KubeRay, a Gateway or an
  internal load balancer is in play. Pods we install by Helm chart (KEDA, the KubeRay operator) are
  described by the labels and ports their pinned charts give them.
- `evaluate`: Kubernetes NetworkPolicy semantics (kubernetes.io/docs/concepts/services-networking/
  network-policies): a pod is isolated for ingress (egress) only if some policy selecting it lists
  Ingress (Egress) in its policyTypes; an isolated pod admits a connection iff some rule of such a policy
  matches the peer (podSelector / namespaceSelector / both, or ipBlock with except) AND the port (named
  ports resolved against the destination's container ports). Then the cloud firewall for traffic from
  outside the pod network: GKE's own rules (private clusters: control plane -> nodes on 443/10250 only;
  gkegw1-l7-*: proxy-only subnets -> backends), the stack's gcp:compute/firewall rules, the firewall
  a LoadBalancer Service gets from its loadBalancerSourceRanges; EKS's cluster security group.
- `open_paths`: paths open that no one needs: a cluster API endpoint reachable from any address the
  config did not ask for, a LoadBalancer Service without the cloud's internal annotation.

What this cannot see: traffic that never touches a policy we render (Helm charts' own NetworkPolicies
are not rendered here), and whether the cluster enforces NetworkPolicy at all (another guard's job).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.cluster.kuberay import KUBERAY_NAMESPACE, KUBERAY_OPERATOR_LABELS
from infra.config import ANY_ADDRESS, StackConfig
from infra.guards.base import PlannedResource
from infra.guards.exposure import is_internal_load_balancer
from infra.names import KEDA_METRICS_SERVER_PORT, KEDA_NAMESPACE, KEDA_WEBHOOK_PORT
from infra.platforms.gke import GCP_HEALTH_CHECK_RANGES, GKE_MASTER_PORTS, REGIONAL_GATEWAY_CLASSES

NS_NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace carries its own name (Kubernetes >= 1.21)
# KubeRay labels every pod of a Ray cluster (ray-operator/controllers/ray/utils/constant.go v1.7.0).
RAY_NODE, RAY_NODE_TYPE, RAY_GROUP = "ray.io/is-ray-node", "ray.io/node-type", "ray.io/group"
# KEDA's pods (chart 2.20.2: templates/metrics-server/deployment.yaml, templates/webhooks/deployment.yaml).
KEDA_METRICS_SERVER = {"app": "keda-operator-metrics-apiserver"}
KEDA_WEBHOOKS = {"app": "keda-admission-webhooks"}
KUBE_DNS = {"k8s-app": "kube-dns"}  # kube-dns / CoreDNS pods in kube-system on GKE and EKS
SELF_HOSTED_PROMETHEUS_PORT = 9090


@dataclass(frozen=True)
class Pods:
    """Pods of one namespace carrying `labels` ({}: any pod there), with their named container ports."""

    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int]
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Addresses:
    """An address range outside the pod network: the control plane, proxies, VPC clients, the internet."""

    cidrs: tuple[str, ...]
    name: str
    kind: str  # control-plane | gateway-proxies | health-checkers | lb-clients | internet

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(self.cidrs) or 'no range'})"


Peer = Pods | Addresses


@dataclass(frozen=True)
class Flow:
    source: Peer
    destination: Peer
    port: int | str  # a number, or a named container port of the destination
    why: str
    fix: str  # what to change where, if the flow is blocked
    protocol: str = "TCP"


@dataclass(frozen=True)
class FlowResult:
    flow: Flow
    port: int | None  # the resolved port number
    allowed: bool | None  # None: not checkable from the plan (the reason is in `by`)
    by: tuple[str, ...] = field(default=())  # what admits it, or what blocks it

    def line(self) -> str:
        f = self.flow
        port = self.port if self.port is not None else f.port
        verdict = "blocked by" if self.allowed is False else "allowed by" if self.allowed else "not checked:"
        return f"{f.source} -> {f.destination}:{port}/{f.protocol} ({f.why}): {verdict} {'; '.join(self.by)}"

    def as_json(self) -> dict[str, Any]:
        f = self.flow
        return {"source": str(f.source), "destination": str(f.destination),
                "port": self.port if self.port is not None else f.port, "protocol": f.protocol, "why": f.why,
                "allowed": self.allowed, "by": list(self.by)}


# --- selectors and NetworkPolicy rules ------------------------------------------------------------------------

def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels AND every matchExpression; an empty selector matches everything."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _nets(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c, strict=False) for c in cidrs]


def _within(inner: Sequence[str], outer: Sequence[str], excluded: Sequence[str] = ()) -> bool:
    """Every range of `inner` lies in some range of `outer` and touches none of `excluded`."""
    if not inner:
        return False
    outs, excl = _nets(outer), _nets(excluded)
    return all(any(n.subnet_of(o) for o in outs) and not any(n.overlaps(e) for e in excl) for n in _nets(inner))


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    spec: Mapping[str, Any]

    def isolates(self, pods: Pods, direction: str) -> bool:
        if self.namespace != pods.namespace or not selector_matches(self.spec.get("podSelector") or {}, pods.labels):
            return False
        types = self.spec.get("policyTypes")
        if types is None:  # the API defaults: Ingress always, Egress when egress rules are given
            types = ["Ingress", *(["Egress"] if self.spec.get("egress") else [])]
        return direction in types

    def __str__(self) -> str:
        return f"NetworkPolicy {self.namespace}/{self.name}"


def _peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Peer, ns_labels: Mapping[str, Mapping[str, str]]
                  ) -> bool:
    if "ipBlock" in peer:
        # Pod addresses are not what ipBlock is for (and change): only address ranges match it.
        block = peer["ipBlock"]
        return isinstance(other, Addresses) and _within(other.cidrs, [block["cidr"]], block.get("except") or [])
    if isinstance(other, Addresses):
        return False
    if "namespaceSelector" in peer:
        labels = {**ns_labels.get(other.namespace, {}), NS_NAME_LABEL: other.namespace}
        ns_ok = selector_matches(peer["namespaceSelector"], labels)
    else:
        ns_ok = other.namespace == policy_ns
    return ns_ok and selector_matches(peer.get("podSelector"), other.labels)


def _port_matches(ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str,
                  named: Mapping[str, int]) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        value = p.get("port")
        if value is None:
            return True
        if isinstance(value, str):
            value = int(value) if value.isdigit() else named.get(value)
        if value is None:
            continue
        end = p.get("endPort")
        if value == port or (end is not None and value <= port <= end):
            return True
    return False


def _policy_verdict(policies: Sequence[Policy], pods: Pods, direction: str, other: Peer, port: int, protocol: str,
                    named: Mapping[str, int], ns_labels: Mapping[str, Mapping[str, str]]) -> tuple[bool, str]:
    """(allowed, by what) for one end of a connection."""
    isolating = [p for p in policies if p.isolates(pods, direction)]
    if not isolating:
        return True, f"no NetworkPolicy isolates {pods} for {direction.lower()}"
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in isolating:
        for i, rule in enumerate(policy.spec.get(rules_key) or []):
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, policy.namespace, other, ns_labels) for p in peers)) and \
                    _port_matches(rule.get("ports"), port, protocol, named):
                return True, f"{policy} {rules_key}[{i}]"
    names = ", ".join(str(p) for p in isolating)
    return False, f"{names} (isolates {pods} for {direction.lower()}; no rule admits {other} on {port}/{protocol})"


# --- what the stack renders ------------------------------------------------------------------------------------

def _k8s(resources: Iterable[PlannedResource], kind: str) -> list[PlannedResource]:
    return [r for r in resources if r.is_kubernetes_object and r.inputs.get("kind") == kind]


def _ns(r: PlannedResource) -> str:
    return str((r.inputs.get("metadata") or {}).get("namespace") or "default")


def _container_ports(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    return {p["name"]: int(p["containerPort"]) for c in pod_spec.get("containers") or []
            for p in c.get("ports") or [] if p.get("name")}


def rendered_pods(resources: Sequence[PlannedResource]) -> list[Pods]:
    """Pods the stack declares: Deployments and Jobs by their templates, RayServices by head and worker group."""
    pods: list[Pods] = []
    for kind in ("Deployment", "Job"):
        for r in _k8s(resources, kind):
            template = (r.inputs.get("spec") or {}).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            name = (r.inputs.get("metadata") or {}).get("name", r.name)
            pods.append(Pods(_ns(r), dict(labels), _container_ports(template.get("spec") or {}),
                             f"{_ns(r)}/{name}"))
    for r in _k8s(resources, "RayService"):
        cluster = (r.inputs.get("spec") or {}).get("rayClusterConfig") or {}
        groups = [("head", "headgroup", cluster.get("headGroupSpec") or {}),
                  *[("worker", g.get("groupName", "workers"), g) for g in cluster.get("workerGroupSpecs") or []]]
        for node_type, group, spec in groups:
            template = spec.get("template") or {}
            labels = {**((template.get("metadata") or {}).get("labels") or {}),
                      RAY_NODE: "yes", RAY_NODE_TYPE: node_type, RAY_GROUP: group}
            pods.append(Pods(_ns(r), labels, _container_ports(template.get("spec") or {}),
                             f"{_ns(r)}/ray-{group}"))
    return pods


def _helm_release(resources: Sequence[PlannedResource], name: str) -> PlannedResource | None:
    return next((r for r in resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("name") == name),
                None)


def _of_type(resources: Sequence[PlannedResource], type_: str) -> list[PlannedResource]:
    return [r for r in resources if r.type == type_]


def control_plane(cfg: StackConfig, resources: Sequence[PlannedResource]) -> Addresses:
    for r in _of_type(resources, "gcp:container/cluster:Cluster"):
        private = r.inputs.get("privateClusterConfig") or {}
        cidr = private.get("masterIpv4CidrBlock")
        return Addresses((cidr,) if private.get("enablePrivateNodes") and cidr else (), "GKE control plane",
                         "control-plane")
    if _of_type(resources, "aws:eks/cluster:Cluster"):
        return Addresses((), "EKS control plane", "control-plane")
    return Addresses((), "the cluster's API server", "control-plane")


def _proxy_only_ranges(resources: Sequence[PlannedResource]) -> tuple[str, ...]:
    return tuple(r.inputs["ipCidrRange"] for r in _of_type(resources, "gcp:compute/subnetwork:Subnetwork")
                 if r.inputs.get("purpose") == "REGIONAL_MANAGED_PROXY" and r.inputs.get("role") == "ACTIVE")


def _model_source(source: str) -> Addresses:
    where = ("huggingface.co" if source.startswith("hf://") else "storage.googleapis.com"
             if source.startswith("gs://") else "the S3 endpoint")
    return Addresses((ANY_ADDRESS,), where, "internet")


# --- the flows the stack needs ---------------------------------------------------------------------------------

def needed_flows(cfg: StackConfig, resources: Sequence[PlannedResource]) -> list[Flow]:
    pods = rendered_pods(resources)
    flows: list[Flow] = []
    callers = [p for p in pods if p.labels.get("app.kubernetes.io/name") == "rollout-worker"]
    callers += [Pods(ns, {}, {}, f"pods in namespace {ns}") for ns in cfg.serving.api_access_from]
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

    if _helm_release(resources, "keda") is not None:
        plane = control_plane(cfg, resources)
        fix = "a firewall rule from the master CIDR to the nodes on tcp:6443,9443 (infra/platforms/gke.py)"
        flows.append(Flow(plane, Pods(KEDA_NAMESPACE, KEDA_METRICS_SERVER, {"https": KEDA_METRICS_SERVER_PORT},
                                      "keda/keda-operator-metrics-apiserver"),
                          KEDA_METRICS_SERVER_PORT, "the HPA reads KEDA's external metrics through the API server",
                          fix))
        flows.append(Flow(plane, Pods(KEDA_NAMESPACE, KEDA_WEBHOOKS, {"http": KEDA_WEBHOOK_PORT},
                                      "keda/keda-admission-webhooks"),
                          KEDA_WEBHOOK_PORT, "the API server calls KEDA's admission webhook on ScaledObject writes",
                          fix))

    ray_services = _k8s(resources, "RayService")
    for r in ray_services:
        heads = [p for p in pods if p.namespace == _ns(r) and p.labels.get(RAY_NODE_TYPE) == "head"]
        workers = [p for p in pods if p.namespace == _ns(r) and p.labels.get(RAY_NODE_TYPE) == "worker"]
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
    return flows


def _egress_flows(pod: Pods, dns: Pods, sources: list[str]) -> list[Flow]:
    fix = "add an egress rule to the pod's NetworkPolicy"
    flows = [Flow(pod, dns, 53, "resolves Service and model-source names", fix, protocol="UDP")]
    flows += [Flow(pod, _model_source(s), 443, f"downloads weights from {s}", fix) for s in sources]
    return flows


def _scrape_flows(cfg: StackConfig, resources: Sequence[PlannedResource], pods: list[Pods]) -> list[Flow]:
    """Every port a PodMonitoring / PodMonitor scrapes, from where the scrapers run."""
    flows = []
    for kind, endpoints_key in (("PodMonitoring", "endpoints"), ("PodMonitor", "podMetricsEndpoints")):
        for r in _k8s(resources, kind):
            spec = r.inputs.get("spec") or {}
            namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [_ns(r)]
            scraper_ns = "gmp-system" if kind == "PodMonitoring" else _ns_of_prometheus(resources)
            scraper = Pods(scraper_ns, {}, {}, f"scrapers in {scraper_ns}")
            targets = [p for p in pods if p.namespace in namespaces and p.labels
                       and selector_matches(spec.get("selector") or {}, p.labels)]
            for target in targets:
                for endpoint in spec.get(endpoints_key) or []:
                    flows.append(Flow(scraper, target, endpoint["port"], f"{kind} {_ns(r)}/"
                                      f"{(r.inputs.get('metadata') or {}).get('name')} scrapes {endpoint.get('path')}",
                                      "admit the scraper namespace on this port in the target's NetworkPolicy"))
    return flows


def _ns_of_prometheus(resources: Sequence[PlannedResource]) -> str:
    release = _helm_release(resources, "kube-prometheus-stack")
    return str(release.inputs.get("namespace")) if release is not None else "monitoring"


def _gateway_flows(ray_service: PlannedResource, head: Pods, resources: Sequence[PlannedResource]) -> list[Flow]:
    strategy = (ray_service.inputs.get("spec") or {}).get("upgradeStrategy") or {}
    if strategy.get("type") != "NewClusterWithIncrementalUpgrade":
        return []
    gateway_class = (strategy.get("clusterUpgradeOptions") or {}).get("gatewayClassName")
    kind = "gateway-proxies"
    if gateway_class in REGIONAL_GATEWAY_CLASSES:
        proxies = Addresses(_proxy_only_ranges(resources), f"{gateway_class} proxies (proxy-only subnet)", kind)
        fix = ("create a REGIONAL_MANAGED_PROXY subnet (gcp.proxyOnlySubnetCidr, infra/platforms/gke.py) and admit "
               "it on the serve port in the Ray NetworkPolicy")
    else:
        proxies = Addresses((), f"{gateway_class} proxies", kind)
        fix = "admit the Gateway's proxies on the serve port in the Ray NetworkPolicy"
    flows = [Flow(proxies, head, "serve", "the Gateway shifts traffic to the new cluster during an incremental "
                  "upgrade", fix)]
    if gateway_class in REGIONAL_GATEWAY_CLASSES:
        # The load balancer only sends to endpoints its health checks find healthy; those probes come from Google's
        # ranges, not the proxy-only subnet (infra/platforms/gke.py GCP_HEALTH_CHECK_RANGES).
        # One flow per range: each is a separate source the policy must admit.
        flows += [Flow(Addresses((cidr,), f"{gateway_class} health checks", "health-checkers"), head, "serve",
                       "the Gateway's load balancer health-checks each backend pod on its serving port before "
                       "sending it traffic",
                       f"admit {cidr} on the serve port in the Ray NetworkPolicy (infra/workloads/kuberay.py)")
                  for cidr in GCP_HEALTH_CHECK_RANGES]
    return flows


# --- evaluation ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Network:
    policies: tuple[Policy, ...]
    ns_labels: Mapping[str, Mapping[str, str]]
    resources: Sequence[PlannedResource]
    cfg: StackConfig


def _network(cfg: StackConfig, resources: Sequence[PlannedResource]) -> _Network:
    policies = tuple(Policy(_ns(r), str((r.inputs.get("metadata") or {}).get("name", r.name)),
                            r.inputs.get("spec") or {}) for r in _k8s(resources, "NetworkPolicy"))
    ns_labels = {str(r.inputs["metadata"]["name"]): dict(r.inputs["metadata"].get("labels") or {})
                 for r in _k8s(resources, "Namespace") if (r.inputs.get("metadata") or {}).get("name")}
    return _Network(policies, ns_labels, resources, cfg)


def evaluate(cfg: StackConfig, resources: Sequence[PlannedResource]) -> list[FlowResult]:
    net = _network(cfg, resources)
    return [_evaluate(net, flow) for flow in needed_flows(cfg, resources)]


def _evaluate(net: _Network, flow: Flow) -> FlowResult:
    dst, src = flow.destination, flow.source
    if isinstance(flow.port, int):
        port: int | None = flow.port
    else:
        port = dst.ports.get(flow.port) if isinstance(dst, Pods) else None
        if port is None:
            return FlowResult(flow, None, False, (f"{dst} declares no container port named {flow.port!r}",))
    if isinstance(src, Addresses) and src.kind == "gateway-proxies" and not src.cidrs \
            and not _of_type(net.resources, "gcp:container/cluster:Cluster"):
        # Off-GKE GatewayClasses: where their proxies connect from is the controller's business.
        return FlowResult(flow, port, None, (
            f"{src.name} connect from addresses llm-fleet does not know: an in-cluster gateway (istio, envoy-gateway) "
            "is admitted by listing its namespace in serving.apiAccessFrom; an off-cluster one (VPC Lattice) needs its "
            "range admitted to the serve port, which no config key offers yet",))
    by: list[str] = []
    named = dst.ports if isinstance(dst, Pods) else {}
    for pods, direction, other in ((src, "Egress", dst), (dst, "Ingress", src)):
        if isinstance(pods, Pods):
            ok, why = _policy_verdict(net.policies, pods, direction, other, port, flow.protocol, named, net.ns_labels)
            if not ok:
                return FlowResult(flow, port, False, (why, f"fix: {flow.fix}"))
            by.append(why)
    if isinstance(src, Addresses) and src.kind != "internet":
        ok, why = _cloud_firewall(net, src, port, flow)
        if ok is not True:
            return FlowResult(flow, port, ok, (why, *((f"fix: {flow.fix}",) if ok is False else ())))
        by.append(why)
    return FlowResult(flow, port, True, tuple(by))


def _cloud_firewall(net: _Network, src: Addresses, port: int, flow: Flow) -> tuple[bool | None, str]:
    """Whether the cloud lets `src` reach the nodes/pods on `port`: (allowed or None if unknowable, why)."""
    resources = net.resources
    gke = _of_type(resources, "gcp:container/cluster:Cluster")
    eks = _of_type(resources, "aws:eks/cluster:Cluster")
    if src.kind == "lb-clients":
        return _load_balancer_firewall(resources, src, port)
    if src.kind == "control-plane":
        if eks:
            # docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html: managed node groups share the cluster
            # security group with the control plane, whose default inbound rule admits all traffic from itself.
            return True, "the EKS cluster security group (all traffic between control plane and managed nodes)"
        if not gke:
            return None, "the cluster's own firewall is not managed by llm-fleet"
        if not src.cidrs:
            return None, "public GKE nodes: no VPC firewall stands between control plane and nodes we could check"
        if port in GKE_MASTER_PORTS:
            return True, "GKE's gke-<cluster>-master rule (443, 10250)"
        rule = _gcp_firewall_admitting(resources, src.cidrs, port)
        if rule:
            return True, f"gcp firewall {rule}"
        return False, (f"GKE private cluster: the control plane ({', '.join(src.cidrs)}) reaches nodes on 443/10250 "
                       f"only and no gcp:compute/firewall rule admits it on tcp:{port}")
    if src.kind == "gateway-proxies":
        if not src.cidrs:
            return False, (f"no REGIONAL_MANAGED_PROXY subnet (role ACTIVE) exists in the region: {src.name} have no "
                           "addresses and the Gateway never becomes ready")
        return True, "GKE's gkegw1-l7-* rule (proxy-only subnet -> backends)"
    if src.kind == "health-checkers":
        rule = _gcp_firewall_admitting(resources, src.cidrs, port)
        if rule:
            return True, f"gcp firewall {rule}"
        return None, ("the VPC firewall for the Gateway's health checks is the GKE Gateway controller's own "
                      "(cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules, GKE Gateways): "
                      "not in the plan")
    return None, f"{src.name}: no firewall model"


def _gcp_firewall_admitting(resources: Sequence[PlannedResource], cidrs: Sequence[str], port: int) -> str | None:
    node_tags = {t for r in _of_type(resources, "gcp:container/nodePool:NodePool")
                 for t in ((r.inputs.get("nodeConfig") or {}).get("tags") or [])}
    node_sas = {(r.inputs.get("nodeConfig") or {}).get("serviceAccount")
                for r in _of_type(resources, "gcp:container/nodePool:NodePool")}
    for r in _of_type(resources, "gcp:compute/firewall:Firewall"):
        inputs = r.inputs
        if inputs.get("direction", "INGRESS") != "INGRESS" or inputs.get("disabled"):
            continue
        if not _within(cidrs, inputs.get("sourceRanges") or []):
            continue
        tags, sas = inputs.get("targetTags"), inputs.get("targetServiceAccounts")
        if (tags and not set(tags) & node_tags) or (sas and not set(sas) & node_sas):
            continue
        for allow in inputs.get("allows") or []:
            if allow.get("protocol") not in ("tcp", "all"):
                continue
            ports = allow.get("ports")
            if not ports or any(_in_port_range(p, port) for p in ports):
                return r.name
    return None


def _in_port_range(spec: str | int, port: int) -> bool:
    low, _, high = str(spec).partition("-")
    return int(low) <= port <= int(high or low)


def _load_balancer_firewall(resources: Sequence[PlannedResource], src: Addresses, port: int
                            ) -> tuple[bool | None, str]:
    services = [r for r in _k8s(resources, "Service") if (r.inputs.get("spec") or {}).get("type") == "LoadBalancer"]
    if not services:
        return False, "no LoadBalancer Service exists"
    if not src.cidrs:
        return False, "serving.apiClientCidrs names no client range"
    for r in services:
        ranges = (r.inputs.get("spec") or {}).get("loadBalancerSourceRanges") or [ANY_ADDRESS]
        if _within(src.cidrs, ranges):
            return True, f"the cloud firewall of Service {_ns(r)}/{r.inputs['metadata'].get('name')} " \
                         f"(loadBalancerSourceRanges {ranges})"
    return False, "no LoadBalancer Service's loadBalancerSourceRanges admit the clients"


# --- open paths nobody needs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenPath:
    status: str  # fail | pass (asked for, outside prod)
    message: str


def _open_to_all(cidrs: Iterable[str]) -> bool:
    return any(ipaddress.IPv4Network(c, strict=False).prefixlen == 0 for c in cidrs)


def open_paths(cfg: StackConfig, resources: Sequence[PlannedResource]) -> list[OpenPath]:
    """Public endpoints: the cluster API open to any address, public LoadBalancers."""
    found: list[OpenPath] = []
    asked = cfg.control_plane.authorized_networks
    asked_open = asked is not None and _open_to_all(asked) and cfg.tier != "prod"
    fix = ("set controlPlane.authorizedNetworks to the CI runners' and VPN's CIDRs (GitHub-hosted runners have no "
           "fixed range: use self-hosted or static-IP runners)")
    for r in _of_type(resources, "gcp:container/cluster:Cluster"):
        config = r.inputs.get("masterAuthorizedNetworksConfig")
        if (r.inputs.get("privateClusterConfig") or {}).get("enablePrivateEndpoint"):
            continue
        blocks = [b.get("cidrBlock", "") for b in (config or {}).get("cidrBlocks") or []]
        if config is None or _open_to_all(blocks) or (config or {}).get("gcpPublicCidrsAccessEnabled"):
            found.append(_endpoint(r, "no masterAuthorizedNetworksConfig" if config is None else
                                   f"masterAuthorizedNetworksConfig admits {blocks or 'Google Cloud addresses'}",
                                   asked_open, fix))
    for r in _of_type(resources, "aws:eks/cluster:Cluster"):
        vpc = r.inputs.get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess", True):
            cidrs = vpc.get("publicAccessCidrs") or [ANY_ADDRESS]  # the EKS API's default
            if _open_to_all(cidrs):
                found.append(_endpoint(r, f"endpointPublicAccess with publicAccessCidrs {cidrs}", asked_open, fix))
    for r in _k8s(resources, "Service"):
        spec, meta = r.inputs.get("spec") or {}, r.inputs.get("metadata") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        if not is_internal_load_balancer(meta.get("annotations")):
            found.append(OpenPath("fail", f"Service {_ns(r)}/{meta.get('name')} is a LoadBalancer without the cloud's "
                                          "internal annotation: a public address nobody needs; fix: "
                                          "serving.expose: internal-load-balancer (the platform's annotations)"))
    return found


def _endpoint(r: PlannedResource, what: str, asked_open: bool, fix: str) -> OpenPath:
    if asked_open:
        return OpenPath("pass", f"cluster {r.inputs.get('name', r.name)} API endpoint is open to any address, as "
                                "controlPlane.authorizedNetworks asks (not prod)")
    return OpenPath("fail", f"cluster {r.inputs.get('name', r.name)}: the API endpoint is open to any address "
                            f"({what}); fix: {fix}")
