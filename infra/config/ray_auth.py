"""KubeRay mode: the pinned Ray must support the token authentication the Ray cluster is deployed with."""

from __future__ import annotations

import re

# KubeRay v1.7.0 refuses authOptions.mode 'token' below this Ray version (ray-operator/controllers/ray/utils/
# validation.go: "minimum Ray version is 2.52.0"); Ray added RAY_AUTH_MODE=token in 2.52.
RAY_TOKEN_AUTH_MIN_VERSION = (2, 52, 0)


def ray_auth_version_problems(ray_version: str | None) -> list[str]:
    """One line if `artifacts.rayVersion` is too old (or unreadable) for Ray's token authentication."""
    if ray_version is None:
        return []  # reported as missing elsewhere
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:\S*)", ray_version)
    minimum = ".".join(map(str, RAY_TOKEN_AUTH_MIN_VERSION))
    if match is None:
        return [f"artifacts.rayVersion = {ray_version!r}: not a Ray version; allowed: X.Y.Z, {minimum} or later "
                "(e.g. 2.60.0)"]
    if tuple(int(g) for g in match.groups()) < RAY_TOKEN_AUTH_MIN_VERSION:
        return [f"artifacts.rayVersion = {ray_version!r}: older than {minimum}, the first Ray with the token "
                f"authentication the Ray cluster is deployed with (KubeRay refuses it below); allowed: {minimum} or "
                "later; update artifacts.rayImage and artifacts.rayVersion together"]
    return []
