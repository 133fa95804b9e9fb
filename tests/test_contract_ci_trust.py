"""CI trust guard (issue 17, Critical): `plan` and the policy pack fail a workflow that hands a tier's secrets or
cloud identity to code nobody but its author approved."""

from __future__ import annotations

import pytest

from infra.guards.ci_trust import ci_secrets_need_approval
from tests.conftest import STACKS
from tests.test_contract_ci_prerequisites import github_copy, replace_in, stack_plan

PREVIEW = ".github/workflows/preview.yml"
DEPLOY = ".github/workflows/deploy.yml"
SETUP = ".github/actions/setup/action.yml"


@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_workflows_pass_in_every_stack(plan_of, stack):
    (verdict,) = [v for v in plan_of(stack).verdicts if v.guard == "ci-secrets-need-approval"]
    assert verdict.status == "pass", verdict.message
    # deploy dev/staging/prod, image build, the gated preview, promote: 6 jobs hold a secret or a token.
    assert verdict.message.startswith("all 6 CI job(s) that hold a secret or a cloud token run in a GitHub environment")


def test_the_original_preview_job_fails_again(tmp_path):
    # The finding: preview.yml's `preview` job with the passphrase and no environment.
    gate = "    environment: preview-${{ matrix.stack }}\n"
    root = github_copy(tmp_path, lambda r: replace_in(r / PREVIEW, gate, ""))
    verdict = ci_secrets_need_approval(stack_plan("prod"), root)
    assert verdict.status == "fail"
    assert verdict.message == (
        ".github/workflows/preview.yml job 'preview': holds secrets ['PULUMI_CONFIG_PASSPHRASE'], an OIDC token with "
        "no `environment:`: nobody but the author approves the code it runs; name the tier's environment (required "
        "reviewers; main only where it deploys)")


def test_a_workflow_wide_passphrase_fails(tmp_path):
    def edit(root):
        replace_in(root / DEPLOY, "permissions:\n  contents: read\n",
                   "env:\n  PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}\npermissions:\n"
                   "  contents: read\n")
    verdict = ci_secrets_need_approval(stack_plan("dev"), github_copy(tmp_path, edit))
    assert verdict.status == "fail"
    assert verdict.message.startswith(".github/workflows/deploy.yml: the workflow-level env reads secrets "
                                      "['PULUMI_CONFIG_PASSPHRASE']: every job gets them, gated or not")


def test_a_hand_started_deploy_from_any_branch_fails(tmp_path):
    def edit(root):
        text = (root / DEPLOY).read_text()
        (root / DEPLOY).write_text(text.replace("    if: github.ref == 'refs/heads/main'\n    environment: prod\n",
                                                "    environment: prod\n"))
    verdict = ci_secrets_need_approval(stack_plan("prod"), github_copy(tmp_path, edit))
    assert verdict.status == "fail"
    assert verdict.message == (".github/workflows/deploy.yml job 'prod': holds secrets ['PULUMI_CONFIG_PASSPHRASE'], "
                               "an OIDC token and the workflow runs on workflow_dispatch, which takes any branch: add "
                               "`if: github.ref == 'refs/heads/main'`")


def test_an_action_pinned_by_tag_in_the_setup_action_fails_every_job_that_uses_it(tmp_path):
    def edit(root):
        replace_in(root / SETUP, "google-github-actions/auth@c200f3691d83b41bf9bbd8638997a462592937ed",
                   "google-github-actions/auth@v2")
    verdict = ci_secrets_need_approval(stack_plan("prod"), github_copy(tmp_path, edit))
    assert verdict.status == "fail"
    # The six holders all call the setup action: each is named once with the tag-pinned action.
    assert verdict.message.count("uses google-github-actions/auth@v2: pin each by its full commit SHA") == 6


def test_an_unhashed_install_in_a_job_holding_secrets_fails(tmp_path):
    verdict = ci_secrets_need_approval(
        stack_plan("prod"), github_copy(tmp_path, lambda r: replace_in(r / SETUP, "run: make deploy-venv",
                                                                      "run: make venv")))
    assert verdict.status == "fail"
    assert "installs without hashes (make venv): install with `make deploy-venv`" in verdict.message


def test_no_workflows_is_a_warning_not_a_pass(tmp_path):
    assert ci_secrets_need_approval(stack_plan("prod"), tmp_path).status == "warn"

