"""`plan --compare REF`: the change in $/day at minimum and maximum against a stack file committed at a git ref."""

from __future__ import annotations

import json

import pytest

from tests.conftest import git, run_cli, stack_config


def compare(repo, stack: str = "prod", ref: str = "HEAD"):
    result = run_cli("plan", "--stack", stack, "--compare", ref, "--json", "-C", str(repo))
    assert "Traceback" not in result.stderr
    return result


def test_one_more_a100_node_costs_the_catalog_price_times_24_at_min_and_max(stack_repo):
    path = stack_repo / "Pulumi.prod.yaml"
    pool = next(p for p in stack_config("prod")["nodePools"] if p["name"] == "a100-serving")
    assert pool["capacity"] == "on-demand" and pool["gpu"] == "A100-40GB"
    before = f"      minNodes: {pool['minNodes']}\n      maxNodes: {pool['maxNodes']}\n"
    after = f"      minNodes: {pool['minNodes'] + 1}\n      maxNodes: {pool['maxNodes'] + 1}\n"
    assert path.read_text().count(before) == 1
    path.write_text(path.read_text().replace(before, after))

    result = compare(stack_repo)
    assert result.returncode == 0, result.stderr
    delta = json.loads(result.stdout)["costDelta"]
    assert pool["gpusPerNode"] == 1
    one_node = 88.08  # one a2-highgpu-1g (one A100-40GB) at the catalog's dated $3.67/h, for 24 h
    # The node's fee lines change too: its boot disk (200 GB at $0.10/GB-month, 730 h a month) and one more VM
    # behind Cloud NAT ($0.0014/h): 0.6575 + 0.0336 a day.
    disk, nat = 200 * 0.10 / 730 * 24, 0.0014 * 24
    both = pytest.approx(one_node + disk + nat, abs=0.01)
    assert delta["daily"] == {"min": both, "max": both}
    assert delta["pools"] == [{"pool": "a100-serving", "dailyMin": pytest.approx(one_node),
                               "dailyMax": pytest.approx(one_node)}]
    assert delta["fees"] == [
        {"label": "Cloud NAT", "dailyMin": pytest.approx(nat, abs=0.01), "dailyMax": pytest.approx(nat, abs=0.01)},
        {"label": "boot disks", "dailyMin": pytest.approx(disk, abs=0.01), "dailyMax": pytest.approx(disk, abs=0.01)}]
    assert delta["head"]["dailyMax"] - delta["base"]["dailyMax"] == pytest.approx(one_node + disk + nat, abs=0.01)
    # The alternatives price the workload (replicas), not this stack's nodes: one more node changes none of them.
    assert delta["alternatives"] == []

    text = run_cli("plan", "--stack", "prod", "--compare", "HEAD", "-C", str(stack_repo))
    assert "Cost change against HEAD" in text.stdout
    assert "+$88.08" in text.stdout


def test_one_more_replica_at_peak_shows_at_every_alternative(stack_repo):
    path = stack_repo / "Pulumi.prod.yaml"
    text = path.read_text()
    for before, after in (("      maxNodes: 12\n", "      maxNodes: 13\n"),
                          ("replicas: {min: 4, max: 12}", "replicas: {min: 4, max: 13}")):
        assert text.count(before) == 1
        text = text.replace(before, after)
    path.write_text(text)
    result = compare(stack_repo)
    assert result.returncode == 0, result.stderr
    alternatives = {a["name"]: a for a in json.loads(result.stdout)["costDelta"]["alternatives"]}
    # By hand: one more A100-40GB at peak; Modal bills it per GPU at prod's stated rate (currentRates.modal
    # A100-40GB $3.50/h, all-in): 3.50 x 24 = $84.00; CoreWeave's 2 nodes of 8 hold 13 too.
    assert alternatives["Modal"] == {"name": "Modal", "dailyMin": 0, "dailyMax": pytest.approx(3.50 * 24)}
    assert "CoreWeave" not in alternatives
    shown = run_cli("plan", "--stack", "prod", "--compare", "HEAD", "-C", str(stack_repo)).stdout
    modal = next(line for line in shown.splitlines() if "alternative Modal" in line)
    # 4 x 3.50 x 24 = $336.00 at min, unchanged; 60 peak hours a week x $3.50 / 7 = +$30.00 expected; +$84.00 at max.
    assert "$336.00" in modal and "+$30.00" in modal and "+$84.00" in modal and modal.count("(") == 2


def test_an_unchanged_stack_has_no_delta(stack_repo):
    delta = json.loads(compare(stack_repo, "staging").stdout)["costDelta"]
    assert delta["daily"] == {"min": 0, "max": 0} and delta["pools"] == []


def test_a_stack_new_since_the_ref_starts_from_zero(stack_repo):
    (stack_repo / "Pulumi.qa.yaml").write_text((stack_repo / "Pulumi.staging.yaml").read_text())
    doc = json.loads(compare(stack_repo, "qa").stdout)
    delta = doc["costDelta"]
    assert delta["newStack"] is True
    assert delta["daily"] == {"min": doc["cost"]["daily"]["min"], "max": doc["cost"]["daily"]["max"]}


def test_the_ref_is_read_from_git_not_from_the_working_tree(stack_repo):
    first = git(stack_repo, "rev-parse", "HEAD").strip()
    path = stack_repo / "Pulumi.staging.yaml"
    rollout = "      machineType: n2-standard-16\n      purpose: rollout\n      maxNodes: 2\n"
    path.write_text(path.read_text().replace(rollout, rollout.replace("maxNodes: 2", "maxNodes: 3")))
    git(stack_repo, "commit", "-qam", "one more rollout node at max")
    delta = json.loads(compare(stack_repo, "staging", first).stdout)["costDelta"]
    # One more spot n2-standard-16 at the top: (16 x $0.00773 + 64 GiB x $0.001036) x 24 h = $4.56 a day, plus its
    # boot disk (200 GB at $0.10/GB-month / 730 h x 24 h = $0.66) and one more VM behind Cloud NAT ($0.0014/h x 24 =
    # $0.03): $5.25 a day (in cents).
    assert delta["daily"] == {"min": 0, "max": 5.25}
    assert [p["pool"] for p in delta["pools"]] == ["rollout"]
    assert json.loads(compare(stack_repo, "staging", "HEAD").stdout)["costDelta"]["daily"] == {"min": 0, "max": 0}


@pytest.mark.parametrize(("ref", "message"), [("no-such-branch", "no such commit, branch or tag")])
def test_an_unknown_ref_is_one_line_and_exit_2(stack_repo, ref, message):
    result = compare(stack_repo, ref=ref)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_compare_outside_git_is_one_line_and_exit_2(tmp_path, stack_repo):
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "Pulumi.dev.yaml").write_text((stack_repo / "Pulumi.dev.yaml").read_text())
    result = compare(lone, "dev")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("is not in a git repository")
