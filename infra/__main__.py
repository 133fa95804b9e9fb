"""Entry point for both `pulumi up` (runs the program) and `python -m infra <command>` (the CLI).

Pulumi runs this file with runpy on the `infra/` folder (module name `__main__`); `python -m
infra` runs it as `infra.__main__`. That difference, not argv, decides which one this is.
"""

import sys
from pathlib import Path

if __spec__ is not None and __spec__.name == "infra.__main__":
    from infra.cli import main

    sys.exit(main(sys.argv[1:]))
else:
    # Under the Pulumi engine. Make the project importable even from a venv without `pip install -e .`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import pulumi

    from infra import program, sdk
    from infra.config import load_config
    from infra.config.loading import engine_raw
    from infra.config.secrets import config_warnings

    # A config or guard error is a pulumi.RunError: Pulumi reports it as one message, no traceback.
    cfg = load_config(pulumi.get_stack())
    values = sdk.engine_config()
    stack = pulumi.get_stack()
    for warning in config_warnings(engine_raw(values), sdk.secret_keys(), cfg, stack, engine_values=values):
        pulumi.log.warn(warning)
    program.run(cfg)
