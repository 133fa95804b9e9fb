"""The gateway's routing table as a stack declares it: for each model name clients send, the backends that serve it
in the order they are tried, and the failover policy. infra builds it from the stack config; litellm_config.py
renders it for the data plane. Plain data, no Pulumi: the image and the tests read it the same way."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

BackendKind = Literal["local", "peer", "provider"]
LOCAL_ONLY = "@local"
"""Appended to a route's model name, the route served by this stack's own replicas alone: what a peer region asks
for (`qwen-7b@local`), so a request that failed over to a peer never fails over again (no loop between regions, no
second provider bill)."""
"""local: this stack's own replicas (a Service in the cluster); peer: another region's gateway; provider: an external
OpenAI-compatible service (Modal, RunPod, Together, ...)."""


@dataclass(frozen=True)
class Backend:
    name: str
    """Unique in the stack, and the label its metrics carry: `local`, `peer-<region>`, `provider-<name>`."""
    kind: BackendKind
    base_url: str
    """OpenAI-compatible base URL, ending in `/v1` (https:// for anything outside the cluster)."""
    model: str
    """The model name this backend serves (a provider's own name for it)."""
    api_key_file: str | None
    """Path, inside the gateway pod, of the mounted file holding the key this backend wants."""
    usd_per_1m_input_tokens: float | None = None
    usd_per_1m_output_tokens: float | None = None


@dataclass(frozen=True)
class Route:
    model: str
    """The name clients send as `model`."""
    backends: tuple[Backend, ...]
    """Tried in this order; the first is the preferred one (the stack's own model, when it has one)."""


@dataclass(frozen=True)
class FailoverPolicy:
    connect_timeout_s: float = 2.0
    """A backend that does not accept the connection within this is failed over."""
    first_byte_timeout_s: float = 30.0
    """A backend that sends no byte of the answer within this is failed over (never after the first byte)."""
    request_timeout_s: float = 600.0
    """A whole request, first byte to last."""
    failures_before_cooldown: int = 3
    """Failures within a minute that take a backend out of rotation."""
    cooldown_s: float = 30.0
    """How long a failing backend stays out before it is tried again."""
    overflow_queue_depth: int | None = 8
    """A local replica with more requests waiting than this answers the gateway 429, and the request moves to the
    next backend (None: never overflow, queue instead)."""


@dataclass(frozen=True)
class PeerTls:
    """A fleet region's TLS towards its peers: the listener they reach (through the internal load balancer) and the
    fleet CA that both this region's certificate and its peers' chain to."""

    port: int
    """The TLS port peers connect to; the proxy's own port stays plain HTTP for in-cluster callers and probes."""
    cert_file: str
    """This region's server certificate (PEM), for its gateway's name in the fleet's `regions`."""
    key_file: str
    ca_file: str
    """The fleet CA (PEM): peers' certificates are verified against it (the public roots still verify providers)."""


def local_only(model: str) -> str:
    """The name of `model`'s route without fallbacks: what a peer region's gateway asks this one for."""
    return f"{model}{LOCAL_ONLY}"


@dataclass(frozen=True)
class GatewaySpec:
    routes: tuple[Route, ...]
    policy: FailoverPolicy
    client_key_file: str
    """The stack's model API key (mounted): what clients send, and what the stack's own replicas want."""
    port: int = 4000
    peer_tls: PeerTls | None = None
    """A fleet region: its TLS listener for peers and the CA it trusts them by; None outside a fleet."""


def to_json(spec: GatewaySpec) -> str:
    """The spec as the ConfigMap `gateway-config` holds it (key `spec.json`)."""
    return json.dumps(dataclasses.asdict(spec), indent=2, sort_keys=True)


def from_json(text: str) -> GatewaySpec:
    raw = json.loads(text)
    routes = tuple(Route(model=r["model"], backends=tuple(Backend(**b) for b in r["backends"]))
                   for r in raw["routes"])
    tls = raw.get("peer_tls")
    return GatewaySpec(routes=routes, policy=FailoverPolicy(**raw["policy"]), client_key_file=raw["client_key_file"],
                       port=raw["port"], peer_tls=PeerTls(**tls) if tls is not None else None)
