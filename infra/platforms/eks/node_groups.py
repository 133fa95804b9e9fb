"""One EKS managed node group per pool, from a launch template: encrypted gp3 boot disk, IMDSv2 with hop limit 1
(pods cannot borrow the node's role), the bundled NVMe as a RAID0 for kubelet and containerd, a capacity
reservation where configured; GPU nodes run the AL2023 NVIDIA AMI.

A plain function that creates resources as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import base64
import textwrap

import pulumi
import pulumi_aws as aws

from infra.platforms.eks.facts import CA_EPHEMERAL_STORAGE_TAG, CPU_AMI, GPU_AMI
from infra.platforms.nodes import BOOT_DISK_RESERVED_GIB, CLOUD_TAINT_EFFECT, NodePoolSpec


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


def eks_node_group(name: str, spec: NodePoolSpec, cluster: aws.eks.Cluster, node_role: aws.iam.Role,
                   subnets: list[aws.ec2.Subnet], tags: dict[str, str],
                   opts: pulumi.ResourceOptions) -> aws.eks.NodeGroup:
    """The pool's launch template, its managed node group, and the ASG tag cluster-autoscaler scales from zero by."""
    facts, reservation, disk_gb = spec.facts, spec.reservation, spec.disk_gb
    gpu = facts.gpu is not None
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
            **tags, "llm-fleet-pool": facts.name}) for kind in ("instance", "volume")],
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
        labels=spec.labels,
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
