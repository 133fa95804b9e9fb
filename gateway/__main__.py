"""The gateway launcher: `python -m gateway --spec SPEC.json [--host H] [--port P]`.

Reads the spec (the ConfigMap's spec.json), reads every backend's key file and the client key into this process's
own env, renders LiteLLM's config to a private temp file (it names the keys only as `os.environ/<VAR>`) and runs
LiteLLM's proxy in this process. Keys are never passed through argv, an exec'd child's env, a file or a log line.
Any problem with the spec or a key file is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway import tls_front
from gateway.auth import CLIENT_KEY_ENV
from gateway.litellm_config import MASTER_KEY_ENV, key_env, render
from gateway.spec import GatewaySpec, PeerTls, from_json

# Everything LiteLLM would fetch from the internet at start-up or first use (litellm 1.108.7; the cluster denies
# egress but 443 to the providers): the model price map (litellm/__init__.py model_cost_map_url, read from the
# packaged copy with LITELLM_LOCAL_MODEL_COST_MAP, litellm_core_utils/get_model_cost_map.py), the blog feed
# (litellm_core_utils/get_blog_posts.py), the Anthropic beta-header map (anthropic_beta_headers_manager.py), the
# auto-router presets (proxy/public_endpoints/public_endpoints.py); LITELLM_TELEMETRY_DISABLED vetoes the proxy's
# telemetry (proxy/telemetry/settings.py: off unless an admin opts in; the veto makes it impossible). The license
# check (proxy/auth/litellm_license.py) only calls out when LITELLM_LICENSE is set: it is removed from the env.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "true",
    "LITELLM_LOCAL_BLOG_POSTS": "true",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "true",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "true",
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
}
# Idle connections: whoever pools them must drop one before the other side does, or a request is written onto a
# connection the server is closing and fails ("Cannot write to closing transport"), a lost request when that was the
# route's last backend (tests/gateway/test_gateway_failover.py's kill scenario, before this). LiteLLM's pool to the
# backends keeps an idle connection 15 s by default (litellm 1.108.7 constants.py AIOHTTP_KEEPALIVE_TIMEOUT, read at
# import); uvicorn-based servers close one after 5 s (vLLM 0.32 envs.py VLLM_HTTP_TIMEOUT_KEEP_ALIVE, uvicorn's
# timeout_keep_alive). 1 s leaves a loaded gateway 4 s of lag between the server's last byte and its own release of
# the connection (at load 11 on 2 cores the kill test still met stale connections at 2 s). Busy connections are
# reused all the same; an idle one costs a new handshake. The serving image keeps its side open far longer
# (serving/vllm_command.py HTTP_KEEP_ALIVE_S), and a last backend gets two retries for what slips through
# (gateway/litellm_config.py). The gateway's own server keeps clients' and peers' idle connections
# SERVER_KEEP_ALIVE_S (proxy_cli.py --keepalive_timeout), longer than any caller's pool.
BACKEND_POOL_IDLE_S = 1
SERVER_KEEP_ALIVE_S = 75


class LaunchError(Exception):
    """A problem the operator fixes in the spec or the mounted files: printed as one line, exit 2."""


def read_spec(path: Path) -> GatewaySpec:
    try:
        text = path.read_text()
    except OSError as exc:
        raise LaunchError(f"--spec {path}: cannot read it ({exc.strerror}); mount the ConfigMap gateway-config "
                          "(key spec.json) there or pass the right path") from exc
    try:
        spec = from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise LaunchError(f"--spec {path}: not a gateway spec ({type(exc).__name__}: {exc}); write it with "
                          "gateway.spec.to_json") from exc
    if not spec.routes:
        raise LaunchError(f"--spec {path}: routes is empty; a gateway needs at least one route")
    for route in spec.routes:
        if not route.backends:
            raise LaunchError(f"--spec {path}: route {route.model!r} has no backends; list at least one")
    return spec


def read_key(path: str, what: str) -> str:
    try:
        key = Path(path).read_text().strip()
    except OSError as exc:
        raise LaunchError(f"{what}: key file {path} cannot be read ({exc.strerror}); mount its Secret there") from exc
    if not key:
        raise LaunchError(f"{what}: key file {path} is empty; put the key in its Secret")
    return key


def keys_env(spec: GatewaySpec) -> dict[str, str]:
    """The env vars the rendered config names (`os.environ/<VAR>`), from the mounted key files."""
    env = {CLIENT_KEY_ENV: read_key(spec.client_key_file, "client key (client_key_file)")}
    for route in spec.routes:
        for backend in route.backends:
            if backend.api_key_file is not None:
                env[key_env(backend)] = read_key(backend.api_key_file, f"backend {backend.name!r}")
    return env


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, type=Path, help="the gateway spec (gateway.spec.to_json)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="port (default: the spec's port)")
    return parser.parse_args(argv)


def public_roots() -> str:
    import certifi  # LiteLLM's own default CA bundle (llms/custom_httpx/http_handler.py get_ssl_configuration)

    return certifi.where()


def trust_env(peer_tls: PeerTls, folder: Path) -> dict[str, str]:
    """Peers' certificates chain to the fleet CA: LiteLLM verifies every backend against SSL_CERT_FILE when it is
    set (litellm 1.108.7 http_handler.py get_ssl_configuration), so it gets the public roots plus that CA."""
    try:
        bundle = tls_front.trust_bundle(peer_tls.ca_file, folder, public_roots())
    except tls_front.CertError as exc:
        raise LaunchError(str(exc)) from exc
    return {"SSL_CERT_FILE": str(bundle)}


@dataclass(frozen=True)
class Launch:
    cli: list[str]  # LiteLLM's CLI arguments
    env: dict[str, str]  # to add to this process's env before LiteLLM is imported
    peer_listener: Callable[[], None] | None  # a fleet region: starts the peers' TLS listener


def prepare(argv: Sequence[str]) -> Launch:
    """What to run, from our arguments; raises LaunchError (a bad certificate too, before anything listens)."""
    args = parse_args(argv)
    spec = read_spec(args.spec)
    env = {**OFFLINE_ENV, "AIOHTTP_KEEPALIVE_TIMEOUT": str(BACKEND_POOL_IDLE_S), **keys_env(spec),
           MASTER_KEY_ENV: secrets.token_urlsafe(32)}  # LiteLLM's administrator: nobody (gateway/auth.py)
    config = render(spec)
    # LiteLLM reads its config from a path: a private file (0600, in a private dir) that holds no key.
    folder = tempfile.mkdtemp(prefix="llm-fleet-gateway-")
    if spec.peer_tls is not None:
        env.update(trust_env(spec.peer_tls, Path(folder)))
    config_path = Path(folder) / "litellm_config.json"  # JSON is YAML; LiteLLM loads it with yaml.safe_load
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)
    port = args.port if args.port is not None else spec.port
    cli = ["--config", str(config_path), "--host", args.host, "--port", str(port), "--num_workers", "1",
           "--keepalive_timeout", str(SERVER_KEEP_ALIVE_S)]
    return Launch(cli, env, None if spec.peer_tls is None else peer_listener(spec.peer_tls, args.host, port))


def peer_listener(tls: PeerTls, host: str, proxy_port: int) -> Callable[[], None]:
    """Loads the certificate now (a bad one is a LaunchError before anything listens); the returned call listens."""
    try:
        contexts = tls_front.ServerContexts(tls.cert_file, tls.key_file)
    except tls_front.CertError as exc:
        raise LaunchError(str(exc)) from exc

    def listen() -> None:
        try:
            tls_front.start(contexts, host, tls.port, proxy_port)
        except tls_front.CertError as exc:
            raise LaunchError(str(exc)) from exc

    return listen


def main(argv: Sequence[str] | None = None) -> int:
    try:
        launch = prepare(sys.argv[1:] if argv is None else argv)
        if launch.peer_listener is not None:
            launch.peer_listener()
    except LaunchError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    os.environ.pop("LITELLM_LICENSE", None)
    os.environ.update(launch.env)
    # Imported only now: litellm reads OFFLINE_ENV at import time (litellm/__init__.py).
    from litellm.proxy.proxy_cli import run_server

    run_server.main(args=launch.cli, prog_name="litellm", standalone_mode=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
