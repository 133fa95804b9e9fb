"""The adapter store: where the trainer publishes LoRA adapters and the serving replicas read them.

Layout under a root URL (`file:///abs/path`, `s3://bucket/prefix`, `gs://bucket/prefix`):
  <root>/versions/<step>/            PEFT `save_pretrained` output (adapter_config.json, adapter_model.safetensors)
  <root>/versions/<step>/manifest.json   written LAST: {"step", "files": {name: sha256}, "rank", "base_model",
                                          "published_at"}
  <root>/latest                      written after the manifest: {"step", "published_at"}; authoritative (moving
                                     it back is a rollback)
A reader trusts a version only through its manifest: `fetch_version` checks every file's sha256.
gs:// speaks the Cloud Storage JSON API over httpx with a token from the GKE metadata server (Workload Identity);
STORAGE_EMULATOR_HOST points it at an emulator (no token then), as Google's client libraries do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlparse

import httpx

MANIFEST = "manifest.json"
POINTER = "latest"
ADAPTER_CONFIG = "adapter_config.json"


class AdapterStoreError(Exception):
    """One line saying what is wrong with the store or a version in it."""


@dataclass(frozen=True)
class Pointer:
    step: int
    published_at: datetime

    def to_json(self) -> str:
        return json.dumps({"step": self.step, "published_at": _iso(self.published_at)})


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise AdapterStoreError(f"{where}: published_at must be an ISO 8601 string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AdapterStoreError(f"{where}: published_at {value!r} is not ISO 8601") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _step(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AdapterStoreError(f"{where}: step must be a non-negative integer, got {value!r}")
    return value


class Backend(Protocol):
    def read(self, key: str) -> bytes | None: ...  # None: no such object
    def write(self, key: str, data: bytes) -> None: ...
    def create(self, key: str, data: bytes) -> bool: ...  # write only if absent; False: it existed (first writer wins)


class FileBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AdapterStoreError(f"cannot read {self.root / key}: {exc.strerror}") from None

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Temp file + os.replace: a reader sees the old object or the new one, never half of one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def create(self, key: str, data: bytes) -> bool:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.link(tmp, path)  # atomic and exclusive: fails if the name exists, never shows half a file
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise AdapterStoreError(f"cannot write {path}: {exc.strerror}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)


class S3Backend:
    """S3 or an S3-compatible store; boto3 reads the endpoint (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) and the
    credentials (env, IRSA web identity, instance profile) itself."""

    def __init__(self, bucket: str, prefix: str) -> None:
        try:
            import boto3
        except ImportError:
            raise AdapterStoreError("s3:// adapter roots need boto3: pip install boto3") from None
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()  # type: ignore[no-any-return]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise AdapterStoreError(f"cannot read s3://{self.bucket}/{self._key(key)}: {exc}") from None
        except BotoCoreError as exc:
            raise AdapterStoreError(f"cannot read s3://{self.bucket}/{self._key(key)}: {exc}") from None

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise AdapterStoreError(f"cannot write s3://{self.bucket}/{self._key(key)}: {exc}") from None

    def create(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        # Conditional write (`If-None-Match: *`, S3 since 2024-08, botocore 1.44 `IfNoneMatch`): 412 when the key
        # exists, 409 when a concurrent conditional write to it is under way; both mean another writer is first.
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict",
                                                              "412", "409"):
                return False
            raise AdapterStoreError(f"cannot write s3://{self.bucket}/{self._key(key)}: {exc}") from None
        except BotoCoreError as exc:
            raise AdapterStoreError(f"cannot write s3://{self.bucket}/{self._key(key)}: {exc}") from None


# Cloud Storage JSON API endpoints (https://cloud.google.com/storage/docs/reference-uris, read 2026-11-30):
# reads GET <api>/storage/v1/b/BUCKET/o/OBJECT?alt=media with the object name URL-encoded ("/" as %2F),
# simple uploads POST <api>/upload/storage/v1/b/BUCKET/o?uploadType=media&name=OBJECT.
GCS_API = "https://storage.googleapis.com"
# The metadata server's token for the pod's (Workload Identity) service account: GET with "Metadata-Flavor: Google",
# answer {"access_token", "expires_in", "token_type"}; GCE_METADATA_HOST overrides the host as in google-auth 2.63
# (google/auth/compute_engine/_metadata.py: _GCE_DEFAULT_HOST, get_service_account_token).
METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
TOKEN_MARGIN_S = 60  # refresh this long before `expires_in` runs out
GCS_TIMEOUT_S = 60.0


class _TokenCache:
    """One access token per process, shared by every GcsBackend (the poller makes one per read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def get(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires - TOKEN_MARGIN_S:
                self._token, lifetime = _metadata_token()
                self._expires = time.monotonic() + lifetime
            return self._token

    def clear(self) -> None:
        with self._lock:
            self._token, self._expires = None, 0.0


def _metadata_token() -> tuple[str, float]:
    host = os.environ.get("GCE_METADATA_HOST") or METADATA_HOST
    url = f"http://{host}{TOKEN_PATH}"
    try:
        resp = httpx.get(url, headers={"Metadata-Flavor": "Google"}, timeout=10.0)
        resp.raise_for_status()
        doc = resp.json()
        return str(doc["access_token"]), float(doc["expires_in"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise AdapterStoreError(f"no GCS token from the metadata server {url} (is Workload Identity set up?): "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


TOKENS = _TokenCache()
_HTTP: httpx.Client | None = None  # one pooled client: a poll or a fetch reuses the TLS connection to GCS


def _http() -> httpx.Client:
    global _HTTP
    if _HTTP is None:
        _HTTP = httpx.Client(timeout=GCS_TIMEOUT_S)
    return _HTTP


def _emulator_base(value: str) -> str:
    # google-cloud-storage accepts STORAGE_EMULATOR_HOST with or without a scheme (http:// is assumed).
    return (value if "://" in value else f"http://{value}").rstrip("/")


class GcsBackend:
    """Cloud Storage through its JSON API (no client library in the image: httpx is already there)."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        self.api = _emulator_base(emulator) if emulator else GCS_API
        self.emulated = bool(emulator)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _headers(self) -> dict[str, str]:
        return {} if self.emulated else {"Authorization": f"Bearer {TOKENS.get()}"}

    def _fail(self, verb: str, key: str, detail: str) -> AdapterStoreError:
        return AdapterStoreError(f"cannot {verb} gs://{self.bucket}/{self._key(key)}: {detail}")

    def read(self, key: str) -> bytes | None:
        url = f"{self.api}/storage/v1/b/{self.bucket}/o/{quote(self._key(key), safe='')}"
        try:
            resp = _http().get(url, params={"alt": "media"}, headers=self._headers())
        except httpx.HTTPError as exc:
            raise self._fail("read", key, str(exc) or type(exc).__name__) from None
        if resp.status_code == 404:
            return None
        if resp.status_code == 401:
            TOKENS.clear()  # revoked or rotated: the next poll asks the metadata server again
        if resp.status_code != 200:
            raise self._fail("read", key, _gcs_error(resp))
        return resp.content

    def write(self, key: str, data: bytes) -> None:
        url = f"{self.api}/upload/storage/v1/b/{self.bucket}/o"
        params = {"uploadType": "media", "name": self._key(key)}
        headers = {**self._headers(), "Content-Type": "application/octet-stream"}
        try:
            resp = _http().post(url, params=params, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise self._fail("write", key, str(exc) or type(exc).__name__) from None
        if resp.status_code == 401:
            TOKENS.clear()
        if resp.status_code != 200:
            raise self._fail("write", key, _gcs_error(resp))

    def create(self, key: str, data: bytes) -> bool:
        # ifGenerationMatch=0: "succeeds only if there are no live versions of the object", else 412
        # (https://cloud.google.com/storage/docs/request-preconditions, read 2026-11-30).
        url = f"{self.api}/upload/storage/v1/b/{self.bucket}/o"
        params = {"uploadType": "media", "name": self._key(key), "ifGenerationMatch": "0"}
        headers = {**self._headers(), "Content-Type": "application/octet-stream"}
        try:
            resp = _http().post(url, params=params, content=data, headers=headers)
        except httpx.HTTPError as exc:
            raise self._fail("write", key, str(exc) or type(exc).__name__) from None
        if resp.status_code == 412:
            return False
        if resp.status_code == 401:
            TOKENS.clear()
        if resp.status_code != 200:
            raise self._fail("write", key, _gcs_error(resp))
        return True


def _gcs_error(resp: httpx.Response) -> str:
    try:
        message = resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = resp.text[:200]
    return f"HTTP {resp.status_code} {' '.join(str(message).split())}".rstrip()


def backend(root: str) -> Backend:
    url = urlparse(root)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost") or not url.path.startswith("/"):
            raise AdapterStoreError(f"adapter root {root!r}: a file root is file:///absolute/path")
        return FileBackend(Path(url.path))
    if url.scheme == "s3":
        if not url.netloc:
            raise AdapterStoreError(f"adapter root {root!r}: an S3 root is s3://bucket/prefix")
        return S3Backend(url.netloc, url.path)
    if url.scheme == "gs":
        if not url.netloc:
            raise AdapterStoreError(f"adapter root {root!r}: a GCS root is gs://bucket/prefix")
        return GcsBackend(url.netloc, url.path)
    raise AdapterStoreError(f"adapter root {root!r}: the scheme must be file://, s3:// or gs://")


def read_pointer(root: str) -> Pointer | None:
    """The published step, or None when nothing was published yet."""
    raw = backend(root).read(POINTER)
    if raw is None:
        return None
    where = f"{root.rstrip('/')}/{POINTER}"
    try:
        doc = json.loads(raw)
    except ValueError:
        raise AdapterStoreError(f"{where} is not JSON") from None
    if not isinstance(doc, dict):
        raise AdapterStoreError(f"{where} must be a JSON object")
    return Pointer(step=_step(doc.get("step"), where), published_at=_parse_time(doc.get("published_at"), where))


@dataclass(frozen=True)
class Manifest:
    step: int
    files: dict[str, str]
    rank: int
    base_model: str
    published_at: datetime


def _manifest(raw: bytes | None, where: str, step: int) -> Manifest:
    if raw is None:
        raise AdapterStoreError(f"{where} is missing (the version is not published)")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise AdapterStoreError(f"{where} is not JSON") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict) or ADAPTER_CONFIG not in files:
        raise AdapterStoreError(f"{where}: files must map names (with {ADAPTER_CONFIG}) to sha256")
    for name in files:
        if not isinstance(name, str) or "/" in name or name.startswith(".") or name == MANIFEST:
            raise AdapterStoreError(f"{where}: file name {name!r} is not allowed (a plain name, not the manifest)")
    if _step(doc.get("step"), where) != step:
        raise AdapterStoreError(f"{where}: step {doc.get('step')} does not match the folder's {step}")
    rank = doc.get("rank")
    if not isinstance(rank, int) or rank < 1:
        raise AdapterStoreError(f"{where}: rank must be a positive integer, got {rank!r}")
    published_at = _parse_time(doc.get("published_at"), where)
    return Manifest(step, dict(files), rank, str(doc.get("base_model", "")), published_at)


def fetch_version(root: str, step: int, dest: Path) -> Path:
    """Copy version `step` into `dest` (made empty first) after checking every file against the manifest."""
    store = backend(root)
    prefix = f"versions/{step}"
    manifest = _manifest(store.read(f"{prefix}/{MANIFEST}"), f"{root.rstrip('/')}/{prefix}/{MANIFEST}", step)
    contents: dict[str, bytes] = {}
    for name, digest in manifest.files.items():
        data = store.read(f"{prefix}/{name}")
        if data is None:
            raise AdapterStoreError(f"{root.rstrip('/')}/{prefix}/{name} is listed in the manifest but missing")
        if hashlib.sha256(data).hexdigest() != digest:
            raise AdapterStoreError(f"{root.rstrip('/')}/{prefix}/{name}: sha256 does not match the manifest")
        contents[name] = data
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.is_file():
            old.unlink()
    for name, data in contents.items():
        (dest / name).write_bytes(data)
    (dest / MANIFEST).write_bytes(json.dumps(_manifest_doc(manifest)).encode())
    return dest


def read_manifest(dest: Path) -> Manifest:
    """The manifest of a fetched version (written by `fetch_version`)."""
    step = json.loads((dest / MANIFEST).read_bytes()).get("step")
    return _manifest((dest / MANIFEST).read_bytes(), str(dest / MANIFEST), step)


def _manifest_doc(m: Manifest) -> dict[str, object]:
    return {"step": m.step, "files": m.files, "rank": m.rank, "base_model": m.base_model,
            "published_at": _iso(m.published_at)}


def publish(local_dir: Path, root: str, step: int, base_model: str) -> Pointer:
    """Publish a PEFT `save_pretrained` folder as version `step`: files, then the manifest, then the pointer."""
    _step(step, "publish")
    config_path = local_dir / ADAPTER_CONFIG
    try:
        rank = int(json.loads(config_path.read_text())["r"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdapterStoreError(f"{config_path}: not a PEFT LoRA adapter_config.json with a rank 'r' ({exc})") from None
    store = backend(root)
    files: dict[str, str] = {}
    for path in sorted(local_dir.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name == MANIFEST:
            continue
        data = path.read_bytes()
        store.write(f"versions/{step}/{path.name}", data)
        files[path.name] = hashlib.sha256(data).hexdigest()
    now = datetime.now(UTC)
    manifest = Manifest(step, files, rank, base_model, now)
    store.write(f"versions/{step}/{MANIFEST}", json.dumps(_manifest_doc(manifest), indent=1).encode())
    pointer = Pointer(step, now)
    store.write(POINTER, pointer.to_json().encode())
    return pointer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.adapter_store", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="publish a PEFT adapter folder as a new version and move `latest` to it")
    pub.add_argument("local_dir", type=Path)
    pub.add_argument("root")
    pub.add_argument("--step", type=int, required=True)
    pub.add_argument("--base-model", required=True)
    args = parser.parse_args(argv)
    try:
        pointer = publish(args.local_dir, args.root, args.step, args.base_model)
    except AdapterStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(pointer.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
