"""The adapter store contract (serving/adapter_store.py) on a folder, a local S3-compatible server and a local Cloud
Storage emulator (gcp-storage-emulator), with real PEFT adapters for the tiny model. No engine is started."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from serving_testkit import free_port, store_on_loopback

from serving import adapter_store as store
from serving.adapter_store import AdapterStoreError


@pytest.fixture(params=["file", "s3", "gs"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    return str(request.getfixturevalue(f"{request.param}_root"))


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[str]:
    emulator = pytest.importorskip("gcp_storage_emulator.server",
                                   reason="gcp-storage-emulator (requirements-dev.txt) runs the gs:// tests")
    with store_on_loopback(lambda port: emulator.create_server("127.0.0.1", port, in_memory=True)) as url:
        yield url


@pytest.fixture
def gs_root(gcs_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    # The variable Google's client libraries honour; with it set the store sends no token.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)
    bucket = f"ckpt-{abs(hash(request.node.name)) % 10**8}"
    httpx.post(f"{gcs_server}/storage/v1/b", json={"name": bucket}, timeout=10).raise_for_status()
    return f"gs://{bucket}/runs/policy"


@pytest.fixture
def s3_root(s3_bucket: str) -> str:
    return f"s3://{s3_bucket}/runs/policy"


def test_publish_then_fetch_round_trips_a_peft_adapter(root: str, lora_adapters: dict[str, Path],
                                                       tmp_path: Path) -> None:
    assert store.read_pointer(root) is None  # nothing published yet: not an error
    before = datetime.now(UTC)
    pointer = store.publish(lora_adapters["v1"], root, 100, "tiny-llama")
    assert pointer.step == 100 and before <= pointer.published_at <= datetime.now(UTC)
    assert store.read_pointer(root) == pointer

    dest = store.fetch_version(root, 100, tmp_path / "got")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (dest / name).read_bytes() == (lora_adapters["v1"] / name).read_bytes()
    manifest = store.read_manifest(dest)
    assert (manifest.step, manifest.rank, manifest.base_model) == (100, 8, "tiny-llama")
    weights = (lora_adapters["v1"] / "adapter_model.safetensors").read_bytes()
    assert manifest.files["adapter_model.safetensors"] == hashlib.sha256(weights).hexdigest()

    # A newer version moves the pointer; the older one stays fetchable (a rollback moves the pointer back).
    store.publish(lora_adapters["v2"], root, 200, "tiny-llama")
    assert store.read_pointer(root).step == 200  # type: ignore[union-attr]
    assert store.read_manifest(store.fetch_version(root, 100, tmp_path / "old")).step == 100


def _tamper(root: str, key: str, data: bytes) -> None:
    if root.startswith("file://"):
        (Path(root.removeprefix("file://")) / key).write_bytes(data)
    else:
        store.backend(root).write(key, data)


def test_fetch_refuses_a_file_whose_sha256_differs_from_the_manifest(root: str, lora_adapters: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    store.publish(lora_adapters["v1"], root, 7, "tiny-llama")
    _tamper(root, "versions/7/adapter_model.safetensors", b"not the weights")
    dest = tmp_path / "dest"
    with pytest.raises(AdapterStoreError, match=r"versions/7/adapter_model.safetensors: sha256 does not match"):
        store.fetch_version(root, 7, dest)
    assert not (dest / "adapter_model.safetensors").exists()  # nothing half-fetched for vLLM to read


def test_a_version_without_manifest_is_not_published(root: str, tmp_path: Path, lora_adapters: dict[str, Path]) -> None:
    # The trainer died after the files, before the manifest: the version does not exist for readers.
    config = (lora_adapters["v1"] / "adapter_config.json").read_bytes()
    store.backend(root).write("versions/5/adapter_config.json", config)
    with pytest.raises(AdapterStoreError, match=r"versions/5/manifest.json is missing"):
        store.fetch_version(root, 5, tmp_path / "dest")
    assert store.read_pointer(root) is None


def test_the_file_pointer_is_replaced_atomically_and_names_the_step(tmp_path: Path,
                                                                     lora_adapters: dict[str, Path]) -> None:
    root_dir = tmp_path / "store"
    store.publish(lora_adapters["v1"], root_dir.as_uri(), 3, "tiny-llama")
    doc = json.loads((root_dir / "latest").read_text())
    assert doc["step"] == 3 and datetime.fromisoformat(doc["published_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    # os.replace from a temp file in the same folder: no temp file is left behind.
    assert sorted(p.name for p in root_dir.iterdir()) == ["latest", "versions"]


@pytest.mark.parametrize(
    ("pointer", "message"),
    [
        ("{", "is not JSON"),
        ('{"step": -1, "published_at": "2026-11-30T00:00:00Z"}', "step must be a non-negative integer, got -1"),
        ('{"step": 1, "published_at": "yesterday"}', "published_at 'yesterday' is not ISO 8601"),
    ],
)
def test_a_bad_pointer_is_one_line_naming_it(tmp_path: Path, pointer: str, message: str) -> None:
    (tmp_path / "latest").write_text(pointer)
    with pytest.raises(AdapterStoreError, match=message) as err:
        store.read_pointer(tmp_path.as_uri())
    assert "/latest" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("gs:///x", "a GCS root is gs://bucket/prefix"),
        ("file://relative/path", "a file root is file:///absolute/path"),
        ("http://example/x", "the scheme must be file://, s3:// or gs://"),
    ],
)
def test_unsupported_roots_are_refused_with_the_fix(root: str, message: str) -> None:
    with pytest.raises(AdapterStoreError, match=message):
        store.read_pointer(root)


def test_publish_cli_is_what_the_trainer_calls(tmp_path: Path, lora_adapters: dict[str, Path]) -> None:
    root = (tmp_path / "store").as_uri()
    cmd = [sys.executable, "-m", "serving.adapter_store", "publish", str(lora_adapters["v2"]), root,
           "--step", "42", "--base-model", "tiny-llama"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=dict(os.environ))
    assert json.loads(out.stdout)["step"] == 42
    assert store.read_pointer(root).step == 42  # type: ignore[union-attr]

    not_lora = tmp_path / "empty"
    not_lora.mkdir()
    bad = subprocess.run([*cmd[:4], str(not_lora), *cmd[5:]], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "adapter_config.json: not a PEFT LoRA adapter_config.json" in bad.stderr
    assert store.read_pointer(root).step == 42  # type: ignore[union-attr]  # a failed publish moves nothing


def test_the_trainer_image_needs_only_the_one_file(tmp_path: Path, lora_adapters: dict[str, Path]) -> None:
    # A trainer image vendors serving/adapter_store.py alone (stdlib + httpx; boto3 for s3://): no serving package.
    vendored = tmp_path / "opt" / "adapter_store.py"
    vendored.parent.mkdir()
    vendored.write_bytes(Path(store.__file__).read_bytes())
    root = (tmp_path / "store").as_uri()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", str(vendored), "publish", str(lora_adapters["v2"]), root,
                          "--step", "7", "--base-model", "tiny-llama"], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert store.read_pointer(root).step == 7  # type: ignore[union-attr]


class _FakeGoogle(BaseHTTPRequestHandler):
    """The metadata server's token endpoint and a storage API that has one object, `runs/policy/latest`."""

    expires_in = 3599
    requests: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        type(self).requests.append((self.path, dict(self.headers)))
        if self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                self._send(403, b"Missing Metadata-Flavor:Google header.")
                return
            tokens = sum(p.endswith("/token") for p, _ in type(self).requests)
            body = {"access_token": f"tok{tokens}", "expires_in": type(self).expires_in, "token_type": "Bearer"}
            self._send(200, json.dumps(body).encode())
        elif self.path == "/storage/v1/b/ckpt/o/runs%2Fpolicy%2Flatest?alt=media":
            self._send(200, b'{"step": 9, "published_at": "2026-11-30T06:00:00Z"}')
        else:
            self._send(404, b'{"error": {"code": 404, "message": "No such object"}}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_google(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FakeGoogle]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGoogle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GCE_METADATA_HOST", host)  # as google-auth honours it
    monkeypatch.setattr(store, "GCS_API", f"http://{host}")
    _FakeGoogle.requests, _FakeGoogle.expires_in = [], 3599
    store.TOKENS.clear()
    try:
        yield _FakeGoogle
    finally:
        server.shutdown()
        server.server_close()
        store.TOKENS.clear()


def test_gs_reads_carry_the_workload_identity_token_fetched_once(fake_google: type[_FakeGoogle]) -> None:
    assert store.read_pointer("gs://ckpt/runs/policy").step == 9  # type: ignore[union-attr]
    assert store.read_pointer("gs://ckpt/runs/policy").step == 9  # type: ignore[union-attr]
    token_calls = [h for p, h in fake_google.requests if p.endswith("/token")]
    reads = [h for p, h in fake_google.requests if p.startswith("/storage/")]
    assert len(token_calls) == 1 and token_calls[0]["Metadata-Flavor"] == "Google"  # cached across polls
    assert [h["Authorization"] for h in reads] == ["Bearer tok1", "Bearer tok1"]


def test_gs_token_is_fetched_again_shortly_before_it_expires(fake_google: type[_FakeGoogle]) -> None:
    fake_google.expires_in = 30  # inside the refresh margin: every read asks again
    store.read_pointer("gs://ckpt/runs/policy")
    store.read_pointer("gs://ckpt/runs/policy")
    reads = [h["Authorization"] for p, h in fake_google.requests if p.startswith("/storage/")]
    assert reads == ["Bearer tok1", "Bearer tok2"]


def test_gs_without_a_metadata_server_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
    store.TOKENS.clear()
    with pytest.raises(AdapterStoreError, match=r"no GCS token from the metadata server http://127\.0\.0\.1:\d+/"
                                                r"computeMetadata/v1/instance/service-accounts/default/token "
                                                r"\(is Workload Identity set up\?\)") as err:
        store.read_pointer("gs://ckpt/runs/policy")
    assert "\n" not in str(err.value)
