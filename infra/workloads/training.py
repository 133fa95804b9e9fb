"""The single-GPU-node training job, on its GPU pool, suspended until someone resumes it.

Resume with `kubectl -n llm-training patch job trainer -p '{"spec":{"suspend":false}}'`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.config import StackConfig
from infra.fleet import Fleet, TrainingPlacement
from infra.names import PART_OF, TRAINING_SERVICE_ACCOUNT
from infra.platforms import identity_requests
from infra.restricted import container_security_args, pod_security_args
from infra.seam import IdentityRequest, Platform
from infra.waits import NO_WAIT
from infra.workloads.identities import IdentityFactory, workload_service_account
from infra.workloads.scheduling import gpu_pod_resources, tolerations
from infra.workloads.secret_files import HF_TOKEN_PATH, hf_token_file, hf_token_secret

CHECKPOINT_MOUNT = "/checkpoints"


@dataclass(frozen=True)
class CheckpointStorage:
    env: dict[str, str]
    claim_name: pulumi.Output[str] | None  # mount it at CHECKPOINT_MOUNT when set


@dataclass(frozen=True)
class TrainingJobArgs:
    """What the training job (plain or RayJob) takes from the config, the fleet and the platform."""

    placement: TrainingPlacement  # the job and its GPU pool
    image: str
    protect: bool  # the tier protects the checkpoint volume
    storage_class: str | None  # the platform's SSD class for the checkpoint volume (None: cluster default)
    identity: IdentityRequest  # the trainer's bucket access
    workload_identity: IdentityFactory
    namespace: pulumi.Input[str]
    priority_class: pulumi.Input[str]
    hf_token: str | None = None  # a secret: the job's own copy of the hf-token Secret, mounted as a file
    adapter_env: dict[str, str] = field(default_factory=dict)  # where the trainer publishes adapters (adapter_env)


def trainer_adapter_env(cfg: StackConfig) -> dict[str, str]:
    """Where the trainer publishes each LoRA model's adapters (`python -m serving.adapter_store publish DIR ROOT`):
    ADAPTER_ROOT_<MODEL> per model with `lora`, and ADAPTER_ROOT with ADAPTER_BASE_MODEL (what the manifest's
    `base_model` names: the weights' Hugging Face id or bucket path) when there is one."""
    lora = [(m, root) for m in cfg.models if (root := cfg.adapter_root(m)) is not None]
    env = {f"ADAPTER_ROOT_{m.name.upper().replace('-', '_')}": root for m, root in lora}
    if len(lora) == 1:
        ((model, root),) = lora
        env |= {"ADAPTER_ROOT": root, "ADAPTER_BASE_MODEL": model.source.removeprefix("hf://")}
    return env


def training_job_args(cfg: StackConfig, fleet: Fleet, platform: Platform, *, namespace: pulumi.Input[str],
                      priority_class: pulumi.Input[str]) -> TrainingJobArgs:
    assert fleet.training is not None and cfg.artifacts.training_image is not None, "validated by config"
    return TrainingJobArgs(placement=fleet.training, image=cfg.artifacts.training_image, protect=cfg.profile.protect,
                           storage_class=platform.storage_class, identity=identity_requests(cfg)["training"],
                           workload_identity=platform.workload_identity, namespace=namespace,
                           priority_class=priority_class, hf_token=cfg.hf_token, adapter_env=trainer_adapter_env(cfg))


def trainer_service_account(parent: pulumi.Resource, name: str, args: TrainingJobArgs) -> k8s.core.v1.ServiceAccount:
    """The trainer's own account: read/write on its checkpoint bucket, read on buckets its env or args name."""
    return workload_service_account(f"{name}-sa", name=TRAINING_SERVICE_ACCOUNT, namespace=args.namespace,
                                    workload_identity=args.workload_identity, parent=parent, request=args.identity)


def checkpoint_storage(parent: pulumi.Resource, name: str, args: TrainingJobArgs,
                       labels: dict[str, str]) -> CheckpointStorage:
    """The bucket the job writes to, or else a protected SSD volume claim to mount at /checkpoints."""
    training = args.placement.job
    if training.checkpoint_bucket:
        return CheckpointStorage({"CHECKPOINT_DIR": training.checkpoint_bucket}, None)
    claim = k8s.core.v1.PersistentVolumeClaim(
        f"{name}-checkpoints",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="trainer-checkpoints", namespace=args.namespace, labels=labels),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"], storage_class_name=args.storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                requests={"storage": f"{training.checkpoint_volume_gb}Gi"})),
        # Checkpoints are the run's state: never deleted by an update, protected in prod.
        # The disk is zonal (gp3, pd-ssd) and binds in the zone of the job's first node: on a pool spanning
        # several zones a later run can only go where the disk is. Pin the training pool to one zone
        # (nodePools[].zones) or checkpoint to a bucket.
        opts=pulumi.ResourceOptions(parent=parent, protect=args.protect, retain_on_delete=True))
    return CheckpointStorage({"CHECKPOINT_DIR": CHECKPOINT_MOUNT}, claim.metadata.name)


class TrainingJob(pulumi.ComponentResource):
    def __init__(self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:TrainingJob", name, None, opts)
        training, pool = args.placement.job, args.placement.pool
        namespace, priority_class = args.namespace, args.priority_class
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "trainer", **PART_OF}
        env = dict(training.env)
        storage = checkpoint_storage(self, name, args, labels)
        env.update(storage.env)
        env.update(args.adapter_env)
        service_account = trainer_service_account(self, name, args).metadata.name
        volumes, mounts = [], []
        if storage.claim_name is not None:
            volumes.append(k8s.core.v1.VolumeArgs(
                name="checkpoints", persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=storage.claim_name)))
            mounts.append(k8s.core.v1.VolumeMountArgs(name="checkpoints", mount_path=CHECKPOINT_MOUNT))
        volumes.append(k8s.core.v1.VolumeArgs(name="dshm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
            medium="Memory", size_limit=f"{16 * training.gpus}Gi")))
        mounts.append(k8s.core.v1.VolumeMountArgs(name="dshm", mount_path="/dev/shm"))
        if args.hf_token is not None:  # a file HF_TOKEN_PATH names, never an env value (secret_files.py)
            token = hf_token_file(hf_token_secret(f"{name}-hf-token", args.hf_token, namespace, self).metadata.name)
            volumes.append(token.volume_args())
            mounts.append(token.mount_args())
            env[HF_TOKEN_PATH] = token.path
        gpus = str(training.gpus)
        cpu, memory = gpu_pod_resources(pool, training.gpus)
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="trainer", namespace=namespace, labels=labels,
                # Pulumi would otherwise wait for the (suspended) job to complete.
                annotations=NO_WAIT),
            spec=k8s.batch.v1.JobSpecArgs(
                suspend=training.suspend,
                backoff_limit=3,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account,
                        automount_service_account_token=False,
                        restart_policy="Never",
                        # PSA restricted (issue 17: the trainer failed it): non-root, no privilege escalation.
                        security_context=pod_security_args(),
                        priority_class_name=priority_class,
                        enable_service_links=False,
                        node_selector=pool.node_selector,
                        tolerations=tolerations(pool),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="trainer",
                            image=args.image,
                            command=training.command or None,
                            args=training.args or None,
                            env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": str(cpu), "memory": f"{memory}Gi", "nvidia.com/gpu": gpus},
                                limits={"memory": f"{memory}Gi", "nvidia.com/gpu": gpus}),
                            volume_mounts=mounts,
                            security_context=container_security_args(),
                        )],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=child,
        )
        self.register_outputs({"job": self.job.metadata.name})
