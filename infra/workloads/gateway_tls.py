"""A fleet region's gateway certificate for its peers (infra/config/regions.py says where the CA comes from).

`pulumi up` issues it with pulumi-tls (PrivateKey → CertRequest → LocallySignedCert, signed by the fleet CA's key,
the region's secret `peerCaKey`) for the region's own gateway name in the fleet's `regions`, and keeps it in the
Secret `gateway-peer-tls` (type kubernetes.io/tls, plus `ca.crt`: the fleet CA, which the gateway trusts its peers
by). The key never leaves Pulumi's state (a secret there) and that Secret. The certificate lasts a year; LocallySigned-
Cert's `early_renewal_hours` makes any `pulumi up` in its last 30 days re-issue it (the provider marks it
`ready_for_renewal`), and the gateway serves a renewed one from the next handshake (gateway/tls_front.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from gateway.spec import PeerTls
from infra.config import StackConfig
from infra.names import PART_OF

PEER_TLS_PORT = 4443  # the container's; peers reach it on 443 through the gateway-peers load balancer
PEER_LB_PORT = 443
PEER_TLS_DIR = "/etc/llm-fleet/gateway-tls"
PEER_TLS_SECRET = "gateway-peer-tls"
VALIDITY_HOURS, EARLY_RENEWAL_HOURS = 365 * 24, 30 * 24


@dataclass(frozen=True)
class PeerTlsArgs:
    host: str  # the region's own gateway name in the fleet's `regions` (the certificate's DNS name)
    ca_cert: str  # the fleet CA's certificate (PEM)
    ca_key: str  # a secret: the fleet CA's key (PEM)


def peer_tls_args(cfg: StackConfig) -> PeerTlsArgs | None:
    """A fleet region with peers: what its certificate is issued from; None otherwise."""
    own = cfg.own_region
    if not cfg.has_peers or own is None:
        return None
    assert cfg.peer_ca_cert is not None and cfg.peer_ca_key is not None, "validated by config (peer_tls_problems)"
    return PeerTlsArgs(host=own.host, ca_cert=cfg.peer_ca_cert, ca_key=cfg.peer_ca_key)


def peer_tls_spec() -> PeerTls:
    """Where the gateway finds the Secret's files, and the port it serves peers on (the ConfigMap's spec.json)."""
    return PeerTls(port=PEER_TLS_PORT, cert_file=f"{PEER_TLS_DIR}/tls.crt", key_file=f"{PEER_TLS_DIR}/tls.key",
                   ca_file=f"{PEER_TLS_DIR}/ca.crt")


def peer_tls_secret(name: str, args: PeerTlsArgs, namespace: pulumi.Input[str],
                    parent: pulumi.Resource) -> k8s.core.v1.Secret:
    child = pulumi.ResourceOptions(parent=parent)
    key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
    request = tls.CertRequest(f"{name}-request", private_key_pem=key.private_key_pem, dns_names=[args.host],
                              subject=tls.CertRequestSubjectArgs(common_name=args.host), opts=child)
    cert = tls.LocallySignedCert(
        f"{name}-cert", cert_request_pem=request.cert_request_pem, ca_cert_pem=args.ca_cert,
        ca_private_key_pem=pulumi.Output.secret(args.ca_key), validity_period_hours=VALIDITY_HOURS,
        # An ECDSA key signs the handshake; it encrypts no key (so no key_encipherment).
        early_renewal_hours=EARLY_RENEWAL_HOURS, allowed_uses=["digital_signature", "server_auth"],
        opts=child)
    return k8s.core.v1.Secret(
        name, metadata=k8s.meta.v1.ObjectMetaArgs(name=PEER_TLS_SECRET, namespace=namespace, labels=PART_OF),
        type="kubernetes.io/tls",
        string_data={"tls.crt": cert.cert_pem, "tls.key": pulumi.Output.secret(key.private_key_pem),
                     "ca.crt": args.ca_cert},
        opts=child)
