"""Certificates for the tests of the peers' TLS: a CA and server certificates it signs (cryptography, no openssl)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pem:
    cert: str
    key: str

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_text(self.cert)
        key.write_text(self.key)
        return cert, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _builder(subject: str, issuer: x509.Name | None, public_key: ec.EllipticCurvePublicKey,
             days: float, not_before_days: float = -1) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now + dt.timedelta(days=not_before_days))
            .not_valid_after(now + dt.timedelta(days=days)))


def make_ca(name: str = "llm-fleet test CA", days: float = 3650, ca: bool = True,
            permitted: tuple[str, ...] | None = ("localhost", "internal.acme.example"), key_id: bool = True) -> Pem:
    """A CA as docs/regions.md makes one: CA:TRUE, keyCertSign, a subject key id, DNS names constrained to
    `permitted` (None: unconstrained). 127.0.0.1 is permitted too, for the tests' IP SANs."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(name, None, key.public_key(), days, not_before_days=min(-1, days - 1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True))
    if key_id:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if permitted is not None:
        builder = builder.add_extension(x509.NameConstraints(
            permitted_subtrees=[x509.DNSName(d) for d in permitted] + [
                x509.IPAddress(ipaddress.ip_network("127.0.0.0/8"))], excluded_subtrees=None), critical=True)
    cert = builder.sign(key, hashes.SHA256())
    return Pem(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def issue(ca: Pem, hosts: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",),
          days: float = 365) -> Pem:
    """A server certificate for `hosts` and `ips`, signed by `ca`."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert.encode())
    ca_key = serialization.load_pem_private_key(ca.key.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = _builder(hosts[0], ca_cert.subject, key.public_key(), days)
    try:  # as pulumi-tls does: the issuer named by its key id
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
    except x509.ExtensionNotFound:
        pass
    cert = (builder
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    return Pem(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))
