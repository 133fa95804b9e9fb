"""Shared fixtures: the shipped stack files, and temporary stacks built from them."""

from __future__ import annotations

import copy
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")
# Shipped example stacks on the other platforms (same models and workloads as prod).
EXAMPLES_DIR = ROOT / "examples"
# dev-provider: tiered hosting, a dev stack whose model is served by a provider only (no GPU pool), behind the gateway.
EXAMPLES = ("eks-prod", "coreweave-prod", "dev-provider")
# The seed workload (12 A100s at peak, 1 H100, ~100 rollout workers) in its cheapest sound configuration per
# platform: a capacity ladder of committed, spot and on-demand A100s (README's cost table).
SEEDS = ("seed-gke", "seed-eks", "seed-coreweave")


# examples/fleet (issue 15): a prod fleet of three regions and the staging stack promoted to it, planned from their
# folder; named `fleet/<stack>` where a name must be unique (its `staging` is not the project's).
FLEET_DIR = EXAMPLES_DIR / "fleet"
FLEET = ("fleet/prod-us", "fleet/prod-eu", "fleet/prod-asia", "fleet/staging")


def stack_root(stack: str) -> Path:
    return EXAMPLES_DIR if stack in EXAMPLES + SEEDS else ROOT


def stack_config(stack: str) -> dict[str, Any]:
    """The `llm-fleet:*` block of a shipped stack file (or example), keys without the namespace."""
    from infra.plan import SECRET_PLACEHOLDER

    doc = yaml.safe_load((stack_root(stack) / f"Pulumi.{stack}.yaml").read_text())
    # A `secure:` value as the offline plan hands it to the program (infra/plan.py): only the stack's key decrypts it.
    return {k.split(":", 1)[1]: SECRET_PLACEHOLDER if isinstance(v, dict) and set(v) == {"secure"} else v
            for k, v in doc["config"].items() if k.startswith("llm-fleet:")}


def prod_on_one_pool() -> dict[str, Any]:
    """prod as shipped: qwen-7b on one on-demand pool `a100-serving` of 4..12 A100-40GB nodes, the shape the cost
    tests work their figures out for (the seed workload on a capacity ladder is examples/Pulumi.seed-gke.yaml)."""
    raw = copy.deepcopy(stack_config("prod"))
    assert "pools" not in raw["models"][0], "prod moved to a ladder: these tests need the one-pool shape back"
    return raw


@functools.cache
def _shipped_plan(stack: str):
    """The plan of a shipped stack, an example or a fleet's stack (`fleet/<stack>`)."""
    from infra.plan import run_plan

    if stack.startswith("fleet/"):
        return run_plan(stack.split("/", 1)[1], FLEET_DIR)
    return run_plan(stack, stack_root(stack))


@pytest.fixture(params=EXAMPLES)
def example_plan(request):
    return _shipped_plan(request.param)


@pytest.fixture(params=STACKS)
def shipped_plan(request):
    return _shipped_plan(request.param)


@pytest.fixture
def plan_of():
    return _shipped_plan


@pytest.fixture
def make_stack(tmp_path):
    """Write a stack file (derived from a shipped one) into a temp project folder; returns (root, name)."""

    def make(base: str, edit=None, name: str = "test") -> tuple[Path, str]:
        cfg = copy.deepcopy(stack_config(base))
        if edit is not None:
            edit(cfg)
        doc = {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}
        (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return tmp_path, name

    return make


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m infra ARGS` as a CI log runs it: piped, 200 columns wide (pytest hands children COLUMNS=80; the
    report at narrow widths is tests/test_report_width.py's)."""
    return subprocess.run([sys.executable, "-m", "infra", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def assert_one_config_error(raw: dict[str, Any], fragments: list[str]) -> None:
    """`raw` is refused with exactly one line, which names every fragment."""
    from infra.config import ConfigError, parse_stack_config

    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    (line,) = err.value.problems
    assert line.startswith("config error: llm-fleet:"), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"


def resources_edited(plan, kind: str, name: str, edit) -> list:
    """The plan's resources with one rendered object (by kind and name) changed by `edit` (a broken stack)."""
    from dataclasses import replace

    resources = []
    for r in plan.resources:
        if r.inputs.get("kind") == kind and (r.inputs.get("metadata") or {}).get("name") == name:
            inputs = copy.deepcopy(r.inputs)
            edit(inputs)
            r = replace(r, inputs=inputs)
        resources.append(r)
    return resources


def with_object_edited(plan, kind: str, name: str, edit):
    """`plan` (infra.plan.Plan) as a guard sees it, with one rendered object (by kind and name) changed by `edit`."""
    from infra.guards.base import StackPlan
    from infra.program import stack_plan

    base = stack_plan(plan.cfg)
    return StackPlan(plan.cfg, base.pools, base.cost, tuple(resources_edited(plan, kind, name, edit)))


KUBERAY_GATEWAY_CLIENTS = "llm-apps"  # with_mode: the gateway's callers where rollouts cannot go through it


def with_mode(cfg: dict[str, Any], mode: str, **serving: Any) -> dict[str, Any]:
    """`cfg` (a stack's `llm-fleet:*` block) with serving.mode `mode` (and any other serving keys), edited in place.

    Nothing else changes but the one plain-mode key: KubeRay's rollouts are Ray tasks that call the Serve app
    directly (rollout.viaGateway is refused there), so a gateway's callers come from serving.apiAccessFrom."""
    cfg["serving"] = {**cfg.get("serving", {}), "mode": mode, **serving}
    if mode == "kuberay" and (cfg.get("rollout") or {}).pop("viaGateway", False):
        cfg["serving"]["apiAccessFrom"] = [*cfg["serving"].get("apiAccessFrom", []), KUBERAY_GATEWAY_CLIENTS]
    return cfg


@pytest.fixture(scope="session")
def kuberay_plan(tmp_path_factory):
    """Plan a shipped stack with serving.mode switched to kuberay (`with_mode`); each stack planned once."""
    from infra.plan import run_plan

    root = tmp_path_factory.mktemp("kuberay")

    @functools.cache
    def plan(stack: str):
        cfg = with_mode(stack_config(stack), "kuberay")
        doc = {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}
        folder = root / stack  # same stack name as the shipped one, so names and labels match
        folder.mkdir()
        (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return run_plan(stack, folder)

    return plan


@pytest.fixture
def kuberay_prod(kuberay_plan):
    """prod in KubeRay mode (on GKE: the incremental upgrade through the regional internal Gateway gke-l7-rilb)."""
    return kuberay_plan("prod")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def stack_repo(tmp_path):
    """A git repository holding copies of the shipped stack files, committed: what promote and --compare read."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for stack in STACKS:
        (repo / f"Pulumi.{stack}.yaml").write_bytes((ROOT / f"Pulumi.{stack}.yaml").read_bytes())
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "shipped stacks")
    return repo
