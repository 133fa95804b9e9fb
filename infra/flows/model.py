"""The vocabulary of network flows: the two kinds of peer (pods, address ranges), a needed flow, its verdict, an
open path, and the address-range arithmetic the policy and firewall checks share."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class OpenPath:
    status: str  # fail | pass (asked for, outside prod)
    message: str


def _nets(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c, strict=False) for c in cidrs]


def within(inner: Sequence[str], outer: Sequence[str], excluded: Sequence[str] = ()) -> bool:
    """Every range of `inner` lies in some range of `outer` and touches none of `excluded`."""
    if not inner:
        return False
    outs, excl = _nets(outer), _nets(excluded)
    return all(any(n.subnet_of(o) for o in outs) and not any(n.overlaps(e) for e in excl) for n in _nets(inner))
