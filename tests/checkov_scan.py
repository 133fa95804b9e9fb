"""checkov (issue 17 item 8) over what we ship, in ONE run: every stack's rendered manifests in both serving modes
(plain and KubeRay), the serving and gateway images' Dockerfiles and the workflows. Its failures are held against one
skip list, security/checkov-skips.yaml, where every entry names a check, the objects it covers and why it stays.

checkov lives in its own venv (.venv-scan, `make scan-venv`, pinned by security/checkov.lock): it pins many packages
that the project's venv pins differently. The test (tests/test_scanner.py) calls its CLI.

checkov 3.3.30 has no checks for custom resources, so the Ray pods (RayService/RayJob head, worker and submitter
templates) would pass unseen; each template is also written as a plain Pod (`raypod-*.yaml`) so the pod checks run on
it (checkov 3.3.30 checkov/kubernetes/checks/resource/base_container_check.py: container checks cover Pod, PodTemplate,
CronJob and the built-in workload kinds only).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SKIPS = ROOT / "security" / "checkov-skips.yaml"
CHECKOV = Path(os.environ.get("LLM_FLEET_CHECKOV", ROOT / ".venv-scan" / "bin" / "checkov"))
FRAMEWORKS = ("kubernetes", "dockerfile", "github_actions")
MODES = ("plain", "kuberay")
# Tiers whose models are all on a provider: no model for Ray to serve, so they have no KubeRay variant.
PROVIDER_TIERS = ("dev-provider",)
DOCKERFILES = ("images/vllm/Dockerfile", "images/gateway/Dockerfile")
WORKFLOWS = ROOT / ".github" / "workflows"
# KubeRay mode in prod upgrades through a Gateway, and only GKE has a default class (infra/config/checks.py refuses
# the stack otherwise): the variants name one the config error itself suggests for that cloud.
KUBERAY_GATEWAY_CLASS = {"eks": "amazon-vpc-lattice", "existing": "istio"}
# Kinds whose pod spec checkov checks: each manifest of these kinds must show up in its report (a file it could not
# parse would otherwise pass silently).
POD_KINDS = {"Pod", "PodTemplate", "CronJob", "Deployment", "DaemonSet", "Job", "ReplicaSet", "StatefulSet"}


@dataclass(frozen=True)
class Failure:
    check: str
    name: str
    where: str  # "<location>: <resource>", e.g. "plain/prod: Deployment.llm-serving.vllm-qwen-7b"


@dataclass(frozen=True)
class Skip:
    check: str
    scope: tuple[str, ...]  # globs over Failure.where; each must match at least one failure
    reason: str
    pending: str  # "" for a lasting skip; else the fix in flight that will make it match nothing

    def covers(self, failure: Failure) -> bool:
        return failure.check == self.check and any(fnmatch.fnmatchcase(failure.where, p) for p in self.scope)


class SkipListError(Exception):
    """security/checkov-skips.yaml is malformed."""


def load_skips(path: Path = SKIPS) -> list[Skip]:
    doc = yaml.safe_load(path.read_text())
    entries = doc.get("skips") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise SkipListError(f"{path.name}: expected a mapping with a `skips:` list")
    skips = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or set(e) - {"check", "scope", "reason", "pending"}:
            raise SkipListError(f"{path.name}: skips[{i}]: allowed keys are check, scope, reason, pending; got {e!r}")
        check, scope, reason = e.get("check"), e.get("scope"), str(e.get("reason") or "").strip()
        if not isinstance(check, str) or not re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check):
            raise SkipListError(f"{path.name}: skips[{i}].check: {check!r} is not a checkov check id like CKV_K8S_11")
        if not isinstance(scope, list) or not scope or not all(isinstance(s, str) and ": " in s for s in scope):
            raise SkipListError(f"{path.name}: skips[{i}] ({check}).scope: a non-empty list of '<where>: <resource>' "
                                f"globs, e.g. '*/prod: Deployment.llm-serving.vllm-*'; got {scope!r}")
        if len(reason) < 40:
            raise SkipListError(f"{path.name}: skips[{i}] ({check}).reason: say why the failure stays (and cite the "
                                f"source that decides it); got {reason!r}")
        skips.append(Skip(check, tuple(scope), reason, str(e.get("pending") or "")))
    return skips


def unlisted(failures: list[Failure], skips: list[Skip]) -> list[Failure]:
    """Failures no skip entry covers: each one fails the test."""
    return [f for f in failures if not any(s.covers(f) for s in skips)]


def stale(failures: list[Failure], skips: list[Skip]) -> list[str]:
    """Skip scopes that match no failure any more: the list must not rot, so each one fails the test too."""
    out = []
    for s in skips:
        for pattern in s.scope:
            if not any(f.check == s.check and fnmatch.fnmatchcase(f.where, pattern) for f in failures):
                out.append(f"{s.check} {pattern!r}" + (f" (pending: {s.pending})" if s.pending else ""))
    return out


def kuberay_stack(stack: str, folder: Path) -> Path:
    """A stack file: the shipped `stack` with serving.mode kuberay (and a GatewayClass where the cloud has none)."""
    from tests.conftest import stack_config, with_mode

    cfg = with_mode(stack_config(stack), "kuberay")
    if cfg.get("cloud") in KUBERAY_GATEWAY_CLASS:
        cfg["serving"].setdefault("gatewayClass", KUBERAY_GATEWAY_CLASS[cfg["cloud"]])
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}
    (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def ray_pods(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates of a RayService or RayJob, each as a Pod (so checkov's pod checks see them)."""
    spec = obj.get("spec", {})
    cluster = spec.get("rayClusterConfig") or spec.get("rayClusterSpec") or {}
    meta = obj.get("metadata", {})
    prefix = f"{obj['kind'].lower()}-{meta.get('name')}"
    templates = [("head", cluster.get("headGroupSpec", {}).get("template"))]
    templates += [(f"worker-{g.get('groupName')}", g.get("template")) for g in cluster.get("workerGroupSpecs", [])]
    templates.append(("submitter", spec.get("submitterPodTemplate")))
    pods = []
    for role, template in templates:
        if not template:
            continue
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"{prefix}-{role}", "namespace": meta.get("namespace"),
                                  "labels": (template.get("metadata") or {}).get("labels", {})},
                     "spec": copy.deepcopy(template.get("spec", {}))})
    return pods


def write_plan(plan, folder: Path) -> list[Path]:
    """The plan's manifests as `plan --out` writes them, plus one Pod file per Ray pod template."""
    from infra.manifests import write_manifests

    written, _ = write_manifests(plan, folder)
    for obj in plan.manifests():
        if obj.get("kind") in ("RayService", "RayJob"):
            for pod in ray_pods(obj):
                path = folder / f"raypod-{pod['metadata']['namespace']}-{pod['metadata']['name']}.yaml"
                path.write_text(yaml.safe_dump(pod, sort_keys=False))
                written.append(path)
    return written


def build_tree(tree: Path, stacks: tuple[str, ...], plan_of, kuberay_plan_of) -> list[str]:
    """Lay out everything checkov scans under `tree`; returns the files (relative, '/'-led as checkov reports them)
    that its report must mention."""
    must_scan: list[str] = []
    for mode, planner in (("plain", plan_of), ("kuberay", kuberay_plan_of)):
        for stack in stacks:
            if mode == "kuberay" and stack in PROVIDER_TIERS:
                continue
            for path in write_plan(planner(stack), tree / "k8s" / mode / stack):
                if yaml.safe_load(path.read_text()).get("kind") in POD_KINDS:
                    must_scan.append("/" + path.relative_to(tree).as_posix())
    for rel in DOCKERFILES:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tree / rel)
        must_scan.append("/" + rel)
    (tree / ".github" / "workflows").mkdir(parents=True)
    for wf in sorted(WORKFLOWS.glob("*.y*ml")):
        shutil.copyfile(wf, tree / ".github" / "workflows" / wf.name)
        must_scan.append(f"/.github/workflows/{wf.name}")
    return must_scan


def run_checkov(tree: Path) -> list[dict[str, Any]]:
    """One checkov run over `tree`, every framework at once (its start-up is most of the time). Offline: nothing is
    fetched from or sent to Prisma Cloud (--skip-download; no API key, so no upload)."""
    proc = subprocess.run([str(CHECKOV), "-d", str(tree), "--framework", *FRAMEWORKS, "-o", "json", "--compact",
                           "--skip-download", "--skip-results-upload"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "BC_API_KEY": ""})  # no platform key from the environment, ever
    if proc.returncode not in (0, 1):  # 1: some check failed; anything else: checkov itself failed
        raise RuntimeError(f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}")
    reports = json.loads(proc.stdout)
    return reports if isinstance(reports, list) else [reports]


def location(file_path: str) -> str:
    """'/k8s/plain/prod/deployment-x.yaml' -> 'plain/prod'; any other file is its own path (images/vllm/Dockerfile)."""
    parts = file_path.strip("/").split("/")
    return "/".join(parts[1:3]) if parts[0] == "k8s" else "/".join(parts)


def failures_of(reports: list[dict[str, Any]]) -> list[Failure]:
    out = {Failure(c["check_id"], c["check_name"], f"{location(c['file_path'])}: {c['resource']}")
           for r in reports for c in r.get("results", {}).get("failed_checks", [])}
    return sorted(out, key=lambda f: (f.check, f.where))


def scanned_files(reports: list[dict[str, Any]]) -> set[str]:
    return {c["file_path"] for r in reports for kind in ("passed_checks", "failed_checks")
            for c in r.get("results", {}).get(kind, [])}
