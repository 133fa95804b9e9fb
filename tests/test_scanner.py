"""The scanner in the tests (issue 17 item 8): checkov over every stack's manifests in both serving modes, the serving
image's Dockerfile and the workflows; every failure it reports must be explained by security/checkov-skips.yaml, and
every entry there must still match a failure. The harness is tests/checkov_scan.py; checkov runs from .venv-scan
(`make scan-venv`, part of `make test`)."""

from __future__ import annotations

import functools
import os
import time

import pytest

from tests import checkov_scan as scan
from tests.conftest import EXAMPLES, SEEDS, STACKS, _shipped_plan

ALL_STACKS = STACKS + EXAMPLES + SEEDS


@pytest.fixture(scope="module")
def checkov_run(tmp_path_factory):
    if not scan.CHECKOV.is_file():
        message = f"checkov not found at {scan.CHECKOV}: run `make scan-venv` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from infra.plan import run_plan

    sources = tmp_path_factory.mktemp("kuberay-stacks")

    @functools.cache
    def kuberay_plan(stack: str):
        # Same stack name as the shipped one, so names and labels match plain mode's.
        return run_plan(stack, scan.kuberay_stack(stack, sources / stack))

    tree = tmp_path_factory.mktemp("scan")
    must_scan = scan.build_tree(tree, ALL_STACKS, _shipped_plan, kuberay_plan)
    started = time.monotonic()
    reports = scan.run_checkov(tree)
    print(f"checkov {len(scan.FRAMEWORKS)} frameworks, {len(must_scan)} files: {time.monotonic() - started:.0f} s")
    return must_scan, reports


def test_checkov_fails_nothing_the_skip_list_does_not_explain(checkov_run):
    _, reports = checkov_run
    new = scan.unlisted(scan.failures_of(reports), scan.load_skips())
    assert not new, (f"checkov: {len(new)} failed check(s) not in {scan.SKIPS.relative_to(scan.ROOT)}; fix them, or "
                     "add an entry (check, scope, reason with its source):\n" +
                     "\n".join(f"  {f.check} {f.where}  ({f.name})" for f in new))


def test_every_skip_entry_still_matches_a_failure(checkov_run):
    _, reports = checkov_run
    rotten = scan.stale(scan.failures_of(reports), scan.load_skips())
    assert not rotten, (f"{scan.SKIPS.relative_to(scan.ROOT)}: these scopes match no failure any more (fixed, or the "
                        "object was renamed); remove or narrow them:\n" + "\n".join(f"  {r}" for r in rotten))


def test_checkov_read_every_pod_manifest_the_dockerfile_and_every_workflow(checkov_run):
    """A file checkov cannot parse (or a workflow that fails its schema) is dropped without a word: it must not pass
    as clean."""
    must_scan, reports = checkov_run
    unread = sorted(set(must_scan) - scan.scanned_files(reports))
    assert not unread, f"checkov reported nothing for {len(unread)} file(s): {unread[:5]}"
    # 8 stacks x 2 modes, the Dockerfile, 5 workflows at least: the harness really laid them all out.
    assert {p.split("/")[2] for p in must_scan if p.startswith("/k8s/")} == {"plain", "kuberay"}
    assert {p.split("/")[3] for p in must_scan if p.startswith("/k8s/kuberay/")} == set(ALL_STACKS) - set(
        scan.PROVIDER_TIERS)  # a tier served by a provider has no model for Ray
    assert "/images/vllm/Dockerfile" in must_scan and "/images/gateway/Dockerfile" in must_scan
    assert "/.github/workflows/preview.yml" in must_scan


def test_ray_pods_are_scanned_as_pods(checkov_run):
    """checkov has no checks for RayService/RayJob: their pod templates are scanned as Pods (tests/checkov_scan.py)."""
    must_scan, reports = checkov_run
    # prod in KubeRay mode: the RayService's head and its two worker groups (a100-serving, rollout), the RayJob's head,
    # its h100-training workers and its submitter: 6 pods.
    ray = sorted(p.rsplit("/", 1)[1] for p in must_scan if p.startswith("/k8s/kuberay/prod/raypod-"))
    assert ray == ["raypod-llm-serving-rayservice-llm-head.yaml",
                   "raypod-llm-serving-rayservice-llm-worker-a100-serving.yaml",
                   "raypod-llm-serving-rayservice-llm-worker-rollout.yaml",
                   "raypod-llm-training-rayjob-trainer-head.yaml",
                   "raypod-llm-training-rayjob-trainer-submitter.yaml",
                   "raypod-llm-training-rayjob-trainer-worker-h100-training.yaml"]
    assert set(f"/k8s/kuberay/prod/{name}" for name in ray) <= scan.scanned_files(reports)


# The harness's own logic, on hand-made checkov results (no checkov needed).

def _failure(check: str, where: str) -> scan.Failure:
    return scan.Failure(check, "a check", where)


def test_a_failure_outside_every_scope_is_reported_and_an_unmatched_scope_is_stale():
    skips = [scan.Skip("CKV_K8S_11", ("*/prod: Deployment.llm-serving.vllm-*",), "r" * 40, "")]
    serving = _failure("CKV_K8S_11", "plain/prod: Deployment.llm-serving.vllm-qwen-7b")
    trainer = _failure("CKV_K8S_11", "plain/prod: Job.llm-training.trainer")  # same check, object not in scope
    other_check = _failure("CKV_K8S_22", "plain/prod: Deployment.llm-serving.vllm-qwen-7b")
    assert scan.unlisted([serving, trainer, other_check], skips) == [trainer, other_check]
    assert scan.stale([serving], skips) == []
    # The serving pods got a CPU limit: the entry now explains nothing and must go.
    assert scan.stale([trainer], skips) == ["CKV_K8S_11 '*/prod: Deployment.llm-serving.vllm-*'"]


def test_a_skip_without_a_reason_is_refused(tmp_path):
    path = tmp_path / "skips.yaml"
    path.write_text("skips:\n- check: CKV_K8S_11\n  scope: ['*/*: Job.llm-training.trainer']\n  reason: todo\n")
    with pytest.raises(scan.SkipListError, match=r"skips\[0\] \(CKV_K8S_11\)\.reason"):
        scan.load_skips(path)
    path.write_text("skips:\n- check: K8S_11\n  scope: ['*/*: Job.llm-training.trainer']\n  reason: " + "x" * 40 + "\n")
    with pytest.raises(scan.SkipListError, match=r"'K8S_11' is not a checkov check id"):
        scan.load_skips(path)


def test_the_skip_list_loads_and_every_entry_has_a_scope_and_a_reason():
    skips = scan.load_skips()
    assert skips and all(s.scope and len(s.reason) >= 40 for s in skips)


def test_locations_name_mode_and_stack_or_the_file():
    assert scan.location("/k8s/kuberay/seed-gke/deployment-x.yaml") == "kuberay/seed-gke"
    assert scan.location("/.github/workflows/promote.yml") == ".github/workflows/promote.yml"
    assert scan.location("/images/vllm/Dockerfile") == "images/vllm/Dockerfile"


def test_ray_pod_templates_become_pods_named_for_their_role():
    ray_job = {"kind": "RayJob", "metadata": {"name": "trainer", "namespace": "llm-training"},
               "spec": {"submitterPodTemplate": {"spec": {"containers": [{"name": "submit"}]}},
                        "rayClusterSpec": {
                            "headGroupSpec": {"template": {"metadata": {"labels": {"a": "b"}},
                                                           "spec": {"containers": [{"name": "head"}]}}},
                            "workerGroupSpecs": [{"groupName": "h100", "template": {"spec": {"containers": []}}}]}}}
    pods = scan.ray_pods(ray_job)
    assert [(p["kind"], p["metadata"]["name"]) for p in pods] == [
        ("Pod", "rayjob-trainer-head"), ("Pod", "rayjob-trainer-worker-h100"), ("Pod", "rayjob-trainer-submitter")]
    assert pods[0]["metadata"]["labels"] == {"a": "b"} and pods[0]["spec"]["containers"] == [{"name": "head"}]


def test_make_test_installs_the_pinned_checkov():
    """CI runs `make test` (.ci/run): it must build .venv-scan from the lock, or the scan would skip locally and fail
    in CI."""
    makefile = (scan.ROOT / "Makefile").read_text()
    assert any(line.startswith("test:") and "scan-venv" in line for line in makefile.splitlines())
    assert "-r security/checkov.lock" in makefile
    assert "checkov==3.3.30" in (scan.ROOT / "security" / "checkov.lock").read_text().splitlines()
