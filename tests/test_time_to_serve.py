"""Time to serve (issue 16, items 1 and 3): the breakdown per model and platform, its sources, and the config of the
mechanisms that shorten it (serving.coldStart)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from infra.config import parse_stack_config
from infra.config.cold_start import compile_cache_url
from infra.time_to_serve import (
    PARTS,
    STARTUP_MARGIN,
    ServeInputs,
    scale_down_window_seconds,
    stack_time_to_serve,
    startup_budget_seconds,
    time_to_serve,
)
from infra.time_to_serve_facts import (
    BUCKET_STREAM,
    COMPILE_COLD_8B,
    COMPILE_WARM_8B,
    DISK_LOAD_DEFAULT,
    FACTS,
    HUB_DOWNLOAD,
    MEASURED_HERE,
    MEASURED_JSON_GLOB,
    MEASURED_RUN,
    NODE_PROVISION,
)
from tests.conftest import ROOT, assert_one_config_error, prod_on_one_pool, stack_config, with_mode

QWEN = ServeInputs(model="qwen-7b", cloud="gke", weights_gb=15.2, weights_from="hub", spare_node=False,
                   image_streaming=True, preloaded_image=False, compile_cache=False, pool="a100-serving")


def with_(**changes) -> ServeInputs:
    return dataclasses.replace(QWEN, **changes)


def test_every_part_is_there_in_order_and_rests_on_a_sourced_fact():
    t = time_to_serve(QWEN)
    assert tuple(s.part for s in t.steps) == PARTS
    for step in t.steps:
        assert step.seconds == 0 or step.facts, f"{step.part}: a figure without a source"
        for key in step.facts:
            fact = FACTS[key]
            assert fact.source.startswith(("https://", "kubernetes/")), (key, fact.source)
            assert fact.read == "2026-11-30" and fact.what


def test_warm_headroom_removes_node_provisioning_and_nothing_else():
    cold, warm = time_to_serve(QWEN), time_to_serve(with_(spare_node=True))
    assert cold.seconds("node") == NODE_PROVISION.value == 300
    assert warm.seconds("node") == 0
    assert cold.total - warm.total == pytest.approx(300)
    assert "warm headroom" in {m.mechanism for m in cold.missing}
    assert "warm headroom" not in {m.mechanism for m in warm.missing}


def test_a_preloaded_image_removes_the_pull_and_streaming_already_removes_most_of_it():
    whole = time_to_serve(with_(image_streaming=False)).seconds("image")
    streamed = time_to_serve(QWEN).seconds("image")
    preloaded = time_to_serve(with_(preloaded_image=True)).seconds("image")
    assert (whole, streamed, preloaded) == (230, 20, 0)


def test_a_compile_cache_removes_most_of_the_compilation_but_the_probe_still_allows_a_cold_one():
    none, cached = time_to_serve(QWEN), time_to_serve(with_(compile_cache=True))
    assert none.seconds("compile") == COMPILE_COLD_8B.value
    assert cached.seconds("compile") == COMPILE_WARM_8B.value < COMPILE_COLD_8B.value / 2
    # The first replica seeds the cache, so the startup budget is the same with and without it.
    assert startup_budget_seconds(none) == startup_budget_seconds(cached)
    (saving,) = [m for m in none.missing if m.mechanism == "shared compile cache"]
    assert saving.seconds == pytest.approx(25.16 - 9.22) and "serving.coldStart.compileCache" in saving.fix


def test_weights_from_a_bucket_stream_faster_than_a_hub_download():
    hub, bucket = time_to_serve(QWEN), time_to_serve(with_(weights_from="bucket"))
    assert bucket.seconds("weights") == pytest.approx(15.2 / BUCKET_STREAM.value)  # ~4.3 s at 3.54 GB/s
    assert hub.seconds("weights") > 10 * bucket.seconds("weights")
    (saving,) = [m for m in hub.missing if m.mechanism == "weights from a bucket"]
    assert "models[0].source" in saving.fix and "weights: bucket" in saving.fix


def test_larger_models_take_the_larger_reference():
    small, large = time_to_serve(QWEN), time_to_serve(with_(weights_gb=140.0))
    assert large.seconds("compile") > small.seconds("compile")
    assert large.seconds("engine") > small.seconds("engine")


def test_eks_pulls_the_whole_image_and_says_what_a_preload_would_take():
    t = time_to_serve(with_(cloud="eks", image_streaming=False))
    assert t.seconds("image") == 230
    (preload,) = [m for m in t.missing if m.mechanism == "preloaded image"]
    assert preload.seconds == 230 and "Bottlerocket" in preload.fix and "EKS has no built-in" in preload.fix


def test_the_probe_budget_covers_the_in_container_worst_case_with_the_margin():
    for t in (time_to_serve(QWEN), time_to_serve(with_(weights_from="bucket", compile_cache=True)),
              time_to_serve(with_(weights_gb=140.0))):
        worst = t.seconds("weights") + t.seconds("engine") + t.cold_compile_seconds
        assert startup_budget_seconds(t) >= worst * STARTUP_MARGIN
        assert scale_down_window_seconds(t) >= min(3600, t.total)


def test_prod_as_shipped_waits_for_a_node_downloads_from_the_hub_and_compiles():
    (t,) = stack_time_to_serve(parse_stack_config(prod_on_one_pool()))
    assert [s.how for s in t.steps][:2] == ["new node (cluster-autoscaler)", "image streaming"]
    assert t.inputs.weights_from == "hub" and not t.inputs.compile_cache
    assert round(t.total) == 468
    assert {m.mechanism for m in t.missing} == {"warm headroom", "preloaded image", "weights from a bucket",
                                                "shared compile cache"}


def test_prod_with_every_mechanism_is_ready_in_about_a_minute():
    raw = prod_on_one_pool()
    raw["nodePools"][0]["warmHeadroom"] = 1
    raw["artifacts"]["pauseImage"] = "registry.k8s.io/pause:3.10@sha256:" + "e" * 64
    raw["models"][0]["source"] = "gs://acme-llm-prod-weights/qwen2.5-7b-instruct"
    raw["artifacts"]["modelRevisions"] = {}
    raw["serving"]["coldStart"] = {"compileCache": "bucket:compile-cache", "weights": "bucket",
                                   "preloadImage": {"diskImage": "vllm-serving-3b1f0c0d"}}
    (t,) = stack_time_to_serve(parse_stack_config(raw))
    assert [s.seconds for s in t.steps][:2] == [0, 0]
    assert t.total < 60 and not t.missing


def test_a_free_node_in_the_pool_minimum_counts_as_spare():
    raw = prod_on_one_pool()
    raw["nodePools"][0]["minNodes"] = 5  # 4 warm replicas hold 4 nodes
    (t,) = stack_time_to_serve(parse_stack_config(raw))
    assert t.seconds("node") == 0


def test_the_compile_cache_resolves_under_the_checkpoint_bucket():
    raw = prod_on_one_pool()
    raw["serving"]["coldStart"] = {"compileCache": "bucket:cc/"}
    cold = parse_stack_config(raw)
    assert compile_cache_url(cold.serving.cold_start, "gs://acme-llm-prod-checkpoints/run") == \
        "gs://acme-llm-prod-checkpoints/run/cc"


@pytest.mark.parametrize(("cold_start", "edit", "fragments"), [
    ({"compileCache": "bucket:cc"}, lambda raw: raw.pop("training"),
     ["serving.coldStart.compileCache = 'bucket:cc'", "training.checkpointBucket is not set"]),
    ({"compileCache": "s3://cache/vllm"}, None,
     ["serving.coldStart.compileCache = 's3://cache/vllm'", "cloud 'gke' grants its pods gs:// buckets only"]),
    ({"compileCache": "hf://a/b"}, None, ["serving.coldStart.compileCache", "bucket:<prefix>"]),
    ({"weights": "bucket"}, None,
     ["models[0].source = 'hf://Qwen/Qwen2.5-7B-Instruct'", "weights is 'bucket'", "gs://<bucket>/<path>"]),
    ({"weights": "s3"}, None, ["serving.coldStart.weights", "hub", "bucket"]),
    ({"compileCache": "gs://cache/vllm", "mode": "kuberay"}, None,
     ["serving.coldStart.compileCache = 'gs://cache/vllm'", "serving.mode 'kuberay'", "only with serving.mode: vllm"]),
    ({"preloadImage": {"diskImage": "Not An Image"}}, None, ["serving.coldStart.preloadImage.diskImage",
                                                             "Compute Engine image name"]),
])
def test_cold_start_config_errors_are_one_line(cold_start, edit, fragments):
    raw = prod_on_one_pool()
    if edit is not None:
        edit(raw)
    mode = cold_start.pop("mode", None)
    raw["serving"]["coldStart"] = cold_start
    if mode:
        with_mode(raw, mode)
    assert_one_config_error(raw, fragments)


def test_preload_image_is_refused_off_gke_with_what_it_would_take():
    raw = stack_config("eks-prod")
    raw["serving"] = {**raw.get("serving", {}), "coldStart": {"preloadImage": {"diskImage": "vllm-serving"}}}
    assert_one_config_error(raw, ["serving.coldStart.preloadImage", "cloud 'eks' has no built-in image preload",
                                  "Bottlerocket"])


def test_a_compile_cache_in_the_adapter_stores_bucket_is_refused_on_gke():
    raw = prod_on_one_pool()
    raw["models"][0]["lora"] = {"source": "bucket:adapters"}
    raw["serving"]["coldStart"] = {"compileCache": "bucket:compile-cache"}
    assert_one_config_error(raw, ["serving.coldStart.compileCache", "shares the bucket of the adapter store "
                                  "gs://acme-llm-prod-checkpoints/run/adapters"])


def test_the_plans_measured_figures_are_the_benchmarks_last_run():
    """MEASURED_HERE (what the plan's table, --json and the README show as ours) is the committed benchmark JSON."""
    from infra.time_to_serve_report import measured_line, time_to_serve_json, time_to_serve_table

    (found,) = sorted(Path(ROOT).glob(MEASURED_JSON_GLOB))  # one run is the evidence; a new one replaces it
    measured = json.loads(found.read_text())
    assert {key: measured[key] for key in MEASURED_HERE} == MEASURED_HERE
    assert {"on": measured["measuredOn"][:10], "command": measured["command"],
            "machine": measured["machine"]} == MEASURED_RUN
    # The compile step is what a warm cache skips (the ready times move with the shared cores' load).
    assert MEASURED_HERE["compileWarmSeconds"] < MEASURED_HERE["compileColdSeconds"] / 2
    cfg = parse_stack_config(prod_on_one_pool())
    assert time_to_serve_json(cfg)["measuredHere"] == MEASURED_HERE
    table = time_to_serve_table(cfg)  # the plan's printed table says the same, in words
    assert table is not None and measured_line() in str(table.caption) and "compile step 78 s vs 19 s" in str(
        table.caption)


def test_prods_probe_budget_outlasts_a_hub_slower_than_the_published_rate():
    """A probe that kills a pod still downloading its weights is a restart loop: prod's budget (no bucket, no compile
    cache, a node that is there) must hold for hubs well below the ~0.5 GB/s the breakdown takes."""
    (t,) = stack_time_to_serve(parse_stack_config(prod_on_one_pool()))
    budget = startup_budget_seconds(t)
    assert (t.inputs.weights_gb, t.inputs.weights_from, t.inputs.compile_cache, budget) == (15.2, "hub", False, 297)

    def in_container(hub_gb_per_s: float) -> float:
        gb = t.inputs.weights_gb
        return gb / hub_gb_per_s + gb / DISK_LOAD_DEFAULT.value + t.seconds("engine") + t.cold_compile_seconds

    assert budget >= STARTUP_MARGIN * in_container(HUB_DOWNLOAD.value)
    assert budget >= 1.5 * in_container(0.2)  # the replaced formula's pessimistic hub, with its own 1.5x margin
    assert budget >= in_container(0.085)


def test_the_whole_image_pull_is_marked_a_users_measurement_in_the_plan():
    t = time_to_serve(with_(cloud="eks", image_streaming=False))
    (image,) = [s for s in t.steps if s.part == "image"]
    assert image.how == "whole-image pull (a user's measurement)"
    assert "a user's measurement" in FACTS[image.facts[0]].source


def test_the_readme_shows_prods_breakdown_per_platform_and_the_measured_figures():
    from infra.readme_tables import regions

    text = (Path(ROOT) / "README.md").read_text()  # fresh: tests/test_docs.py compares it with `infra readme`
    assert "time-to-serve:prod,eks-prod,coreweave-prod" in regions(text)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith(("| prod (", "| eks-prod (", "| coreweave-prod ("))}
    assert {k: v[-3:] for k, v in rows.items()} == {"prod (gke)": ["**468 s**", "297 s", "469 s"],
                                                     "eks-prod (eks)": ["**678 s**", "297 s", "679 s"],
                                                     "coreweave-prod (existing)": ["**678 s**", "297 s", "679 s"]}
    assert f"ready after {MEASURED_HERE['compileCacheColdSeconds']:g} s with an empty shared compile cache" in text
    assert f"{MEASURED_HERE['compileCacheWarmSeconds']:g} s with the cache the first replica published" in text
    cold, warm = MEASURED_HERE["compileColdSeconds"], MEASURED_HERE["compileWarmSeconds"]
    assert f"compile step {cold:g} s vs {warm:g} s" in text
