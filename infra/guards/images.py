"""Staging and prod run exactly what was tested: every image is pinned by digest, not by a movable tag."""

from __future__ import annotations

from infra.guards.base import StackPlan, Verdict
from infra.guards.pods import pod_templates
from infra.guards.verdicts import severity


def images_pinned_by_digest(plan: StackPlan) -> Verdict:
    name = "images-pinned-by-digest"
    unpinned = sorted({c.get("image", "") for pod in pod_templates(plan.resources)
                       for c in pod.spec.get("containers", []) + pod.spec.get("initContainers", [])
                       if "@sha256:" not in c.get("image", "")})
    if not unpinned:
        return Verdict(name, "pass", "every image is pinned by digest")
    status = severity(name, plan.cfg.tier)
    return Verdict(name, status, f"images not pinned by digest: {', '.join(unpinned)}; pin them as "
                                 "<image>@sha256:<digest> (the image pipeline publishes the digest)")
