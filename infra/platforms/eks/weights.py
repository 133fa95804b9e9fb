"""The weights bucket: where model weights are staged for s3:// model sources — private, versioned, encrypted,
TLS-only.

A plain function that creates resources as children of the `EksPlatform` component (their URNs stay its).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.platforms.eks.args import EksArgs
from infra.platforms.eks.facts import weights_bucket_prefix


def weights_bucket(name: str, args: EksArgs, child: pulumi.ResourceOptions,
                   opts: pulumi.ResourceOptions) -> aws.s3.Bucket:
    """Private, versioned, encrypted, TLS-only: where model weights are staged for s3:// model sources."""
    bucket = aws.s3.Bucket(
        f"{name}-weights",
        bucket=args.weights_bucket,
        bucket_prefix=None if args.weights_bucket else weights_bucket_prefix(pulumi.get_stack()),
        force_destroy=not args.protect,
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
