"""GitHub workflows: schema-valid offline, and the facts a user relies on (OIDC only, gated deploys, one comment)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, git, run_cli

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
FILES = sorted(WORKFLOWS.glob("*.yml"))


def validate(path, schema: str = "vendor.github-workflows") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True; the workflow schema and GitHub read it as "on".
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def test_the_five_workflows_exist():
    assert {p.name for p in FILES} == {"test.yml", "preview.yml", "deploy.yml", "image.yml", "promote.yml"}


@pytest.mark.parametrize("path", FILES + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_workflow_files_are_schema_valid(path):
    result = validate(path, "vendor.github-actions" if path.name == "action.yml" else "vendor.github-workflows")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_catches_a_misspelt_key(tmp_path):
    broken = tmp_path / "deploy.yml"
    broken.write_text((WORKFLOWS / "deploy.yml").read_text().replace("runs-on:", "runs_on:", 1))
    result = validate(broken)
    assert result.returncode == 1
    assert "runs_on" in result.stdout + result.stderr


def test_ci_runs_the_readme_test_command():
    (job,) = load("test.yml")["jobs"].values()
    assert [s["run"] for s in job["steps"] if "run" in s] == [".ci/run"]
    assert "exec make test" in (ROOT / ".ci" / "run").read_text()


def test_no_long_lived_cloud_keys_anywhere():
    for path in FILES + ACTIONS:
        text = path.read_text()
        for key in ("credentials_json", "aws-access-key-id", "aws-secret-access-key", "service_account_key"):
            assert key not in text, (path.name, key)
    setup = yaml.safe_load(ACTIONS[0].read_text())
    uses = {s["uses"].split("@")[0]: s.get("with", {}) for s in setup["runs"]["steps"] if "uses" in s}
    assert "workload_identity_provider" in uses["google-github-actions/auth"]
    assert "role-to-assume" in uses["aws-actions/configure-aws-credentials"]


def test_jobs_that_sign_in_to_a_cloud_ask_for_an_oidc_token_and_nothing_more_by_default():
    for path in FILES:
        doc = load(path.name)
        assert "permissions" in doc, path.name  # least privilege at the top of every workflow
        assert doc["permissions"].get("contents") == "read", path.name
        for name, job in doc["jobs"].items():
            signs_in = any(s.get("uses") == "./.github/actions/setup" and s.get("with", {}).get("credentials")
                           != "false" for s in job.get("steps", []))
            if signs_in:
                permissions = {**doc["permissions"], **job.get("permissions", {})}
                assert permissions.get("id-token") == "write", (path.name, name)


def test_deploys_run_dev_then_staging_then_prod_behind_environments():
    jobs = load("deploy.yml")["jobs"]
    assert list(jobs) == ["dev", "staging", "prod"]
    assert {name: job["environment"] for name, job in jobs.items()} == {"dev": "dev", "staging": "staging",
                                                                       "prod": "prod"}
    assert (jobs["staging"]["needs"], jobs["prod"]["needs"]) == ("dev", "staging")
    for name, job in jobs.items():
        (up,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
        assert up["with"]["command"] == "up" and up["with"]["stack-name"] == name
        assert up["with"]["policyPacks"] == "infra/policy"
    assert load("deploy.yml")["concurrency"]["cancel-in-progress"] is False


def test_preview_runs_plan_compare_and_pulumi_preview_and_posts_one_comment():
    doc = load("preview.yml")
    steps = doc["jobs"]["preview"]["steps"]
    runs = "\n".join(s.get("run", "") for s in doc["jobs"]["plan"]["steps"])
    assert "python -m infra plan --stack \"$STACK\" --compare \"$BASE\" --json" in runs
    (preview,) = [s for s in steps if s.get("uses", "").startswith("pulumi/actions@")]
    assert preview["with"]["command"] == "preview" and preview["with"]["comment-on-pr"] is False
    assert preview["with"]["policyPacks"] == "infra/policy"
    assert "gh api -X PATCH" in "\n".join(s.get("run", "") for s in doc["jobs"]["comment"]["steps"])


def test_every_action_is_pinned_by_commit_sha_with_its_tag_in_a_comment():
    # Issue 17 (Medium): actions pinned by tag in jobs holding OIDC or write tokens; a tag can be moved after review.
    # The SHAs are the tags' commits in the publishers' repositories (git rev-parse <tag>^{commit}, 2026-11-30).
    for path in FILES + ACTIONS:
        for line in re.findall(r"uses:[^\n]*", path.read_text()):
            ref = line.split()[1]
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+# v\d+(\.\d+)*", line), (path.name, line)
    checkout = re.findall(r"uses:\s*actions/checkout@(\S+)", (WORKFLOWS / "deploy.yml").read_text())
    assert set(checkout) == {"11d5960a326750d5838078e36cf38b85af677262"}  # actions/checkout v4.4.0 (== v4)


# CI trust (issue 17, Critical): a pull request's code never gets a tier's secrets or identity unapproved.

def _jobs():
    for path in FILES:
        doc = load(path.name)
        for name, job in doc["jobs"].items():
            yield path.name, doc, name, job


def _holds(doc: dict, job: dict) -> bool:
    text = yaml.safe_dump({k: v for k, v in job.items() if k != "if"})
    secret = bool(set(re.findall(r"secrets\.(\w+)", text)) - {"GITHUB_TOKEN"})
    return secret or {**doc["permissions"], **job.get("permissions", {})}.get("id-token") == "write"


def test_the_passphrase_is_read_only_by_jobs_that_name_an_environment():
    readers = []
    for name, doc, job_name, job in _jobs():
        assert "secrets." not in yaml.safe_dump(doc.get("env", {})), name  # never workflow-wide
        if "secrets.PULUMI_CONFIG_PASSPHRASE" in yaml.safe_dump(job):
            readers.append((name, job_name, job.get("environment")))
    # Before: preview.yml's job `preview` read it with no environment, deploy.yml handed it to every job.
    assert readers == [("deploy.yml", "dev", "dev"), ("deploy.yml", "staging", "staging"),
                       ("deploy.yml", "prod", "prod"),
                       ("preview.yml", "preview", "preview-${{ matrix.stack }}")]


def test_every_job_holding_a_secret_or_an_oidc_token_names_an_environment():
    holders = {(name, job_name): job.get("environment") for name, doc, job_name, job in _jobs() if _holds(doc, job)}
    assert holders == {
        ("deploy.yml", "dev"): "dev", ("deploy.yml", "staging"): "staging", ("deploy.yml", "prod"): "prod",
        ("image.yml", "build"): "dev",
        ("preview.yml", "preview"): "preview-${{ matrix.stack }}",
        ("promote.yml", "promote"):
            "${{ inputs.promotion == 'staging -> prod' && 'promote-prod' || 'promote-staging' }}",
    }


def test_the_offline_plan_of_a_pull_request_runs_unapproved_and_holds_nothing():
    doc = load("preview.yml")
    plan = doc["jobs"]["plan"]
    assert "environment" not in plan and not _holds(doc, plan)
    assert plan["permissions"] == {"contents": "read"}
    (setup,) = [s for s in plan["steps"] if s.get("uses") == "./.github/actions/setup"]
    assert setup["with"]["credentials"] == "false"
    # Reviewers see the plan and its cost before they approve the preview: a comment that waits for nothing else.
    assert doc["jobs"]["plan-comment"]["needs"] == ["stacks", "plan"]
    assert doc["jobs"]["comment"]["needs"] == ["stacks", "plan", "preview"]


def test_a_hand_started_run_deploys_only_from_main():
    for name, doc, job_name, job in _jobs():
        if "workflow_dispatch" in doc["on"] and _holds(doc, job):
            assert job["if"] == "github.ref == 'refs/heads/main'", (name, job_name)


def test_jobs_holding_secrets_install_only_from_the_hashed_lock():
    setup = yaml.safe_load(ACTIONS[0].read_text())
    runs = [s["run"] for s in setup["runs"]["steps"] if "run" in s]
    assert "make deploy-venv" in runs  # before: `make venv`, ranges from requirements*.txt, no hashes
    assert not [r for r in runs if re.search(r"pip3? install", r) or re.search(r"make (venv|test|plan)\b", r)]
    for name, doc, job_name, job in _jobs():
        if _holds(doc, job):
            for step in job["steps"]:
                assert "pip install" not in step.get("run", ""), (name, job_name)
    recipe = (ROOT / "Makefile").read_text().split("$(VENV)/.deploy-installed: requirements-deploy.lock\n")[1]
    assert "$(PIP) install -q --require-hashes -r requirements-deploy.lock" in recipe.split("\n\n")[0]


# The preview comment's helper.

def pr_module():
    spec = importlib.util.spec_from_file_location("pr", ROOT / ".github" / "scripts" / "pr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stacks_touched_by_a_change():
    pr = pr_module()
    stacks = ["dev", "prod", "staging"]
    assert pr.touched_stacks(["Pulumi.staging.yaml", "README.md"], stacks) == ["staging"]
    assert pr.touched_stacks(["infra/guards/images.py"], stacks) == stacks
    assert pr.touched_stacks(["requirements.txt"], stacks) == stacks
    assert pr.touched_stacks(["README.md", "serving/health.py"], stacks) == []
    assert pr.touched_stacks(["Pulumi.qa.yaml"], stacks) == []  # deleted stack files are not previewed


def test_the_comment_shows_guards_cost_delta_and_changes(stack_repo, tmp_path):
    path = stack_repo / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("      minNodes: 4\n      maxNodes: 12\n",
                                             "      minNodes: 5\n      maxNodes: 13\n"))
    plan = run_cli("plan", "--stack", "prod", "--compare", "HEAD", "--json", "-C", str(stack_repo))
    folder = tmp_path / "previews" / "preview-prod"
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(plan.stdout)
    (folder / "plan.exit").write_text(f"{plan.returncode}\n")
    (folder / "preview.txt").write_text("Resources:\n    ~ 1 to update\n    + 2 to create\n    60 unchanged\n")
    broken = tmp_path / "previews" / "preview-qa"
    broken.mkdir()
    (broken / "plan.exit").write_text("2\n")
    (broken / "plan.err").write_text("config error: llm-fleet:tier = 'qa': allowed: 'dev', 'staging' or 'prod'\n")

    comment = subprocess.run([sys.executable, str(ROOT / ".github" / "scripts" / "pr.py"), "comment",
                              str(tmp_path / "previews"), "main"], capture_output=True, text=True, check=True).stdout
    assert comment.startswith("<!-- llm-fleet-preview -->\n")
    # One more a2-highgpu-1g node at min and at max, per day: 24 h x ($3.67 on demand + $0.0014 Cloud NAT per
    # node: prod has 20 nodes at peak, under NAT's 32-VM cap; + 200 GB boot disk x $0.10/GB-month / 730 h
    # = $0.0274) = 24 x $3.6988 = $88.77.
    prod_row = next(line for line in comment.splitlines() if line.startswith("| prod |"))
    assert prod_row.count("(+$88.77)") == 2, prod_row
    # The shipped prod file's control-plane ranges are documentation placeholders: the comment warns of them.
    assert "1 to update, 2 to create" in prod_row and "⚠️ no-example-network-ranges" in prod_row
    assert "❌ `config error: llm-fleet:tier = 'qa'" in comment


def test_the_stacks_command_reads_git(stack_repo):
    git(stack_repo, "branch", "base")
    (stack_repo / "Pulumi.dev.yaml").write_text((stack_repo / "Pulumi.dev.yaml").read_text() + "# edit\n")
    git(stack_repo, "commit", "-qam", "touch dev")
    result = subprocess.run([sys.executable, str(ROOT / ".github" / "scripts" / "pr.py"), "stacks", "base"],
                            cwd=stack_repo, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == ["dev"]
