"""Wall time of `plan` for each shipped stack and for synthetic fleets of growing size.

Prints one line per case: resources declared, seconds, and peak RSS of this process. Run:
    .venv/bin/python benchmarks/plan_time.py [--sizes 1,5,10]
A "size" N is N regions' worth of pools (an A100, an H100, an L4 pool) and 3N models.
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.plan import run_plan  # noqa: E402


def synthetic_stack(size: int) -> dict:
    base = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    cfg = copy.deepcopy(base)
    pools, models, revisions = [], [], {}
    for i in range(size):
        pools += [
            {"name": f"a100-{i}", "gpu": "A100-80GB", "gpusPerNode": 8, "minNodes": 0, "maxNodes": 4},
            {"name": f"h100-{i}", "gpu": "H100-80GB", "gpusPerNode": 8, "minNodes": 0, "maxNodes": 2},
            {"name": f"l4-{i}", "gpu": "L4", "gpusPerNode": 1, "minNodes": 0, "maxNodes": 8},
        ]
        for kind, pool, params in (("A100-80GB", f"a100-{i}", "70B"), ("H100-80GB", f"h100-{i}", "70B"),
                                   ("L4", f"l4-{i}", "8B")):
            name = f"m-{pool}"
            models.append({"name": name, "source": "hf://example/model", "parameters": params, "gpu": kind,
                           "pool": pool, "tensorParallelSize": 1 if kind == "L4" else 4,
                           "replicas": {"min": 1, "max": 2}})
            revisions[name] = "0" * 40
    pools.append({"name": "rollout", "machineType": "n2-standard-32", "purpose": "rollout", "minNodes": 1,
                  "maxNodes": 4})
    # Zones that sell every GPU machine above (a2-ultragpu, a3 and g2 are not all in us-central1-f).
    cfg["llm-fleet:gcp"]["zones"] = ["us-central1-a", "us-central1-c"]
    cfg["llm-fleet:nodePools"] = pools
    cfg["llm-fleet:models"] = models
    cfg["llm-fleet:training"] = {"gpu": "H100-80GB", "pool": "h100-0"}
    cfg["llm-fleet:artifacts"]["modelRevisions"] = revisions
    cfg["llm-fleet:budget"]["monthlyAmount"] = 10_000_000
    # The synthetic models are served by their pools only: prod's gateway, its fallbacks and their key go, and the
    # rollout workers call the models directly.
    cfg["llm-fleet:serving"].pop("gateway", None)
    cfg["llm-fleet:rollout"].pop("viaGateway", None)
    cfg.pop("llm-fleet:togetherApiKey", None)
    return {"config": cfg}


def timed(stack: str, root: Path) -> tuple[int, float]:
    start = time.perf_counter()
    plan = run_plan(stack, root)
    return len(plan.resources), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,5,10", help="synthetic fleet sizes (regions' worth of pools)")
    args = parser.parse_args()
    print(f"{'case':<40}{'resources':>10}{'seconds':>10}{'peak RSS MiB':>14}")

    def row(case: str, n: int, secs: float) -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{case:<40}{n:>10}{secs:>10.2f}{rss:>14.0f}", flush=True)

    # The first plan also pays for importing pulumi, pulumi_gcp and pulumi_kubernetes (~2 s).
    for stack in ("dev", "staging", "prod"):
        row(f"stack {stack}", *timed(stack, ROOT))
    for example in sorted((ROOT / "examples").glob("Pulumi.*.yaml")):
        stack = example.name.removeprefix("Pulumi.").removesuffix(".yaml")
        row(f"example {stack}", *timed(stack, example.parent))
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            name = f"synthetic{size}"
            (Path(tmp) / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(synthetic_stack(size)))
            row(f"synthetic x{size} ({3 * size} pools, {3 * size} models)", *timed(name, Path(tmp)))


if __name__ == "__main__":
    main()
