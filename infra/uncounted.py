"""What the cost table does not count, named with unit prices so a reader can price it, and what its minimum and
expected figures assume on a cluster this stack did not build.

Owns these notes only. Usage-priced services (metric samples, log volume, image storage) depend on traffic and
retention the plan cannot know; an existing cluster's scaling is the cluster's own.
"""

from __future__ import annotations

from infra.config import StackConfig

UNCOUNTED_AS_OF = "2026-11-30"
# Google Cloud Observability (cloud.google.com/stackdriver/pricing, read 2026-11-30): Managed Service for
# Prometheus $0.15 per million samples for the first 50 billion a month; Cloud Logging $0.50/GiB ingested beyond
# the first 50 GiB per project a month. Artifact Registry (cloud.google.com/artifact-registry/pricing, read
# 2026-11-30): $0.10/GB-month beyond 0.5 GB.
GMP_PER_MILLION_SAMPLES, CLOUD_LOGGING_PER_GIB, ARTIFACT_REGISTRY_GB_MONTH = 0.15, 0.50, 0.10
# Amazon ECR private storage $0.10/GB-month (aws.amazon.com/ecr/pricing as quoted by the third-party
# cloudburn.io/blog/amazon-ecr-pricing, "as of March 2026"). CloudWatch Logs ingestion: no price confirmed here.
ECR_GB_MONTH = 0.10


def uncounted_notes(cfg: StackConfig) -> tuple[str, ...]:
    """The usage-priced services this stack uses on its cloud, with their unit prices, as not counted."""
    if cfg.cloud == "gke":
        parts = []
        if cfg.serving.monitoring == "platform":
            parts.append(f"Managed Service for Prometheus samples (${GMP_PER_MILLION_SAMPLES:.2f} per million, the "
                         "first 50 billion a month)")
        parts += [f"Cloud Logging (${CLOUD_LOGGING_PER_GIB:.2f}/GiB ingested beyond 50 GiB a project a month)",
                  f"Artifact Registry storage (${ARTIFACT_REGISTRY_GB_MONTH:.2f}/GB-month beyond 0.5 GB)"]
    elif cfg.cloud == "eks":
        parts = ["the control plane's api/audit/authenticator logs in CloudWatch Logs (per GB ingested and stored)",
                 f"ECR storage (${ECR_GB_MONTH:.2f}/GB-month)"]
    else:
        return ()
    return (f"cost: usage-priced, not counted: {'; '.join(parts)} (prices as read {UNCOUNTED_AS_OF})",)


def existing_scaling_note(cfg: StackConfig, daily_min: float, daily_max: float) -> tuple[str, ...]:
    """On an existing cluster, the minimum and expected figures hold only if its autoscaler releases idle nodes."""
    if cfg.cloud != "existing":
        return ()
    return ("cost: on an existing cluster the minimum and expected figures assume the cluster's own autoscaler "
            "releases idle nodes down to each pool's minNodes (nothing this stack creates scales them); without one, "
            f"or with the nodes reserved, every pool runs at maxNodes: ${daily_max:,.2f}/day, not ${daily_min:,.2f}",)
