"""Deploy contract, CI runners: a stack whose cluster API admits only named ranges is deployed and previewed from a
runner the repository declares (never a GitHub-hosted one), and the setup action's stack facts never come out empty."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from infra.config import parse_stack_config
from infra.guards.base import StackPlan
from infra.guards.ci_runners import ci_runner_reaches_cluster_api
from infra.guards.runs_on import runner_labels
from infra.planned import PlannedResource
from tests.conftest import EXAMPLES, ROOT, STACKS, run_cli, stack_config

NAME = "ci-runner-reaches-cluster-api"
SETUP = ROOT / ".github" / "actions" / "setup" / "action.yml"


def stack_plan(stack: str, edit=None) -> StackPlan:
    raw = stack_config(stack)
    if edit is not None:
        edit(raw)
    urn = f"urn:pulumi:{stack}::llm-fleet::pulumi:providers:kubernetes::k8s"
    return StackPlan(parse_stack_config(raw), {}, None,  # type: ignore[arg-type]  # the guard reads no cost
                     (PlannedResource(urn, "pulumi:providers:kubernetes", "k8s", "", True, False, {}),))


def github_copy(root, edit=None):
    shutil.copytree(ROOT / ".github", root / ".github")
    if edit is not None:
        edit(root)
    return root


def hosted_prod(root) -> None:
    """Today's workflows: prod deployed and previewed from ubuntu-latest."""
    for name in ("deploy.yml", "preview.yml"):
        path = root / ".github" / "workflows" / name
        doc = yaml.safe_load(path.read_text())
        for job_name, job in doc["jobs"].items():
            if job_name in ("prod", "preview"):
                job["runs-on"] = "ubuntu-latest"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.mark.parametrize("stack", STACKS + EXAMPLES)
def test_every_shipped_stack_is_deployed_from_a_runner_that_can_reach_its_cluster_api(plan_of, stack):
    (verdict,) = [v for v in plan_of(stack).verdicts if v.guard == NAME]
    assert verdict.status == "pass", verdict.message


def test_prod_is_deployed_and_previewed_on_the_declared_self_hosted_runner():
    verdict = ci_runner_reaches_cluster_api(stack_plan("prod"))
    assert verdict.status == "pass", verdict.message
    assert "2 CI job(s) run on runners the repository declares" in verdict.message
    assert verdict.message.count("['self-hosted', 'llm-fleet-prod']") == 2


def test_a_hosted_runner_for_a_restricted_cluster_api_fails_with_one_line_per_job(tmp_path):
    verdict = ci_runner_reaches_cluster_api(stack_plan("prod"), github_copy(tmp_path, hosted_prod))
    assert verdict.status == "fail"
    assert "\n" not in verdict.message
    deploy, preview = sorted(verdict.message.split("; .github"))
    assert deploy.startswith(".github/workflows/deploy.yml job 'prod' runs `pulumi up` for stack 'prod' on "
                             "'ubuntu-latest', a GitHub-hosted runner with no fixed address")
    assert "controlPlane.authorizedNetworks = [203.0.113.0/24, 198.51.100.16/28]" in deploy
    assert "self-hosted runner" in deploy and "PROD_RUNNER_LABELS" in deploy
    assert preview.startswith("/workflows/preview.yml job 'preview' runs `pulumi preview`")


def test_dev_restricted_to_named_ranges_must_leave_the_hosted_runner_too():
    def restrict(raw):
        raw["controlPlane"] = {"authorizedNetworks": ["203.0.113.0/24"]}

    assert ci_runner_reaches_cluster_api(stack_plan("dev")).status == "pass"  # open to any address: fine
    verdict = ci_runner_reaches_cluster_api(stack_plan("dev", restrict))
    assert verdict.status == "fail"
    assert "deploy.yml job 'dev'" in verdict.message and "preview.yml job 'preview'" in verdict.message
    # An API reachable only from inside the VPC ([]) rules out hosted runners just the same.
    assert ci_runner_reaches_cluster_api(stack_plan("dev", lambda raw: raw.update(
        controlPlane={"authorizedNetworks": []}))).status == "fail"


@pytest.mark.parametrize(("runs_on", "stack", "labels"), [
    ("ubuntu-latest", "prod", ("ubuntu-latest",)),
    (["self-hosted", "gpu"], "prod", ("self-hosted", "gpu")),
    ({"group": "deployers", "labels": ["linux"]}, "prod", ("linux",)),
    ("${{ fromJSON(vars.PROD_RUNNER_LABELS || '[\"self-hosted\", \"llm-fleet-prod\"]') }}", "prod",
     ("self-hosted", "llm-fleet-prod")),
    ("${{ fromJSON(matrix.stack == 'dev' && (vars.X || '\"ubuntu-latest\"') || '[\"self-hosted\"]') }}", "dev",
     ("ubuntu-latest",)),
    ("${{ fromJSON(matrix.stack == 'dev' && (vars.X || '\"ubuntu-latest\"') || '[\"self-hosted\"]') }}", "qa",
     ("self-hosted",)),
    ("${{ matrix.runner }}", "prod", None),  # chosen at run time: not readable offline
])
def test_runs_on_is_read_as_github_evaluates_it_with_the_variables_unset(runs_on, stack, labels):
    assert runner_labels(runs_on, stack) == labels


def test_the_shipped_preview_job_picks_the_tier_runner_per_stack():
    job = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())["jobs"]["preview"]
    assert runner_labels(job["runs-on"], "dev") == ("ubuntu-latest",)
    assert runner_labels(job["runs-on"], "staging") == ("ubuntu-latest",)
    assert runner_labels(job["runs-on"], "prod") == ("self-hosted", "llm-fleet-prod")
    assert runner_labels(job["runs-on"], "eks-prod") == ("self-hosted", "llm-fleet-prod")


# --- the setup action's stack facts ------------------------------------------------------------------------------

def test_facts_prints_the_cloud_and_registry():
    result = run_cli("facts", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["cloud=gke", "registry=us-central1-docker.pkg.dev/acme-llm-prod/llm-fleet"]


def test_facts_does_not_depend_on_the_guards(make_stack):
    # A prod budget far below the fleet's cost fails the budget guard: the plan exits 1, the facts still come out.
    root, name = make_stack("prod", lambda raw: raw["budget"].update(monthlyAmount=100))
    assert run_cli("plan", "--stack", name, "-C", str(root)).returncode == 1
    result = run_cli("facts", "--stack", name, "-C", str(root))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "cloud=gke"


def test_facts_of_an_invalid_stack_file_exit_2_with_one_line(make_stack):
    root, name = make_stack("prod", lambda raw: raw.update(tier="qa"))
    result = run_cli("facts", "--stack", name, "-C", str(root))
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("config error: llm-fleet:tier")


def facts_step_script() -> str:
    steps = yaml.safe_load(SETUP.read_text())["runs"]["steps"]
    (step,) = [s for s in steps if s.get("id") == "facts"]
    return step["run"]


def run_facts_step(project, stack: str, tmp_path) -> tuple[subprocess.CompletedProcess, str]:
    """The setup action's facts step as the runner runs it (bash -e, $GITHUB_OUTPUT), in `project`."""
    if not (project / ".venv").exists():
        (project / ".venv").symlink_to((ROOT / ".venv").resolve())
    output = tmp_path / "github_output"
    output.write_text("")
    env = {**os.environ, "STACK": stack, "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output),
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["bash", "-e", "-c", facts_step_script()], cwd=project, env=env, capture_output=True,
                            text=True, timeout=300)
    return result, output.read_text()


def test_the_facts_step_fails_loudly_on_an_invalid_stack_file_and_sets_no_cloud(make_stack, tmp_path):
    root, name = make_stack("prod", lambda raw: raw.update(tier="qa"))
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    result, output = run_facts_step(root, name, tmp_path)
    assert result.returncode != 0
    assert "llm-fleet:tier" in result.stderr
    assert "cloud=" not in output


def test_the_facts_step_sets_cloud_and_registry_for_a_valid_stack(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for path in ROOT.glob("Pulumi*.yaml"):
        shutil.copy(path, project / path.name)
    result, output = run_facts_step(project, "prod", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cloud=gke\n" in output and "registry=us-central1-docker.pkg.dev/acme-llm-prod/llm-fleet" in output
    assert "|| true" not in facts_step_script()
