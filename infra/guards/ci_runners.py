"""CI runners that can reach the cluster API: a stack whose API admits only named ranges is not deployed from a
GitHub-hosted runner (no fixed address). `runs-on` is read from the same deploy jobs the CI prerequisites guard
walks (infra/guards/ci.py), its GitHub expressions evaluated offline where they can be."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from infra.guards.base import StackPlan, Verdict
from infra.guards.ci import ROOT, WORKFLOWS, deploy_jobs, stack_name
from infra.guards.runs_on import runner_labels

RUNNER_NAME = "ci-runner-reaches-cluster-api"
# GitHub-hosted runner labels (ubuntu-latest, ubuntu-24.04, windows-2022, macos-14, ...). Their addresses are not
# fixed: GitHub "About GitHub's IP addresses" (docs.github.com/en/authentication/keeping-your-account-and-data-secure/
# about-githubs-ip-addresses): "We make changes to our IP addresses from time to time. We do not recommend allowing
# by IP address". A cluster API restricted to named ranges is out of their reach.
_HOSTED_LABEL = re.compile(r"^(ubuntu|windows|macos)-", re.IGNORECASE)
# The repository variable the shipped workflows read prod's runner labels from (a JSON list or string).
PROD_RUNNER_VARIABLE = "PROD_RUNNER_LABELS"
def restricted_networks(plan: StackPlan) -> list[str] | None:
    """The ranges the stack's cluster API admits, when llm-fleet manages that endpoint and it is not open to any
    address; else None."""
    cfg = plan.cfg
    networks = cfg.control_plane.authorized_networks
    if cfg.cloud not in ("gke", "eks") or networks is None:
        return None
    if any(ipaddress.IPv4Network(n, strict=False).prefixlen == 0 for n in networks):
        return None
    return list(networks)


def ci_runner_reaches_cluster_api(plan: StackPlan, root: Path | None = None) -> Verdict:
    """A job that runs `pulumi preview`/`up` for a stack whose cluster API admits only named ranges does not run on a
    GitHub-hosted runner (no fixed address: it could never reach the API)."""
    root = ROOT if root is None else root
    networks = restricted_networks(plan)
    if networks is None:
        return Verdict(RUNNER_NAME, "pass", "the cluster API admits any address (or is not managed here): any runner "
                                            "reaches it")
    shown = "[" + ", ".join(networks) + "]"
    if not (root / WORKFLOWS).is_dir():
        return Verdict(RUNNER_NAME, "warn", f"no {WORKFLOWS} under {root}: cannot check that the CI jobs deploying "
                                            f"this stack run on runners inside controlPlane.authorizedNetworks = "
                                            f"{shown}")
    stack = stack_name(plan)
    failures, unknown, declared = [], [], []
    for job in deploy_jobs(root, stack, plan.cfg.cloud):
        labels = runner_labels(job.runs_on, stack)
        where = f"{job.workflow} job {job.job!r}"
        if labels is None:
            unknown.append(f"{where} (runs-on {job.runs_on!r})")
            continue
        hosted = [label for label in labels if _HOSTED_LABEL.match(label)]
        if not hosted:
            declared.append(f"{where} on {list(labels)}")
            continue
        failures.append(
            f"{where} runs `pulumi {'/'.join(dict.fromkeys(job.commands))}` for stack {stack!r} on {hosted[0]!r}, a "
            f"GitHub-hosted runner with no fixed address, but controlPlane.authorizedNetworks = {shown} admits only "
            f"those ranges: run the job on a self-hosted runner (or a larger runner with a static IP) whose egress is "
            f"listed there, e.g. runs-on: ${{{{ fromJSON(vars.{PROD_RUNNER_VARIABLE} || "
            f"'[\"self-hosted\", \"llm-fleet-{stack}\"]') }}}}")
    if failures:
        return Verdict(RUNNER_NAME, "fail", "; ".join(failures))
    message = f"controlPlane.authorizedNetworks = {shown}: "
    if not declared and not unknown:
        return Verdict(RUNNER_NAME, "pass", message + "no workflow runs `pulumi preview`/`up` for this stack")
    parts = [f"{len(declared)} CI job(s) run on runners the repository declares ({'; '.join(declared)})"] \
        if declared else []
    if unknown:
        parts.append(f"runner chosen at run time, make sure its egress is listed: {'; '.join(unknown)}")
    return Verdict(RUNNER_NAME, "pass", message + "; ".join(parts))
