"""`python -m serving`: validate settings (exit 2 if bad or unknown), then supervise vLLM until it stops.
`python -m serving --help` lists every SERVING_* variable with its default and meaning."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from serving.environment import help_text, unknown_variables
from serving.settings import EXIT_BAD_SETTINGS, load_or_exit
from serving.tokens import hf_token_problems, hf_token_warnings


def main() -> int:
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(help_text(), end="")
        return 0
    if sys.argv[1:]:
        print(f"python -m serving takes no arguments (got {' '.join(sys.argv[1:])}); it is configured by SERVING_* "
              "variables: python -m serving --help", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    unknown = unknown_variables(os.environ)  # a misspelt variable would otherwise be ignored silently
    if unknown:
        print("; ".join(unknown), file=sys.stderr)
        return EXIT_BAD_SETTINGS
    token_problems = hf_token_problems(os.environ)  # an unmounted token file would fail only at download
    if token_problems:
        print("; ".join(token_problems), file=sys.stderr)
        return EXIT_BAD_SETTINGS
    settings = load_or_exit()  # before anything starts: bad settings never reach vLLM
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s [serving] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per monitor poll would drown vLLM's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for warning in hf_token_warnings(os.environ):
        logging.getLogger("serving").warning("%s", warning)
    from serving.supervisor import Supervisor  # heavier imports only after validation

    return asyncio.run(Supervisor(settings).run())


if __name__ == "__main__":
    sys.exit(main())
