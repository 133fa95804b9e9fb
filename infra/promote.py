"""Promotion: the pinned artifacts that ran in one tier, copied into the next tier's stack file.

Owns: round-trip editing of the `llm-fleet:artifacts` block of `Pulumi.<stack>.yaml` (ruamel.yaml:
comments, quotes and layout everywhere else stay byte for byte), and the refusals that keep a
promotion honest — the source pins an image by tag, a stack file has uncommitted changes, or the
target's config validation or guards fail with the new artifacts (checked by running the target's
offline plan on the edited file before anything is written).

What moves: every artifact of the source, with rules that follow from tiers being separate
projects. An image that lives in the source stack's own registry (its `registryUrl` output) is
re-pointed at the target's registry *with the same digest*: the bytes are identical, and the
target's nodes may only pull from their own project; `imageCopies` lists what must be copied
(`crane copy`) before the target deploys. On ECR (one repository per image) a re-pointed image
the target creates no repository for is refused. A model revision moves only for a model the source also
serves (same name, same source), and a chart only one platform installs keeps the target's pin when the
source installs none: the target's other revisions and charts were never tested in the source tier and
stay as they are. Nothing outside the block (pools, budgets, models) is touched.
"""

from __future__ import annotations

import difflib
import io
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from infra.config import NAMESPACE, ConfigError
from infra.config.fleetfile import fleet_regions
from infra.config.stackfile import read_stack_yaml

ARTIFACTS_KEY = f"{NAMESPACE}:artifacts"
DIGEST_MARK = "@sha256:"
# Pulumi: "Stack names may only contain alphanumeric characters, hyphens, underscores, or periods"
# (pulumi.com/docs/iac/concepts/stacks, read 2026-11-30). A name is also a file name here (Pulumi.<name>.yaml), so
# `/` and a leading `.` (`..`, `../x`) are refused before any path is built: promotion reads and writes only the
# stack files of the repository it was pointed at (issue 17, Low: "promote accepts stack names like ../x").
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PromotionRefused(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Promotion:
    src: str
    dst: str
    diff: str  # unified diff of the target file ("" when nothing changes)
    image_copies: list[tuple[str, str]] = field(default_factory=list)  # (from, to), same digest
    notes: list[str] = field(default_factory=list)
    written: bool = False


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the stack files' layout
    yaml.width = 4096  # never fold a long image reference
    return yaml


def _dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def load_stack_file(path: Path, *, to_write: bool = False) -> CommentedMap:
    """A stack file as a round-trip document; to write it, refuses one the round trip would reformat."""
    if not path.is_file():
        known = sorted(p.name for p in path.parent.glob("Pulumi.*.yaml"))
        raise PromotionRefused([f"promote refused: no file {path.name}; stack files here: {', '.join(known)}"])
    text = path.read_text()
    try:  # the checks `plan` reads a stack file with (YAML syntax, keys given twice), in its words
        read_stack_yaml(path)
    except ConfigError as e:
        raise PromotionRefused([f"promote refused: {line}" for line in e.problems]) from None
    try:
        doc = _yaml().load(text)
    except YAMLError as e:  # what PyYAML reads and ruamel.yaml does not
        raise PromotionRefused([f"promote refused: {path.name}: not valid YAML for a round trip "
                                f"({' '.join(str(e).split())[:200]}); check the indentation and quoting"]) from None
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("config"), CommentedMap):
        raise PromotionRefused([f"promote refused: {path.name} has no `config:` mapping"])
    if to_write and _dump(doc) != text:
        raise PromotionRefused([f"promote refused: {path.name} is laid out in a way ruamel.yaml would rewrite "
                                "(indentation or line width); promotion never reformats a stack file"])
    return doc


def artifacts_block(doc: CommentedMap, name: str) -> CommentedMap:
    block = doc["config"].get(ARTIFACTS_KEY)
    if not isinstance(block, CommentedMap):
        raise PromotionRefused([f"promote refused: {name} has no {ARTIFACTS_KEY} block"])
    return block


def _tagged_images(artifacts: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in artifacts.items() if k.endswith("Image") and isinstance(v, str) and DIGEST_MARK not in v]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)


def uncommitted(root: Path, *names: str) -> list[str]:
    """One refusal line per stack file with uncommitted changes (or one line when there is no git repository)."""
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return ["promote refused: git is not installed; promotion edits stack files only from a committed state"]
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return [f"promote refused: {root} is not in a git repository; promotion edits stack files only from a "
                "committed state"]
    problems = []
    for name in names:
        status = _git(root, "status", "--porcelain", "--", name).stdout.strip()
        if status:
            problems.append(f"promote refused: {name} has uncommitted changes ({status.split()[0]}); commit or "
                            "discard them first")
    return problems


def _plan(stack: str, root: Path, what: str):
    from infra.plan import run_plan  # the offline plan: the same validation and guards as `pulumi up`

    try:
        return run_plan(stack, root)
    except ConfigError as e:
        raise PromotionRefused([f"promote refused: {what}: {line}" for line in e.problems]) from None


def _new_artifacts(src_doc: CommentedMap, dst_doc: CommentedMap, src_plan, dst_plan,
                   promotion: Promotion) -> dict[str, Any]:
    """The target's artifacts after promotion: the source's, re-pointed and with the revision rule applied."""
    src_block = artifacts_block(src_doc, f"Pulumi.{promotion.src}.yaml")
    dst_block = artifacts_block(dst_doc, f"Pulumi.{promotion.dst}.yaml")
    new: dict[str, Any] = {k: v for k, v in src_block.items() if k != "modelRevisions"}
    src_registry = src_plan.outputs.get("registryUrl")
    dst_registry = dst_plan.outputs.get("registryUrl")
    for key, ref in list(new.items()):
        if (key.endswith("Image") and isinstance(ref, str) and src_registry and dst_registry
                and src_registry != dst_registry and ref.startswith(f"{src_registry}/")):
            new[key] = f"{dst_registry}{ref[len(src_registry):]}"
            if new[key] != dst_block.get(key):
                promotion.image_copies.append((ref, new[key]))

    # Charts only one platform installs (EKS: cluster-autoscaler, the device plugin, DCGM) stay as the target pins
    # them when the source installs none (GKE → EKS): like a revision of a model the source does not serve,
    # nothing about them was tested in the source tier.
    src_charts, dst_charts = src_block.get("charts"), dst_block.get("charts")
    if isinstance(src_charts, Mapping) and isinstance(dst_charts, Mapping):
        kept = {k: v for k, v in dst_charts.items() if k not in src_charts}
        new["charts"] = {**src_charts, **kept}
        promotion.notes += [f"artifacts.charts.{k} kept: {promotion.src} does not install it" for k in kept]

    src_models = {m.name: m.source for m in src_plan.cfg.models}
    src_revisions = src_block.get("modelRevisions") or {}
    dst_revisions = dst_block.get("modelRevisions") or {}
    revisions: dict[str, Any] = {}
    for model in dst_plan.cfg.models:
        if src_models.get(model.name) == model.source and model.name in src_revisions:
            revisions[model.name] = src_revisions[model.name]
        elif model.name in dst_revisions:
            revisions[model.name] = dst_revisions[model.name]
            promotion.notes.append(f"artifacts.modelRevisions.{model.name} kept: {promotion.dst} serves "
                                   f"{model.name} ({model.source}), {promotion.src} does not")
    if revisions or "modelRevisions" in src_block:
        new["modelRevisions"] = revisions
    return new


ECR_REPOSITORY = "aws:ecr/repository:Repository"


def _missing_repositories(new: Mapping[str, Any], dst_plan, dst_name: str) -> list[str]:
    """Images the target would pull from its own ECR registry where it creates no repository.

    ECR holds one image per repository: `<registryUrl>/<name>` exists only if the target's plan declares
    the repository `llm-fleet-<stack>/<name>` (Artifact Registry takes any name under its one repository).
    """
    declared = {r.inputs.get("name") for r in dst_plan.of_type(ECR_REPOSITORY)}
    registry = dst_plan.outputs.get("registryUrl")
    if not declared or not isinstance(registry, str) or "/" not in registry:
        return []
    host = registry.split("/", 1)[0]
    problems = []
    for key, ref in new.items():
        if not (key.endswith("Image") and isinstance(ref, str) and ref.startswith(f"{registry}/")):
            continue
        repository = ref[len(host) + 1:].split("@", 1)[0].rsplit(":", 1)[0]
        if repository not in declared:
            problems.append(f"promote refused: artifacts.{key} would be {ref.split('@', 1)[0]}, but {dst_name} creates "
                            f"no ECR repository {repository} (it creates {', '.join(sorted(declared))}); name the "
                            "image after one of them in the source registry")
    return problems


def _replace_in_place(target: CommentedMap, new: Mapping[str, Any]) -> None:
    """Make `target` equal `new`, assigning only what differs: unchanged keys keep their comments and place."""
    for key in [k for k in target if k not in new]:
        del target[key]
    for key, value in new.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            _replace_in_place(current, value)
        elif key not in target or current != value:
            target[key] = value


def _prepare(src: str, dst: str, root: Path, src_doc: CommentedMap, src_plan) -> tuple[Promotion, str, list[str]]:
    """`dst`'s promotion from `src` (not yet written): the Promotion, the target file's new text, the refusals."""
    dst_name = f"Pulumi.{dst}.yaml"
    dst_doc = load_stack_file(root / dst_name, to_write=True)
    promotion = Promotion(src, dst, diff="")
    problems = uncommitted(root, dst_name)
    dst_plan = _plan(dst, root, f"{dst_name} is invalid before promotion")
    old_text = (root / dst_name).read_text()  # == _dump(dst_doc): load_stack_file proved the round trip exact
    new_artifacts = _new_artifacts(src_doc, dst_doc, src_plan, dst_plan, promotion)
    problems += _missing_repositories(new_artifacts, dst_plan, dst_name)
    _replace_in_place(artifacts_block(dst_doc, dst_name), new_artifacts)
    new_text = _dump(dst_doc)
    promotion.diff = "".join(difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"{dst_name} (now)", tofile=f"{dst_name} (with {src}'s artifacts)"))
    return promotion, new_text, problems


def _refusals_after(src: str, new_texts: Mapping[str, str], root: Path) -> list[str]:
    """Each target's config and guards with every target's new artifacts at once, in a copy of the project's stack
    and fleet files (a region's config compares its artifacts with its sibling regions')."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="llm-fleet-promote-") as tmp:
        for path in [*root.glob("Pulumi.*.yaml"), *root.glob("Fleet.*.yaml")]:
            (Path(tmp) / path.name).write_bytes(path.read_bytes())
        for dst, text in new_texts.items():
            (Path(tmp) / f"Pulumi.{dst}.yaml").write_text(text)
        for dst in new_texts:
            try:
                after = _plan(dst, Path(tmp), f"Pulumi.{dst}.yaml with {src}'s artifacts")
                problems += [f"promote refused: guard {v.guard} of {dst} fails with {src}'s artifacts: {v.message}"
                             for v in after.verdicts if v.status == "fail"]
            except PromotionRefused as e:
                problems += e.problems
    return problems


def promotion_targets(dst: str, root: Path) -> list[str]:
    """The stacks `promote … DST` writes: every region of fleet DST (a `Fleet.<DST>.yaml` exists), else DST alone."""
    if not (root / f"Fleet.{dst}.yaml").is_file():
        return [dst]
    try:
        stacks = [str(r.get("stack")) for r in fleet_regions(dst, root)]
    except ConfigError as e:
        raise PromotionRefused([f"promote refused: Fleet.{dst}.yaml: {line}" for line in e.problems]) from None
    if not stacks:
        raise PromotionRefused([f"promote refused: Fleet.{dst}.yaml lists no regions ({NAMESPACE}:regions); nothing "
                                "to promote to"])
    return stacks


def promote_all(src: str, dst: str, root: Path, *, dry_run: bool = False) -> list[Promotion]:
    """Copy `src`'s artifacts into `Pulumi.<dst>.yaml`, or into every region stack when `dst` is a fleet: all of them
    or none (any target's refusal refuses the whole promotion; nothing is written). Raises PromotionRefused."""
    bad = [f"promote refused: stack name {name!r} is not a stack name: letters, digits, '-', '_' and '.' only, "
           "starting with a letter or digit (e.g. staging); name a Pulumi.<stack>.yaml of this repository"
           for name in dict.fromkeys((src, dst)) if not STACK_NAME.fullmatch(name)]
    if bad:
        raise PromotionRefused(bad)
    targets = promotion_targets(dst, root)
    if src in targets:
        raise PromotionRefused([f"promote refused: source and target are the same stack ({src})"])
    src_name = f"Pulumi.{src}.yaml"
    src_doc = load_stack_file(root / src_name)
    for target in targets:  # every target file exists and round-trips before anything else is judged
        load_stack_file(root / f"Pulumi.{target}.yaml", to_write=True)
    fleet_file = [f"Fleet.{dst}.yaml"] if targets != [dst] else []
    problems = uncommitted(root, src_name, *fleet_file)
    problems += [f"promote refused: {src_name} pins artifacts.{key} by tag ({ref}); only digests are promoted: "
                 f"<image>@sha256:<digest> (the image pipeline publishes it)"
                 for key, ref in _tagged_images(artifacts_block(src_doc, src_name))]
    src_plan = _plan(src, root, f"{src_name} is invalid")
    promotions, new_texts = [], {}
    for target in targets:
        promotion, new_text, refused = _prepare(src, target, root, src_doc, src_plan)
        promotions.append(promotion)
        new_texts[target] = new_text
        problems += refused
    problems += _refusals_after(src, new_texts, root)
    if problems:
        raise PromotionRefused(problems)
    if not dry_run:
        for promotion in promotions:
            if promotion.diff:
                (root / f"Pulumi.{promotion.dst}.yaml").write_text(new_texts[promotion.dst])
                promotion.written = True
    return promotions


def promote(src: str, dst: str, root: Path, *, dry_run: bool = False) -> Promotion:
    """Copy `src`'s artifacts into the one stack `Pulumi.<dst>.yaml` (unless dry_run). Raises PromotionRefused."""
    if (root / f"Fleet.{dst}.yaml").is_file():
        raise PromotionRefused([f"promote refused: {dst} is a fleet (Fleet.{dst}.yaml): use promote_all"])
    return promote_all(src, dst, root, dry_run=dry_run)[0]
