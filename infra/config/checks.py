"""The checks that span more than one block of a validated StackConfig. Each problem is one finished line.

Rules about one cloud's block live with that cloud (gcp.py, aws.py, existing.py); this module calls them
where the order of the messages puts them.
"""

from __future__ import annotations

from pydantic.alias_generators import to_camel

from infra.catalog import GPUS, GpuKind, zones_selling
from infra.config.access import network_access_problems
from infra.config.aws import eks_problems
from infra.config.cold_start import cold_start_problems
from infra.config.existing import existing_problems, existing_rung_problems
from infra.config.gateway import gateway_problems
from infra.config.gcp import gke_budget_problems, gke_range_problems
from infra.config.headroom import headroom_problems
from infra.config.ladders import ladder_problems
from infra.config.lora import lora_problems
from infra.config.peer_dns import peer_dns_problems
from infra.config.pools import NodePool, gpu_pool_shape
from infra.config.ray_auth import ray_auth_version_problems
from infra.config.regions import peer_key_problems, peer_tls_problems
from infra.config.stack import StackConfig
from infra.config.traffic import traffic_problems, workload_traffic_problems
from infra.config.workloads import GPU_MEMORY_UTILIZATION, WEIGHT_HEADROOM, parameter_count


def cross_checks(cfg: StackConfig) -> list[str]:
    """Checks that span more than one block of the config. Each problem is one finished line."""
    problems: list[str] = []
    profile = cfg.profile
    names = [p.name for p in cfg.node_pools]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"nodePools: pool name {dup!r} is used twice; pool names must be unique")
    model_names = [m.name for m in cfg.models]
    for dup in sorted({n for n in model_names if model_names.count(n) > 1}):
        problems.append(f"models: model name {dup!r} is used twice; model names must be unique")

    problems += _platform_checks(cfg)
    problems += peer_key_problems(regions=cfg.regions, own=cfg.own_region, model_api_key=cfg.model_api_key)
    problems += peer_tls_problems(fleet=cfg.fleet, has_peers=cfg.has_peers, own=cfg.own_region,
                                  ca_cert=cfg.peer_ca_cert, ca_key=cfg.peer_ca_key)
    problems += peer_dns_problems(cfg)
    problems += _pool_zone_checks(cfg)
    problems += gateway_problems(
        mode=cfg.serving.mode, gateway=cfg.serving.gateway, models=cfg.declared_models, backend_keys=cfg.backend_keys,
        via_gateway=cfg.rollout is not None and cfg.rollout.via_gateway, gateway_image=cfg.artifacts.gateway_image)

    pools_by_name = {p.name: p for p in cfg.node_pools}
    for i, model in enumerate(cfg.models):
        where = f"models[{i}]"
        if model.pools is not None:
            pool, errs = None, ladder_problems(i, model, pools_by_name, cfg.models)
        else:
            pool, errs = _check_placement(cfg, where, model.gpu, model.pool, "serving")
        problems += errs
        if pool is not None and model.tensor_parallel_size > pool.gpus_per_node:
            problems.append(
                f"{where}.tensorParallelSize = {model.tensor_parallel_size}: larger than the "
                f"{pool.gpus_per_node} GPU(s) per node of pool {pool.name!r}; allowed: 1..{pool.gpus_per_node}, or "
                f"{_node_size_fix(cfg, pool, model.tensor_parallel_size)}"
            )
        elif pool is not None:
            max_gpus = model.replicas.max * model.tensor_parallel_size
            if max_gpus > pool.max_gpus:
                problems.append(
                    f"{where}.replicas.max = {model.replicas.max}: needs {max_gpus} GPUs at tensorParallelSize "
                    f"{model.tensor_parallel_size}, pool {pool.name!r} has at most {pool.max_gpus}"
                )
        gpu_mem = GPUS[model.gpu].memory_gb
        usable = model.tensor_parallel_size * gpu_mem * GPU_MEMORY_UTILIZATION * (1 - WEIGHT_HEADROOM)
        if model.weights_gb > usable:
            problems.append(
                f"{where}.parameters = {parameter_count(model.parameters)}: {model.weights_gb:.1f} GB of "
                f"{model.dtype} weights do not fit {model.tensor_parallel_size} x {model.gpu.value} ({usable:.1f} GB "
                f"usable after vLLM's {GPU_MEMORY_UTILIZATION:.0%} cap and {WEIGHT_HEADROOM:.0%} headroom); raise "
                "tensorParallelSize, pick a larger GPU or a smaller dtype"
            )
        if model.replicas.min == 0 and cfg.serving.working_hours is None and cfg.serving.mode == "vllm":
            problems.append(
                f"{where}.replicas.min = 0: nothing would wake the model again (vLLM's queue metric only exists "
                "while a replica runs); set serving.workingHours to scale to zero outside them, or min >= 1"
            )
        problems += lora_problems(where, model.lora, cfg.training.checkpoint_bucket if cfg.training else None,
                                  cfg.serving.mode)
        if model.is_huggingface and model.name not in cfg.artifacts.model_revisions:
            problems.append(
                f"artifacts.modelRevisions.{model.name}: missing; a Hugging Face model must be pinned to a "
                "revision (a commit hash) so promotion moves exactly what was tested"
            )
    for name in sorted(set(cfg.artifacts.model_revisions) - set(model_names)):
        problems.append(f"artifacts.modelRevisions.{name}: no model named {name!r}; models: {model_names}")

    if cfg.training is not None:
        pool, errs = _check_placement(cfg, "training", cfg.training.gpu, cfg.training.pool, "training")
        problems += errs
        if pool is not None and cfg.training.gpus > pool.gpus_per_node:
            problems.append(
                f"training.gpus = {cfg.training.gpus}: larger than the {pool.gpus_per_node} GPU(s) per node "
                f"of pool {pool.name!r}; allowed: 1..{pool.gpus_per_node}, or "
                f"{_node_size_fix(cfg, pool, cfg.training.gpus).replace(' so a node holds the group', '')}"
            )
    if cfg.serving.mode == "kuberay":
        for key in ("ray_image", "ray_version"):
            if getattr(cfg.artifacts, key) is None:
                problems.append(f"artifacts.{to_camel(key)}: missing; serving.mode 'kuberay' runs Ray pods from it")
        problems += ray_auth_version_problems(cfg.artifacts.ray_version)
        if cfg.rollout is None:
            problems.append("rollout: missing; serving.mode 'kuberay' places the Ray head and CPU workers on the "
                            "rollout pool")
        if profile.ray_upgrade == "NewClusterWithIncrementalUpgrade" and cfg.serving.gateway_class is None:
            problems.append(f"serving.gatewayClass: missing; tier {cfg.tier!r} upgrades the RayService incrementally "
                            f"through the Gateway API and cloud {cfg.cloud!r} has no default GatewayClass; name one "
                            "the cluster runs (e.g. amazon-vpc-lattice, istio, envoy-gateway)")
    problems += headroom_problems(cfg)
    checkpoints = cfg.training.checkpoint_bucket if cfg.training else None
    # Adapter stores that resolve (a `bucket:` store without a checkpoint bucket is lora_problems' line above).
    stores = [cfg.adapter_root(m) for m in cfg.models if m.lora is not None
              and (checkpoints is not None or not m.lora.source.startswith("bucket:"))]
    problems += cold_start_problems(cfg.serving.cold_start, cfg.cloud, checkpoints,
                                    [(i, m.source) for i, m in enumerate(cfg.models)],
                                    [s for s in stores if s is not None], cfg.serving.mode)
    problems += traffic_problems(cfg.traffic, {m.name: (m.replicas.min, m.replicas.max) for m in cfg.models},
                                 tuple(m.name for m in cfg.provider_models))
    rollout = (cfg.rollout.replicas.min, cfg.rollout.replicas.max) if cfg.rollout is not None else None
    problems += workload_traffic_problems(cfg.traffic, cfg.training is not None, rollout)
    problems += network_access_problems(cfg.tier, cfg.cloud, cfg.control_plane, cfg.serving)
    if cfg.training is not None and cfg.artifacts.training_image is None:
        problems.append("artifacts.trainingImage: missing; the training job needs an image (pinned by digest)")
    if cfg.rollout is not None and cfg.artifacts.rollout_image is None:
        problems.append("artifacts.rolloutImage: missing; the rollout workers need an image (pinned by digest)")
    if cfg.rollout is not None:
        if cfg.rollout.pool not in names:
            problems.append(f"rollout.pool = {cfg.rollout.pool!r}: no such node pool; defined: {', '.join(names)}")
        elif cfg.pool(cfg.rollout.pool).gpu is not None:
            problems.append(f"rollout.pool = {cfg.rollout.pool!r}: a GPU pool; rollout workers need a CPU pool")

    if profile.budget_required and cfg.budget is None:
        problems.append(f"budget: missing; tier {cfg.tier!r} requires a budget (budget.monthlyAmount, budget.emails)")
    if cfg.cloud == "gke":
        problems += gke_budget_problems(cfg.gcp, cfg.budget)
    return problems


def _node_size_fix(cfg: StackConfig, pool: NodePool, gpus: int) -> str:
    """The pool change that gives a node `gpus` GPUs: the smallest node size the cloud sells that holds them."""
    i = cfg.node_pools.index(pool)
    assert pool.gpu is not None
    if cfg.cloud == "existing":
        return (f"a pool on nodes with {gpus}+ GPUs: set nodePools[{i}].gpusPerNode to their size (and "
                f"existing.gpuNodes.{pool.gpu.value} to their labels)")
    spec = GPUS[pool.gpu]
    size = next((n for n in spec.gpus_per_node(cfg.cloud) if n >= gpus), None)
    if size is None:
        return f"a GPU kind sold in nodes of {gpus}+ GPUs on {cfg.cloud}"
    shape = spec.shape(cfg.cloud, size, None)
    machine = f" ({shape.machine_type})" if shape is not None else ""
    named = f" and remove nodePools[{i}].machineType" if pool.machine_type else ""
    return f"set nodePools[{i}].gpusPerNode: {size}{machine}{named} so a node holds the group"


def _check_placement(
    cfg: StackConfig, where: str, gpu: GpuKind, pool_name: str | None, purpose: str
) -> tuple[NodePool | None, list[str]]:
    pool = cfg.pool_for(gpu, pool_name, purpose)
    if pool is None and pool_name is not None:
        names = ", ".join(p.name for p in cfg.node_pools)
        return None, [f"{where}.pool = {pool_name!r}: no such node pool; defined: {names}"]
    if pool is None:
        kinds = sorted({p.gpu.value for p in cfg.node_pools if p.gpu}) or ["none"]
        return None, [f"{where}.gpu = {gpu.value!r}: no node pool provides this GPU kind; pools provide: "
                      f"{', '.join(kinds)}"]
    if pool.gpu != gpu:
        got = pool.gpu.value if pool.gpu else "no GPU"
        return None, [f"{where}.pool = {pool.name!r}: that pool has {got}, not {gpu.value!r}"]
    return pool, []


_PLATFORM_BLOCKS = {"gke": "gcp", "eks": "aws", "existing": "existing"}
_PLATFORM_NEEDS = {
    "gke": "gcp.project, gcp.region and gcp.zones",
    "eks": "aws.region and aws.zones (two or more)",
    "existing": "existing.kubeconfig (a secret) or existing.context, and existing.priceAs",
}


def _platform_checks(cfg: StackConfig) -> list[str]:
    """The platform block matches the cloud, and what the cloud needs is there."""
    problems: list[str] = []
    for cloud, block in _PLATFORM_BLOCKS.items():
        present = getattr(cfg, block) is not None
        if cloud == cfg.cloud and not present:
            return [f"{block}: missing; cloud {cfg.cloud!r} needs {_PLATFORM_NEEDS[cloud]}"]
        if cloud != cfg.cloud and present:
            problems.append(f"{block}: set, but cloud is {cfg.cloud!r}; remove it or set cloud: {cloud}")
    if cfg.cloud == "gke" and cfg.gcp is not None:
        problems += gke_range_problems(cfg.gcp)
    if cfg.cloud == "eks":
        problems += eks_problems(cfg.artifacts.charts, cfg.budget)
    if cfg.cloud == "existing":
        assert cfg.existing is not None
        problems += existing_problems(cfg.existing, cfg.node_pools, cfg.pricing, cfg.current_rates)
        problems += existing_rung_problems(cfg.node_pools, cfg.models)
    return problems


def _pool_zone_checks(cfg: StackConfig) -> list[str]:
    """A pool's zones are some of the platform's; on EKS a capacity reservation pool names its one zone."""
    block = {"gke": cfg.gcp, "eks": cfg.aws}.get(cfg.cloud)
    key = _PLATFORM_BLOCKS[cfg.cloud]
    problems: list[str] = []
    for i, pool in enumerate(cfg.node_pools):
        where = f"nodePools[{i}].zones"
        if pool.zones is not None and block is None:
            problems.append(f"{where} = {pool.zones}: cloud {cfg.cloud!r} creates no nodes, so a pool has no zones; "
                            "remove it")
            continue
        if block is None:
            continue
        allowed = ", ".join(block.zones)
        if pool.zones is not None:
            outside = [z for z in pool.zones if z not in block.zones]
            if outside or len(set(pool.zones)) != len(pool.zones):
                why = f"{', '.join(outside)} not in {key}.zones" if outside else "a zone is listed twice"
                problems.append(f"{where} = {pool.zones}: {why}; allowed: distinct zones among {allowed}")
                continue
        if cfg.cloud == "eks" and pool.capacity == "reservation" and (pool.zones is None or len(pool.zones) != 1):
            shown = ": missing;" if pool.zones is None else f" = {pool.zones}:"
            problems.append(f"{where}{shown} an EC2 capacity reservation lives in one zone; allowed: exactly the "
                            f"reservation's zone, one of {allowed} (e.g. zones: [{block.zones[0]}])")
        problems += _gpu_zone_checks(cfg, i, pool, block.region, block.zones, key)
    return problems


_SELLER = {"gke": "GCP", "eks": "AWS"}


def _gpu_zone_checks(cfg: StackConfig, i: int, pool: NodePool, region: str, platform_zones: list[str],
                     key: str) -> list[str]:
    """A GPU pool spans only zones the catalog knows sell its machine (node pool creation fails elsewhere)."""
    if pool.gpu is None:
        return []
    machine = gpu_pool_shape(pool, cfg.cloud).machine_type
    selling = zones_selling(cfg.cloud, machine, region)
    if selling is None:
        return []  # the catalog does not know this region: the plan says so (platforms.prerequisites)
    zones = pool.zones or platform_zones
    missing = [z for z in zones if z not in selling]
    if not missing:
        return []
    usable = [z for z in platform_zones if z in selling]
    fix = (f"set nodePools[{i}].zones: [{', '.join(usable)}]" if usable else
           f"add one of them to {key}.zones and set nodePools[{i}].zones to it")
    shown = f" = {pool.zones}:" if pool.zones else f": missing, so it spans {key}.zones {platform_zones};"
    return [f"nodePools[{i}].zones{shown} pool {pool.name!r} runs {machine}, which {_SELLER[cfg.cloud]} does not "
            f"sell in {', '.join(missing)}; zones of {region} that sell it: {', '.join(selling)}; {fix}"]
