"""What EKS is, from config and catalog alone: names, labels, allocatable memory, subnet ranges, pool facts, notes
and the kubeconfig's exec plugin.

Nothing here creates a resource: cost, guards and the plan notes read these with no cloud call, and the
EKS components build from the same constants.
"""

from __future__ import annotations

import ipaddress
import json
import re

from infra.catalog import GPUS, GpuSpec, MachineShape
from infra.config import StackConfig
from infra.platforms.aws_budget import COST_TAG_NOTE
from infra.platforms.buckets import bucket_notes
from infra.platforms.nodes import catalog_pool_facts, kubelet_cpu_reserved
from infra.platforms.prerequisites import unchecked_zone_notes
from infra.platforms.stack import identity_requests
from infra.seam import ExecPlugin, PoolFacts

GP3_STORAGE_CLASS = "llm-fleet-gp3"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
# cluster-autoscaler (AWS, >= 1.15) treats a node with this label as a GPU node: it waits for the device plugin
# to advertise the GPUs instead of scaling out again while they are not yet allocatable.
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
# Scale from zero: with no node to look at, cluster-autoscaler takes a group's CPU, memory and GPUs from its
# instance type, but its ephemeral storage only from this ASG tag (ours is the NVMe RAID0, not the boot disk).
CA_EPHEMERAL_STORAGE_TAG = "k8s.io/cluster-autoscaler/node-template/resources/ephemeral-storage"
GPU_AMI, CPU_AMI = "AL2023_x86_64_NVIDIA", "AL2023_x86_64_STANDARD"
# The VPC CNI enforces NetworkPolicies only when asked: JSON key enableNetworkPolicy, the STRING "true" (EKS user
# guide, "Restrict Pod network traffic with Kubernetes network policies", awsdocs/amazon-eks-user-guide
# latest/ug/networking/cni-network-policy-configure.adoc). Needs add-on v1.14.0-eksbuild.3+ (unpinned here: EKS
# installs its default for the cluster version, far newer on 1.25+), Kubernetes 1.25+ and kernel 5.10+ (AL2023 has
# 6.1); the node agent then runs as a second container of aws-node and the policy controller in the control plane.
ADDON_CONFIGURATION = {"vpc-cni": json.dumps({"enableNetworkPolicy": "true"})}
# Resource metrics for the HPA (the rollout workers scale on CPU): EKS ships no metrics-server (EKS user guide,
# "View resource usage with the Kubernetes Metrics Server"). Chart: kubernetes-sigs/metrics-server charts/
# metrics-server (3.13.x = metrics-server 0.8.x, for Kubernetes 1.31+ per its README's compatibility matrix).
METRICS_SERVER_REPO = "https://kubernetes-sigs.github.io/metrics-server/"
CLUSTER_AUTOSCALER_SA = ("kube-system", "cluster-autoscaler")
EBS_CSI_SA = ("kube-system", "ebs-csi-controller-sa")
# Managed policies, commercial partition.
POLICY = "arn:aws:iam::aws:policy/"
# Kubelet memory the EKS AMIs reserve: 255 MiB + 11 MiB per pod (max pods 110 below 30 vCPUs, else 250).
_EVICTION_GIB = 100 / 1024
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Object actions a reader and a writer (checkpoints: write, overwrite, clean up, abort a multipart upload) need
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
S3_READ = ["s3:GetObject"]
S3_WRITE = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
# One ECR repository per image: an ECR repository holds one image's tags and digests, so `registryUrl` is the
# prefix they share (`<account>.dkr.ecr.<region>.amazonaws.com/llm-fleet-<stack>`), like GKE's Artifact Registry
# path. The names are the images' names in every registry (`<registryUrl>/<name>`): image.yml pushes the serving
# image to `<registryUrl>/vllm-serving`, and promotion re-points `<source registryUrl>/<name>` to the target's.
ECR_IMAGE_REPOSITORIES = {"servingImage": "vllm-serving", "rolloutImage": "rollout-worker",
                          "trainingImage": "trainer", "rayImage": "ray-llm", "gatewayImage": "gateway"}
SERVING_REPOSITORY = ECR_IMAGE_REPOSITORIES["servingImage"]
# The kubeconfig's credential plugin: the AWS CLI (`aws eks get-token`). GitHub's ubuntu-24.04 (= ubuntu-latest)
# runner image ships it (actions/runner-images images/ubuntu/Ubuntu2404-Readme.md, "CLI Tools: AWS CLI").
# The CI prerequisites guard reads this constant too: one source for what CI must install.
KUBECONFIG_EXEC = ExecPlugin(
    "aws", "run the job on a GitHub-hosted ubuntu-latest/ubuntu-24.04 runner (its image ships the AWS CLI) or "
           "install the AWS CLI in a step before it")


def eks_allocatable(vcpus: int, memory_gib: float) -> tuple[float, float]:
    """What pods can request on an EKS node (AL2023 AMI kube-reserved, 100 MiB eviction threshold)."""
    max_pods = 110 if vcpus < 30 else 250
    reserved_gib = (255 + 11 * max_pods) / 1024
    return round(vcpus - kubelet_cpu_reserved(vcpus), 3), round(memory_gib - reserved_gib - _EVICTION_GIB, 2)


def aws_name_part(stack: str, limit: int) -> str:
    """The stack's name as it may appear in S3 and ECR names: lowercase, [a-z0-9-], at most `limit` chars."""
    part = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")
    return part[:limit].rstrip("-") or "stack"


def weights_bucket_prefix(stack: str) -> str:
    """S3 caps `bucket_prefix` at 37 characters (Pulumi appends 26) and wants lowercase: 10 + 18 + 9 at most."""
    return f"llm-fleet-{aws_name_part(stack, 18)}-weights-"


def ecr_registry_prefix(stack: str) -> str:
    """Per stack: repository names are unique per account and region, and two stacks may share both."""
    return f"llm-fleet-{aws_name_part(stack, 200)}"


def ecr_repository_name(stack: str, image: str = SERVING_REPOSITORY) -> str:
    return f"{ecr_registry_prefix(stack)}/{image}"


def ecr_repositories(cfg: StackConfig) -> dict[str, str]:
    """Artifact key → repository name of each image the stack file sets, and of the two images image.yml builds
    (serving, gateway) always.

    Every image artifact that is set, used or not: promotion copies each one that lives in the source's
    registry into this one, so each needs its repository here. Ours always: a stack promoted into may gain the
    gateway with the artifacts block it receives (an empty repository costs nothing).
    """
    artifacts = cfg.artifacts.model_dump(by_alias=True)
    return {key: name for key, name in ECR_IMAGE_REPOSITORIES.items()
            if key in ("servingImage", "gatewayImage") or artifacts.get(key) is not None}


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs: a /+3 private block per zone; the last block split into small public subnets."""
    net = ipaddress.ip_network(vpc_cidr)
    blocks = list(net.subnets(new_prefix=net.prefixlen + 3))
    public = list(blocks[-1].subnets(new_prefix=min(blocks[-1].prefixlen + 4, 28)))
    return [str(b) for b in blocks[:zones]], [str(b) for b in public[:zones]]


def _eks_gpu_selector(spec: GpuSpec, shape: MachineShape) -> dict[str, str]:
    # The kubelet's own instance-type label: the pod lands on the machine the catalog sized it for.
    return {INSTANCE_TYPE_LABEL: shape.machine_type}


def eks_cloud_labels(facts: PoolFacts) -> dict[str, str]:
    """Node labels only EKS adds: cluster-autoscaler's accelerator label on GPU nodes."""
    return {ACCELERATOR_LABEL: GPUS[facts.gpu].accelerator_name} if facts.gpu else {}


def eks_pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone, so cost and guards need no cloud."""
    return catalog_pool_facts(cfg, "eks", eks_allocatable, _eks_gpu_selector)


def eks_notes(cfg: StackConfig) -> tuple[str, ...]:
    nats = len(cfg.aws.zones) if cfg.aws and cfg.aws.nat_gateway_per_zone else 1
    notes = [f"EKS: the cost table counts the control plane ($0.10/h) and {nats} NAT gateway(s) ($0.045/h each); "
             "their data processing ($0.045/GB through NAT) depends on traffic and is not counted"]
    if cfg.budget is not None:
        notes.append(COST_TAG_NOTE)
    return tuple(notes)


def eks_zone_check(region: str, machines: list[str]) -> str:
    """The command that lists which zones of `region` sell `machines`."""
    return (f"aws ec2 describe-instance-type-offerings --region {region} --location-type "
            f"availability-zone --filters Name=instance-type,Values={','.join(machines)}")


def eks_bucket_notes(cfg: StackConfig) -> tuple[str, ...]:
    """The buckets EKS grants a workload's IRSA role access on (statements in the role's policy)."""
    assert cfg.aws is not None
    grants: dict[str, list[str]] = {}
    for request in identity_requests(cfg).values():
        for access in request.buckets:
            if access.scheme == "s3":
                objects = f"objects under {access.prefix}/" if access.prefix else "all objects"
                grants.setdefault(f"s3://{access.bucket}", []).append(
                    f"the IRSA role of {request.namespace}/{request.service_account} (output {request.name}RoleArn) "
                    f"{'+'.join(S3_WRITE if access.write else S3_READ)} ({objects})")
    # `aws s3 mb <S3Uri> --region <r>` creates a bucket (docs.aws.amazon.com/cli/latest/reference/s3/mb).
    return bucket_notes(grants, f"aws s3 mb {{}} --region {cfg.aws.region}",
                        "the workloads that use it fail without it")


def eks_prerequisite_notes(cfg: StackConfig) -> tuple[str, ...]:
    assert cfg.aws is not None
    return unchecked_zone_notes("eks", cfg.aws.region, eks_pool_facts(cfg), eks_zone_check)
