"""The peers' TLS listener (gateway/tls_front.py) with real TLS and a real HTTP server behind it, no LiteLLM:
what a peer verifies, what reaches the proxy, and a renewed certificate taking effect without a restart."""

from __future__ import annotations

import http.client
import http.server
import os
import signal
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from serving_testkit import free_port
from tls_testkit import issue, make_ca

from gateway import __main__ as launcher
from gateway import tls_front
from gateway.spec import PeerTls


class _Upstream(http.server.BaseHTTPRequestHandler):
    """The proxy's plain port, as far as the relay can tell: echoes the request line, then streams three chunks."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b"path=" + self.path.encode(), b";auth=" + self.headers["Authorization"].encode(),
                     b";body=" + body):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, Path, Path, object]]:
    tmp = tmp_path_factory.mktemp("tls-front")
    ca = make_ca()
    cert, key = issue(ca).write(tmp, "server")
    (tmp / "ca.crt").write_text(ca.cert)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    tls_front.start(tls_front.ServerContexts(str(cert), str(key)), "127.0.0.1", port, upstream.server_address[1])
    yield port, tmp, cert, key, ca
    upstream.shutdown()


def _client(cafile: Path | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def _post(port: int, context: ssl.SSLContext) -> tuple[int, bytes, str]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("POST", "/v1/chat/completions", body=b'{"model": "qwen-7b@local"}',
                     headers={"Authorization": "Bearer peer-key"})
        response = conn.getresponse()
        serial = conn.sock.getpeercert()["serialNumber"]  # type: ignore[union-attr]
        return response.status, response.read(), serial
    finally:
        conn.close()


def test_a_peer_trusting_the_fleet_ca_reaches_the_proxy_unchanged_and_streamed(front: tuple) -> None:
    port, tmp, *_ = front
    # The bundle the launcher gives LiteLLM: the public roots (providers) plus the fleet CA (peers).
    bundle = tls_front.trust_bundle(str(tmp / "ca.crt"), tmp, certifi.where())
    status, body, _ = _post(port, _client(bundle))
    assert status == 200
    assert body == b'path=/v1/chat/completions;auth=Bearer peer-key;body={"model": "qwen-7b@local"}'
    assert bundle.read_text().count("BEGIN CERTIFICATE") > 100  # the public roots are still there


def test_a_client_that_does_not_trust_the_fleet_ca_is_refused(front: tuple) -> None:
    port, *_ = front
    with pytest.raises(ssl.SSLCertVerificationError):
        _post(port, _client(certifi.where()))
    with pytest.raises(ssl.SSLCertVerificationError):  # another fleet's CA
        other = make_ca("another fleet")
        context = ssl.create_default_context(cadata=other.cert)
        _post(port, context)


def test_a_renewed_certificate_is_served_from_the_next_connection_without_a_restart(front: tuple) -> None:
    port, tmp, cert, key, ca = front
    context = _client(tmp / "ca.crt")
    _, _, before = _post(port, context)
    renewed = issue(ca)
    # The kubelet swaps a Secret volume's files atomically (a symlink flip); a rename is the same for a reader.
    for path, text in ((key, renewed.key), (cert, renewed.cert)):
        path.with_suffix(".new").write_text(text)
        os.replace(path.with_suffix(".new"), path)
    _, _, after = _post(port, context)
    assert after != before
    assert int(after, 16) == x509.load_pem_x509_certificate(renewed.cert.encode()).serial_number


def test_a_bad_certificate_or_ca_stops_the_launcher_with_one_line(tmp_path: Path) -> None:
    ca = make_ca()
    cert, _ = issue(ca).write(tmp_path, "server")
    (tmp_path / "wrong.key").write_text(make_ca().key)  # not the certificate's key
    with pytest.raises(launcher.LaunchError, match=r"peer TLS: cannot load certificate .*server.crt"):
        launcher.peer_listener(PeerTls(port=1, cert_file=str(cert), key_file=str(tmp_path / "wrong.key"),
                                       ca_file=str(tmp_path / "ca.crt")), "127.0.0.1", 2)
    with pytest.raises(tls_front.CertError, match=r"cannot read the fleet CA .*missing.crt"):
        tls_front.trust_bundle(str(tmp_path / "missing.crt"), tmp_path, certifi.where())
    (tmp_path / "empty.crt").write_text("not a pem")
    with pytest.raises(tls_front.CertError, match=r"holds no PEM certificate; set llm-fleet:peerCaCert"):
        tls_front.trust_bundle(str(tmp_path / "empty.crt"), tmp_path, certifi.where())


def test_a_port_in_use_is_one_line_and_a_listener_that_dies_later_ends_the_process(
        front: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    port, _, cert, key, _ = front
    contexts = tls_front.ServerContexts(str(cert), str(key))
    with pytest.raises(tls_front.CertError, match=rf"could not listen on 127.0.0.1:{port} \(.*in use"):
        tls_front.start(contexts, "127.0.0.1", port, 1)
    # Later: the pod would stay ready with no way in for its peers, so the launcher's process is told to stop.
    signals: list[tuple[int, int]] = []
    monkeypatch.setattr(tls_front.os, "kill", lambda pid, sig: signals.append((pid, sig)))

    async def dies(*args: object) -> None:
        args[-1].set()  # type: ignore[attr-defined]  (bound, then lost)
        raise OSError("listener lost")

    monkeypatch.setattr(tls_front, "serve", dies)
    tls_front.start(contexts, "127.0.0.1", free_port(), 1).join(5)
    assert signals == [(os.getpid(), signal.SIGTERM)]


def test_the_fleet_ca_cannot_vouch_for_a_providers_name(tmp_path: Path) -> None:
    """The gateway trusts the fleet CA for every backend (one bundle in LiteLLM 1.108.7); its name constraints are
    what keep a certificate it signed for api.together.xyz from being accepted."""
    ca = make_ca()  # constrained to localhost, internal.acme.example (and the loopback addresses)
    cert, key = issue(ca, hosts=("api.together.xyz",), ips=()).write(tmp_path, "impostor")
    port = free_port()
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    tls_front.start(tls_front.ServerContexts(str(cert), str(key)), "127.0.0.1", port, upstream.server_address[1])
    bundle = tls_front.trust_bundle(_write(tmp_path / "ca.crt", ca.cert), tmp_path, certifi.where())
    context = ssl.create_default_context(cafile=str(bundle))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, pytest.raises(
            ssl.SSLCertVerificationError, match=r"(?i)name constraint|permitted"):
        context.wrap_socket(raw, server_hostname="api.together.xyz")
    upstream.shutdown()


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)
