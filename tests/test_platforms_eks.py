"""EKS: the example stack planned under mocks — node groups, identities, budget, 8-GPU granularity, bad config."""

from __future__ import annotations

import json
import re

import pytest
from kubernetes.utils.quantity import parse_quantity

from infra.catalog import GpuKind
from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from infra.platforms.eks import eks_allocatable, subnet_cidrs
from tests.conftest import EXAMPLES_DIR, assert_one_config_error, run_cli, stack_config, with_mode
from tests.k8s_schema import is_core, validate

STACK = "eks-prod"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GIB = 2**30


@pytest.fixture
def plan(plan_of):
    return plan_of(STACK)


def node_groups(plan) -> dict[str, dict]:
    return {r.inputs["nodeGroupNamePrefix"].removesuffix("-"): r.inputs for r in plan.of_type(NODE_GROUP)}


def the(plan, type_: str, **match) -> dict:
    found = [r.inputs for r in plan.of_type(type_) if all(r.inputs.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (type_, match, len(found))
    return found[0]


def test_eks_stack_plans_cleanly_with_what_the_issue_lists(plan):
    assert plan.ok, [v for v in plan.verdicts if v.status != "pass"]
    types = {r.type for r in plan.resources}
    assert {"aws:ec2/vpc:Vpc", "aws:ec2/natGateway:NatGateway", "aws:eks/cluster:Cluster", NODE_GROUP,
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "aws:eks/accessEntry:AccessEntry",
            "aws:eks/addon:Addon", "aws:ecr/repository:Repository", "aws:s3/bucket:Bucket",
            "aws:budgets/budget:Budget", "aws:sns/topic:Topic", "pulumi:providers:kubernetes"} <= types
    assert not {t for t in types if t.startswith("gcp:")}
    top = {r.type for r in plan.resources if r.parent == ""}
    assert all(t.startswith("llmfleet:") for t in top), top
    # Private subnets in every zone, NAT per zone (prod example), tagged for internal load balancers.
    private = [r.inputs for r in plan.of_type("aws:ec2/subnet:Subnet") if "kubernetes.io/role/internal-elb" in
               r.inputs["tags"]]
    assert sorted(s["availabilityZone"] for s in private) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == 3
    cluster = the(plan, "aws:eks/cluster:Cluster")
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    assert cluster["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster["deletionProtection"] is True


def test_subnets_do_not_overlap():
    private, public = subnet_cidrs("10.40.0.0/16", 3)
    assert private == ["10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"]
    assert public == ["10.40.224.0/23", "10.40.226.0/23", "10.40.228.0/23"]


def test_node_groups_carry_ami_instance_capacity_taints_and_labels(plan):
    groups = node_groups(plan)
    assert set(groups) == {"system", "a100-serving", "h100-training", "rollout"}
    a100, h100, rollout = groups["a100-serving"], groups["h100-training"], groups["rollout"]
    assert (a100["amiType"], a100["instanceTypes"], a100["capacityType"]) == (
        "AL2023_x86_64_NVIDIA", ["p4d.24xlarge"], "ON_DEMAND")
    assert (h100["instanceTypes"], h100["capacityType"]) == (["p5.4xlarge"], "SPOT")
    assert (rollout["amiType"], rollout["instanceTypes"]) == ("AL2023_x86_64_STANDARD", ["m7i.8xlarge"])
    for gpu_group in (a100, h100):
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in gpu_group["taints"]
    assert "taints" not in rollout
    assert a100["labels"]["llm-fleet.dev/pool"] == "a100-serving" and a100["labels"]["llm-fleet.dev/gpu"] == "a100-40gb"
    assert a100["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}
    # The bundled NVMe becomes kubelet's ephemeral storage (nodeadm RAID0) on GPU nodes.
    templates = {r.name: r.inputs for r in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    assert "userData" in templates["eks-lt-a100-serving"] and "userData" not in templates["eks-lt-rollout"]
    assert templates["eks-lt-a100-serving"]["metadataOptions"]["httpTokens"] == "required"


@pytest.mark.parametrize(("gpu", "gpus_per_node", "instance", "gpus"), [
    ("A100-40GB", None, "p4d.24xlarge", 8),
    ("A100-80GB", None, "p4de.24xlarge", 8),
    ("H100-80GB", None, "p5.4xlarge", 1),
    ("H100-80GB", 8, "p5.48xlarge", 8),
    ("L4", None, "g6.2xlarge", 1),
    ("L4", 4, "g6.12xlarge", 4),
])
def test_each_gpu_kind_gets_its_instance_type(gpu, gpus_per_node, instance, gpus):
    raw = stack_config(STACK)
    pool = raw["nodePools"][0]
    pool.pop("gpusPerNode")
    pool.update(gpu=gpu, minNodes=1, maxNodes=12)
    if gpus_per_node:
        pool["gpusPerNode"] = gpus_per_node
    raw["models"][0]["gpu"] = gpu
    facts = pool_facts(parse_stack_config(raw))["a100-serving"]
    assert (facts.machine_type, facts.gpus_per_node) == (instance, gpus)
    assert facts.node_selector == {"node.kubernetes.io/instance-type": instance, "llm-fleet.dev/pool": "a100-serving"}
    assert facts.taints[0].key == "nvidia.com/gpu"


def test_a_reservation_pool_targets_its_capacity_reservation(make_stack):
    from infra.plan import run_plan

    def reserve(c):
        c["nodePools"][0].update(capacity="reservation", reservation="cr-0123456789abcdef0", zones=["us-east-1b"])

    root, name = make_stack(STACK, reserve)
    plan = run_plan(name, root)
    groups = node_groups(plan)
    group = groups["a100-serving"]
    assert group["capacityType"] == "ON_DEMAND"
    # The reservation lives in one zone: the group may launch only there, or it would miss the reservation.
    subnets = {r.name: f"{r.name}-id" for r in plan.of_type("aws:ec2/subnet:Subnet")}
    assert group["subnetIds"] == [subnets["eks-private-us-east-1b"]]
    assert len(groups["rollout"]["subnetIds"]) == 3
    template = next(r.inputs for r in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
                    if r.name == "eks-lt-a100-serving")
    target = template["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target == {"capacityReservationId": "cr-0123456789abcdef0"}


def test_serving_role_trusts_exactly_the_serving_service_account(plan):
    roles = {r.inputs.get("description"): r for r in plan.of_type("aws:iam/role:Role")}
    role = roles["IRSA: llm-serving/model-server"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::")
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE0123"
    assert statement["Condition"] == {"StringEquals": {
        f"{issuer}:sub": "system:serviceaccount:llm-serving:model-server", f"{issuer}:aud": "sts.amazonaws.com"}}
    # It may read the weights bucket, nothing else.
    (policy,) = [r.inputs for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == "eks-serving-policy"]
    actions = sorted(a for s in json.loads(policy["policy"])["Statement"] for a in s["Action"])
    assert actions == ["s3:GetObject", "s3:ListBucket"]
    # Every IRSA role is scoped to one service account.
    for r in plan.of_type("aws:iam/role:Role"):
        if "WebIdentity" in r.inputs["assumeRolePolicy"]:
            (s,) = json.loads(r.inputs["assumeRolePolicy"])["Statement"]
            assert len([k for k in s["Condition"]["StringEquals"] if k.endswith(":sub")]) == 1


def test_vllm_runs_as_the_serving_service_account_bound_to_the_role(plan):
    objects = {(o["kind"], o["metadata"]["name"]): o for o in plan.manifests()}
    sa = objects[("ServiceAccount", "model-server")]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/eks-serving-role")
    deployment = objects[("Deployment", "vllm-qwen-7b")]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "model-server"


def test_weights_bucket_is_private_versioned_and_encrypted(plan):
    assert the(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["restrictPublicBuckets"] is True
    versioning = the(plan, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = the(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert the(plan, "aws:ecr/repository:Repository", name="llm-fleet-eks-prod/vllm-serving")["imageTagMutability"] \
        == "IMMUTABLE"


def trusted_account(plan, role_arn: str) -> str:
    """The Kubernetes service account the IAM role named by `role_arn` lets assume it (its trust policy's `sub`)."""
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.name == role_arn.rsplit("/", 1)[1]]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    (sub,) = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    return sub


def test_cluster_autoscaler_device_plugin_dcgm_and_ebs_csi(plan):
    releases = {r.inputs["name"]: r.inputs for r in plan.of_type("kubernetes:helm.sh/v3:Release")}
    ca = releases["cluster-autoscaler"]
    assert ca["values"]["autoDiscovery"]["clusterName"] == "llm-fleet-eks-prod"
    assert ca["values"]["extraArgs"]["skip-nodes-with-local-storage"] is False
    # CA's service account is annotated with the IAM role that trusts exactly that account (IRSA).
    ca_sa = ca["values"]["rbac"]["serviceAccount"]
    assert trusted_account(plan, ca_sa["annotations"]["eks.amazonaws.com/role-arn"]) == \
        f"system:serviceaccount:{ca['namespace']}:{ca_sa['name']}"
    plugin = releases["nvidia-device-plugin"]
    assert plugin["values"]["tolerations"] == [{"operator": "Exists"}]
    assert plugin["values"]["nodeSelector"] == {}
    # DCGM on the GPU nodes, scraped by the self-hosted Prometheus: the dashboard's GPU panel has data.
    dcgm = releases["dcgm-exporter"]
    assert dcgm["values"]["tolerations"] == [{"operator": "Exists"}]  # runs on GPU nodes whatever their taints
    monitor = next(o for o in plan.manifests()
                   if o["kind"] == "PodMonitor" and o["metadata"]["name"] == "dcgm-exporter")
    # Prometheus looks for the exporter's pods in the namespace the chart is installed in, not a guessed one.
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [dcgm["namespace"]]}
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "dcgm-exporter"}
    dashboard = next(o for o in plan.manifests() if o["kind"] == "ConfigMap" and "DCGM_FI_DEV_GPU_UTIL" in str(o))
    # Grafana's dashboard sidecar (kube-prometheus-stack) loads ConfigMaps only from the namespaces it searches.
    search = releases["kube-prometheus-stack"]["values"]["grafana"]["sidecar"]["dashboards"]["searchNamespace"]
    assert search == "ALL" or dashboard["metadata"]["namespace"] in search.split(","), (search, dashboard["metadata"])
    addons = {r.inputs["addonName"]: r.inputs for r in plan.of_type("aws:eks/addon:Addon")}
    # The EBS CSI add-on's controller account (ebs-csi-controller-sa in kube-system) is the one its role trusts.
    assert trusted_account(plan, addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"]) == \
        "system:serviceaccount:kube-system:ebs-csi-controller-sa"
    storage = next(o for o in plan.manifests() if o["kind"] == "StorageClass")
    assert (storage["provisioner"], storage["parameters"]["type"]) == ("ebs.csi.aws.com", "gp3")


def test_budget_exists_with_actual_and_forecast_notifications(plan):
    budget = the(plan, "aws:budgets/budget:Budget")
    assert (budget["budgetType"], budget["timeUnit"], budget["limitAmount"], budget["limitUnit"]) == (
        "COST", "MONTHLY", "45000.00", "USD")
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:llm-fleet-stack$eks-prod"]}]
    rules = {(n["notificationType"], n["threshold"]) for n in budget["notifications"]}
    assert rules == {("ACTUAL", 50), ("ACTUAL", 90), ("ACTUAL", 100), ("FORECASTED", 100)}
    # Every notification also goes to the stack's one SNS topic (its ARN, in the stack's region).
    (topic,) = plan.of_type("aws:sns/topic:Topic")
    for n in budget["notifications"]:
        assert n["subscriberEmailAddresses"] == ["ml-platform@acme.example", "finops@acme.example"]
        (arn,) = n["subscriberSnsTopicArns"]
        assert arn.startswith("arn:aws:sns:us-east-1:") and arn.rsplit(":", 1)[1] == topic.name, arn


def test_budget_leaves_the_account_wide_cost_tag_to_the_payer_and_says_so(plan):
    # Activating a cost allocation tag fails on a first `pulumi up` (the tag is not in billing data yet),
    # fails from member accounts, and is account-wide: no stack may own it.
    assert not [r for r in plan.resources if r.type.startswith("aws:costexplorer/")]
    budget = next(r for r in plan.resources if r.type == "aws:budgets/budget:Budget")
    (note,) = [n for n in plan.notes if "cost allocation tag" in n]
    assert "payer" in note and "llm-fleet-stack" in note
    tag_key = budget.inputs["costFilters"][0]["values"][0].removeprefix("user:").split("$")[0]
    assert tag_key in note


def test_node_groups_can_be_replaced_without_a_name_clash(plan):
    # A new instance type replaces the group create-before-delete: a fixed name would collide with the old one.
    for r in plan.of_type(NODE_GROUP):
        assert "nodeGroupName" not in r.inputs
        assert r.inputs["nodeGroupNamePrefix"].endswith("-")


def test_two_stacks_in_one_account_get_their_own_registry(make_stack):
    from infra.plan import run_plan

    names = {}
    for stack in ("team-a", "team-b"):
        root, name = make_stack(STACK, name=stack)
        names[stack] = {r.inputs["name"] for r in run_plan(name, root).of_type("aws:ecr/repository:Repository")}
    assert not names["team-a"] & names["team-b"]
    assert "llm-fleet-team-a/vllm-serving" in names["team-a"]


@pytest.mark.parametrize(("tier", "deletes_images"), [("dev", True), ("staging", False), ("prod", False)])
def test_only_dev_images_go_with_a_destroy(make_stack, tier, deletes_images):
    from infra.plan import run_plan

    root, name = make_stack(STACK, lambda c: c.update(tier=tier))
    repositories = run_plan(name, root).of_type("aws:ecr/repository:Repository")
    assert {r.inputs["name"]: r.inputs["forceDelete"] for r in repositories} == {
        f"llm-fleet-test/{image}": deletes_images for image in ("vllm-serving", "rollout-worker", "trainer", "ray-llm",
                                                                                 "gateway")}


def test_twelve_a100s_on_aws_are_paid_as_sixteen():
    cfg = parse_stack_config(stack_config(STACK))
    cost = fleet_cost(cfg, pool_facts(cfg))
    a100 = next(p for p in cost.pools if p.pool == "a100-serving")
    assert (a100.gpus_used_max, a100.gpus_paid_max, a100.gpus_used_min, a100.gpus_paid_min) == (12, 16, 4, 8)
    # A whole p4d.24xlarge is paid: 8 A100s at the dated list price of $2.75 each (AWS: $21.96/h per node) = $22/h.
    assert a100.node_hourly == pytest.approx(22.00)
    assert "you pay for 16 at maximum (2 x 8)" in a100.note
    assert "AWS sells A100-40GB in nodes of 8" in a100.note  # the seller named by the EKS price list
    assert any("pay for 16" in n for n in cost.notes)
    h100 = next(p for p in cost.pools if p.pool == "h100-training")
    assert h100.note is None  # one p5.4xlarge, one H100 used


def test_cli_json_says_gpus_paid_and_used_and_platform_notes():
    result = run_cli("plan", "--stack", STACK, "-C", str(EXAMPLES_DIR), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    pools = {p["name"]: p for p in doc["pools"]}
    assert pools["a100-serving"]["gpusPaid"] == {"min": 8, "max": 16}
    assert pools["a100-serving"]["gpusUsed"] == {"min": 4, "max": 12}
    assert "pay for 16" in pools["a100-serving"]["note"]
    assert any("pay for 16" in n for n in doc["notes"])
    assert any("control plane" in n for n in doc["notes"])
    assert doc["budget"]["name"] == "llm-fleet-eks-prod" and doc["outputs"]["kubeconfig"] == "[secret]"
    assert doc["cost"]["pricesSource"].startswith("aws.amazon.com")
    report = run_cli("plan", "--stack", STACK, "-C", str(EXAMPLES_DIR))
    assert "16 / 12" in report.stdout and "pay for 16" in report.stdout


def test_eks_objects_are_schema_valid(plan):
    for obj in plan.manifests():
        if is_core(obj) or obj["kind"] == "ScaledObject":
            validate(obj)


def test_eight_serving_pods_fit_one_p4d_node_after_the_eks_reservations(plan):
    # What pods may request on a p4d.24xlarge (96 vCPUs, 1152 GiB), per the AL2023 AMI's published kubelet
    # reservations: 0.31 cores, 255 MiB + 11 MiB x 250 pods, and the 100 MiB eviction threshold.
    cpu, mem = eks_allocatable(96, 1152.0)
    assert cpu == pytest.approx(95.69, abs=0.005)
    assert mem == pytest.approx(1148.97, abs=0.01)
    # Consequence: eight 1-GPU vLLM pods (one per A100) fit one node's allocatable CPU and memory together.
    deployment = next(o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] ==
                      "vllm-qwen-7b")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    pod_cpu = sum(_cores(c["resources"]["requests"]["cpu"]) for c in containers)
    pod_mem = sum(_gib_of(c["resources"]["requests"]["memory"]) for c in containers)
    assert 8 * pod_cpu <= cpu and 8 * pod_mem <= mem


def _cores(quantity: str | int | float) -> float:
    return float(parse_quantity(quantity))


def _gib_of(quantity: str | int) -> float:
    return float(parse_quantity(quantity)) / GIB


def test_a_gpu_kind_the_cloud_does_not_sell_is_one_line_naming_what_it_sells(monkeypatch):
    # Every kind is sold on EKS today; take the L4's instance types away to reach the error.
    from dataclasses import replace

    from infra.catalog import GPUS

    l4 = GPUS[GpuKind.L4]
    monkeypatch.setitem(GPUS, GpuKind.L4, replace(l4, shapes={"gke": l4.shapes["gke"]}))
    raw = stack_config(STACK)
    raw["nodePools"][0].update(gpu="L4")
    raw["nodePools"][0].pop("gpusPerNode")
    raw["models"][0]["gpu"] = "L4"
    assert_one_config_error(raw, ["llm-fleet:nodePools[0]", "gpu='L4' has no instance type on eks",
                                  "allowed on eks: A100-40GB, A100-80GB, H100-80GB"])


def _eks_edit(fn):
    raw = stack_config(STACK)
    fn(raw)
    return raw


BAD_EKS = [
    ("KubeRay's incremental prod upgrade with no GatewayClass on EKS",
     lambda c: with_mode(c, "kuberay"),
     ["llm-fleet:serving.gatewayClass: missing", "tier 'prod'", "cloud 'eks' has no default GatewayClass"]),
    ("unknown CPU instance type", lambda c: c["nodePools"][2].update(machineType="m7i.9xlarge"),
     ["llm-fleet:nodePools[2]", "'m7i.9xlarge'", "eks catalog", "8xlarge"]),
    ("unknown GPU instance type", lambda c: c["nodePools"][0].update(machineType="p9.48xlarge"),
     ["llm-fleet:nodePools[0]", "'p9.48xlarge'", "A100-40GB", "allowed: p4d.24xlarge"]),
    ("GPU kind not sold in that node size", lambda c: c["nodePools"][0].update(gpusPerNode=1),
     ["llm-fleet:nodePools[0]", "gpusPerNode=1", "eks sells A100-40GB only in nodes of 8 (p4d.24xlarge)",
      "allowed: 8"]),
    ("a GKE machine type on EKS", lambda c: c["nodePools"][2].update(machineType="n2-standard-32"),
     ["llm-fleet:nodePools[2]", "'n2-standard-32'", "m7i, c7i"]),
    ("one zone", lambda c: c["aws"].update(zones=["us-east-1a"]),
     ["llm-fleet:aws.zones", "at least 2"]),
    ("zone outside the region", lambda c: c["aws"].update(zones=["us-east-1a", "us-west-2a"]),
     ["llm-fleet:aws", "'us-west-2a' is not a zone of region 'us-east-1'"]),
    ("not a capacity reservation id", lambda c: c["nodePools"][0].update(capacity="reservation", reservation="mine"),
     ["llm-fleet:nodePools[0]", "'mine'", "cr-0123456789abcdef0"]),
    ("a capacity reservation on a spot pool",
     lambda c: c["nodePools"][1].update(reservation="cr-0123456789abcdef0"),
     ["llm-fleet:nodePools[1]", "reservation='cr-0123456789abcdef0'", "capacity='spot'",
      "allowed: capacity: reservation"]),
    ("a capacity reservation pool without its zone",
     lambda c: c["nodePools"][0].update(capacity="reservation", reservation="cr-0123456789abcdef0"),
     ["llm-fleet:nodePools[0].zones: missing", "one zone", "us-east-1a, us-east-1b, us-east-1c"]),
    ("a capacity reservation pool in two zones",
     lambda c: c["nodePools"][0].update(capacity="reservation", reservation="cr-0123456789abcdef0",
                                        zones=["us-east-1a", "us-east-1b"]),
     ["llm-fleet:nodePools[0].zones = ['us-east-1a', 'us-east-1b']", "one zone", "exactly"]),
    ("a pool zone outside aws.zones", lambda c: c["nodePools"][2].update(zones=["us-east-1d"]),
     ["llm-fleet:nodePools[2].zones = ['us-east-1d']", "us-east-1d not in aws.zones",
      "allowed: distinct zones among us-east-1a, us-east-1b, us-east-1c"]),
    ("no cluster-autoscaler chart", lambda c: c["artifacts"]["charts"].pop("clusterAutoscaler"),
     ["llm-fleet:artifacts.charts.clusterAutoscaler: missing", "e.g. clusterAutoscaler: 9.50.1"]),
    ("no DCGM exporter chart", lambda c: c["artifacts"]["charts"].pop("dcgmExporter"),
     ["llm-fleet:artifacts.charts.dcgmExporter: missing", "e.g. dcgmExporter: 4.6.0"]),
    ("an IPv6 VPC", lambda c: c["aws"].update(vpcCidr="fd00::/48"),
     ["llm-fleet:aws.vpcCidr = 'fd00::/48'", "allowed: an IPv4 /16../20 network with no host bits, e.g. 10.40.0.0/16"]),
    ("a VPC CIDR with host bits", lambda c: c["aws"].update(vpcCidr="10.40.1.0/16"),
     ["llm-fleet:aws.vpcCidr = '10.40.1.0/16'", "no host bits", "did you mean 10.40.0.0/16?"]),
    ("a VPC too small", lambda c: c["aws"].update(vpcCidr="10.40.0.0/24"),
     ["llm-fleet:aws.vpcCidr = '10.40.0.0/24'", "is a /24", "allowed: an IPv4 /16../20"]),
    ("a GCP block on EKS", lambda c: c.update(gcp={"project": "acme-llm-prod", "region": "us-central1",
                                                  "zones": ["us-central1-a"]}),
     ["llm-fleet:gcp: set, but cloud is 'eks'"]),
    ("an empty node group", lambda c: c["nodePools"][1].update(maxNodes=0),
     ["llm-fleet:nodePools[1]", "maxNodes=0", "needs maxNodes >= 1"]),
    ("budget in euros", lambda c: c["budget"].update(currency="EUR"),
     ["llm-fleet:budget.currency = 'EUR'", "allowed: 'USD'"]),
    ("a GovCloud region", lambda c: c["aws"].update(region="us-gov-west-1", zones=["us-gov-west-1a", "us-gov-west-1b"]),
     ["llm-fleet:aws.region = 'us-gov-west-1'", "allowed: a commercial AWS region such as us-east-1",
      "GovCloud and China"]),
    ("a China region", lambda c: c["aws"].update(region="cn-north-1", zones=["cn-north-1a", "cn-north-1b"]),
     ["llm-fleet:aws.region = 'cn-north-1'", "allowed: a commercial AWS region"]),
    ("an admin in another partition", lambda c: c["aws"].update(admins=["arn:aws-cn:iam::123456789012:role/x"]),
     ["llm-fleet:aws.admins[0] = 'arn:aws-cn:iam::123456789012:role/x'"]),
    ("eleven budget notifications", lambda c: c["budget"].update(
        thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], forecastThresholds=[1.0]),
     ["llm-fleet:budget.thresholds = [0.1,", "forecastThresholds = [1.0]", "11 notifications",
      "allowed: at most 10 per AWS budget"]),
    ("a duplicate forecast threshold", lambda c: c["budget"].update(forecastThresholds=[1.0, 1.0]),
     ["llm-fleet:budget.forecastThresholds = [1.0, 1.0]", "1.0 listed twice", "allowed: distinct"]),
]


@pytest.mark.parametrize(("case", "edit", "fragments"), BAD_EKS, ids=[c[0] for c in BAD_EKS])
def test_bad_eks_config_is_one_clear_line(case, edit, fragments):
    assert_one_config_error(_eks_edit(edit), fragments)


# What cluster-autoscaler's template node must offer as ephemeral storage, per group of the eks-prod example, worked
# out by hand from AWS's instance specs (not from infra/catalog.py):
# - a100-serving, p4d.24xlarge: 8 NVMe instance-store disks x 1000 GB ("8 x 1000 GB NVMe SSD"). 1000 GB = 10**12 B
#   = 931.3 GiB, 931 whole GiB per disk; kubelet's ephemeral storage is their RAID0: 8 x 931 = 7448 GiB.
# - h100-training, p5.4xlarge: 1 x 3840 GB NVMe = 3576.3 GiB: 3576 GiB.
# - rollout (m7i.8xlarge) and system: no instance store, so the root EBS volume (200 GiB and 100 GiB in their launch
#   templates) less the 60 GiB the OS and image layers keep: 140 GiB and 40 GiB.
TEMPLATE_EPHEMERAL_STORAGE = {"a100-serving": "7448Gi", "h100-training": "3576Gi", "rollout": "140Gi", "system": "40Gi"}
ROOT_VOLUME_GIB = {"a100-serving": 200, "h100-training": 200, "rollout": 200, "system": 100}


def test_cluster_autoscaler_can_scale_gpu_groups_up_from_zero(plan):
    """With no node to copy, cluster-autoscaler builds a template node from the group's ASG tags and labels."""
    groups = {r.name.removeprefix("eks-pool-"): r for r in plan.of_type(NODE_GROUP)}
    tags = [r.inputs for r in plan.of_type("aws:autoscaling/tag:Tag")]
    # Exactly one tag per group, on that group's own ASG.
    tag_of = {pool: t["tag"] for pool in groups for t in tags if t["autoscalingGroupName"].startswith(f"eks-{pool}-")}
    assert len(tags) == len(groups) and set(tag_of) == set(groups)
    for tag in tag_of.values():
        assert tag["key"] == "k8s.io/cluster-autoscaler/node-template/resources/ephemeral-storage"
        assert tag["propagateAtLaunch"] is False
    root_gib = {r.name.removeprefix("eks-lt-"): r.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"]
                for r in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    assert root_gib == ROOT_VOLUME_GIB
    assert {pool: group.inputs["instanceTypes"] for pool, group in groups.items()} == {
        "a100-serving": ["p4d.24xlarge"], "h100-training": ["p5.4xlarge"], "rollout": ["m7i.8xlarge"],
        "system": ["m7i.xlarge"]}
    # The template promises what the node will have: no less (CA would refuse a pod that fits), no more (CA would
    # add a node the pod then cannot use).
    assert {pool: tag["value"] for pool, tag in tag_of.items()} == TEMPLATE_EPHEMERAL_STORAGE
    # The vLLM pod's weight cache fits the template node of its (A100) group: without the tag, CA would see
    # no ephemeral storage on a group at zero nodes and never scale it up for this pod. qwen-7b: 7.6e9 bf16
    # parameters = 15.2 GB of weights, x 1.1 = 16.72 -> 17 GiB, plus 10 GiB of compile cache = 27 GiB.
    deployment = next(o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] ==
                      "vllm-qwen-7b")
    wanted = sum(parse_quantity(c["resources"]["requests"].get("ephemeral-storage", 0))
                 for c in deployment["spec"]["template"]["spec"]["containers"])
    assert wanted == 27 * GIB
    assert wanted <= parse_quantity(tag_of["a100-serving"]["value"])
    # GPU groups are labelled as GPU nodes for cluster-autoscaler; CPU groups are not.
    labels = {name: g.inputs["labels"] for name, g in groups.items()}
    assert labels["a100-serving"]["k8s.amazonaws.com/accelerator"] == "nvidia-tesla-a100"
    assert labels["h100-training"]["k8s.amazonaws.com/accelerator"] == "nvidia-h100-80gb"
    assert "k8s.amazonaws.com/accelerator" not in labels["rollout"]


def test_weights_bucket_prefix_is_valid_for_any_stack_name(make_stack):
    from infra.plan import run_plan

    root, name = make_stack(STACK, name="Team_ML.Experimental-Llama-Serving-Eu")
    prefix = the(run_plan(name, root), "aws:s3/bucket:Bucket")["bucketPrefix"]
    # S3 refuses a bucket_prefix over 37 characters or with uppercase/underscores: `pulumi up` would fail.
    assert len(prefix) <= 37, prefix
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*-", prefix), prefix
    assert prefix.startswith("llm-fleet-team-ml-experim")


def test_ten_budget_notifications_are_allowed():
    raw = stack_config(STACK)
    raw["budget"].update(thresholds=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], forecastThresholds=[1.0])
    assert len(parse_stack_config(raw).budget.thresholds) == 9


def test_ebs_volumes_carry_the_tag_the_budget_counts(plan):
    # Checkpoint volumes are created by the EBS CSI driver, not by Pulumi: without the StorageClass's tag
    # specification they carry no stack tag and the tag-filtered budget never sees their cost.
    storage = next(o for o in plan.manifests() if o["kind"] == "StorageClass")
    volume_tags = dict(v.split("=", 1) for k, v in storage["parameters"].items() if k.startswith("tagSpecification_"))
    budget = the(plan, "aws:budgets/budget:Budget")
    key, value = budget["costFilters"][0]["values"][0].removeprefix("user:").split("$")
    assert volume_tags[key] == value
    assert volume_tags["llm-fleet-tier"] == "prod"


def test_kuberay_prod_on_eks_upgrades_through_the_named_gateway_class(make_stack):
    """GKE brings an internal L7 GatewayClass; on EKS the stack names the one its cluster runs."""
    from infra.plan import run_plan

    root, name = make_stack(STACK, lambda c: with_mode(c, "kuberay", gatewayClass="amazon-vpc-lattice"))
    plan = run_plan(name, root)
    assert plan.ok, [v for v in plan.verdicts if v.status == "fail"]
    ray_service = next(o for o in plan.manifests() if o["kind"] == "RayService")
    assert ray_service["spec"]["upgradeStrategy"]["clusterUpgradeOptions"]["gatewayClassName"] == "amazon-vpc-lattice"
