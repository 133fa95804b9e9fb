"""KubeRay mode: the Serve config is one Ray accepts, and its replicas fit the worker groups."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import yaml

from infra.catalog import GPUS, RAY_ACCELERATOR_PREFIX
from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import PodTemplate, preferred_pool


def _ray_services(plan: StackPlan) -> list[dict[str, Any]]:
    return [r.inputs for r in plan.resources if r.is_kubernetes_object and r.inputs.get("kind") == "RayService"]


def _llm_configs(service: dict[str, Any]) -> list[dict[str, Any]]:
    config = yaml.safe_load(service["spec"].get("serveConfigV2") or "{}") or {}
    return [c for app in config.get("applications", []) for c in app.get("args", {}).get("llm_configs", [])]


def serve_config_is_valid(plan: StackPlan) -> Verdict:
    """Ray's own models accept the serveConfigV2 (ray.serve.schema, and Ray Serve LLM's LLMConfig)."""
    name = "ray-serve-config-is-valid"
    services = _ray_services(plan)
    if not services:
        return Verdict(name, "pass", "no RayService in this stack")
    try:
        from ray.serve.schema import ServeDeploySchema
    except ImportError:
        return Verdict(name, "warn", "not checked: Ray is not installed here (pip install 'ray[serve]')")
    try:
        from ray.serve.llm import LLMConfig
    except ImportError:
        LLMConfig = None
    problems = []
    for service in services:
        where = f"RayService {service['metadata'].get('name')}"
        try:
            ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
        except Exception as e:
            problems.append(f"{where}: serveConfigV2 rejected by ray.serve.schema: {str(e).splitlines()[0]}")
        for llm in _llm_configs(service) if LLMConfig is not None else []:
            try:
                LLMConfig.model_validate(llm)
            except Exception as e:
                problems.append(f"{where}: LLM config {llm.get('model_loading_config', {}).get('model_id')} "
                                f"rejected by ray.serve.llm.LLMConfig: {str(e).splitlines()[0]}")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    checked = "ray.serve.schema and LLMConfig" if LLMConfig is not None else "ray.serve.schema"
    return Verdict(name, "pass", f"serveConfigV2 accepted by {checked}")


def _gpus_at_max(service: dict[str, Any]) -> dict[str, int]:
    """GPUs per Ray accelerator type that the Serve deployments need at their maximum replicas."""
    need: dict[str, int] = defaultdict(int)
    for llm in _llm_configs(service):
        max_replicas = int(llm.get("deployment_config", {}).get("autoscaling_config", {}).get("max_replicas", 1))
        tp = int(llm.get("engine_kwargs", {}).get("tensor_parallel_size", 1))
        need[llm.get("accelerator_type", "")] += max_replicas * tp
    return need


def advertised_accelerators(group: dict[str, Any], plan: StackPlan) -> tuple[str, ...]:
    """The accelerator types a worker group's Ray nodes offer: those it declares as `accelerator_type:<kind>`
    resources (top-level `resources` or rayStartParams), then the one Ray detects from its pool's GPU."""
    declared = dict(group.get("resources") or {})
    start = group.get("rayStartParams", {}).get("resources")
    if start:
        declared.update(yaml.safe_load(start.strip("'\"").replace("\\", "")) or {})
    kinds = [k.removeprefix(RAY_ACCELERATOR_PREFIX) for k in declared if k.startswith(RAY_ACCELERATOR_PREFIX)]
    pod = PodTemplate(group["groupName"], group["groupName"], group.get("template", {}).get("spec", {}))
    pool = preferred_pool(pod, plan.pools)
    if pod.gpus and pool is not None and pool.gpu is not None:
        kinds.append(GPUS[pool.gpu].ray_detected)
    return tuple(dict.fromkeys(k for k in kinds if k))


def _gpu_groups(service: dict[str, Any], plan: StackPlan) -> list[tuple[str, tuple[str, ...], int, int, int]]:
    """(group, accelerator types it offers (its own kind first), GPUs per pod, min pods, max pods) per GPU group."""
    groups = []
    for group in service["spec"]["rayClusterConfig"].get("workerGroupSpecs", []):
        pod = PodTemplate(group["groupName"], group["groupName"], group.get("template", {}).get("spec", {}))
        if pod.gpus:
            groups.append((group["groupName"], advertised_accelerators(group, plan), pod.gpus,
                           int(group.get("minReplicas", 0)), int(group.get("maxReplicas", 0))))
    return groups


def serve_replicas_fit_worker_groups(plan: StackPlan) -> Verdict:
    """At maximum autoscaling, the replicas' GPUs fit the maximum of the worker groups of their accelerator."""
    name, problems = "ray-replicas-fit-worker-groups", []
    for service in _ray_services(plan):
        need = _gpus_at_max(service)
        # Per accelerator type, as Ray schedules: a replica asking for A100-40G fits only groups advertising it.
        have: dict[str, int] = defaultdict(int)
        for _, accelerators, gpus, _, max_pods in _gpu_groups(service, plan):
            for accelerator in accelerators:
                have[accelerator] += gpus * max_pods
        for accelerator, gpus in need.items():
            if gpus > have[accelerator]:
                problems.append(f"replicas at maximum need {gpus} {accelerator or 'unnamed'} GPUs, the worker groups "
                                f"advertising it offer at most {have[accelerator]}")
    if problems:
        return Verdict(name, "fail", "; ".join(problems))
    return Verdict(name, "pass", "every Serve deployment's maximum fits its worker groups")


def blue_green_upgrade_has_headroom(plan: StackPlan) -> Verdict:
    """A NewCluster (blue/green) upgrade starts a second cluster beside the first: say when GPUs run short."""
    name, short = "ray-upgrade-has-headroom", []
    for service in _ray_services(plan):
        if service["spec"].get("upgradeStrategy", {}).get("type") != "NewCluster":
            continue
        need = _gpus_at_max(service)
        for group, accelerators, gpus, min_pods, max_pods in _gpu_groups(service, plan):
            pods_at_peak = math.ceil(need[accelerators[0]] / gpus) if accelerators else 0
            if pods_at_peak + min_pods > max_pods:
                short.append(f"group {group}: {pods_at_peak} pods at peak + {min_pods} for the new cluster > "
                             f"{max_pods}")
    if short:
        return Verdict(name, "warn", "a blue/green upgrade at peak load would wait for GPUs (" + "; ".join(short)
                       + "); upgrade off-peak, raise the pool's maxNodes, or use the incremental upgrade")
    return Verdict(name, "pass", "blue/green upgrades fit, or the stack upgrades incrementally")
