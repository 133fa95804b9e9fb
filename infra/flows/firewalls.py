"""The cloud's firewalls, for traffic from outside the pod network: GKE's own rules (private clusters: control plane ->
nodes on 443/10250 only; gkegw1-l7-*: proxy-only subnets -> backends), the stack's gcp:compute/firewall rules, the
firewall a LoadBalancer Service gets from its loadBalancerSourceRanges; EKS's cluster security group."""

from __future__ import annotations

from collections.abc import Sequence

from infra.config import ANY_ADDRESS
from infra.flows.model import Addresses, within
from infra.flows.rendered import k8s_objects, namespace_of, of_type
from infra.planned import PlannedResource
from infra.platforms.gke import GKE_MASTER_PORTS


def cloud_firewall(resources: Sequence[PlannedResource], src: Addresses, port: int) -> tuple[bool | None, str]:
    """Whether the cloud lets `src` reach the nodes/pods on `port`: (allowed or None if unknowable, why)."""
    gke = of_type(resources, "gcp:container/cluster:Cluster")
    eks = of_type(resources, "aws:eks/cluster:Cluster")
    if src.kind == "lb-clients":
        return load_balancer_firewall(resources, src, port)
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
        rule = gcp_firewall_admitting(resources, src.cidrs, port)
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
        rule = gcp_firewall_admitting(resources, src.cidrs, port)
        if rule:
            return True, f"gcp firewall {rule}"
        return None, ("the VPC firewall for the Gateway's health checks is the GKE Gateway controller's own "
                      "(cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules, GKE Gateways): "
                      "not in the plan")
    return None, f"{src.name}: no firewall model"


def gcp_firewall_admitting(resources: Sequence[PlannedResource], cidrs: Sequence[str], port: int) -> str | None:
    node_tags = {t for r in of_type(resources, "gcp:container/nodePool:NodePool")
                 for t in ((r.inputs.get("nodeConfig") or {}).get("tags") or [])}
    node_sas = {(r.inputs.get("nodeConfig") or {}).get("serviceAccount")
                for r in of_type(resources, "gcp:container/nodePool:NodePool")}
    for r in of_type(resources, "gcp:compute/firewall:Firewall"):
        inputs = r.inputs
        if inputs.get("direction", "INGRESS") != "INGRESS" or inputs.get("disabled"):
            continue
        if not within(cidrs, inputs.get("sourceRanges") or []):
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


def load_balancer_firewall(resources: Sequence[PlannedResource], src: Addresses, port: int
                            ) -> tuple[bool | None, str]:
    services = [r for r in k8s_objects(resources, "Service")
                if (r.inputs.get("spec") or {}).get("type") == "LoadBalancer"]
    if not services:
        return False, "no LoadBalancer Service exists"
    if not src.cidrs:
        return False, "serving.apiClientCidrs names no client range"
    for r in services:
        ranges = (r.inputs.get("spec") or {}).get("loadBalancerSourceRanges") or [ANY_ADDRESS]
        if within(src.cidrs, ranges):
            return True, f"the cloud firewall of Service {namespace_of(r)}/{r.inputs['metadata'].get('name')} " \
                         f"(loadBalancerSourceRanges {ranges})"
    return False, "no LoadBalancer Service's loadBalancerSourceRanges admit the clients"
