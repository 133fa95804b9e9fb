"""`promote SRC DST` on copies of the shipped stack files in a temporary git repository."""

from __future__ import annotations

import difflib
import json
import shutil
from types import SimpleNamespace

import pytest
import yaml

from infra.cli import main
from infra.plan import run_plan
from tests.conftest import git, run_cli

STAGING_REGISTRY = "us-central1-docker.pkg.dev/acme-llm-staging/llm-fleet"
PROD_REGISTRY = "us-central1-docker.pkg.dev/acme-llm-prod/llm-fleet"
# The digest Pulumi.dev.yaml pins its serving image by (artifacts.servingImage), and that image as written there.
DEV_DIGEST = "sha256:8f4e2a6c0b9d7e5f3a1c8b6d4e2f0a9c7b5d3e1f8a6c4b2d0e9f7a5c3b1d8e6f"
DEV_IMAGE = f"us-central1-docker.pkg.dev/acme-llm-dev/llm-fleet/vllm-serving@{DEV_DIGEST}"


def promote(repo, *args: str):
    """The CLI in a subprocess: exit code, stdout, stderr exactly as a user sees them."""
    result = run_cli("promote", *args, "-C", str(repo))
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def promote_here(capsys):
    """The same CLI entry point in this process (no interpreter start-up per call)."""

    def run(repo, *args: str):
        code = main(["promote", *args, "-C", str(repo)])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def config(path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


def artifacts_block_range(lines: list[str]) -> range:
    """Lines of the artifacts block: its key line up to the next key of `config` (found without ruamel)."""
    start = lines.index("  llm-fleet:artifacts:\n")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i][:2] == "  " and lines[i][2:3] not in (" ", "#", "\n")), len(lines))
    return range(start, end)


def assert_only_artifacts_changed(before: str, after: str) -> None:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    block = artifacts_block_range(old)
    for op, i1, i2, _, _ in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            assert block.start < i1 and i2 <= block.stop, (op, i1, i2, block)
    # Byte for byte outside the block, comments included; and every per-tier setting is equal.
    assert "".join(old[:block.start]) == "".join(new[:block.start])
    new_block = artifacts_block_range(new)
    assert "".join(old[block.stop:]) == "".join(new[new_block.stop:])
    parsed_old, parsed_new = yaml.safe_load(before)["config"], yaml.safe_load(after)["config"]
    assert {k: v for k, v in parsed_old.items() if k != "llm-fleet:artifacts"} == \
        {k: v for k, v in parsed_new.items() if k != "llm-fleet:artifacts"}


def test_dev_to_staging_to_prod_moves_the_digests_and_nothing_else(stack_repo):
    staging_path, prod_path = stack_repo / "Pulumi.staging.yaml", stack_repo / "Pulumi.prod.yaml"
    staging_before, prod_before = staging_path.read_text(), prod_path.read_text()

    result = promote(stack_repo, "dev", "staging")
    assert result.returncode == 0, result.stderr
    assert "+++ Pulumi.staging.yaml (with dev's artifacts)" in result.stdout
    assert "wrote Pulumi.staging.yaml" in result.stdout
    assert_only_artifacts_changed(staging_before, staging_path.read_text())
    staging = config(staging_path)["llm-fleet:artifacts"]
    # Dev's digest, re-pointed at staging's own registry (its nodes pull from their project only).
    assert staging["servingImage"] == f"{STAGING_REGISTRY}/vllm-serving@{DEV_DIGEST}"
    assert f"crane copy {DEV_IMAGE} {STAGING_REGISTRY}/vllm-serving@{DEV_DIGEST}" in result.stdout
    # Dev's versions and charts as Pulumi.dev.yaml writes them (staging already had the same ones, so the
    # promotion must keep them, not drop them).
    assert (staging["vllmVersion"], staging["rayVersion"]) == ("0.32.0", "2.60.0")
    assert staging["charts"] == {"keda": "2.20.2", "kuberay": "1.7.0", "kubePrometheusStack": "79.4.1"}
    assert staging["rayImage"] == ("rayproject/ray-llm@sha256:7d3c1e5b9a2f4c6e8d0b1a3c5e7f9b2d4c6a8e0f1b3d5c7e9a2b"
                                   "4d6f8c0e1a3b")
    # Staging serves a model dev does not: its revision stays, and the run says so.
    assert staging["modelRevisions"] == {"qwen-7b": "a09a35458c702b33eeacc393d103063234e8bc28"}
    assert "note: artifacts.modelRevisions.qwen-7b kept" in result.stdout
    assert run_plan("staging", stack_repo).ok

    git(stack_repo, "commit", "-qam", "promote dev -> staging")
    result = promote(stack_repo, "staging", "prod")
    assert result.returncode == 0, result.stderr
    assert_only_artifacts_changed(prod_before, prod_path.read_text())
    prod = config(prod_path)["llm-fleet:artifacts"]
    assert prod["servingImage"] == f"{PROD_REGISTRY}/vllm-serving@{DEV_DIGEST}"
    assert prod["modelRevisions"] == {"qwen-7b": "a09a35458c702b33eeacc393d103063234e8bc28"}
    assert "# Everything below is promoted as one unit" in prod_path.read_text()
    assert run_plan("prod", stack_repo).ok

    git(stack_repo, "commit", "-qam", "promote staging -> prod")
    again = promote(stack_repo, "staging", "prod")
    assert again.returncode == 0 and "nothing to promote" in again.stdout


def test_dry_run_shows_the_diff_and_writes_nothing(stack_repo, promote_here):
    before = (stack_repo / "Pulumi.staging.yaml").read_bytes()
    result = promote_here(stack_repo, "dev", "staging", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["changed"], doc["written"]) == (True, False)
    assert "-    servingImage: " in doc["diff"] and "+    servingImage: " in doc["diff"]
    assert [(c["from"], c["to"]) for c in doc["imageCopies"]] == [
        (DEV_IMAGE, f"{STAGING_REGISTRY}/vllm-serving@{DEV_DIGEST}")]
    assert (stack_repo / "Pulumi.staging.yaml").read_bytes() == before
    assert git(stack_repo, "status", "--porcelain") == ""


def _tag_in_dev(repo):
    path = repo / "Pulumi.dev.yaml"
    text = path.read_text()
    start = text.index("    servingImage: ")
    end = text.index("\n", start)
    path.write_text(text[:start] + "    servingImage: us-central1-docker.pkg.dev/acme-llm-dev/llm-fleet/"
                    "vllm-serving:0.2.0" + text[end:])
    git(repo, "commit", "-qam", "dev by tag")


def _dirty_staging(repo):
    with (repo / "Pulumi.staging.yaml").open("a") as f:
        f.write("# a local edit\n")


def _no_rollout_in_dev(repo):
    path = repo / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["config"]["llm-fleet:rollout"], doc["config"]["llm-fleet:artifacts"]["rolloutImage"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    git(repo, "commit", "-qam", "dev without rollouts")


def _not_a_repo(repo):
    shutil.rmtree(repo / ".git")


def _reformatted_staging(repo):
    path = repo / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()), sort_keys=False, indent=4))
    git(repo, "commit", "-qam", "4-space indentation")


REFUSALS = [
    ("source pins by tag", _tag_in_dev, ("dev", "staging"),
     ["Pulumi.dev.yaml pins artifacts.servingImage by tag (us-central1-docker.pkg.dev/acme-llm-dev/llm-fleet/"
      "vllm-serving:0.2.0); only digests are promoted",
      # the target's own guard says the same, from the offline plan of the edited file
      "guard images-pinned-by-digest of staging fails with dev's artifacts"]),
    ("target has uncommitted changes", _dirty_staging, ("dev", "staging"),
     ["Pulumi.staging.yaml has uncommitted changes (M); commit or discard them first"]),
    ("target config fails with the new artifacts", _no_rollout_in_dev, ("dev", "staging"),
     ["Pulumi.staging.yaml with dev's artifacts: config error: llm-fleet:artifacts.rolloutImage: missing"]),
    ("not a git repository", _not_a_repo, ("dev", "staging"), ["is not in a git repository"]),
    ("layout the round trip would rewrite", _reformatted_staging, ("dev", "staging"),
     ["Pulumi.staging.yaml is laid out in a way ruamel.yaml would rewrite"]),
    ("same stack", lambda repo: None, ("dev", "dev"), ["source and target are the same stack (dev)"]),
    ("unknown stack", lambda repo: None, ("dev", "qa"), ["no file Pulumi.qa.yaml"]),
]


@pytest.mark.parametrize(("case", "setup", "stacks", "messages"), REFUSALS, ids=[c[0] for c in REFUSALS])
def test_each_refusal_exits_2_with_its_line_and_writes_nothing(stack_repo, promote_here, case, setup, stacks,
                                                               messages):
    setup(stack_repo)
    files = {p.name: p.read_bytes() for p in stack_repo.glob("Pulumi.*.yaml")}
    result = promote_here(stack_repo, *stacks)
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("promote refused: ") for line in lines), lines
    for message in messages:
        assert any(message in line for line in lines), (message, lines)
    assert {p.name: p.read_bytes() for p in stack_repo.glob("Pulumi.*.yaml")} == files


def test_a_dry_run_refuses_what_the_promotion_would(stack_repo):
    _dirty_staging(stack_repo)
    result = promote(stack_repo, "dev", "staging", "--dry-run")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("promote refused: Pulumi.staging.yaml has uncommitted changes (M); "
                             "commit or discard them first\n")
