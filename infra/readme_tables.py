"""The README's generated tables: each sits between markers and is rendered from the code, so it cannot go stale
(tests/test_docs.py compares; `make docs` rewrites them).

    <!-- cost-table:prod --> ... <!-- /cost-table -->      the stack's cost beside the alternatives (cost_table.py);
    <!-- cost-table:prod,seed-gke --> ...                 and other configurations of its workload (here or examples/)
    <!-- guard-verdicts --> ... <!-- /guard-verdicts -->   each guard's verdict per tier (guards/verdicts.py)
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.plan import ROOT

_REGION = re.compile(r"(<!-- (?P<name>cost-table|guard-verdicts)(?::(?P<stack>[\w.,-]+))? -->\n)(?P<body>.*?)"
                     r"(<!-- /(?P=name) -->)", re.S)


def _render(name: str, stack: str | None, root: Path) -> str:
    if name == "guard-verdicts":
        from infra.guards.verdicts import markdown

        return markdown()
    from infra.cost_table import render, stack_cost

    assert stack is not None, "a cost table names its stack: <!-- cost-table:prod -->"
    first, *others = stack.split(",")

    def found(name: str) -> Path:  # a stack of the project, or one of its examples
        return root if (root / f"Pulumi.{name}.yaml").is_file() else root / "examples"

    return render(first, stack_cost(first, found(first)), [(name, stack_cost(name, found(name))) for name in others])


def refresh(text: str, root: Path = ROOT) -> str:
    """`text` with every generated region rendered anew (the markers stay)."""
    return _REGION.sub(lambda m: m.group(1) + _render(m["name"], m["stack"], root) + m.group(5), text)


def regions(text: str) -> list[str]:
    """The generated regions `text` holds, by marker name (`cost-table:prod`, `guard-verdicts`)."""
    return [m["name"] + (f":{m['stack']}" if m["stack"] else "") for m in _REGION.finditer(text)]
