"""The README's generated tables: each sits between markers and is rendered from the code, so it cannot go stale
(tests/test_docs.py compares; `make docs` rewrites them).

    <!-- cost-table:prod --> ... <!-- /cost-table -->      the stack's cost beside the alternatives (cost_table.py);
    <!-- cost-table:prod,seed-gke --> ...                 and other configurations of its workload (here or examples/)
    <!-- guard-verdicts --> ... <!-- /guard-verdicts -->   each guard's verdict per tier (guards/verdicts.py)
    <!-- time-to-serve:prod,eks-prod --> ...              the time to serve per stack (time_to_serve_report.py)
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.plan import ROOT

_REGION = re.compile(r"(<!-- (?P<name>cost-table|guard-verdicts|time-to-serve)(?::(?P<stack>[\w.,-]+))? -->\n)"
                     r"(?P<body>.*?)(<!-- /(?P=name) -->)", re.S)


def _render(name: str, stack: str | None, root: Path) -> str:
    if name == "guard-verdicts":
        from infra.guards.verdicts import markdown

        return markdown()
    assert stack is not None, f"a {name} region names its stacks: <!-- {name}:prod -->"

    def found(name: str) -> Path:  # a stack of the project, or one of its examples
        return root if (root / f"Pulumi.{name}.yaml").is_file() else root / "examples"

    if name == "time-to-serve":
        from infra.config import parse_engine_config
        from infra.plan import read_stack_file
        from infra.time_to_serve_report import readme_markdown

        return readme_markdown([(s, parse_engine_config(read_stack_file(s, found(s))[0])) for s in stack.split(",")])
    from infra.cost_table import render, stack_cost

    first, *others = stack.split(",")
    return render(first, stack_cost(first, found(first)), [(name, stack_cost(name, found(name))) for name in others])


def refresh(text: str, root: Path = ROOT) -> str:
    """`text` with every generated region rendered anew (the markers stay)."""
    return _REGION.sub(lambda m: m.group(1) + _render(m["name"], m["stack"], root) + m.group(5), text)


def regions(text: str) -> list[str]:
    """The generated regions `text` holds, by marker name (`cost-table:prod`, `guard-verdicts`)."""
    return [m["name"] + (f":{m['stack']}" if m["stack"] else "") for m in _REGION.finditer(text)]
