"""`plan --out`: every rendered Kubernetes object as one YAML file, in a folder that holds this plan and no other.

A folder that already holds files from an earlier run would mix two plans (a deleted Deployment's file would
stay), so `--out` writes only into a new or empty folder, or one an earlier `--out` wrote: it then removes exactly
the files that run listed in its marker, and nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from infra.plan import Plan

MARKER = ".llm-fleet-plan"  # lists the files the last `plan --out` wrote into its folder


class OutFolderError(Exception):
    """The --out folder holds files this command did not write."""


def check_out_folder(out: Path) -> None:
    """Refuse, before anything is planned, a folder `plan --out` may not write into."""
    if out.exists() and not out.is_dir():
        raise OutFolderError(f"--out {out}: a file, not a folder; give a new or empty folder")
    if not out.is_dir():
        return
    ours = set(_listed(out))
    foreign = sorted(p.name for p in out.iterdir() if p.name != MARKER and p.name not in ours)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutFolderError(f"--out {out}: the folder holds {len(foreign)} file(s) an earlier `plan --out` did not "
                             f"write ({shown}); give a new or empty folder (e.g. --out {out}/plan)")


def write_manifests(plan: Plan, out: Path) -> tuple[list[Path], int]:
    """Write one YAML file per Kubernetes object (<kind>-<namespace>-<name>.yaml) into `out`.

    Returns the files written and how many files of an earlier run were removed first.
    """
    check_out_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    removed = 0
    for name in _listed(out):
        if (out / name).is_file():
            (out / name).unlink()
            removed += 1
    written = []
    for obj in plan.manifests():
        meta = obj.get("metadata", {})
        stem = "-".join(str(p) for p in (obj.get("kind", "object"), meta.get("namespace"), meta.get("name")) if p)
        path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).lower() + ".yaml")
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    (out / MARKER).write_text("".join(f"{p.name}\n" for p in written))
    return written, removed


def _listed(out: Path) -> list[str]:
    marker = out / MARKER
    if not marker.is_file():
        return []
    # Names only, never a path: the marker must not make us delete outside the folder.
    return [line for line in marker.read_text().splitlines() if line and "/" not in line and line not in (".", "..")]
