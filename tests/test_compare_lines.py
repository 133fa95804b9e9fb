"""`plan --compare REF` and the PR comment show the delta of every figure of the cost model, line by line: pools
(min/expected/max), commitments, fees, totals in $/day and $/month, cost per token, and the alternatives.

Each test builds a real two-commit git repository: the shipped stack file, then the reviewed change on top of it,
compared against HEAD~1 (the base branch of a pull request)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, git, prod_on_one_pool, run_cli


def two_commits(tmp_path: Path, source: Path, edits: list[tuple[str, str]]) -> Path:
    """A repository whose first commit holds `source` as shipped and whose second applies `edits` to it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    target = repo / source.name
    shutil.copyfile(source, target)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "as shipped")
    if not edits:
        return repo
    text = target.read_text()
    for before, after in edits:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    target.write_text(text)
    git(repo, "commit", "-qam", "the reviewed change")
    return repo


def delta_lines(repo: Path, stack: str) -> tuple[dict, dict[tuple[str, str], dict]]:
    result = run_cli("plan", "--stack", stack, "--compare", "HEAD~1", "--json", "-C", str(repo))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    doc = json.loads(result.stdout)
    return doc, {(line["line"], line["unit"]): line for line in doc["costDelta"]["lines"]}


# prod on one on-demand A100 pool (tests/conftest.py prod_on_one_pool): one more warm A100 node and one more replica
# at peak (minNodes 4 -> 5, maxNodes and replicas.max 12 -> 13).
PROD_EDITS = [("    minNodes: 4\n    maxNodes: 12\n", "    minNodes: 5\n    maxNodes: 13\n"),
              ("      min: 4\n      max: 12\n", "      min: 4\n      max: 13\n")]


@pytest.fixture
def prod_repo(tmp_path):
    source = tmp_path / "source" / "Pulumi.prod.yaml"
    source.parent.mkdir()
    doc = {"config": {f"llm-fleet:{k}": v for k, v in prod_on_one_pool().items()}}
    source.write_text(yaml.safe_dump(doc, sort_keys=False))
    return two_commits(tmp_path, source, PROD_EDITS)


def test_every_changed_line_of_the_cost_model_is_in_the_delta(prod_repo):
    doc, lines = delta_lines(prod_repo, "prod")
    node_day = 88.08  # one a2-highgpu-1g (A100-40GB) at the catalog's $3.67/h x 24 h
    pool = lines[("pool a100-serving", "$/day")]
    # min 4 -> 5 nodes, max 12 -> 13: one node more at both ends. Expected: off-peak the pool now holds its new
    # floor of 5 nodes (4 warm replicas), at peak 13 replicas: one node more at every hour of the week.
    assert pool["base"] == {"min": 4 * node_day, "expected": pytest.approx(603.98, abs=0.01), "max": 12 * node_day}
    assert pool["head"] == {"min": pytest.approx(5 * node_day), "expected": pytest.approx(603.98 + node_day, abs=0.01),
                            "max": pytest.approx(13 * node_day)}
    # Per node-hour $3.67 + $0.0014 Cloud NAT + 200 GB boot disk x $0.10/GB-month / 730 h = $3.698797:
    # x 24 = $88.77 a day, x 730 = $2,700.12 a month, at the minimum and at the maximum.
    day, month = lines[("total", "$/day")], lines[("total", "$/month")]
    assert day["head"]["min"] - day["base"]["min"] == pytest.approx(88.77, abs=0.01)
    assert day["head"]["max"] - day["base"]["max"] == pytest.approx(88.77, abs=0.01)
    assert month["head"]["min"] - month["base"]["min"] == pytest.approx(2700.12, abs=0.02)
    assert month["head"]["max"] - month["base"]["max"] == pytest.approx(2700.12, abs=0.02)
    assert month["head"]["expected"] == pytest.approx(doc["cost"]["expected"]["monthly"])
    # Cost per token: the pool's week now $692.06 x 7 = $4,844.42 buys (13 replicas x 60 peak h + 4 x 108 off-peak h)
    # = 1,212 replica-hours x 3,600 s x 495 tok/s = 2,159,784,000 tokens: $2.2430 per 1M (was $2.0595), and
    # x 128 tokens per inference = $0.000287 (was $0.000264).
    per_million = lines[("cost per token qwen-7b", "$/1M output tokens")]
    assert per_million["head"]["expected"] == pytest.approx(2.2430, abs=1e-4)
    assert per_million["base"]["expected"] == pytest.approx(2.0595, abs=1e-4)
    assert lines[("cost per inference qwen-7b", "$/inference")]["head"]["expected"] == pytest.approx(0.000287)
    # Modal bills GPUs used at prod's stated rate (currentRates, $3.50/h all-in): one more A100-40GB at peak,
    # x 24 = +$84.00 at max; 60 peak hours a week x $3.50 / 7 = +$30.00 expected; nothing at min.
    modal = lines[("alternative Modal", "$/day")]
    assert modal["head"]["max"] - modal["base"]["max"] == pytest.approx(84.00)
    assert modal["head"]["expected"] - modal["base"]["expected"] == pytest.approx(30.00)
    assert modal["head"]["min"] == modal["base"]["min"]
    # Lines that did not change are not shown: the H100 pool, the rollout pool, the control plane fee; nor CoreWeave,
    # whose 2 nodes of 8 A100s hold 13 replicas as they held 12.
    assert not any(name.startswith(("pool h100", "pool rollout", "fee GKE", "alternative CoreWeave"))
                   for name, _ in lines)


def test_a_commitment_change_shows_as_its_own_line(tmp_path):
    repo = two_commits(tmp_path, ROOT / "examples" / "Pulumi.coreweave-prod.yaml",
                       [("discount: 0.6}", "discount: 0.5}")])
    _, lines = delta_lines(repo, "coreweave-prod")
    # One reserved 8-GPU node at the stack's A100-40GB rate of $2.06/GPU-h: $16.48/node-h. 60 % off: $6.592/h,
    # $158.21/day; 50 % off: $8.24/h, $197.76/day. The change, +$39.55/day, is paid at every load.
    commitment = lines[("commitment a100-serving", "$/day")]
    assert commitment["base"] == {"min": 158.21, "expected": 158.21, "max": 158.21}
    assert commitment["head"] == {"min": 197.76, "expected": 197.76, "max": 197.76}
    pool = lines[("pool a100-serving", "$/day")]
    assert pool["head"]["max"] - pool["base"]["max"] == pytest.approx(39.55, abs=0.01)
    # x 730 / 24: +$1,203.04 a month.
    month = lines[("total", "$/month")]
    assert month["head"]["expected"] - month["base"]["expected"] == pytest.approx(1203.04, abs=0.02)


def test_the_terminal_report_shows_the_line_table(prod_repo):
    text = run_cli("plan", "--stack", "prod", "--compare", "HEAD~1", "-C", str(prod_repo)).stdout
    assert "Cost change against HEAD~1" in text
    row = next(line for line in text.splitlines() if "pool a100-serving" in line and "+$88.08" in line)
    assert row.count("(+$88.08)") == 3  # min, expected and max each one node more
    assert "$0.000287 (+$0.000023)" in text  # cost per inference


def test_the_pr_comment_shows_a_markdown_table_of_changed_lines_and_totals(prod_repo, tmp_path):
    plan = run_cli("plan", "--stack", "prod", "--compare", "HEAD~1", "--json", "-C", str(prod_repo))
    folder = tmp_path / "previews" / "preview-prod"
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(plan.stdout)
    (folder / "plan.exit").write_text(f"{plan.returncode}\n")
    comment = subprocess.run([sys.executable, str(ROOT / ".github" / "scripts" / "pr.py"), "comment",
                              str(tmp_path / "previews"), "main"], capture_output=True, text=True, check=True).stdout
    rows = comment.splitlines()
    assert "| line | unit | min | expected | max |" in rows
    # By hand (test above): one A100 node ($88.08/day) more at every load; the pool now $440.40 / $692.06 / $1,145.04.
    assert "| pool a100-serving | $/day | $440.40 (+$88.08) | $692.06 (+$88.08) | $1,145.04 (+$88.08) |" in rows
    # One more VM behind Cloud NAT at $0.0014/h: $0.0336 a day, shown as the change of the rounded figures.
    assert "| fee Cloud NAT | $/day | $0.36 (+$0.04) | - | $0.83 (+$0.04) |" in rows
    # $2,700.12 a month at min and max; the expected column adds what the extra replica's tokens send to Together at
    # prod's 5 % overflow share ($0.23 a day more: serving.gateway.expectedOverflowShare), so +$2,707.09.
    assert "| gateway qwen-7b on provider-together | $/day | - | $4.63 (+$0.23) | - |" in rows
    assert any(r.startswith("| **total** | $/month | $14,841.47 (+$2,700.12) | $22,696.88 (+$2,707.09) |")
               and r.count("(+$2,700.1") == 2
               for r in rows), comment
    assert "| cost per inference qwen-7b | $/inference | - | $0.000287 (+$0.000023) | - |" in rows
    # Unchanged alternatives figures are shown without a change; unchanged lines not at all.
    # Modal at prod's $3.50: +$30.00 expected (60 peak hours x $3.50 / 7), +$84.00 at max, the minimum unchanged.
    assert "| alternative Modal | $/day | $336.00 | $606.00 (+$30.00) | $1,242.65 (+$84.00) |" in rows
    assert not any(r.startswith("| pool rollout") for r in rows)


def test_a_new_stack_starts_every_total_from_zero(tmp_path):
    repo = two_commits(tmp_path, ROOT / "Pulumi.staging.yaml", [])
    shutil.copyfile(repo / "Pulumi.staging.yaml", repo / "Pulumi.qa.yaml")
    git(repo, "add", "Pulumi.qa.yaml")
    git(repo, "commit", "-qm", "a new stack")
    doc, lines = delta_lines(repo, "qa")
    day = lines[("total", "$/day")]
    assert day["base"]["min"] == 0 and day["head"]["min"] == doc["cost"]["daily"]["min"]
    # Every pool is new: no figure at the ref.
    assert all(line["base"] is None for (name, _), line in lines.items() if name.startswith("pool "))
