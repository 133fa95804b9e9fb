"""EKS platform: network, cluster, node groups, node autoscaling, registry, weights bucket, budget.

Owns everything that is AWS-specific, with plain pulumi-aws resources (pulumi-eks' components
run as a Node.js plugin, which Pulumi's Python mock engine cannot run offline).

- Network: a VPC with a private subnet per zone (nodes, internal load balancers) and a small
  public one per zone (NAT gateways, tagged for public load balancers we never create).
- Cluster: EKS with API-mode access entries (the deployer is admin at creation; `aws.admins`
  get cluster-admin), secrets envelope-encrypted with a KMS key, an IAM OIDC provider for IRSA.
- Node groups: one EKS managed node group per pool, from a launch template (encrypted gp3 boot
  disk, IMDSv2 with hop limit 1 so pods cannot borrow the node's role, the bundled NVMe as a
  RAID0 for kubelet and containerd, a capacity reservation where configured).
  GPU nodes run the **AL2023 NVIDIA** AMI: drivers and the container toolkit are in the image;
  nodeadm sets up the instance-store RAID0 with one declarative line (our weight caches live
  on that NVMe, as on GKE's local SSDs); it is the EKS default OS family, so the same user data
  and debugging apply to CPU and GPU nodes. It lacks the device plugin, which we install (one
  pinned chart). Bottlerocket NVIDIA ships the plugin but wants bootstrap commands to put
  ephemeral storage on the NVMe.
- Node autoscaling: **cluster-autoscaler** (pinned Helm chart, IRSA role). It grows and shrinks
  exactly the node groups declared here, within their min/max, so a pool's `maxNodes` is an
  honest ceiling for the cost table and the guards, and `pulumi preview` shows every pool.
  Karpenter bin-packs better and diversifies spot, but provisions instances outside the
  declared pools (limits in CPUs/GPUs, not nodes) and brings its own queue, CRDs and roles.
- Workload identities: a workload asks (`Platform.workload_identity`) and gets an IAM role trusted
  only by its own service account (IRSA), allowed exactly the buckets (and prefixes) it named —
  the serving role also reads the weights bucket; its ARN becomes the service account's annotation.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import textwrap

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.catalog import GPUS, GpuSpec, MachineShape
from infra.cluster.helm import pinned_release
from infra.config import StackConfig
from infra.names import GPU_LABEL, PART_OF, POOL_LABEL, PURPOSE_LABEL
from infra.platforms.aws_budget import COST_TAG_NOTE, AwsBudget
from infra.platforms.kubeconfig import exec_kubeconfig
from infra.platforms.nodes import (
    BOOT_DISK_RESERVED_GIB,
    CLOUD_TAINT_EFFECT,
    SYSTEM_DISK_GB,
    catalog_pool_facts,
    kubelet_cpu_reserved,
)
from infra.platforms.seam import (
    BucketAccess,
    ExecPlugin,
    GpuMetricsExporter,
    IdentityRequest,
    Platform,
    PoolFacts,
    WorkloadIdentity,
)
from infra.platforms.stack import stack_tags

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
_POLICY = "arn:aws:iam::aws:policy/"
_ADMIN_ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Kubelet memory the EKS AMIs reserve: 255 MiB + 11 MiB per pod (max pods 110 below 30 vCPUs, else 250).
_EVICTION_GIB = 100 / 1024
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Object actions a reader and a writer (checkpoints: write, overwrite, clean up, abort a multipart upload) need
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
S3_READ = ["s3:GetObject"]
S3_WRITE = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]


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


# One ECR repository per image: an ECR repository holds one image's tags and digests, so `registryUrl` is the
# prefix they share (`<account>.dkr.ecr.<region>.amazonaws.com/llm-fleet-<stack>`), like GKE's Artifact Registry
# path. The names are the images' names in every registry (`<registryUrl>/<name>`): image.yml pushes the serving
# image to `<registryUrl>/vllm-serving`, and promotion re-points `<source registryUrl>/<name>` to the target's.
ECR_IMAGE_REPOSITORIES = {"servingImage": "vllm-serving", "rolloutImage": "rollout-worker",
                          "trainingImage": "trainer", "rayImage": "ray-llm"}
SERVING_REPOSITORY = ECR_IMAGE_REPOSITORIES["servingImage"]


def ecr_registry_prefix(stack: str) -> str:
    """Per stack: repository names are unique per account and region, and two stacks may share both."""
    return f"llm-fleet-{aws_name_part(stack, 200)}"


def ecr_repository_name(stack: str, image: str = SERVING_REPOSITORY) -> str:
    return f"{ecr_registry_prefix(stack)}/{image}"


def ecr_repositories(cfg: StackConfig) -> dict[str, str]:
    """Artifact key → repository name of each image the stack file sets (the serving image always).

    Every image artifact that is set, used or not: promotion copies each one that lives in the source's
    registry into this one, so each needs its repository here.
    """
    artifacts = cfg.artifacts.model_dump(by_alias=True)
    return {key: name for key, name in ECR_IMAGE_REPOSITORIES.items()
            if key == "servingImage" or artifacts.get(key) is not None}


def _eks_gpu_selector(spec: GpuSpec, shape: MachineShape) -> dict[str, str]:
    # The kubelet's own instance-type label: the pod lands on the machine the catalog sized it for.
    return {INSTANCE_TYPE_LABEL: shape.machine_type}


def eks_pool_facts(cfg: StackConfig) -> dict[str, PoolFacts]:
    """Pool facts from config and catalog alone, so cost and guards need no cloud."""
    return catalog_pool_facts(cfg, "eks", eks_allocatable, _eks_gpu_selector)


def eks_notes(cfg: StackConfig) -> tuple[str, ...]:
    nats = len(cfg.aws.zones) if cfg.aws and cfg.aws.nat_gateway_per_zone else 1
    notes = [f"EKS: the control plane ($0.10/h) and {nats} NAT gateway(s) (~$0.045/h each plus data) are billed "
             "besides the node pools in the cost table"]
    if cfg.budget is not None:
        notes.append(COST_TAG_NOTE)
    return tuple(notes)


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs: a /+3 private block per zone; the last block split into small public subnets."""
    net = ipaddress.ip_network(vpc_cidr)
    blocks = list(net.subnets(new_prefix=net.prefixlen + 3))
    public = list(blocks[-1].subnets(new_prefix=min(blocks[-1].prefixlen + 4, 28)))
    return [str(b) for b in blocks[:zones]], [str(b) for b in public[:zones]]


def _nvme_raid0_user_data() -> str:
    """nodeadm config (MIME part EKS merges with its own): the instance-store NVMe as one RAID0 for kubelet."""
    doc = textwrap.dedent("""\
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="//"

        --//
        Content-Type: application/node.eks.aws

        apiVersion: node.eks.aws/v1alpha1
        kind: NodeConfig
        spec:
          instance:
            localStorage:
              strategy: RAID0

        --//--
        """)
    return base64.b64encode(doc.encode()).decode()


def _irsa_trust(oidc: aws.iam.OpenIdConnectProvider, namespace: str, service_account: str) -> pulumi.Output[str]:
    """Trust policy: only this one service account, with tokens minted for STS, may assume the role."""
    def policy(args: list[str]) -> str:
        arn, url = args
        issuer = url.removeprefix("https://")
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{issuer}:aud": "sts.amazonaws.com",
            }},
        }]})

    return pulumi.Output.all(oidc.arn, oidc.url).apply(policy)


def s3_statements(access: BucketAccess) -> list[dict[str, object]]:
    """IAM statements for one bucket URL: list under its prefix, read (or read and write) objects under it."""
    bucket = f"arn:aws:s3:::{access.bucket}"
    listing: dict[str, object] = {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket}
    if access.prefix:
        # ListBucket is a bucket action: its prefix is held by the s3:prefix condition key.
        listing["Condition"] = {"StringLike": {"s3:prefix": [access.prefix, f"{access.prefix}/*"]}}
    objects = f"{bucket}/{access.prefix}/*" if access.prefix else f"{bucket}/*"
    return [listing, {"Effect": "Allow", "Action": S3_WRITE if access.write else S3_READ, "Resource": objects}]


def _service_trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


# The kubeconfig's credential plugin: the AWS CLI (`aws eks get-token`). GitHub's ubuntu-24.04 (= ubuntu-latest)
# runner image ships it (actions/runner-images images/ubuntu/Ubuntu2404-Readme.md, "CLI Tools: AWS CLI").
# The CI prerequisites guard reads this constant too: one source for what CI must install.
KUBECONFIG_EXEC = ExecPlugin(
    "aws", "run the job on a GitHub-hosted ubuntu-latest/ubuntu-24.04 runner (its image ships the AWS CLI) or "
           "install the AWS CLI in a step before it")


def _kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    # Authenticates through `aws eks get-token`.
    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
        lambda a: exec_kubeconfig(a[0], a[1], a[2], {
            "command": KUBECONFIG_EXEC.command, "args": ["eks", "get-token", "--cluster-name", a[0], "--region", region,
                                       "--output", "json"]}))


class EksPlatform(pulumi.ComponentResource):
    """An EKS cluster with a managed node group per pool, node autoscaling, a registry, a bucket and a budget."""

    platform: Platform

    def __init__(self, name: str, args: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmfleet:platform:EksPlatform", name, None, opts)
        cfg = args
        assert cfg.aws is not None, "validated by config"
        aws_cfg = cfg.aws
        stack = pulumi.get_stack()
        self._name, self._cfg = name, cfg
        tags = stack_tags(cfg)
        self._tags = tags
        # Every AWS resource of the stack carries its tags: the budget filters on them.
        provider = aws.Provider(f"{name}-aws", region=aws_cfg.region,
                                default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                                opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self._child = child
        # Stateful or slow-to-rebuild resources: `pulumi destroy` in prod must be a deliberate act.
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=cfg.profile.protect))
        cluster_name = f"llm-fleet-{stack}"

        private_subnets = self._network(name, cfg, cluster_name)
        public_cidrs = cfg.control_plane.authorized_networks
        assert public_cidrs is not None, "validated by config"

        cluster_role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=_service_trust("eks.amazonaws.com"),
                                    opts=child)
        cluster_policy = aws.iam.RolePolicyAttachment(f"{name}-cluster-policy", role=cluster_role.name,
                                                      policy_arn=_POLICY + "AmazonEKSClusterPolicy", opts=child)
        secrets_key = aws.kms.Key(f"{name}-secrets-key", description=f"llm-fleet {stack}: EKS secrets encryption",
                                  enable_key_rotation=True, deletion_window_in_days=30, opts=stateful)
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=aws_cfg.cluster_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=[s.id for s in private_subnets.values()],
                endpoint_private_access=True,  # nodes reach the API inside the VPC
                # The deployer (CI) and operators reach the public endpoint from these ranges only; EKS's default
                # is 0.0.0.0/0 (EKS API VpcConfigRequest.publicAccessCidrs). [] turns the public endpoint off.
                endpoint_public_access=bool(public_cidrs),
                public_access_cidrs=public_cidrs or None,
            ),
            # Access entries, not the aws-auth ConfigMap; the identity that creates the cluster is its admin.
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API",
                                                          bootstrap_cluster_creator_admin_permissions=True),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn)),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            deletion_protection=cfg.profile.protect,
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[cluster_policy])),
        )
        self._cluster = cluster
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=cluster.identities[0].oidcs[0].issuer, client_id_lists=["sts.amazonaws.com"],
            opts=child)
        self._oidc = oidc
        for i, arn in enumerate(aws_cfg.admins):
            entry = aws.eks.AccessEntry(f"{name}-admin-{i}", cluster_name=cluster.name, principal_arn=arn,
                                        type="STANDARD", opts=child)
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}-policy", cluster_name=cluster.name, principal_arn=entry.principal_arn,
                policy_arn=_ADMIN_ACCESS_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), opts=child)

        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_service_trust("ec2.amazonaws.com"),
                                 opts=child)
        # Least privilege for nodes: join the cluster, run the VPC CNI, pull images. Workloads get IRSA roles.
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy.lower()}", role=node_role.name,
                                         policy_arn=_POLICY + policy, opts=child)
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
        ]

        facts = eks_pool_facts(cfg)
        node_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=node_policies))
        system_group = self._node_group(facts["system"], None, cluster, node_role, list(private_subnets.values()),
                                        node_opts)
        for pool in cfg.node_pools:
            # A pool may be held to some zones; a capacity reservation pool to the reservation's one zone.
            subnets = [private_subnets[z] for z in pool.zones] if pool.zones else list(private_subnets.values())
            self._node_group(facts[pool.name], pool, cluster, node_role, subnets, node_opts)

        # Core add-ons, after the first nodes exist (CoreDNS needs somewhere to run).
        after_nodes = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[system_group]))
        for addon in ("vpc-cni", "kube-proxy", "coredns"):
            aws.eks.Addon(f"{name}-addon-{addon}", cluster_name=cluster.name, addon_name=addon,
                          configuration_values=ADDON_CONFIGURATION.get(addon),
                          resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
                          opts=after_nodes)
        ebs_role = self._irsa_role("ebs-csi", *EBS_CSI_SA, managed=("service-role/AmazonEBSCSIDriverPolicy",))
        aws.eks.Addon(f"{name}-addon-ebs-csi", cluster_name=cluster.name, addon_name="aws-ebs-csi-driver",
                      service_account_role_arn=ebs_role.arn, resolve_conflicts_on_create="OVERWRITE",
                      resolve_conflicts_on_update="OVERWRITE", opts=after_nodes)

        repositories = {
            image: aws.ecr.Repository(
                # The serving image's repository keeps the name it always had: renaming would replace it.
                f"{name}-registry" if image == SERVING_REPOSITORY else f"{name}-registry-{image}",
                name=ecr_repository_name(stack, image),
                # Immutable tags: a digest promoted to prod can never be re-pointed under the same tag.
                image_tag_mutability="MUTABLE" if cfg.tier == "dev" else "IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                # Only dev's images go with `pulumi destroy`: CI rebuilds them from any commit. Staging is not
                # protected, but its repositories hold the digests being promoted to prod, so a destroy there
                # fails on a non-empty repository until someone empties it on purpose.
                force_delete=cfg.tier == "dev",
                opts=stateful,
            )
            for image in ecr_repositories(cfg).values()
        }
        # <account>.dkr.ecr.<region>.amazonaws.com/llm-fleet-<stack>: the serving repository's URL minus its name.
        registry_url = repositories[SERVING_REPOSITORY].repository_url.apply(lambda url: url.rsplit("/", 1)[0])
        bucket = self._weights_bucket(name, cfg, stateful)
        self._weights = bucket

        kubeconfig = pulumi.Output.secret(_kubeconfig(cluster, aws_cfg.region))
        k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, enable_server_side_apply=True,
                                    opts=pulumi.ResourceOptions(parent=self, depends_on=[system_group]))
        k8s.storage.v1.StorageClass(
            f"{name}-gp3-storage",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GP3_STORAGE_CLASS,
                                                labels=PART_OF),
            provisioner="ebs.csi.aws.com",
            # The EBS CSI driver tags each volume it creates: the tag-filtered budget counts volumes too.
            parameters={"type": "gp3", "encrypted": "true",
                        **{f"tagSpecification_{i}": f"{k}={v}" for i, (k, v) in enumerate(tags.items(), start=1)}},
            # Bind where the pod lands, so the volume is created in the GPU node's zone.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Retain" if cfg.profile.protect else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider),
        )
        self._cluster_autoscaler(cluster, k8s_provider)
        self._metrics_server(k8s_provider)
        gpu_metrics = self._gpu_daemons(k8s_provider)

        budget = None
        if cfg.budget is not None:
            budget = AwsBudget(f"{name}-budget", cfg, opts=pulumi.ResourceOptions(parent=self, provider=provider))

        exports = {"clusterName": cluster.name, "kubeconfig": kubeconfig, "registryUrl": registry_url,
                   "weightsBucket": bucket.bucket, "budgetName": budget.budget_name if budget else None}
        self._exports = exports
        self.platform = Platform(
            cloud="eks",
            provider=k8s_provider,
            pools=facts,
            storage_class=GP3_STORAGE_CLASS,
            registry=registry_url,
            managed_prometheus=None,  # Amazon Managed Prometheus needs SigV4 proxies: self-hosted instead
            # The AWS Load Balancer Controller reads the scheme; the in-tree controller the `internal` flag.
            internal_lb_annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                                     "service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
            exports=exports,
            notes=eks_notes(cfg),
            workload_identity=self._workload_identity,
            gpu_metrics=gpu_metrics,
        )
        self.register_outputs(exports)

    def _network(self, name: str, cfg: StackConfig, cluster_name: str) -> dict[str, aws.ec2.Subnet]:
        """The VPC; returns the private (node) subnet of each zone."""
        assert cfg.aws is not None
        child, zones = self._child, cfg.aws.zones
        private_cidrs, public_cidrs = subnet_cidrs(cfg.aws.vpc_cidr, len(zones))
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cfg.aws.vpc_cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, routes=[
            aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)], opts=child)
        owned = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
        public: list[aws.ec2.Subnet] = []
        private: dict[str, aws.ec2.Subnet] = {}
        for zone, cidr in zip(zones, public_cidrs, strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=zone,
                tags={**owned, "kubernetes.io/role/elb": "1", "Name": f"{cluster_name}-public-{zone}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=public_rt.id,
                                          opts=child)
            public.append(subnet)
        # Nodes are private: NAT lets them pull images and weights. One per zone survives a zone outage.
        nats = []
        for zone, subnet in list(zip(zones, public, strict=True))[:len(zones) if cfg.aws.nat_gateway_per_zone else 1]:
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=child)
            nats.append(aws.ec2.NatGateway(f"{name}-nat-{zone}", allocation_id=eip.id, subnet_id=subnet.id,
                                           opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                               depends_on=[igw]))))
        for i, (zone, cidr) in enumerate(zip(zones, private_cidrs, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=cidr, availability_zone=zone,
                tags={**owned, "kubernetes.io/role/internal-elb": "1", "Name": f"{cluster_name}-private-{zone}"},
                opts=child)
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{zone}", vpc_id=vpc.id, routes=[
                aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % len(nats)].id)],
                opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=rt.id,
                                          opts=child)
            private[zone] = subnet
        return private

    def _node_group(self, facts: PoolFacts, pool, cluster: aws.eks.Cluster, node_role: aws.iam.Role,
                    subnets: list[aws.ec2.Subnet], opts: pulumi.ResourceOptions) -> aws.eks.NodeGroup:
        name = self._name
        gpu = facts.gpu is not None
        labels = {POOL_LABEL: facts.name, PURPOSE_LABEL: facts.purpose}
        if facts.gpu:
            labels[GPU_LABEL] = facts.gpu.value.lower()
            labels[ACCELERATOR_LABEL] = GPUS[facts.gpu].accelerator_name
        if pool is not None:
            labels.update(pool.labels)
        reservation = pool.reservation if pool is not None else None
        disk_gb = pool.disk_size_gb if pool is not None else SYSTEM_DISK_GB
        assert disk_gb > BOOT_DISK_RESERVED_GIB
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt-{facts.name}",
            description=f"llm-fleet node pool {facts.name}",
            update_default_version=True,
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=disk_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"))],
            # IMDSv2 only, one hop: pods cannot reach the node's credentials; they use their own IRSA roles.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            user_data=_nvme_raid0_user_data() if facts.local_ssd_gib else None,
            capacity_reservation_specification=aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                    capacity_reservation_id=reservation)) if reservation else None,
            # Instances and volumes launched by the node group's autoscaling group carry the stack's tags too.
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={
                **self._tags, "llm-fleet-pool": facts.name}) for kind in ("instance", "volume")],
            opts=opts,
        )
        group = aws.eks.NodeGroup(
            f"{name}-pool-{facts.name}",
            cluster_name=cluster.name,
            # A prefix, not a fixed name: changing the instance type, capacity type or AMI replaces the group,
            # and the replacement is created before the old one is deleted, under a name of its own.
            node_group_name_prefix=f"{facts.name}-",
            node_role_arn=node_role.arn,
            subnet_ids=[s.id for s in subnets],
            ami_type=GPU_AMI if gpu else CPU_AMI,
            instance_types=[facts.machine_type],
            capacity_type="SPOT" if facts.capacity == "spot" else "ON_DEMAND",
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=facts.min_nodes, max_size=facts.max_nodes, desired_size=facts.min_nodes),
            labels=labels,
            taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=CLOUD_TAINT_EFFECT[t.effect])
                    for t in facts.taints] or None,
            # Replace GPU nodes one at a time: a surge would need a spare GPU node.
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            tags={"llm-fleet-pool": facts.name},
            # The cluster-autoscaler owns the desired size; `pulumi up` must not reset it.
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                ignore_changes=["scalingConfig.desiredSize"])),
        )
        # EKS creates the group's autoscaling group; its name is known once the group exists (an Output input).
        aws.autoscaling.Tag(
            f"{name}-pool-{facts.name}-ca-ephemeral-storage",
            autoscaling_group_name=group.resources.apply(lambda r: r[0].autoscaling_groups[0].name),
            tag=aws.autoscaling.TagTagArgs(key=CA_EPHEMERAL_STORAGE_TAG, value=f"{facts.ephemeral_storage_gib}Gi",
                                           propagate_at_launch=False),
            opts=opts)
        return group

    def _workload_identity(self, request: IdentityRequest) -> WorkloadIdentity:
        """An IRSA role for one service account, allowed exactly the S3 buckets and prefixes it asked for.

        The role's ARN is exported as `<name>RoleArn` (servingRoleArn, trainingRoleArn).
        """
        buckets = [b for b in request.buckets if b.scheme == "s3"]
        if not buckets and not request.reads_staged_weights:
            return WorkloadIdentity()
        statements = [s for b in buckets for s in s3_statements(b)]

        def document(weights_arn: str | None) -> str:
            staged = ([{"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": weights_arn},
                       {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{weights_arn}/*"}]
                      if weights_arn else [])
            return json.dumps({"Version": "2012-10-17", "Statement": [*staged, *statements]})

        policy = self._weights.arn.apply(document) if request.reads_staged_weights else document(None)
        role = self._irsa_role(request.name, request.namespace, request.service_account, inline=policy)
        self._exports[f"{request.name}RoleArn"] = role.arn
        return WorkloadIdentity({IRSA_ANNOTATION: role.arn}, (role,))

    def _irsa_role(self, suffix: str, namespace: str, service_account: str, *, managed: tuple[str, ...] = (),
                   inline: pulumi.Input[str] | None = None) -> aws.iam.Role:
        """An IAM role that exactly one Kubernetes service account may assume (IRSA)."""
        name, child = self._name, self._child
        role = aws.iam.Role(f"{name}-{suffix}-role", assume_role_policy=_irsa_trust(self._oidc, namespace,
                                                                                     service_account),
                            description=f"IRSA: {namespace}/{service_account}", opts=child)
        for policy in managed:
            aws.iam.RolePolicyAttachment(f"{name}-{suffix}-{policy.rsplit('/', 1)[-1].lower()}", role=role.name,
                                         policy_arn=_POLICY + policy, opts=child)
        if inline is not None:
            # A child of its role, so the plan (and the guards) can tell whose permissions these are; the alias
            # keeps policies declared before that (as children of the platform) from being replaced.
            aws.iam.RolePolicy(f"{name}-{suffix}-policy", role=role.id, policy=inline,
                               opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                   parent=role, aliases=[pulumi.Alias(parent=self)])))
        return role

    def _weights_bucket(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions) -> aws.s3.Bucket:
        """Private, versioned, encrypted, TLS-only: where model weights are staged for s3:// model sources."""
        assert cfg.aws is not None
        child = self._child
        bucket = aws.s3.Bucket(
            f"{name}-weights",
            bucket=cfg.aws.weights_bucket,
            bucket_prefix=None if cfg.aws.weights_bucket else weights_bucket_prefix(pulumi.get_stack()),
            force_destroy=not cfg.profile.protect,
            opts=opts)
        aws.s3.BucketPublicAccessBlock(f"{name}-weights-private", bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                       opts=child)
        aws.s3.BucketOwnershipControls(f"{name}-weights-owner", bucket=bucket.id,
                                       rule=aws.s3.BucketOwnershipControlsRuleArgs(
                                           object_ownership="BucketOwnerEnforced"), opts=child)
        aws.s3.BucketVersioning(f"{name}-weights-versioning", bucket=bucket.id,
                                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                                    status="Enabled"), opts=child)
        # SSE-S3: encrypted at rest, and readers need no KMS grant beyond the bucket policy.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-weights-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"), bucket_key_enabled=True)],
            opts=child)
        tls_only = bucket.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
        aws.s3.BucketPolicy(f"{name}-weights-tls-only", bucket=bucket.id, policy=tls_only, opts=child)
        return bucket

    def _cluster_autoscaler(self, cluster: aws.eks.Cluster, provider: k8s.Provider) -> None:
        cfg = self._cfg
        assert cfg.aws is not None and cfg.artifacts.charts.cluster_autoscaler is not None
        policy = cluster.name.apply(lambda cluster_name: json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                # Scale from zero: the node group's labels and taints, read from EKS.
                "eks:DescribeNodegroup"]},
            # Resize only this cluster's node groups (EKS tags their autoscaling groups).
            {"Effect": "Allow", "Resource": "*",
             "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
        ]}))
        namespace, sa = CLUSTER_AUTOSCALER_SA
        role = self._irsa_role("cluster-autoscaler", namespace, sa, inline=policy)
        pinned_release(
            f"{self._name}-cluster-autoscaler", release="cluster-autoscaler", chart="cluster-autoscaler",
            version=cfg.artifacts.charts.cluster_autoscaler, repo="https://kubernetes.github.io/autoscaler",
            namespace=namespace, parent=self, provider=provider, node_selector={POOL_LABEL: "system"},
            values={
                "cloudProvider": "aws", "awsRegion": cfg.aws.region,
                "autoDiscovery": {"clusterName": cluster.name},
                "rbac": {"serviceAccount": {"name": sa, "annotations": {"eks.amazonaws.com/role-arn": role.arn}}},
                "extraArgs": {
                    # GPU pods cache weights on emptyDirs: without this their nodes would never scale down.
                    "skip-nodes-with-local-storage": False,
                    "balance-similar-node-groups": True,
                    "expander": "least-waste",
                },
            })

    def _metrics_server(self, provider: k8s.Provider) -> None:
        """The resource metrics API (metrics.k8s.io) the CPU HorizontalPodAutoscalers read, on the system pool."""
        version = self._cfg.artifacts.charts.metrics_server
        assert version is not None, "validated by config"
        pinned_release(
            f"{self._name}-metrics-server", release="metrics-server", chart="metrics-server", version=version,
            repo=METRICS_SERVER_REPO, namespace="kube-system", parent=self, provider=provider,
            node_selector={POOL_LABEL: "system"}, values={})

    def _gpu_daemons(self, provider: k8s.Provider) -> GpuMetricsExporter:
        """NVIDIA's device plugin and DCGM exporter on every GPU node: AL2023 NVIDIA nodes ship only drivers."""
        charts = self._cfg.artifacts.charts
        assert charts.nvidia_device_plugin is not None and charts.dcgm_exporter is not None
        on_gpu_nodes = {
            # The charts' default affinities want node-feature-discovery labels we do not install.
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": GPU_LABEL, "operator": "Exists"}]}]}}},
            "tolerations": [{"operator": "Exists"}],  # every taint a GPU pool may carry
        }
        pinned_release(
            f"{self._name}-nvidia-device-plugin", release="nvidia-device-plugin", chart="nvidia-device-plugin",
            version=charts.nvidia_device_plugin, repo="https://nvidia.github.io/k8s-device-plugin",
            namespace="nvidia-device-plugin", parent=self, provider=provider, node_selector={}, values=on_gpu_nodes)
        exporter = GpuMetricsExporter(namespace="nvidia-dcgm-exporter",
                                      match_labels={"app.kubernetes.io/name": "dcgm-exporter"}, port="metrics")
        pinned_release(
            f"{self._name}-dcgm-exporter", release="dcgm-exporter", chart="dcgm-exporter",
            version=charts.dcgm_exporter, repo="https://nvidia.github.io/dcgm-exporter/helm-charts",
            namespace=exporter.namespace, parent=self, provider=provider, node_selector={},
            # Prometheus (and its CRDs) come later, with the cluster services: they scrape it with a PodMonitor.
            values={**on_gpu_nodes, "serviceMonitor": {"enabled": False}})
        return exporter
