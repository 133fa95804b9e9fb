"""An existing Kubernetes cluster (CoreWeave, on-prem, kind): a provider and pool facts, no cloud resources.

Owns how a cluster we did not build is described: GPU nodes are found by the labels the
cluster already puts on them (the NVIDIA GPU operator's `nvidia.com/gpu.product`, CoreWeave's
`gpu.nvidia.com/class`, or labels named in `existing.gpuNodes`), with the taints they carry.
Nothing here creates or scales nodes: a pool's `minNodes`/`maxNodes` are the share of the
cluster the fleet may use, which quotas, guards and the cost table read. No budget alarm can
be created (there is no cloud billing account to attach it to); the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.config import Existing, StackConfig, existing_node_size
from infra.config.headroom import headroom_by_pool
from infra.platforms.nodes import configured_cpu_pool_facts, gke_allocatable, node_taints
from infra.platforms.stack import identity_requests
from infra.seam import ExecPlugin, IdentityRequest, NodeTaint, Platform, PoolFacts, WorkloadIdentity


def _existing(cfg: StackConfig) -> Existing:
    assert cfg.existing is not None, "validated by config"
    return cfg.existing


def existing_pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from the config's description of the cluster's nodes (sizes default from the catalog)."""
    existing = _existing(cfg)
    facts: dict[str, PoolFacts] = {}
    for pool in cfg.node_pools:
        if pool.gpu is None:
            # CPU nodes are found by the pool's labels (none: any node without a taint the pod lacks).
            facts[pool.name] = configured_cpu_pool_facts(pool, gke_allocatable, node_selector=dict(pool.labels))
            continue
        configured = node_taints(pool.taints)
        gpus = pool.gpus_per_node or 1
        size = existing_node_size(existing, pool.gpu, gpus)
        labels = existing.gpu_labels(pool.gpu)
        assert size is not None and labels is not None, "validated by config"
        vcpus, memory, disk = size
        cpu, mem = gke_allocatable(vcpus, memory)
        facts[pool.name] = PoolFacts(
            name=pool.name, purpose=pool.purpose, machine_type=f"{existing.preset} node",
            gpu=pool.gpu, gpus_per_node=gpus, min_nodes=pool.min_nodes, max_nodes=pool.max_nodes,
            capacity=pool.capacity, node_selector={**labels, **pool.labels},
            taints=(*(NodeTaint(t.key, t.value, t.effect) for t in existing.gpu_taints(pool.gpu)), *configured),
            allocatable_cpu=cpu, allocatable_memory_gib=mem, local_ssd_gib=0, ephemeral_storage_gib=disk,
        )
    return facts


def existing_notes(cfg: StackConfig) -> tuple[str, ...]:
    existing = _existing(cfg)
    notes = [f"existing cluster: nothing creates or scales its nodes; node pools describe the share of the cluster "
             f"this fleet may use (GPU nodes found by preset {existing.preset!r} labels)"]
    # The NVIDIA GPU operator runs its own DCGM exporter; a second one would fight it for the GPUs' counters.
    notes.append("existing cluster: GPU utilisation on the dashboard needs the cluster's own DCGM exporter (the NVIDIA "
                 "GPU operator runs one) scraped by its Prometheus; llm-fleet installs none there")
    for ladder in cfg.ladders():
        # Nothing here makes nodes: the pods' preferred node affinity expresses the order, the cluster grows.
        notes.append(f"existing cluster: capacity ladder {' -> '.join(ladder)}: replicas prefer the rungs in that "
                     f"order (preferred node affinity) and land on the first with a free node; nothing here adds "
                     f"nodes, so the cluster's own autoscaler (if any) decides which rung grows")
    # No cloud identity can be created here: say what each workload needs, and whether config binds it.
    for request in identity_requests(cfg).values():
        if not request.buckets:
            continue
        key = f"{request.namespace}/{request.service_account}"
        needs = ", ".join(f"{'read/write' if b.write else 'read'} {b.url}" for b in request.buckets)
        bound = ("bound by existing.serviceAccountAnnotations" if key in existing.service_account_annotations
                 else f"set existing.serviceAccountAnnotations.{key} to bind it to a cloud identity")
        notes.append(f"existing cluster: service account {key} needs {needs}; {bound}")
    if existing_kubeconfig_execs(cfg) is None:
        where = "existing.kubeconfig (a secret)" if existing.kubeconfig else \
            f"the deployer's kubeconfig (context {existing.context!r})" if existing.context else \
            "the deployer's default kubeconfig"
        notes.append(f"existing cluster: the plan cannot see what {where} execs for its credentials; a CI job that "
                     "runs `pulumi preview`/`up` must install that exec plugin itself (the CI prerequisites check "
                     "only proves it for kubeconfigs this stack builds)")
    # Warm headroom adds nodes only through an autoscaler that acts on Pending pods; here it is the cluster's own.
    for name, spare in headroom_by_pool(cfg).items():
        notes.append(f"existing cluster: pool {name}'s warmHeadroom {spare} keeps spare nodes only if the cluster's "
                     "own autoscaler adds nodes for Pending pods of priority -10 (cluster-autoscaler does); without "
                     "one the placeholders just occupy GPUs that are already free, and the cost table still counts "
                     "them")
    if cfg.budget is not None:
        notes.append(f"existing cluster: NO budget alarm is created (there is no cloud billing account to attach "
                     f"it to); budget.monthlyAmount {cfg.budget.monthly_amount:,.0f} {cfg.budget.currency} is only "
                     f"checked against the cost table, priced as {existing.price_as!r}")
    return tuple(notes)


_EXISTING_EXEC_INSTALL = "install it in a step before it (the existing cluster's kubeconfig names it)"


def existing_kubeconfig_execs(cfg: StackConfig) -> tuple[ExecPlugin, ...] | None:
    """The exec plugins of `existing.kubeconfig`'s users, when it is readable here (None: not knowable).

    `plan` sees a secret kubeconfig masked, and an `existing.context` lives in the deployer's own
    kubeconfig: neither says what it execs. The policy pack gets the decrypted config and can read it.
    """
    existing = _existing(cfg)
    if not existing.kubeconfig:
        return None
    try:
        doc = yaml.safe_load(existing.kubeconfig)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), list):
        return None
    commands = sorted({u["user"]["exec"]["command"] for u in doc["users"]
                       if isinstance(u, dict) and isinstance(u.get("user"), dict)
                       and isinstance(u["user"].get("exec"), dict) and u["user"]["exec"].get("command")})
    return tuple(ExecPlugin(c, _EXISTING_EXEC_INSTALL) for c in commands)


def _registry(cfg: StackConfig, existing: Existing) -> str:
    if existing.registry:
        return existing.registry
    image = cfg.artifacts.serving_image.split("@", 1)[0]
    return image.rsplit("/", 1)[0] if "/" in image else "docker.io"


@dataclass(frozen=True)
class ExistingArgs:
    kubeconfig: str | None  # a secret; None: the deployer's own kubeconfig (at `context`)
    context: str | None
    registry: str
    storage_class: str | None  # None: the cluster's default StorageClass
    # "<namespace>/<name>" → annotations binding that service account to a cloud identity the cluster has.
    service_account_annotations: dict[str, dict[str, str]]
    system_node_labels: dict[str, str]
    pools: dict[str, PoolFacts]
    notes: tuple[str, ...]


def args_from(cfg: StackConfig) -> ExistingArgs:
    existing = _existing(cfg)
    return ExistingArgs(
        kubeconfig=existing.kubeconfig, context=existing.context, registry=_registry(cfg, existing),
        storage_class=existing.storage_class, service_account_annotations=existing.service_account_annotations,
        system_node_labels=existing.system_node_labels, pools=existing_pool_facts(cfg), notes=existing_notes(cfg))


class ExistingCluster(pulumi.ComponentResource):
    """A Kubernetes provider for a cluster someone else runs. Creates no cloud resources."""

    platform: Platform

    def __init__(self, name: str, args: ExistingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:ExistingCluster", name, None, opts)
        kubeconfig = pulumi.Output.secret(args.kubeconfig) if args.kubeconfig else None
        provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, context=args.context,
                                enable_server_side_apply=True, opts=pulumi.ResourceOptions(parent=self))
        registry = args.registry

        def workload_identity(request: IdentityRequest) -> WorkloadIdentity:
            # No cloud account to create an identity in: the user binds the service account to one they have.
            key = f"{request.namespace}/{request.service_account}"
            return WorkloadIdentity(dict(args.service_account_annotations.get(key, {})))

        self.platform = Platform(
            cloud="existing",
            provider=provider,
            pools=args.pools,
            storage_class=args.storage_class,
            registry=registry,
            managed_prometheus=None,
            # The usual spellings: MetalLB and most on-prem controllers ignore both and give an internal
            # address anyway; cloud-backed clusters (CoreWeave) honour one of them.
            internal_lb_annotations={"service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                                     "networking.gke.io/load-balancer-type": "Internal"},
            exports={"registryUrl": registry, "kubeContext": args.context},
            notes=args.notes,
            system_node_selector=dict(args.system_node_labels),
            workload_identity=workload_identity,
        )
        self.register_outputs({"registryUrl": registry})
