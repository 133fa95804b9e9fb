"""CI prerequisites: every binary the kubeconfig execs is installed in the CI jobs that run `pulumi preview`/`up`.

The kubeconfig side comes from the platform code (`kubeconfig_exec_plugins`: the same constants the
kubeconfig builders use); the CI side is read from the workflow files under `.github/` of the repository
this module lives in (the policy pack imports it from there too). Per job that runs `pulumi preview` or
`pulumi up` for this stack (pulumi/actions with `command: preview|up`, or a `run:` line), the steps before
it are walked in order, the local composite actions they use expanded, and each one's contribution read:

- the runner image: what GitHub documents its hosted images ship (`RUNNER_IMAGE_BINARIES`);
- google-github-actions/setup-gcloud: `gcloud` plus every component of its `install_components` input;
- a `run:` line with `gcloud components install <names>`.

A step or job whose `if:` compares a `...outputs.cloud` value to another cloud than the stack's does not
count (nor does a pulumi step that would not run for this cloud); any other condition is assumed true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.guards.base import StackPlan, Verdict
from infra.guards.runs_on import runner_labels
from infra.platforms import kubeconfig_exec_plugins
from infra.seam import ExecPlugin

NAME = "ci-installs-kubeconfig-exec"
ROOT = Path(__file__).resolve().parent.parent.parent  # the repository: .github/ sits next to infra/
WORKFLOWS = Path(".github") / "workflows"
# What GitHub's hosted runner images ship, as far as a kubeconfig exec goes. ubuntu-latest is ubuntu-24.04
# (actions/runner-images README.md, "Available Images"); its image lists "AWS CLI" and "Google Cloud CLI"
# under CLI Tools and "Kubectl" under Tools (actions/runner-images images/ubuntu/Ubuntu2404-Readme.md).
# Its gcloud is a system install without gke-gcloud-auth-plugin; setup-gcloud's README: components cannot be
# added to it ("the system installation is locked").
RUNNER_IMAGE_BINARIES: dict[str, frozenset[str]] = {
    label: frozenset({"aws", "gcloud", "kubectl"}) for label in ("ubuntu-latest", "ubuntu-24.04")
}
SETUP_GCLOUD = "google-github-actions/setup-gcloud"
PULUMI_ACTION = "pulumi/actions"
_PULUMI_RUN = re.compile(r"\bpulumi\s+(preview|up)\b")
# AWS's installer for the AWS CLI v2 (docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html).
_AWS_CLI_INSTALL = re.compile(r"aws/install\b")
_GCLOUD_COMPONENTS = re.compile(r"\bgcloud\s+components\s+install\s+([^\n;&|]+)")
_CLOUD_TEST = re.compile(r"(?:steps\.[\w-]+\.outputs|needs\.[\w-]+\.outputs|inputs|env)\.cloud\s*(==|!=)\s*'([\w-]+)'")


@dataclass(frozen=True)
class Gap:
    """A CI job that runs `pulumi <command>` for the stack without a binary the kubeconfig execs."""

    workflow: str  # path relative to the repository
    job: str
    command: str  # preview | up
    missing: ExecPlugin

    def line(self, cloud: str) -> str:
        return (f"{self.workflow} job {self.job!r} runs `pulumi {self.command}` but never installs "
                f"{self.missing.command}, which the {cloud} kubeconfig execs: {self.missing.ci_install}")


def _may_run(condition: Any, cloud: str) -> bool:
    """False only when the condition plainly requires another cloud (`...outputs.cloud == 'eks'` on GKE)."""
    if not isinstance(condition, str):
        return True
    text = condition.strip().removeprefix("${{").removesuffix("}}")
    if "||" in text:
        return True  # an alternative: assume it may run
    for term in text.split("&&"):
        for op, value in _CLOUD_TEST.findall(term):
            if (op == "==") != (value == cloud):
                return False
    return True


def _literal(value: Any) -> str | None:
    """A plain string input (None for an expression, which may take any value)."""
    return value if isinstance(value, str) and "${{" not in value else None


def _installs(step: dict[str, Any]) -> set[str]:
    uses = str(step.get("uses", ""))
    found: set[str] = set()
    if uses.split("@")[0] == SETUP_GCLOUD:
        found.add("gcloud")
        inputs = step.get("with") or {}
        if str(inputs.get("skip_install", "false")).lower() != "true":  # a system gcloud takes no components
            found |= {c.strip() for c in str(inputs.get("install_components", "")).split(",") if c.strip()}
    for names in _GCLOUD_COMPONENTS.findall(str(step.get("run", ""))):
        found |= {n for n in names.split() if not n.startswith("-")}
    if _AWS_CLI_INSTALL.search(str(step.get("run", ""))):
        found.add("aws")
    return found


def _pulumi_command(step: dict[str, Any]) -> tuple[str, str | None] | None:
    """(`preview`|`up`, the literal stack name or None) when this step runs one, else None."""
    uses = str(step.get("uses", ""))
    inputs = step.get("with") or {}
    if uses.split("@")[0] == PULUMI_ACTION and inputs.get("command") in ("preview", "up"):
        return inputs["command"], _literal(inputs.get("stack-name"))
    match = _PULUMI_RUN.search(str(step.get("run", "")))
    return (match.group(1), None) if match else None


@dataclass(frozen=True)
class DeployJob:
    """A CI job that runs `pulumi preview`/`up` for the stack, and the `runs-on` it declares (as written)."""

    workflow: str
    job: str
    commands: tuple[str, ...]  # preview | up, in step order
    runs_on: Any


class _Walk:
    def __init__(self, root: Path, stack: str | None, cloud: str, plugins: tuple[ExecPlugin, ...]) -> None:
        self.root, self.stack, self.cloud, self.plugins = root, stack, cloud, plugins
        self.gaps: list[Gap] = []
        self.checked = 0  # jobs that run preview/up for this stack
        self.jobs: list[DeployJob] = []
        self._commands: list[str] = []  # what the job being walked runs

    def steps(self, steps: list[Any], installed: set[str], workflow: str, job: str, depth: int = 0) -> bool:
        """Walk steps in order, adding what each installs; record gaps at pulumi steps. True if any ran one."""
        ran = False
        for step in steps:
            if not isinstance(step, dict) or not _may_run(step.get("if"), self.cloud):
                continue
            uses = str(step.get("uses", ""))
            if uses.startswith("./") and depth < 5:
                action = _load(self.root / uses / "action.yml") or _load(self.root / uses / "action.yaml")
                inner = ((action or {}).get("runs") or {}).get("steps") or []
                ran |= self.steps(inner, installed, workflow, job, depth + 1)
                continue
            installed |= _installs(step)
            command = _pulumi_command(step)
            if command is None:
                continue
            verb, stack = command
            if stack is not None and self.stack is not None and stack != self.stack:
                continue  # this step deploys another stack
            ran = True
            self._commands.append(verb)
            self.gaps += [Gap(workflow, job, verb, p) for p in self.plugins if p.command not in installed]
        return ran

    def workflow(self, path: Path) -> None:
        doc = _load(path) or {}
        rel = str(path.relative_to(self.root))
        for job_name, job in (doc.get("jobs") or {}).items():
            if not isinstance(job, dict) or not _may_run(job.get("if"), self.cloud):
                continue
            runner = job.get("runs-on")
            labels = runner_labels(runner, self.stack) or ()
            installed = set().union(*(RUNNER_IMAGE_BINARIES.get(label, frozenset()) for label in labels))
            self._commands = []
            if self.steps(job.get("steps") or [], installed, rel, str(job_name)):
                self.checked += 1
                self.jobs.append(DeployJob(rel, str(job_name), tuple(self._commands), runner))


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text())
    return doc if isinstance(doc, dict) else None


def _walk(root: Path, stack: str | None, cloud: str, plugins: tuple[ExecPlugin, ...]) -> _Walk:
    walk = _Walk(root, stack, cloud, plugins)
    for path in sorted((root / WORKFLOWS).glob("*.y*ml")):
        walk.workflow(path)
    return walk


def workflow_gaps(root: Path, stack: str | None, cloud: str,
                  plugins: tuple[ExecPlugin, ...]) -> tuple[list[Gap], int]:
    """Every (job, missing binary) among the workflows under `root`, and how many jobs run preview/up."""
    walk = _walk(root, stack, cloud, plugins)
    return walk.gaps, walk.checked


def deploy_jobs(root: Path, stack: str | None, cloud: str) -> list[DeployJob]:
    """The jobs among the workflows under `root` that run `pulumi preview`/`up` for this stack."""
    return _walk(root, stack, cloud, ()).jobs


def stack_name(plan: StackPlan) -> str | None:
    """The stack's name, from any resource URN (urn:pulumi:<stack>::<project>::...)."""
    for r in plan.resources:
        if r.urn.startswith("urn:pulumi:"):
            return r.urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    return None


def ci_installs_kubeconfig_exec(plan: StackPlan, root: Path | None = None) -> Verdict:
    """Every binary the kubeconfig execs is installed in the CI jobs that run `pulumi preview`/`up`."""
    root = ROOT if root is None else root
    cloud = plan.cfg.cloud
    plugins = kubeconfig_exec_plugins(plan.cfg)
    if plugins is None:
        return Verdict(NAME, "pass", f"the {cloud} kubeconfig is the deployer's own: what it execs is not known "
                                     "here (see the plan note); nothing to check")
    if not plugins:
        return Verdict(NAME, "pass", f"the {cloud} kubeconfig execs no binary")
    if not (root / WORKFLOWS).is_dir():
        return Verdict(NAME, "warn", f"no {WORKFLOWS} under {root}: cannot check that CI installs "
                                     f"{', '.join(p.command for p in plugins)} (the {cloud} kubeconfig execs it); "
                                     "run the plan from the repository that holds the workflows")
    gaps, checked = workflow_gaps(root, stack_name(plan), cloud, plugins)
    if gaps:
        return Verdict(NAME, "fail", "; ".join(g.line(cloud) for g in gaps))
    names = ", ".join(p.command for p in plugins)
    if not checked:
        return Verdict(NAME, "pass", f"no workflow runs `pulumi preview`/`up` for this stack; where one does, it "
                                     f"must install {names}")
    return Verdict(NAME, "pass", f"all {checked} CI job(s) that run `pulumi preview`/`up` for this stack install "
                                 f"{names} first")
