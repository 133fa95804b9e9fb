"""`plan --out` writes one plan per folder: into a new or empty folder, or over exactly the files an earlier
`--out` wrote; a folder with anything else is refused before anything is planned."""

from __future__ import annotations

import time

from infra.manifests import MARKER
from tests.conftest import ROOT, run_cli


def test_a_second_run_replaces_exactly_the_files_of_the_first(tmp_path):
    out = tmp_path / "m"
    first = run_cli("plan", "--stack", "dev", "--out", str(out))
    assert first.returncode == 0, first.stderr
    written = sorted(p.name for p in out.glob("*.yaml"))
    stale = out / "deployment-llm-serving-vllm-removed-model.yaml"  # as if a model had since been removed
    stale.write_text("kind: Deployment\n")
    (out / MARKER).write_text((out / MARKER).read_text() + stale.name + "\n")

    second = run_cli("plan", "--stack", "dev", "--out", str(out))
    assert second.returncode == 0, second.stderr
    # The first run wrote len(written) files; the stale one was listed too, so len(written) + 1 were removed.
    assert f"(removed the {len(written) + 1} files of an earlier run first)" in second.stderr
    assert sorted(p.name for p in out.glob("*.yaml")) == written and not stale.exists()


def test_a_folder_with_other_files_is_refused_in_one_line_before_planning(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    started = time.monotonic()
    result = run_cli("plan", "--stack", "prod", "--out", str(out))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "the folder holds 1 file(s) an earlier `plan --out` did not write (notes.txt)" in line
    assert "give a new or empty folder" in line
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    assert result.stdout == ""  # refused before the plan ran: nothing printed
    assert time.monotonic() - started < 60


def test_a_marker_cannot_make_the_plan_delete_outside_its_folder(tmp_path):
    out, outside = tmp_path / "m", tmp_path / "keep.yaml"
    out.mkdir()
    outside.write_text("mine")
    (out / MARKER).write_text("../keep.yaml\n")
    assert run_cli("plan", "--stack", "dev", "--out", str(out)).returncode == 0
    assert outside.read_text() == "mine"


def test_a_wrong_folder_or_a_misspelt_stack_says_how_to_get_it_right(tmp_path):
    elsewhere = run_cli("plan", "--stack", "prod", cwd=tmp_path)
    assert elsewhere.returncode == 2
    assert f"no Pulumi.prod.yaml in {tmp_path.resolve()} (no stack files at all); run from the project folder, or " \
        "give it with -C" in elsewhere.stderr
    misspelt = run_cli("plan", "--stack", "prdo", "-C", str(ROOT), cwd=tmp_path)
    assert misspelt.returncode == 2
    assert "stacks here: dev, prod, staging; did you mean --stack prod?" in misspelt.stderr
