"""CI trust: no workflow hands a tier's secrets or cloud identity to code nobody but its author has approved.

Issue 17 (Critical): the preview workflow ran a pull request's own code with the repository-wide Pulumi passphrase
and OIDC tokens. The fix lives in the workflows (.github/) and in GitHub's environment settings (docs/shipping.md);
this guard reads the workflows of the repository it lives in, as the CI prerequisites guard does, so `plan` and the
policy pack fail a change that brings the finding back. Per job it finds:

- a secret (`secrets.X` other than GITHUB_TOKEN) or an OIDC token (`id-token: write`) in a job with no
  `environment:`. GitHub holds an environment's jobs until its protection rules pass (required reviewers, deployment
  branches: docs.github.com/en/actions/reference/workflows-and-actions/deployments-and-environments), and the clouds
  trust only a token whose sub names that environment (bootstrap/trust.py). A workflow-level `env:` that reads a
  secret hands it to every job, gated or not: refused as well;
- a job that holds one in a workflow started by `workflow_dispatch` without `github.ref == 'refs/heads/main'` in its
  `if:` (a hand-started run takes any branch's code);
- an action used there (its own steps or the local composite actions they call) not pinned by a 40-hex commit SHA:
  a tag can be moved to other code after review;
- an install there not checked against hashes: a `pip install` without `--require-hashes`, or a `make` target other
  than `deploy-venv` (the one that installs from requirements-deploy.lock with `--require-hashes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.guards.base import StackPlan, Verdict
from infra.guards.ci import ROOT, WORKFLOWS

NAME = "ci-secrets-need-approval"
_SECRET = re.compile(r"\bsecrets\.(\w+)")
_PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
_MAIN_ONLY = re.compile(r"github\.ref\s*==\s*'refs/heads/main'")
_PIP_INSTALL = re.compile(r"\bpip3?\s+install\b[^\n]*")
_MAKE_VENV = re.compile(r"\bmake\s+(?!deploy-venv\b)([\w-]*venv|test|plan|engine|lock)\b")
HASHED_TARGET = "deploy-venv"


@dataclass(frozen=True)
class Finding:
    workflow: str
    job: str | None  # None: the workflow as a whole
    problem: str

    def line(self) -> str:
        where = f"{self.workflow} job {self.job!r}" if self.job else self.workflow
        return f"{where}: {self.problem}"


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(doc, dict):
        return {}
    if True in doc:  # PyYAML reads the key `on` as True
        doc["on"] = doc.pop(True)
    return doc


def _secrets(node: Any) -> set[str]:
    return {s for s in _SECRET.findall(yaml.safe_dump(node)) if s != "GITHUB_TOKEN"} if node else set()


def _triggers(doc: dict[str, Any]) -> set[str]:
    on = doc.get("on")
    if isinstance(on, str):
        return {on}
    return set(on) if isinstance(on, (dict, list)) else set()


def _steps(steps: list[Any], root: Path, depth: int = 0) -> list[dict[str, Any]]:
    """The steps in order, each local composite action replaced by its own steps."""
    flat: list[dict[str, Any]] = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        uses = str(step.get("uses", ""))
        if uses.startswith("./") and depth < 5:
            action = _load(root / uses / "action.yml") or _load(root / uses / "action.yaml")
            flat += _steps(((action.get("runs") or {}).get("steps")) or [], root, depth + 1)
        else:
            flat.append(step)
    return flat


def _unpinned(steps: list[dict[str, Any]]) -> list[str]:
    uses = [str(s.get("uses", "")) for s in steps if s.get("uses")]
    return [u for u in uses if not u.startswith("docker://") and not _PINNED.fullmatch(u)]


def _unhashed_installs(steps: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for step in steps:
        run = str(step.get("run", ""))
        found += [m.strip() for m in _PIP_INSTALL.findall(run) if "--require-hashes" not in m]
        found += [m.group(0) for m in _MAKE_VENV.finditer(run)]
    return found


def workflow_findings(root: Path) -> tuple[list[Finding], int]:
    """The findings among the workflows under `root`, and how many jobs hold a secret or an OIDC token."""
    findings: list[Finding] = []
    holding = 0
    for path in sorted((root / WORKFLOWS).glob("*.y*ml")):
        doc, rel = _load(path), str(path.relative_to(root))
        if leaked := _secrets(doc.get("env")):
            findings.append(Finding(rel, None, f"the workflow-level env reads secrets {sorted(leaked)}: every job "
                                               "gets them, gated or not; move each to the env of a job that names an "
                                               "environment"))
        top_oidc = (doc.get("permissions") or {}).get("id-token") == "write" \
            if isinstance(doc.get("permissions"), dict) else False
        dispatch = "workflow_dispatch" in _triggers(doc)
        for name, job in (doc.get("jobs") or {}).items():
            if not isinstance(job, dict):
                continue
            permissions = job.get("permissions")
            oidc = permissions.get("id-token") == "write" if isinstance(permissions, dict) else top_oidc
            secrets = _secrets({k: v for k, v in job.items() if k != "if"})
            if not secrets and not oidc:
                continue
            holding += 1
            held = ", ".join([f"secrets {sorted(secrets)}"] * bool(secrets) + ["an OIDC token"] * oidc)
            if not job.get("environment"):
                findings.append(Finding(rel, str(name), f"holds {held} with no `environment:`: nobody but the "
                                                        "author approves the code it runs; name the tier's "
                                                        "environment (required reviewers; main only where it "
                                                        "deploys)"))
            if dispatch and not _MAIN_ONLY.search(str(job.get("if", ""))):
                findings.append(Finding(rel, str(name), f"holds {held} and the workflow runs on workflow_dispatch, "
                                                        "which takes any branch: add "
                                                        "`if: github.ref == 'refs/heads/main'`"))
            steps = _steps(job.get("steps") or [], root)
            if unpinned := _unpinned(steps):
                findings.append(Finding(rel, str(name), f"holds {held} and uses {', '.join(unpinned)}: pin each by "
                                                        "its full commit SHA (the tag in a comment)"))
            if unhashed := _unhashed_installs(steps):
                findings.append(Finding(rel, str(name), f"holds {held} and installs without hashes "
                                                        f"({'; '.join(unhashed)}): install with `make "
                                                        f"{HASHED_TARGET}` (pip --require-hashes from "
                                                        "requirements-deploy.lock)"))
    return findings, holding


def ci_secrets_need_approval(plan: StackPlan, root: Path | None = None) -> Verdict:
    """Every CI job holding a secret or a cloud token runs in a GitHub environment, only from main when started by
    hand, and with actions pinned by commit SHA."""
    root = ROOT if root is None else root
    if not (root / WORKFLOWS).is_dir():
        return Verdict(NAME, "warn", f"no {WORKFLOWS} under {root}: cannot check which CI jobs get the stacks' "
                                     "secrets and cloud identities; run the plan from the repository that holds the "
                                     "workflows")
    findings, holding = workflow_findings(root)
    if findings:
        return Verdict(NAME, "fail", "; ".join(f.line() for f in findings))
    return Verdict(NAME, "pass", f"all {holding} CI job(s) that hold a secret or a cloud token run in a GitHub "
                                 "environment (its reviewers approve the code first), only from main when started "
                                 "by hand, with actions pinned by commit SHA and installs checked against hashes")
