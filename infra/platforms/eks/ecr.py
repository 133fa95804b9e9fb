"""The stack's ECR repositories, one per image, and the registry URL they share.

A plain function that creates resources as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.platforms.eks.args import EksArgs
from infra.platforms.eks.facts import SERVING_REPOSITORY, ecr_repository_name


def ecr_registry(name: str, args: EksArgs, stateful: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """A repository per image; returns `<account>.dkr.ecr.<region>.amazonaws.com/llm-fleet-<stack>`."""
    stack = pulumi.get_stack()
    repositories = {
        image: aws.ecr.Repository(
            # The serving image's repository keeps the name it always had: renaming would replace it.
            f"{name}-registry" if image == SERVING_REPOSITORY else f"{name}-registry-{image}",
            name=ecr_repository_name(stack, image),
            # Immutable tags: a digest promoted to prod can never be re-pointed under the same tag.
            image_tag_mutability="MUTABLE" if args.disposable_images else "IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
            # Only dev's images go with `pulumi destroy`: CI rebuilds them from any commit. Staging is not
            # protected, but its repositories hold the digests being promoted to prod, so a destroy there
            # fails on a non-empty repository until someone empties it on purpose.
            force_delete=args.disposable_images,
            opts=stateful,
        )
        for image in args.images
    }
    # <account>.dkr.ecr.<region>.amazonaws.com/llm-fleet-<stack>: the serving repository's URL minus its name.
    return repositories[SERVING_REPOSITORY].repository_url.apply(lambda url: url.rsplit("/", 1)[0])
