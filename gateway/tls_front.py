"""The peers' TLS listener: terminates TLS on `PeerTls.port` and relays each connection's bytes, unchanged, to the
proxy's own plain-HTTP port on loopback.

Why a relay rather than LiteLLM's own TLS: litellm 1.108.7 serves one listener (proxy/proxy_cli.py passes one
host/port to `uvicorn.run`, and `--ssl_certfile_path` makes all of it TLS), while the in-cluster callers, the
kubelet's probes and Prometheus reach the proxy on plain HTTP inside NetworkPolicies, as they reach vLLM. The relay
parses nothing (HTTP, streaming and keep-alive pass through as bytes) and runs in the launcher's process, on its own
thread and event loop, so the proxy's loop never waits on it.

A renewed certificate (Pulumi re-issues it before it expires; the kubelet swaps the mounted Secret's files) is used
from the next handshake on: the server context is re-read when the files change, through the SNI callback, which may
replace a connection's context (docs.python.org/3.11/library/ssl.html#ssl.SSLContext.sni_callback).
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
import threading
import time
from pathlib import Path

READ_CHUNK = 64 * 1024


class CertError(Exception):
    """The certificate or key cannot be loaded: one line for the operator."""


class ServerContexts:
    """The server-side TLS context for a cert/key pair on disk, re-loaded when either file changes."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._stamp: tuple[int, int] | None = None
        self._current = self._load()
        # The listening context: its only job is to hand each handshake the current one.
        self.listener = self._new_context()
        self.listener.sni_callback = self._pick

    def _files_stamp(self) -> tuple[int, int]:
        return os.stat(self.cert_file).st_mtime_ns, os.stat(self.key_file).st_mtime_ns

    def _new_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def _load(self) -> ssl.SSLContext:
        try:
            stamp = self._files_stamp()
            context = self._new_context()
        except (OSError, ssl.SSLError) as exc:
            raise CertError(f"peer TLS: cannot load certificate {self.cert_file} with key {self.key_file} ({exc}); "
                            "mount the Secret gateway-peer-tls (tls.crt, tls.key) there") from exc
        self._stamp = stamp
        return context

    def current(self) -> ssl.SSLContext:
        try:
            if self._files_stamp() != self._stamp:
                self._current = self._load()
        except (OSError, CertError):
            pass  # mid-swap or unreadable for a moment: keep serving the last good pair
        return self._current

    def _pick(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        connection.context = self.current()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(READ_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _relay(upstream_port: int, client_reader: asyncio.StreamReader,
                 client_writer: asyncio.StreamWriter) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()  # the proxy is not up (yet, or any more): the peer fails over
        return
    # Either side closing ends both: HTTP/1.1 clients do not half-close a connection they keep alive.
    await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))


async def serve(contexts: ServerContexts, host: str, port: int, upstream_port: int,
                started: threading.Event | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: _relay(upstream_port, r, w), host, port,
                                        ssl=contexts.listener, ssl_handshake_timeout=10)
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()


def _run_or_stop_the_process(contexts: ServerContexts, host: str, port: int, upstream_port: int,
                              started: threading.Event, errors: list[BaseException]) -> None:
    try:
        asyncio.run(serve(contexts, host, port, upstream_port, started))
    except BaseException as exc:
        errors.append(exc)
        if started.is_set():
            # The pod would stay ready with its peers' way in gone (the load balancer's health check sees only the
            # pod's readiness): the process ends instead, and the kubelet restarts it.
            print(f"gateway: peer TLS listener on {host}:{port} stopped ({exc!r}); exiting", file=sys.stderr,
                  flush=True)
            os.kill(os.getpid(), signal.SIGTERM)


def start(contexts: ServerContexts, host: str, port: int, upstream_port: int) -> threading.Thread:
    """Listen on a daemon thread; returns once the port is bound (raises CertError if it cannot be)."""
    started, errors = threading.Event(), []
    thread = threading.Thread(target=_run_or_stop_the_process,
                              args=(contexts, host, port, upstream_port, started, errors), name="peer-tls", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not started.wait(0.05):
        if errors or time.monotonic() > deadline:
            why = f" ({errors[0]})" if errors else " within 10 s"
            raise CertError(f"peer TLS: could not listen on {host}:{port}{why}; is another process on that port?")
    return thread


def trust_bundle(ca_file: str, folder: Path, public_roots: str) -> Path:
    """A CA bundle of the public roots (providers) plus the fleet CA (peers), written into `folder`."""
    try:
        ca = Path(ca_file).read_text()
    except OSError as exc:
        raise CertError(f"peer TLS: cannot read the fleet CA {ca_file} ({exc.strerror}); mount the Secret "
                        "gateway-peer-tls (ca.crt) there") from exc
    if "BEGIN CERTIFICATE" not in ca:
        raise CertError(f"peer TLS: {ca_file} holds no PEM certificate; set llm-fleet:peerCaCert to the fleet CA")
    bundle = folder / "ca-bundle.pem"
    bundle.write_text(Path(public_roots).read_text().rstrip("\n") + "\n" + ca)
    return bundle
