"""The schema of a fleet's region list and of its peers' TLS (the keys themselves: infra/config/fleetfile.py).

Peers reach each other's gateway over TLS: each region's gateway serves a certificate for its own name in `regions`,
issued at `pulumi up` by the fleet's CA, and trusts the others' by that CA. The CA's certificate is the fleet's
(`peerCaCert`, in the fleet file); its key is a secret each region holds (`peerCaKey`: Pulumi encrypts per stack).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from infra.config.base import NAMESPACE, ConfigModel
from infra.config.gateway import ApiKeyRef, HttpsBaseUrl

# The fleet CA must outlive the certificates it signs by this much (each is issued for a year and renewed a month
# before it ends, infra/workloads/gateway_tls.py), or the chain breaks before the next renewal.
CA_MIN_REMAINING = dt.timedelta(days=30)
CREATE_CA = ("create one: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 "
             "-subj '/CN=llm-fleet <fleet> peers' -addext 'nameConstraints=critical,permitted;DNS:<your gateways' "
             "domain>' -keyout fleet-ca.key -out fleet-ca.crt (docs/regions.md)")


def _ca_certificate(pem: str) -> str:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate ({exc}); paste the fleet CA's certificate (-----BEGIN "
                         f"CERTIFICATE----- …), or {CREATE_CA}") from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ValueError(f"certificate {cert.subject.rfc4514_string()} is not a CA (basicConstraints CA:TRUE); it "
                         f"must sign the regions' certificates; {CREATE_CA}")
    # The gateway trusts the fleet CA for every backend, providers too: LiteLLM 1.108.7 verifies all OpenAI-compatible
    # backends against one bundle (llms/openai/common_utils.py _get_async_http_client → get_ssl_configuration(), no
    # per-deployment setting). Name constraints keep the CA from vouching for api.together.xyz or any other name.
    if not permitted_domains(cert):
        raise ValueError(f"the fleet CA {cert.subject.rfc4514_string()} has no name constraints (permitted DNS "
                         "names); the gateway trusts it beside the public roots, so unconstrained it could vouch for a "
                         f"provider's name too; allowed: a CA limited to the gateways' domain; {CREATE_CA}")
    try:
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        # The regions' certificates name their issuer by it (authorityKeyIdentifier), which strict verifiers want.
        raise ValueError(f"the fleet CA {cert.subject.rfc4514_string()} has no subjectKeyIdentifier; allowed: a CA "
                         f"with one (openssl req -x509 adds it); {CREATE_CA}") from None
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if left < CA_MIN_REMAINING:
        raise ValueError(f"the fleet CA {cert.subject.rfc4514_string()} ends {cert.not_valid_after_utc:%Y-%m-%d}, "
                         f"less than {CA_MIN_REMAINING.days} days from now; allowed: a CA valid longer; renew it and "
                         "set it here and its key as every region's peerCaKey")
    return pem


CaCertificate = Annotated[str, AfterValidator(_ca_certificate)]


def permitted_domains(cert: Any) -> list[str]:
    """The DNS names a CA's nameConstraints permit (RFC 5280 4.2.1.10: a name and every name below it)."""
    from cryptography import x509

    try:
        constraints = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return []
    return [n.value.lstrip(".") for n in constraints.permitted_subtrees or [] if isinstance(n, x509.DNSName)]


def within(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith(f".{d}") for d in domains)


class Region(ConfigModel):
    """One region stack of the fleet and how the other regions reach its gateway."""

    stack: str = Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
    """The region's stack name (its file is `Pulumi.<stack>.yaml` beside the fleet file), e.g. `prod-eu`; also its
    name as a peer (`peer-<stack>` in the gateway's metrics)."""
    gateway: HttpsBaseUrl
    """Its gateway's OpenAI base URL as the other regions reach it: https:// (the gateway terminates TLS) on an internal
    address, ending in /v1, e.g. `https://gateway.prod-eu.internal.acme.example/v1`."""
    api_key: ApiKeyRef | None = None
    """The config key of the Pulumi secret (in each OTHER region's file) holding this region's gateway key (its
    `modelApiKey` output). Default: `llm-fleet:<stack in camelCase>GatewayKey`, e.g. `llm-fleet:prodEuGatewayKey`."""

    peers: list[str] | None = None
    """The regions its gateway falls back to, in order. Default: every other region, in list order. `[]` keeps the
    region's requests in the region (data residency: e.g. the EU region's); the others may still fall back to it."""

    # Filled at the merge, never written: this region falls back to the one being planned (`callsMe`), and the
    # sources its calls arrive from (its stack file's ranges), which that one's gateway NetworkPolicy and LB admit.
    calls_me: SkipJsonSchema[bool] = False
    networks: SkipJsonSchema[list[str]] = Field(default=[])
    # Also filled at the merge: this entry is the region being planned (its gateway's own name, for its certificate).
    own: SkipJsonSchema[bool] = False

    @field_validator("gateway")
    @classmethod
    def _default_port(cls, url: str) -> str:
        port = urlsplit(url).port
        if port not in (None, 443):
            raise ValueError(f"{url}: port {port}; allowed: 443 (or none): the region's gateway-peers load balancer "
                             "serves its peers TLS on 443; drop the port")
        return url

    @property
    def host(self) -> str:
        return urlsplit(self.gateway).hostname or ""


def peer_key(stack: str) -> str:
    """The default config key of the secret holding `stack`'s gateway key: prod-eu → llm-fleet:prodEuGatewayKey."""
    words = [w for w in re.split(r"[-_.]", stack) if w]
    return f"{NAMESPACE}:{words[0].lower()}{''.join(w.capitalize() for w in words[1:])}GatewayKey"


def peer_key_problems(*, regions: list[Region], own: Region | None, model_api_key: str | None) -> list[str]:
    """A region others fall back to must have its key before anyone's first `up` (they hold it as a secret)."""
    callers = [r.stack for r in regions if r.calls_me]
    if not callers or own is None or model_api_key is not None:
        return []
    stack = own.stack
    return [f"modelApiKey: missing in Pulumi.{stack}.yaml; {', '.join(callers)} fall back to this region's gateway "
            "with its key, which they must hold before any region's first `up`; make it once: openssl rand -hex 32 > "
            f"{stack}.key; pulumi config set --secret {NAMESPACE}:modelApiKey --stack {stack} < {stack}.key, and the "
            f"same as {peer_key(stack)} in each of their files"]


def peer_tls_problems(*, fleet: str | None, has_peers: bool, own: Region | None, ca_cert: str | None,
                      ca_key: str | None) -> list[str]:
    """A region with peers needs the fleet CA's certificate (fleet file) and key (its own file); others need neither."""
    if not has_peers:
        return [f"{key}: set, but this stack has no peer regions (no {NAMESPACE}:fleet with regions); "
                "used only by a fleet's regions; drop it" for key, value in (("peerCaCert", ca_cert),
                                                                                ("peerCaKey", ca_key)) if value]
    problems = []
    if ca_cert is not None and own is not None:
        from cryptography import x509

        domains = permitted_domains(x509.load_pem_x509_certificate(ca_cert.encode()))
        if domains and not within(own.host, domains):
            problems.append(f"regions: {own.stack}'s gateway {own.host} is outside the names the fleet CA may sign "
                            f"({', '.join(domains)}); allowed: a name under them; rename the gateway in Fleet.{fleet}"
                            ".yaml or issue a peerCaCert whose nameConstraints cover it")
    if ca_cert is None:
        problems.append(f"peerCaCert: missing in Fleet.{fleet}.yaml; the regions' gateways reach each "
                        f"other over TLS issued by one fleet CA; put its certificate (PEM) there, or {CREATE_CA}")
    if ca_key is None:
        stack = own.stack if own is not None else "<region>"
        problems.append(f"peerCaKey: missing in Pulumi.{stack}.yaml; each region issues its gateway's "
                        f"certificate with the fleet CA's key; set it as a secret: pulumi config set --secret "
                        f"{NAMESPACE}:peerCaKey --stack {stack} < fleet-ca.key")
    return problems
