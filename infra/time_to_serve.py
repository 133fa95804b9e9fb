"""Time to serve: from "the autoscaler asks for a replica" to "the replica answers", per model, on the stack's platform.

Five parts, in the order they happen: a node (none when warm headroom or a free node waits on the model's pool), the
serving image (whole, streamed, or preloaded on a secondary boot disk), the weights (hub download then disk load, or
streamed from a bucket by vLLM's Run:ai streamer), the engine's start-up, and torch.compile (cold, or loaded from a
shared compile cache). Every figure comes from infra/time_to_serve_facts.py with its source.

The same figures set the pod's startup probe budget and KEDA's scale-in delay (`startup_budget_seconds`,
`scale_down_window_seconds`), so the plan's breakdown and the rendered objects cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from infra.config import StackConfig
from infra.config.headroom import nodes_held
from infra.time_to_serve_facts import (
    BUCKET_STREAM,
    COMPILE_COLD_8B,
    COMPILE_COLD_70B,
    COMPILE_WARM_8B,
    COMPILE_WARM_70B,
    DISK_IMAGE_BUILDER,
    DISK_LOAD_DEFAULT,
    EKS_PRELOAD_WAYS,
    ENGINE_INIT_8B,
    ENGINE_INIT_70B,
    HUB_DOWNLOAD,
    IMAGE_PULL_FULL,
    IMAGE_PULL_PRELOADED,
    IMAGE_PULL_STREAMED,
    NODE_PROVISION,
    PROCESS_START,
    SMALL_MODEL_GB,
)

# The startup probe's budget over the breakdown's in-container worst case (cold compile cache, the model's weight
# path, engine start). 2x, not the 1.5x of a measured figure: these are published best cases on other machines (the
# hub's ~0.5 GB/s is a ceiling, not a floor), and a budget that is too short restarts a loading pod forever.
# Where prod's 297 s come from (qwen-7b, 15.2 GB, hub source, no compile cache, a node that is there; the probe starts
# with the container, so node and image are not in it), every figure in time_to_serve_facts.py:
#   weights  15.2 GB / 0.5 GB/s hub (HUB_DOWNLOAD, hf-transfer's PyPI page) + 15.2 GB / 0.313 GB/s disk load
#            (DISK_LOAD_DEFAULT, NVIDIA's Run:ai streamer post: vLLM's safetensors loader, 8B in 47.99 s) = 79 s
#   engine   30 s process start (vllm issue 20264) + 14.18 s init (vllm PR 11005)                          = 44 s
#   compile  25.16 s torch.compile with an empty cache (vllm PR 11005)                                      = 25 s
#   (79 + 44 + 25) x 2 = 297 s. It still covers a hub at 0.2 GB/s (the rate the formula it replaces assumed:
#   serving/kubernetes.py startup_budget_seconds, 570 s) with 1.5x to spare, and a hub at 0.085 GB/s at all
#   (tests/test_time_to_serve.py pins both).
STARTUP_MARGIN = 2.0
# KEDA's scale-down stabilization window is at most an hour: beyond that a quiet night would keep every replica.
MAX_SCALE_DOWN_WINDOW_S = 3600

Part = Literal["node", "image", "weights", "engine", "compile"]
PARTS: tuple[Part, ...] = ("node", "image", "weights", "engine", "compile")


@dataclass(frozen=True)
class ServeInputs:
    """What decides one model's time to serve (from the stack's config; see `stack_inputs`)."""

    model: str
    cloud: str  # gke | eks | existing
    weights_gb: float
    weights_from: Literal["hub", "bucket"]  # the model's source: hf:// or gs:// / s3://
    spare_node: bool  # warm headroom or a free node on the model's (first) pool
    image_streaming: bool  # GKE image streaming (gcfsConfig) on the pool
    preloaded_image: bool  # GKE secondary boot disk with the serving image
    compile_cache: bool  # serving.coldStart.compileCache: replicas after the first load compiled graphs
    pool: str = ""
    model_index: int = 0


@dataclass(frozen=True)
class Step:
    """One part of the breakdown: its seconds, how it happens and the facts (keys of FACTS) it rests on."""

    part: Part
    seconds: float
    how: str
    facts: tuple[str, ...]


@dataclass(frozen=True)
class Missing:
    """A mechanism the stack does not use for this model, what it would save per new replica, and the fix."""

    mechanism: str
    seconds: float
    fix: str


@dataclass(frozen=True)
class TimeToServe:
    inputs: ServeInputs
    steps: tuple[Step, ...]
    cold_compile_seconds: float  # compilation with an empty cache (the first replica, which seeds a shared one)
    missing: tuple[Missing, ...] = field(default_factory=tuple)

    def seconds(self, part: Part) -> float:
        return next(s.seconds for s in self.steps if s.part == part)

    @property
    def total(self) -> float:
        """A replica added by a scale-out, with the stack's mechanisms (a shared cache is warm after the first)."""
        return sum(s.seconds for s in self.steps)

    @property
    def in_container_worst(self) -> float:
        """What the startup probe must wait for on a node that is already there: weights, engine, cold compile.

        The probe starts with the container, so node provisioning and the image pull are not in it."""
        return self.seconds("weights") + self.seconds("engine") + self.cold_compile_seconds


def _large(weights_gb: float) -> bool:
    return weights_gb > SMALL_MODEL_GB


def _node(i: ServeInputs) -> Step:
    if i.spare_node:
        return Step("node", 0, "a spare node waits (warm headroom or the pool's minimum)", ())
    how = "new node (cluster-autoscaler)" if i.cloud != "existing" else "new node (the cluster's own autoscaler)"
    return Step("node", NODE_PROVISION.value, how, ("nodeProvision",))


def _image(i: ServeInputs) -> Step:
    if i.preloaded_image:
        return Step("image", IMAGE_PULL_PRELOADED.value, "preloaded (secondary boot disk)", ("imagePullPreloaded",))
    if i.image_streaming:
        return Step("image", IMAGE_PULL_STREAMED.value, "image streaming", ("imagePullStreamed",))
    # The one figure no vendor publishes in seconds: the plan says whose it is (time_to_serve_facts.IMAGE_PULL_FULL).
    return Step("image", IMAGE_PULL_FULL.value, "whole-image pull (a user's measurement)", ("imagePullFull",))


def _hub_seconds(gb: float) -> float:
    return gb / HUB_DOWNLOAD.value + gb / DISK_LOAD_DEFAULT.value


def _bucket_seconds(gb: float) -> float:
    return gb / BUCKET_STREAM.value


def _weights(i: ServeInputs) -> Step:
    if i.weights_from == "bucket":
        return Step("weights", _bucket_seconds(i.weights_gb), "streamed from the bucket (Run:ai streamer)",
                    ("bucketStream",))
    return Step("weights", _hub_seconds(i.weights_gb), "hub download, then load from disk",
                ("hubDownload", "diskLoadDefault"))


def _engine(i: ServeInputs) -> Step:
    init, key = (ENGINE_INIT_70B, "engineInit70B") if _large(i.weights_gb) else (ENGINE_INIT_8B, "engineInit8B")
    return Step("engine", PROCESS_START.value + init.value, "process start, profile, KV cache, CUDA graphs",
                ("processStart", key))


def _compile(i: ServeInputs) -> tuple[Step, float]:
    large = _large(i.weights_gb)
    cold, cold_key = (COMPILE_COLD_70B, "compileCold70B") if large else (COMPILE_COLD_8B, "compileCold8B")
    warm, warm_key = (COMPILE_WARM_70B, "compileWarm70B") if large else (COMPILE_WARM_8B, "compileWarm8B")
    if i.compile_cache:
        return Step("compile", warm.value, "loaded from the shared compile cache", (warm_key,)), cold.value
    return Step("compile", cold.value, "torch.compile from scratch (no shared cache)", (cold_key,)), cold.value


def _missing(i: ServeInputs) -> tuple[Missing, ...]:
    """Per mechanism the stack lacks for this model: what it costs each new replica in seconds, and the fix."""
    out: list[Missing] = []
    if not i.spare_node:
        out.append(Missing("warm headroom", NODE_PROVISION.value,
                           f"a scale-out waits for a new node; set warmHeadroom: 1 on pool {i.pool!r} (one spare "
                           "node, priced in the cost table)"))
    if i.cloud == "gke" and not i.preloaded_image:
        base = IMAGE_PULL_STREAMED.value if i.image_streaming else IMAGE_PULL_FULL.value
        out.append(Missing("preloaded image", base - IMAGE_PULL_PRELOADED.value,
                           "set serving.coldStart.preloadImage.diskImage to a disk image of the serving image (build "
                           f"it with gke-disk-image-builder: {DISK_IMAGE_BUILDER})"))
    elif i.cloud == "eks":
        out.append(Missing("preloaded image", IMAGE_PULL_FULL.value - IMAGE_PULL_PRELOADED.value,
                           "EKS has no built-in image preload and this stack builds none; it would take a Bottlerocket "
                           f"data volume from an EBS snapshot holding the image ({EKS_PRELOAD_WAYS[0]})"))
    if i.weights_from == "hub":
        saved = _hub_seconds(i.weights_gb) - _bucket_seconds(i.weights_gb)
        out.append(Missing("weights from a bucket", saved,
                           f"copy the weights to a bucket, set models[{i.model_index}].source to its gs:// or s3:// "
                           "URL (vLLM then streams them: --load-format runai_streamer) and serving.coldStart.weights: "
                           "bucket"))
    if not i.compile_cache:
        cold = COMPILE_COLD_70B.value if _large(i.weights_gb) else COMPILE_COLD_8B.value
        warm = COMPILE_WARM_70B.value if _large(i.weights_gb) else COMPILE_WARM_8B.value
        out.append(Missing("shared compile cache", cold - warm,
                           "every new replica compiles from scratch; set serving.coldStart.compileCache "
                           "(bucket:<prefix>, gs://… or s3://…): the first replica seeds it, the next ones load it"))
    return tuple(out)


def time_to_serve(i: ServeInputs) -> TimeToServe:
    compile_step, cold = _compile(i)
    steps = (_node(i), _image(i), _weights(i), _engine(i), compile_step)
    return TimeToServe(i, steps, cold, _missing(i))


def startup_budget_seconds(t: TimeToServe) -> int:
    """The startup probe's budget: the in-container worst case on a node that is there, times the margin."""
    return math.ceil(t.in_container_worst * STARTUP_MARGIN)


def scale_down_window_seconds(t: TimeToServe) -> int:
    """KEDA's scale-down stabilization window: at least the time a replica takes to come back (node, image, weights,
    engine, compile), so a dip shorter than that does not trade a running replica for a cold start (capped at an
    hour)."""
    return min(MAX_SCALE_DOWN_WINDOW_S, math.ceil(t.total))


def stack_inputs(cfg: StackConfig) -> list[ServeInputs]:
    """Per model, what decides its time to serve, from the stack's config alone."""
    cold = cfg.serving.cold_start
    out = []
    for index, model in enumerate(cfg.models):
        pool = cfg.model_pool(model)
        on_pool = [m for m in cfg.models if cfg.model_pool(m).name == pool.name]
        held = nodes_held(pool.gpus_per_node or 1, [(m.replicas.min, m.tensor_parallel_size) for m in on_pool])
        out.append(ServeInputs(
            model=model.name, cloud=cfg.cloud, weights_gb=model.weights_gb,
            weights_from="hub" if model.is_huggingface else "bucket",
            spare_node=pool.warm_headroom > 0 or pool.min_nodes > held,
            # Every GKE pool of this stack has image streaming on (infra/platforms/gke/node_pools.py gcfs_config).
            image_streaming=cfg.cloud == "gke", preloaded_image=cfg.cloud == "gke" and cold.preload_image is not None,
            compile_cache=cold.compile_cache is not None, pool=pool.name, model_index=index))
    return out


def stack_time_to_serve(cfg: StackConfig) -> list[TimeToServe]:
    return [time_to_serve(i) for i in stack_inputs(cfg)]


def model_time_to_serve(cfg: StackConfig, model_name: str) -> TimeToServe:
    return next(t for t in stack_time_to_serve(cfg) if t.inputs.model == model_name)
