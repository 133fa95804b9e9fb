"""The SERVING_* variables as a user meets them: `python -m serving --help` lists each with its default and meaning,
and a SERVING_* variable the image does not know stops it (exit 2) naming the nearest valid one.

One source: the `Settings` fields (serving/settings.py), their defaults and their docstrings.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from serving.settings import ENV_PREFIX, Settings

# Variables Kubernetes injects for a Service named `serving` in the pod's namespace (service links): not settings.
_SERVICE_LINK = re.compile(rf"{ENV_PREFIX}(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)")
USAGE = """usage: python -m serving [--help]

Supervises vLLM's OpenAI-compatible server: a health server on a second port, a drain of in-flight requests on
SIGTERM, a non-zero exit whenever vLLM exits on its own. Configured by environment variables only; invalid or unknown
SERVING_* variables exit 2 with one line, before vLLM starts.
"""


def variables() -> dict[str, tuple[str, str]]:
    """Every SERVING_* variable: (default as shown, meaning)."""
    out = {}
    for name, field in Settings.model_fields.items():
        if field.is_required():
            default = "(required)"
        elif field.default_factory is not None:
            default = "(empty)"
        elif field.default is None:
            default = "(unset)"
        else:
            default = str(field.default)
        out[ENV_PREFIX + name.upper()] = (default, field.description or "")
    return out


def help_text() -> str:
    rows = variables()
    width = max(len(name) for name in rows)
    lines = [f"  {name:<{width}}  {default:<10}  {meaning}" for name, (default, meaning) in rows.items()]
    return USAGE + "\nEnvironment (default, meaning):\n" + "\n".join(lines) + "\n"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per SERVING_* variable that is not a setting, with the nearest valid name where one is close."""
    known = variables()
    problems = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in known or _SERVICE_LINK.fullmatch(name):
            continue
        # Compared without the shared prefix, which would make every name look close to every other.
        near = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), [k.removeprefix(ENV_PREFIX) for k in known],
                                         n=1, cutoff=0.6)
        hint = f"did you mean {ENV_PREFIX}{near[0]}?" if near else "python -m serving --help lists the valid ones"
        problems.append(f"unknown setting: {name} is not a variable of this image; {hint}")
    return problems


_DOCS_REGION = re.compile(r"(<!-- serving-help -->\n)(.*?)(<!-- /serving-help -->)", re.S)


def docs_block() -> str:
    """The variables as docs/serving.md shows them: the help's own lines, in a code block."""
    return "```\n" + help_text().split("Environment (default, meaning):\n", 1)[1] + "```\n"


def refresh_docs(text: str) -> str:
    return _DOCS_REGION.sub(lambda m: m.group(1) + docs_block() + m.group(3), text)


if __name__ == "__main__":  # `make docs`: python -m serving.environment docs/serving.md
    import sys
    from pathlib import Path

    path = Path(sys.argv[1])
    path.write_text(refresh_docs(path.read_text()))
