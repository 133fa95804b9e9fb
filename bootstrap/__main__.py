"""Entry point under the Pulumi engine: read this bootstrap stack's config, declare the trust."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bootstrap` importable without an install

import pulumi

from bootstrap.program import declare
from bootstrap.trust import Settings

config = pulumi.Config()
promote = config.get_bool("promote")
declare(Settings(repository=config.require("repository"), stack=config.require("stack"),
                 cloud=config.require("cloud"),  # type: ignore[arg-type]  # gke | eks
                 gcp_project=config.get("gcpProject"), aws_region=config.get("awsRegion"),
                 promote=True if promote is None else promote))
