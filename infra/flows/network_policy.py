"""Kubernetes NetworkPolicy semantics (kubernetes.io/docs/concepts/services-networking/network-policies): a pod is
isolated for ingress (egress) only if some policy selecting it lists Ingress (Egress) in its policyTypes; an isolated
pod admits a connection iff some rule of such a policy matches the peer (podSelector / namespaceSelector / both, or
ipBlock with except) AND the port (named ports resolved against the destination's container ports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.flows.model import Addresses, Peer, Pods, within

NS_NAME_LABEL = "kubernetes.io/metadata.name"  # every namespace carries its own name (Kubernetes >= 1.21)


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


def peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Peer, ns_labels: Mapping[str, Mapping[str, str]]
                  ) -> bool:
    if "ipBlock" in peer:
        # Pod addresses are not what ipBlock is for (and change): only address ranges match it.
        block = peer["ipBlock"]
        return isinstance(other, Addresses) and within(other.cidrs, [block["cidr"]], block.get("except") or [])
    if isinstance(other, Addresses):
        return False
    if "namespaceSelector" in peer:
        labels = {**ns_labels.get(other.namespace, {}), NS_NAME_LABEL: other.namespace}
        ns_ok = selector_matches(peer["namespaceSelector"], labels)
    else:
        ns_ok = other.namespace == policy_ns
    return ns_ok and selector_matches(peer.get("podSelector"), other.labels)


def port_matches(ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str,
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


def policy_verdict(policies: Sequence[Policy], pods: Pods, direction: str, other: Peer, port: int, protocol: str,
                    named: Mapping[str, int], ns_labels: Mapping[str, Mapping[str, str]]) -> tuple[bool, str]:
    """(allowed, by what) for one end of a connection."""
    isolating = [p for p in policies if p.isolates(pods, direction)]
    if not isolating:
        return True, f"no NetworkPolicy isolates {pods} for {direction.lower()}"
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in isolating:
        for i, rule in enumerate(policy.spec.get(rules_key) or []):
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(p, policy.namespace, other, ns_labels) for p in peers)) and \
                    port_matches(rule.get("ports"), port, protocol, named):
                return True, f"{policy} {rules_key}[{i}]"
    names = ", ".join(str(p) for p in isolating)
    return False, f"{names} (isolates {pods} for {direction.lower()}; no rule admits {other} on {port}/{protocol})"
