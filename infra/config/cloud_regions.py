"""The regions each cloud has, to refuse a misspelt or made-up region before any resource names it.

A region neither cloud has would otherwise reach `pulumi up` (GCP and AWS refuse it only when the first resource is
created there), and the catalog's per-zone checks would be skipped for it without a word.
"""

from __future__ import annotations

from infra.config.messages import nearest

# Google Cloud's regions as listed at cloud.google.com/workload-manager/docs/evaluate/locations,
# docs.cloud.google.com/kubernetes-engine/distributed-cloud/bare-metal/docs/reference/supported-regions-on-prem-api
# and docs.cloud.google.com/infrastructure-manager/docs/locations (asia-southeast3, Bangkok) (read 2026-11-30);
# africa-south1 (Johannesburg) from Rubrik's GcpCloudAccountRegion enum. A region GCP opens later is added here:
# the error says so, as a real region refused is worse than a typo caught.
GCP_REGIONS = (
    "africa-south1",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2",
    "asia-southeast1", "asia-southeast2", "asia-southeast3", "australia-southeast1", "australia-southeast2",
    "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1", "europe-west2",
    "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10", "europe-west12",
    "me-central1", "me-central2", "me-west1",
    "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "southamerica-east1",
    "southamerica-west1",
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
)
# AWS's commercial regions: pulumi_aws 7.51.1, pulumi_aws/_enums.py `Region` (the provider's own list), without
# China, GovCloud, the ISO partitions and the European Sovereign Cloud, whose ARNs differ (aws.py says so).
AWS_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)


def known_region(value: str, cloud: str, regions: tuple[str, ...], examples: str) -> str:
    """`value` if `regions` has it; else ValueError naming the closest region (or the examples)."""
    if value in regions:
        return value
    meant = nearest(value, list(regions))
    hint = f"; did you mean {meant}?" if meant else ""
    raise ValueError(f"not a region {cloud} has; allowed: one of its {len(regions)} regions, e.g. {examples}{hint} "
                     "(a region opened since 2026-11-30: add it to infra/config/cloud_regions.py)")
