"""Deploy contract, CI prerequisites: the CI jobs that run `pulumi preview`/`up` install what the kubeconfig execs."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import yaml

from infra.config import parse_stack_config
from infra.guards.base import StackPlan
from infra.guards.ci import ci_installs_kubeconfig_exec
from infra.platforms import kubeconfig_exec_plugins
from tests.conftest import EXAMPLES, ROOT, STACKS, stack_config

SETUP = ".github/actions/setup/action.yml"


def github_copy(tmp_path, edit=None):
    """A copy of the repository's .github folder (optionally edited): a repository root for the guard."""
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    if edit is not None:
        edit(tmp_path)
    return tmp_path


def replace_in(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def drop_setup_gcloud(root) -> None:
    action = root / SETUP
    doc = yaml.safe_load(action.read_text())
    doc["runs"]["steps"] = [s for s in doc["runs"]["steps"] if "setup-gcloud" not in s.get("uses", "")]
    action.write_text(yaml.safe_dump(doc, sort_keys=False))


def stack_plan(stack: str, edit=None, urn_stack: str | None = None) -> StackPlan:
    """The guard's input from config alone (it reads the config and the stack's name from a resource URN)."""
    raw = stack_config(stack)
    if edit is not None:
        edit(raw)
    from infra.planned import PlannedResource

    urn = f"urn:pulumi:{urn_stack or stack}::llm-fleet::pulumi:providers:kubernetes::k8s"
    return StackPlan(parse_stack_config(raw), {}, None,  # type: ignore[arg-type]  # the guard reads no cost
                     (PlannedResource(urn, "pulumi:providers:kubernetes", "k8s", "", True, False, {}),))


@pytest.mark.parametrize("stack", STACKS + EXAMPLES)
def test_the_shipped_workflows_install_what_every_shipped_stacks_kubeconfig_execs(plan_of, stack):
    (verdict,) = [v for v in plan_of(stack).verdicts if v.guard == "ci-installs-kubeconfig-exec"]
    assert verdict.status == "pass", verdict.message


def test_gke_stacks_are_checked_in_each_job_that_deploys_or_previews_them():
    verdict = ci_installs_kubeconfig_exec(stack_plan("prod"))
    # deploy.yml's prod job and preview.yml's matrix job; deploy.yml's dev and staging jobs deploy other stacks.
    assert verdict.status == "pass" and "all 2 CI job(s)" in verdict.message
    assert "gke-gcloud-auth-plugin" in verdict.message


def test_a_workflow_without_the_gke_plugin_fails_with_one_line_per_job(tmp_path):
    root = github_copy(tmp_path, drop_setup_gcloud)
    verdict = ci_installs_kubeconfig_exec(stack_plan("prod"), root)
    assert verdict.status == "fail"
    lines = verdict.message.split("; ")
    assert len(lines) == 2 and "\n" not in verdict.message
    deploy = next(line for line in lines if line.startswith(".github/workflows/deploy.yml"))
    assert "job 'prod'" in deploy and "`pulumi up`" in deploy and "never installs gke-gcloud-auth-plugin" in deploy
    assert "google-github-actions/setup-gcloud" in deploy and "install_components: gke-gcloud-auth-plugin" in deploy
    preview = next(line for line in lines if line.startswith(".github/workflows/preview.yml"))
    assert "job 'preview'" in preview and "`pulumi preview`" in preview


def test_the_plugin_installed_only_for_another_cloud_does_not_count(tmp_path):
    def for_eks_only(root):
        replace_in(root / SETUP, "steps.facts.outputs.cloud == 'gke'\n      uses: google-github-actions/setup-gcloud",
                   "steps.facts.outputs.cloud == 'eks'\n      uses: google-github-actions/setup-gcloud")

    verdict = ci_installs_kubeconfig_exec(stack_plan("dev"), github_copy(tmp_path, for_eks_only))
    assert verdict.status == "fail" and "job 'dev'" in verdict.message


def test_the_plugin_installed_after_the_pulumi_step_does_not_count(tmp_path):
    def install_late(root):
        drop_setup_gcloud(root)
        replace_in(root / ".github/workflows/deploy.yml", "          policyPacks: infra/policy\n\n  staging:",
                   "          policyPacks: infra/policy\n      - run: gcloud components install gke-gcloud-auth-plugin"
                   "\n\n  staging:")

    verdict = ci_installs_kubeconfig_exec(stack_plan("dev"), github_copy(tmp_path, install_late))
    assert verdict.status == "fail" and "deploy.yml job 'dev'" in verdict.message


def test_an_explicit_gcloud_components_install_line_counts(tmp_path):
    def install_by_hand(root):
        drop_setup_gcloud(root)
        deploy_dev = ("      - uses: pulumi/actions@8582a9e8cc630786854029b4e09281acd6794b58  # v6.6.1\n"
                      "        with:\n          command: up\n          stack-name: dev\n")
        for workflow, anchor in (("deploy.yml", deploy_dev), ("preview.yml", "      - id: preview\n")):
            replace_in(root / ".github/workflows" / workflow, anchor,
                       "      - run: gcloud components install gke-gcloud-auth-plugin --quiet\n" + anchor)

    verdict = ci_installs_kubeconfig_exec(stack_plan("dev"), github_copy(tmp_path, install_by_hand))
    assert verdict.status == "pass", verdict.message


def test_eks_needs_the_aws_cli_which_only_the_hosted_ubuntu_image_ships(tmp_path):
    # eks-prod's API admits named ranges only, so preview.yml runs it on the self-hosted prod runner: the setup
    # action installs the AWS CLI there.
    assert ci_installs_kubeconfig_exec(stack_plan("eks-prod"), github_copy(tmp_path)).status == "pass"

    def self_hosted_without_installer(root):
        action = root / SETUP
        doc = yaml.safe_load(action.read_text())
        doc["runs"]["steps"] = [s for s in doc["runs"]["steps"] if "aws/install" not in s.get("run", "")]
        action.write_text(yaml.safe_dump(doc, sort_keys=False))

    broken = github_copy(tmp_path / "broken", self_hosted_without_installer)
    verdict = ci_installs_kubeconfig_exec(stack_plan("eks-prod"), broken)
    assert verdict.status == "fail"
    assert verdict.message.startswith(".github/workflows/preview.yml job 'preview' runs `pulumi preview` but never "
                                      "installs aws, which the eks kubeconfig execs")
    assert "AWS CLI" in verdict.message


def test_the_binaries_checked_are_the_ones_the_kubeconfig_builders_use():
    from infra.platforms import eks, gke

    assert kubeconfig_exec_plugins(parse_stack_config(stack_config("prod"))) == (gke.KUBECONFIG_EXEC,)
    assert kubeconfig_exec_plugins(parse_stack_config(stack_config("eks-prod"))) == (eks.KUBECONFIG_EXEC,)
    assert gke.KUBECONFIG_EXEC.command == "gke-gcloud-auth-plugin" and eks.KUBECONFIG_EXEC.command == "aws"


def test_the_built_kubeconfigs_exec_exactly_those_binaries():
    from types import SimpleNamespace

    import pulumi

    from infra import sdk
    from infra.platforms import eks, gke
    from infra.platforms.eks.cluster import eks_kubeconfig
    from infra.platforms.gke.cluster import gke_kubeconfig

    def text(output) -> str:
        return sdk.run_sync(output.future())

    loop = asyncio.new_event_loop()  # Outputs resolve on the thread's loop; earlier tests may have left none
    asyncio.set_event_loop(loop)
    out = pulumi.Output.from_input
    gke_cluster = SimpleNamespace(name=out("c"), endpoint=out("203.0.113.1"),
                                  master_auth=SimpleNamespace(cluster_ca_certificate=out("Q0E=")))
    eks_cluster = SimpleNamespace(name=out("c"), endpoint=out("https://x"),
                                  certificate_authority=SimpleNamespace(data=out("Q0E=")))
    for built, plugin in ((gke_kubeconfig(gke_cluster), gke.KUBECONFIG_EXEC),
                          (eks_kubeconfig(eks_cluster, "us-east-1"), eks.KUBECONFIG_EXEC)):
        (user,) = yaml.safe_load(text(built))["users"]
        assert user["user"]["exec"]["command"] == plugin.command
    asyncio.set_event_loop(None)
    loop.close()


def test_an_existing_cluster_kubeconfig_is_checked_when_readable_and_noted_when_not(tmp_path):
    kubeconfig = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [
        {"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                        "command": "kubelogin", "args": ["get-token"]}}}]})

    def with_kubeconfig(raw):
        raw["existing"] = {**raw["existing"], "kubeconfig": kubeconfig}
        raw["existing"].pop("context")

    # preview.yml's matrix job previews any stack except an existing cluster's; a workflow that does runs it.
    def preview_existing_too(root):
        replace_in(root / ".github/workflows/preview.yml", "        if: steps.setup.outputs.cloud != 'existing'\n", "")

    root = github_copy(tmp_path, preview_existing_too)
    verdict = ci_installs_kubeconfig_exec(stack_plan("coreweave-prod", with_kubeconfig), root)
    assert verdict.status == "fail" and "never installs kubelogin" in verdict.message
    # As shipped (a context of the deployer's kubeconfig): nothing to read, and the plan says what CI needs.
    from infra.platforms import platform_notes

    cfg = parse_stack_config(stack_config("coreweave-prod"))
    assert kubeconfig_exec_plugins(cfg) is None
    assert ci_installs_kubeconfig_exec(stack_plan("coreweave-prod"), root).status == "pass"
    assert any("exec plugin" in n and "coreweave-llm-prod" in n for n in platform_notes(cfg))


def test_without_workflow_files_the_guard_warns_and_the_policy_pack_does_not_crash(tmp_path, monkeypatch):
    verdict = ci_installs_kubeconfig_exec(stack_plan("prod"), tmp_path)
    assert verdict.status == "warn" and ".github/workflows" in verdict.message
    assert "gke-gcloud-auth-plugin" in verdict.message

    from pulumi_policy import StackValidationArgs

    import infra.guards.ci as ci
    from infra.policy import guard_policy

    monkeypatch.setattr(ci, "ROOT", tmp_path)
    cfg = parse_stack_config(stack_config("staging"))
    policy = guard_policy(ci_installs_kubeconfig_exec, cfg)
    reported: list[str] = []
    policy.validate(StackValidationArgs([]), lambda message, urn=None: reported.append(message))
    # Staging's pack is advisory: the warning is reported, and nothing raised.
    assert len(reported) == 1 and reported[0].startswith("warning: no .github/workflows")
