"""KubeRay mode's training: a RayJob whose GPU worker is the training pool's node and whose driver runs on a head
on the rollout pool, under the trainer's identity; suspended until someone resumes it.

Its spec is a pure function of `RayTrainingJobArgs` (`ray_job_spec`), built from the same Ray pods as the
RayService (infra/workloads/kuberay.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.config import StackConfig
from infra.egress import SUBMITTER
from infra.fleet import Fleet
from infra.names import PART_OF, RAY_SUBMITTER_SERVICE_ACCOUNT, TRAINING_SERVICE_ACCOUNT
from infra.restricted import CONTAINER, RAY_GID, RAY_UID, pod_security
from infra.seam import PoolFacts
from infra.waits import NO_WAIT
from infra.workloads.identities import workload_service_account
from infra.workloads.kuberay import (
    DASHBOARD_PORT,
    METRICS_PORT,
    RAY_NODE_LABEL,
    gpu_kind_resources,
    head_group,
    ray_container,
    ray_pod,
)
from infra.workloads.ray_access import ray_dashboard_policy
from infra.workloads.scheduling import gpu_pod_resources
from infra.workloads.secret_files import HF_TOKEN_PATH, hf_token_file, hf_token_secret, mount_in_pod
from infra.workloads.training import CHECKPOINT_MOUNT, TrainingJobArgs, checkpoint_storage, trainer_service_account

RAY_JOB_NAME = "trainer"


@dataclass(frozen=True)
class RayTrainingJobArgs:
    job: TrainingJobArgs  # what the plain training job also takes
    ray_version: str
    head_pool: PoolFacts  # the driver's head runs on the rollout pool


def ray_training_job_args(cfg: StackConfig, fleet: Fleet, job: TrainingJobArgs) -> RayTrainingJobArgs:
    assert fleet.rollout_pool is not None, "validated by config: KubeRay needs rollout"
    return RayTrainingJobArgs(job=job, ray_version=cfg.artifacts.ray_version, head_pool=fleet.rollout_pool)


def ray_job_spec(args: RayTrainingJobArgs, claim_name: pulumi.Input[str] | None, env: dict[str, str]) -> dict[str, Any]:
    training, pool = args.job.placement.job, args.job.placement.pool
    priority_class = args.job.priority_class
    image = args.job.image
    cpu, memory = gpu_pod_resources(pool, training.gpus)
    mounts = [{"name": "dshm", "mountPath": "/dev/shm"}]
    volumes: list[dict[str, Any]] = [{"name": "dshm", "emptyDir": {"medium": "Memory",
                                                                   "sizeLimit": f"{16 * training.gpus}Gi"}}]
    if claim_name is not None:
        mounts.append({"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT})
        volumes.append({"name": "checkpoints", "persistentVolumeClaim": {"claimName": claim_name}})
    worker = ray_container("trainer", image, cpu, memory, gpus=training.gpus, mounts=mounts, env=env)
    return {
        "entrypoint": shlex.join([*training.command, *training.args]) or "python -m trainer",
        # Suspended: `pulumi up` never starts GPU spend nobody asked for. Resume by setting suspend: false.
        "suspend": training.suspend,
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": 3600,
        "runtimeEnvYAML": yaml.safe_dump({"env_vars": env}),
        "rayClusterSpec": {
            "rayVersion": args.ray_version,
            # The driver runs on the head: it writes checkpoints too, under the trainer's identity (no autoscaler).
            "headGroupSpec": head_group(image, args.head_pool, priority_class,
                                         TRAINING_SERVICE_ACCOUNT, api_token=False),
            "workerGroupSpecs": [{"groupName": pool.name, "replicas": 1, "minReplicas": 1, "maxReplicas": 1,
                                  "rayStartParams": {"metrics-export-port": str(METRICS_PORT)},
                                  "resources": gpu_kind_resources(pool),
                                  "template": ray_pod(pool, worker, volumes, priority_class,
                                                   TRAINING_SERVICE_ACCOUNT)}],
        },
        # KubeRay's default submitter pod runs as `default` (v1.7.0 common/job.go GetSubmitterTemplate): give it its
        # own account. KubeRay fills in the `ray job submit` command when none is set (configureSubmitterContainer).
        # Labelled, so the training namespace's NetworkPolicies can let it (and only it) reach the head's dashboard
        # (infra/egress.py SUBMITTER); KubeRay's submitter Job takes the given template, labels included
        # (v1.7.0 common/job.go GetSubmitterTemplate: a DeepCopy of spec.submitterPodTemplate).
        "submitterPodTemplate": {"metadata": {"labels": dict(SUBMITTER)}, "spec": {
            "serviceAccountName": RAY_SUBMITTER_SERVICE_ACCOUNT, "automountServiceAccountToken": False,
            "restartPolicy": "Never", "enableServiceLinks": False,
            "securityContext": pod_security(RAY_UID, RAY_GID),
            "containers": [{"name": "ray-job-submitter", "image": image, "securityContext": dict(CONTAINER),
                            "resources": {"requests": {"cpu": "500m", "memory": "200Mi"},
                                          "limits": {"cpu": "1", "memory": "1Gi"}}}],
        }},
    }


class RayTrainingJob(pulumi.ComponentResource):
    def __init__(self, name: str, args: RayTrainingJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:workloads:RayTrainingJob", name, None, opts)
        job, namespace = args.job, args.job.namespace
        labels = {"app.kubernetes.io/name": "trainer", **PART_OF}
        storage = checkpoint_storage(self, name, job, labels)
        env = {**job.placement.job.env, **storage.env, **job.adapter_env}
        trainer = trainer_service_account(self, name, job)
        submitter = workload_service_account(f"{name}-submitter-sa", name=RAY_SUBMITTER_SERVICE_ACCOUNT,
                                             namespace=namespace, workload_identity=job.workload_identity,
                                             parent=self)
        spec = ray_job_spec(args, storage.claim_name, env)
        if job.hf_token is not None:  # the driver (head) and the trainer both may download: a file in each
            token = hf_token_file(hf_token_secret(f"{name}-hf-token", job.hf_token, namespace, self).metadata.name)
            cluster = spec["rayClusterSpec"]
            for group in (cluster["headGroupSpec"], *cluster["workerGroupSpecs"]):
                mount_in_pod(group["template"]["spec"], token, HF_TOKEN_PATH)
        k8s.apiextensions.CustomResource(
            f"{name}-rayjob", api_version="ray.io/v1", kind="RayJob",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=RAY_JOB_NAME, namespace=namespace, labels=labels,
                                                annotations=NO_WAIT),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[trainer, submitter]))
        # Job submission on the head's dashboard runs code on the GPU node: only the submitter and the operator.
        ray_dashboard_policy(f"{name}-netpol", namespace, labels, RAY_JOB_NAME, DASHBOARD_PORT, RAY_NODE_LABEL,
                             parent=self)
        self.register_outputs({})
