"""Write gateway/requirements.lock from `pip install --dry-run --report` (make gateway-lock).

Each resolved distribution at its exact version with the sha256 of the file pip chose: on CPython 3.11 / linux x86_64
(here, CI and the gateway image) that is the file the image installs with --require-hashes --no-deps. pip-compile
--generate-hashes would hash every platform's files, but it takes longer than CI's budget on this closure (100+
packages): the one-platform lock is what the image needs.

    python tests/gateway/gateway_lock.py REPORT.json > gateway/requirements.lock
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADER = """\
# gateway/requirements.txt resolved for the gateway image and .venv-gateway (CPython 3.11, linux x86_64): the whole
# closure at exact versions with the sha256 of the file each installs (pip install --require-hashes --no-deps).
# Regenerate with `make gateway-lock` (tests/gateway/gateway_lock.py).
"""


def lock_text(report: dict) -> str:
    entries = []
    for item in report["install"]:
        name = item["metadata"]["name"].lower().replace("_", "-")
        info = item["download_info"]
        sha = (info.get("archive_info") or {}).get("hashes", {}).get("sha256")
        if not sha:
            raise SystemExit(f"{name}: pip reported no sha256 for {info['url']}; it cannot be installed by hash")
        entries.append((name, item["metadata"]["version"], sha, info["url"].rsplit("/", 1)[-1]))
    body = "".join(f"{n}=={v} \\\n    --hash=sha256:{h}\n    # {f}\n" for n, v, h, f in sorted(entries))
    return HEADER + "\n" + body


if __name__ == "__main__":
    sys.stdout.write(lock_text(json.loads(Path(sys.argv[1]).read_text())))
