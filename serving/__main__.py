"""`python -m serving`: validate settings (exit 2 if bad), then supervise vLLM until it stops."""

from __future__ import annotations

import asyncio
import logging
import sys

from serving.settings import load_or_exit


def main() -> int:
    settings = load_or_exit()  # before anything starts: bad settings never reach vLLM
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s [serving] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One line per monitor poll would drown vLLM's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from serving.supervisor import Supervisor  # heavier imports only after validation

    return asyncio.run(Supervisor(settings).run())


if __name__ == "__main__":
    sys.exit(main())
