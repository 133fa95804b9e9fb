"""EKS registry paths: one ECR repository per image under the stack's prefix; the stack, promote and image.yml agree.

Promotions run in a temporary git repository holding the shipped GKE staging file and EKS stack files
derived from examples/Pulumi.eks-prod.yaml (the layout promotion writes back byte for byte).
"""

from __future__ import annotations

import yaml

from infra.plan import run_plan
from infra.platforms.eks.facts import ECR_IMAGE_REPOSITORIES
from infra.promote import PromotionRefused, promote
from tests.conftest import EXAMPLES_DIR, ROOT, git

ECR_REPOSITORY = "aws:ecr/repository:Repository"
EKS_PROD = (EXAMPLES_DIR / "Pulumi.eks-prod.yaml").read_text()


def eks_stack_file(stack: str, tier: str) -> str:
    """The EKS example as another stack and tier, its images in that stack's own repositories."""
    return EKS_PROD.replace("llm-fleet:tier: prod", f"llm-fleet:tier: {tier}").replace(
        "/llm-fleet-eks-prod/", f"/llm-fleet-{stack}/")


def rebuilt(text: str) -> str:
    """The stack file with new digests for its serving, rollout, training and gateway images (something to promote)."""
    for old, new in (("@sha256:3b1f", "@sha256:4b1f"), ("@sha256:9c2e", "@sha256:8c2e"),
                     ("@sha256:5e7c", "@sha256:6e7c"), ("@sha256:4a6c", "@sha256:5a6c")):
        assert old in text
        text = text.replace(old, new)
    return text


def repo_with(tmp_path, files: dict[str, str]):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "stacks")
    return repo


def artifacts(path) -> dict:
    return yaml.safe_load(path.read_text())["config"]["llm-fleet:artifacts"]


def images(block: dict) -> dict[str, str]:
    return {k: v for k, v in block.items() if k.endswith("Image")}


def ecr_repositories(plan) -> tuple[str, set[str]]:
    """(registry host, the repository names the plan declares)."""
    host = plan.outputs["registryUrl"].split("/", 1)[0]
    return host, {r.inputs["name"] for r in plan.of_type(ECR_REPOSITORY)}


def repository_of(ref: str, host: str) -> str:
    assert ref.startswith(f"{host}/"), ref
    return ref[len(host) + 1:].split("@", 1)[0]


def test_registry_url_is_the_stacks_prefix_not_one_repository(plan_of):
    plan = plan_of("eks-prod")
    assert plan.outputs["registryUrl"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-fleet-eks-prod"
    _, declared = ecr_repositories(plan)
    assert declared == {f"llm-fleet-eks-prod/{name}" for name in ("vllm-serving", "rollout-worker", "trainer",
                                                                   "ray-llm", "gateway")}


def test_eks_prod_declares_a_repository_for_every_image_its_artifacts_pull_from_its_registry(plan_of):
    plan = plan_of("eks-prod")
    host, declared = ecr_repositories(plan)
    ours = {key: ref for key, ref in images(artifacts(EXAMPLES_DIR / "Pulumi.eks-prod.yaml")).items()
            if ref.startswith(f"{host}/")}
    assert set(ours) == {"servingImage", "rolloutImage", "trainingImage", "gatewayImage"}  # rayImage: rayproject's
    for key, ref in ours.items():
        assert repository_of(ref, host) in declared, (key, ref)


def test_image_yml_pushes_each_image_to_the_repository_its_artifact_key_gets(plan_of):
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "image.yml").read_text())
    job = workflow["jobs"]["build"]
    (build,) = [s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push")]
    registry_expr = "${{ steps.setup.outputs.registry }}"  # the stack's registryUrl output (the setup action)
    assert build["with"]["tags"] == f"{registry_expr}/${{{{ matrix.repository }}}}:${{{{ github.sha }}}}"
    images = {entry["key"]: entry["repository"] for entry in job["strategy"]["matrix"]["include"]}
    assert images == {"servingImage": "vllm-serving", "gatewayImage": "gateway"}
    # The repository each image is pushed to is the one an EKS stack creates for that artifact key.
    assert all(ECR_IMAGE_REPOSITORIES[key] == repository for key, repository in images.items())
    plan = plan_of("eks-prod")
    host, declared = ecr_repositories(plan)
    pushed = f"{plan.outputs['registryUrl']}/{images['servingImage']}"
    assert repository_of(pushed, host) in declared


def test_gke_staging_to_eks_prod_rewrites_every_image_to_a_repository_eks_prod_creates(tmp_path):
    repo = repo_with(tmp_path, {"Pulumi.staging.yaml": rebuilt((ROOT / "Pulumi.staging.yaml").read_text()),
                                "Pulumi.eks-prod.yaml": EKS_PROD})
    staging = images(artifacts(repo / "Pulumi.staging.yaml"))
    promotion = promote("staging", "eks-prod", repo)
    assert promotion.written is True
    plan = run_plan("eks-prod", repo)
    host, declared = ecr_repositories(plan)
    promoted = images(artifacts(repo / "Pulumi.eks-prod.yaml"))
    gke_registry = "us-central1-docker.pkg.dev/acme-llm-staging/llm-fleet"
    moved = {k for k, ref in staging.items() if ref.startswith(f"{gke_registry}/")}
    assert moved == {"servingImage", "rolloutImage", "trainingImage", "gatewayImage"}
    for key in moved:
        assert repository_of(promoted[key], host) in declared, (key, promoted[key])
        assert promoted[key].split("@")[1] == staging[key].split("@")[1]  # the same bytes
    assert sorted(promotion.image_copies) == sorted((staging[k], promoted[k]) for k in moved)


def test_eks_to_eks_promotion_leaves_nothing_pulling_from_the_source_stacks_repositories(tmp_path):
    # dev's repositories go with dev's `pulumi destroy` (force_delete): staging must not pull from them.
    repo = repo_with(tmp_path, {"Pulumi.eks-dev.yaml": rebuilt(eks_stack_file("eks-dev", "dev")),
                                "Pulumi.eks-staging.yaml": eks_stack_file("eks-staging", "staging")})
    dev = images(artifacts(repo / "Pulumi.eks-dev.yaml"))
    promotion = promote("eks-dev", "eks-staging", repo)
    assert promotion.written is True
    staging = images(artifacts(repo / "Pulumi.eks-staging.yaml"))
    assert not [ref for ref in staging.values() if "/llm-fleet-eks-dev/" in ref]
    host, declared = ecr_repositories(run_plan("eks-staging", repo))
    # Our three images now live in staging's own repositories; the public Ray image stays where it is.
    on_ecr = {key: repository_of(ref, host) for key, ref in staging.items() if ref.startswith(f"{host}/")}
    assert on_ecr == {"servingImage": "llm-fleet-eks-staging/vllm-serving",
                      "rolloutImage": "llm-fleet-eks-staging/rollout-worker",
                      "trainingImage": "llm-fleet-eks-staging/trainer",
                      "gatewayImage": "llm-fleet-eks-staging/gateway"}
    assert set(on_ecr.values()) <= declared, declared
    assert {frm for frm, _ in promotion.image_copies} == {ref for ref in dev.values() if "/llm-fleet-eks-dev/" in ref}


def test_promotion_refuses_an_image_the_target_has_no_repository_for(tmp_path):
    staging = (ROOT / "Pulumi.staging.yaml").read_text()
    renamed = rebuilt(staging).replace("/llm-fleet/trainer@", "/llm-fleet/my-trainer@")
    assert renamed != staging
    repo = repo_with(tmp_path, {"Pulumi.staging.yaml": renamed, "Pulumi.eks-prod.yaml": EKS_PROD})
    try:
        promote("staging", "eks-prod", repo, dry_run=True)
    except PromotionRefused as e:
        (line,) = e.problems
    else:
        raise AssertionError("promotion into a repository the target does not create was not refused")
    assert line.startswith("promote refused: artifacts.trainingImage would be "
                           "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-fleet-eks-prod/my-trainer")
    assert "no ECR repository llm-fleet-eks-prod/my-trainer" in line and "llm-fleet-eks-prod/trainer" in line
