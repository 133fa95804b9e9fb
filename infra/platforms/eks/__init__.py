"""EKS platform: network, cluster, node groups, node autoscaling, registry, weights bucket, budget.

Owns everything that is AWS-specific, with plain pulumi-aws resources (pulumi-eks' components
run as a Node.js plugin, which Pulumi's Python mock engine cannot run offline).

- facts: names, labels, allocatable memory, subnet ranges, pool facts, notes, the kubeconfig's exec plugin
- args: `EksArgs`, what the component is built from, and `args_from(cfg)`
- network: a VPC with a private subnet per zone (nodes, internal load balancers) and a small
  public one per zone (NAT gateways, tagged for public load balancers we never create).
- cluster: EKS with API-mode access entries (only `aws.admins`, the deploy role among them, get
  cluster-admin; the creator keeps no entry), secrets envelope-encrypted with a KMS key, an IAM OIDC provider for IRSA.
- node_groups: one EKS managed node group per pool, from a launch template (encrypted gp3 boot
  disk, IMDSv2 with hop limit 1 so pods cannot borrow the node's role, the bundled NVMe as a
  RAID0 for kubelet and containerd, a capacity reservation where configured).
  GPU nodes run the **AL2023 NVIDIA** AMI: drivers and the container toolkit are in the image;
  nodeadm sets up the instance-store RAID0 with one declarative line (our weight caches live
  on that NVMe, as on GKE's local SSDs); it is the EKS default OS family, so the same user data
  and debugging apply to CPU and GPU nodes. It lacks the device plugin, which we install (one
  pinned chart). Bottlerocket NVIDIA ships the plugin but wants bootstrap commands to put
  ephemeral storage on the NVMe.
- addons: core add-ons, the gp3 StorageClass, cluster-autoscaler, metrics-server, NVIDIA's device
  plugin and DCGM exporter.
- identity: workload identities — a workload asks (`Platform.workload_identity`) and gets an IAM role
  trusted only by its own service account (IRSA), allowed exactly the buckets (and prefixes) it named.
- ecr, weights: the image repositories and the bucket weights are staged in.
- platform: the `EksPlatform` component that composes them.
"""

from infra.platforms.eks.args import EksArgs, args_from
from infra.platforms.eks.facts import (
    KUBECONFIG_EXEC,
    S3_READ,
    S3_WRITE,
    SERVING_REPOSITORY,
    eks_allocatable,
    eks_bucket_notes,
    eks_notes,
    eks_pool_facts,
    eks_prerequisite_notes,
    eks_zone_check,
    subnet_cidrs,
    weights_bucket_prefix,
)
from infra.platforms.eks.identity import s3_statements
from infra.platforms.eks.platform import EksPlatform

__all__ = [
    "KUBECONFIG_EXEC", "S3_READ", "S3_WRITE", "SERVING_REPOSITORY", "EksArgs", "EksPlatform", "args_from",
    "eks_allocatable", "eks_bucket_notes", "eks_notes", "eks_pool_facts", "eks_prerequisite_notes",
    "eks_zone_check", "s3_statements", "subnet_cidrs", "weights_bucket_prefix",
]
