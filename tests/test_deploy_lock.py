"""requirements-deploy.lock: what CI jobs holding a tier's secrets install (pip --require-hashes), issue 17 (Medium:
"PyPI ranges without hashes installed in jobs holding secrets")."""

from __future__ import annotations

import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

LOCK = ROOT / "requirements-deploy.lock"


def _entries() -> dict[str, tuple[str, list[str]]]:
    """name -> (pinned version, sha256 hashes), from pip-compile's `name==version \\ --hash=sha256:...` blocks."""
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        head = re.match(r"([A-Za-z0-9][\w.\-\[\],]*)==([^\s\\;]+)", block)
        if head:
            name = canonicalize_name(head.group(1).split("[")[0])
            entries[name] = (head.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def _direct_requirements(path) -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def test_the_lock_pins_every_runtime_requirement_inside_its_range_with_hashes():
    entries = _entries()
    for requirement in _direct_requirements(ROOT / "requirements.txt"):
        name = canonicalize_name(requirement.name)
        assert name in entries, f"requirements-deploy.lock misses {name}: run `make deploy-lock`"
        version, hashes = entries[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version, str(requirement.specifier))
        assert hashes, name


def test_every_locked_package_has_a_hash_and_the_versions_every_test_passed_with():
    # pip --require-hashes refuses an install where any one package lacks a hash; and the lock follows
    # requirements.lock (the versions `make test` passed with), e.g. pulumi 3.x as pinned there.
    tested = dict(re.findall(r"^([A-Za-z0-9][\w.\-]*)==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M))
    tested = {canonicalize_name(k): v for k, v in tested.items()}
    entries = _entries()
    assert len(entries) > 20  # requirements.txt's 13 packages and what they depend on
    for name, (version, hashes) in entries.items():
        assert hashes, f"{name}=={version} has no --hash"
        if name in tested:
            assert version == tested[name], (name, version, tested[name])
    assert entries["pulumi"][0] == tested["pulumi"]


def test_the_lock_names_no_index_of_this_machine():
    # An --index-url / --find-links line would point CI's pip at a path that exists only where the lock was made.
    text = LOCK.read_text()
    assert not re.search(r"^--(extra-)?index-url|^--find-links|^--trusted-host", text, re.M)
