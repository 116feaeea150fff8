"""The ``vllm`` backend: the offline ``vllm.LLM`` engine, for GPU machines.

vLLM is an optional extra (``pip install 'sightsound[vllm]'``): it is CUDA-only and pins its own
torch, so it is imported only when this backend is built, and a missing install says what to do.

Each request becomes one engine input ``{"prompt", "multi_modal_data"[, "mm_processor_kwargs"]}``:
the prompt is the model's own chat template (rendered by the HF processor) with one placeholder per
medium, media before the text, exactly like the ``hf`` backend; the data are the frames (a list of
PIL images, or one ``(T, H, W, 3)`` uint8 video array with its fps) and the audio as ``(array,
sample_rate)``. :func:`build_vllm_input` does that conversion and is a pure function, so it is
tested on CPU machines against the tiny models' processors. Sampling maps one to one onto
``vllm.SamplingParams`` (``n``, temperature, top_p, max_tokens, seed), one per request.

Usage (GPU machine)::

    spec = ModelSpec(name_or_path="Qwen/Qwen2.5-VL-32B-Instruct", backend="vllm", tensor_parallel_size=2,
                     frames_as="video", video_fps=2.0)
    backend = make_backend(spec)
    results = backend.generate(requests)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sightsound.backends.interface import Generation, GenerationRequest, GenerationResult, SamplingParams

if TYPE_CHECKING:  # pragma: no cover
    from sightsound.config import ModelSpec

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the 'vllm' backend needs vLLM, which runs on CUDA GPUs only: pip install 'sightsound[vllm]' on a GPU "
    "machine (on CPU use backend 'hf', or serve the model elsewhere and use backend 'openai')"
)

# Which media each architecture takes (vLLM refuses limits for modalities a model lacks).
MODALITIES = {
    "qwen2_5_vl": ("image", "video"),
    "qwen2_audio": ("audio",),
    "qwen2_5_omni_thinker": ("image", "video", "audio"),
}


def import_vllm() -> Any:
    """``import vllm``, or an ImportError that tells the user how to get it."""
    try:
        import vllm
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return vllm


# ----------------------------------------------------------------------------------- pure helpers
def chat_messages(request: GenerationRequest, frames_as: str = "images") -> list[dict[str, Any]]:
    """The request as chat messages, built exactly as the ``hf`` backend builds them (media first)."""
    from sightsound.models.chat import chat_template_messages

    if frames_as not in ("images", "video"):
        raise ValueError(f"frames_as must be 'images' or 'video', got {frames_as!r}")
    return chat_template_messages(request.text, n_images=len(request.images or []), has_audio=request.audio is not None,
                          system=request.system, video=frames_as == "video")


def frames_to_video(images: list[Any]) -> np.ndarray:
    """Frames -> ``(T, H, W, 3)`` uint8; frames of another size are resized to the first one's."""
    first = images[0].convert("RGB")
    size = first.size
    arrays = [np.asarray(first)]
    for im in images[1:]:
        im = im.convert("RGB")
        arrays.append(np.asarray(im if im.size == size else im.resize(size)))
    return np.stack(arrays).astype(np.uint8)


def build_vllm_input(request: GenerationRequest, render: Callable[[list[dict[str, Any]]], str],
                     frames_as: str = "images", video_fps: float = 2.0) -> dict[str, Any]:
    """One ``vllm.LLM.generate`` input for ``request``.

    ``render`` turns chat messages into the prompt string, normally
    ``lambda m: sightsound.models.chat.render_prompt(processor, m)`` (the model's chat template,
    placeholders unexpanded: vLLM expands them from the data).
    """
    prompt = render(chat_messages(request, frames_as))
    data: dict[str, Any] = {}
    out: dict[str, Any] = {"prompt": prompt}
    if request.images:
        if frames_as == "video":
            data["video"] = frames_to_video(request.images)
            # Qwen2.5-VL's temporal positions follow the sampling rate of the frames.
            out["mm_processor_kwargs"] = {"fps": float(video_fps)}
        else:
            data["image"] = [im.convert("RGB") for im in request.images]
    if request.audio is not None:
        audio = np.asarray(request.audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"request {request.id}: audio must be mono (1-D), got shape {audio.shape}")
        data["audio"] = (audio, int(request.sample_rate))
    if data:
        out["multi_modal_data"] = data
    return out


def vllm_sampling_kwargs(sampling: SamplingParams) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for our sampling settings."""
    kwargs: dict[str, Any] = {
        "n": max(1, int(sampling.n)),
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": int(sampling.max_new_tokens),
    }
    if sampling.seed is not None:
        kwargs["seed"] = int(sampling.seed)
    return kwargs


def mm_limits(architecture: str, max_images: int) -> dict[str, int]:
    """``limit_mm_per_prompt`` for an architecture: frames as up to ``max_images`` images or one video."""
    per = {"image": max_images, "video": 1, "audio": 1}
    return {m: per[m] for m in MODALITIES[architecture]}


def _generations(output: Any) -> list[Generation]:
    return [Generation(text=o.text, num_tokens=len(o.token_ids), finish_reason=str(o.finish_reason or "unknown"))
            for o in output.outputs]


# ---------------------------------------------------------------------------------------- backend
class VLLMBackend:
    """Offline vLLM engine behind the generation interface (GPU only)."""

    name = "vllm"

    def __init__(self, spec: ModelSpec, *, max_images: int = 32, seed: int = 0, progress: bool = True):
        vllm = import_vllm()
        from sightsound.models.loading import load_processor, resolve_architecture

        self.spec = spec
        # vLLM decodes video itself (no torchvision question on a GPU machine): "auto" means video.
        self.frames_as = "video" if spec.frames_as == "auto" else spec.frames_as
        self.video_fps = spec.video_fps
        self.progress = progress
        # The same architecture resolution and chat template as the hf backend.
        arch = resolve_architecture(spec)
        self.architecture = arch
        self.processor = load_processor(spec, arch)
        engine_kwargs: dict[str, Any] = {
            "model": spec.name_or_path,
            "tensor_parallel_size": spec.tensor_parallel_size,
            "gpu_memory_utilization": spec.gpu_memory_utilization,
            "trust_remote_code": spec.trust_remote_code,
            "dtype": "auto" if spec.dtype == "auto" else spec.dtype,
            "limit_mm_per_prompt": mm_limits(arch, max_images),
            "seed": seed,
        }
        if spec.max_model_len is not None:
            engine_kwargs["max_model_len"] = spec.max_model_len
        self._vllm = vllm
        self.llm = vllm.LLM(**engine_kwargs)

    def describe(self) -> dict[str, Any]:
        import importlib.metadata as md

        return {"backend": self.name, "model": self.spec.name_or_path, "architecture": self.architecture,
                "frames_as": self.frames_as, "vllm": md.version("vllm")}

    def _render(self, messages: list[dict[str, Any]]) -> str:
        from sightsound.models.chat import render_prompt

        return render_prompt(self.processor, messages, add_generation_prompt=True)

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results: dict[int, GenerationResult] = {}
        inputs, params, index = [], [], []
        for i, req in enumerate(requests):
            try:
                inputs.append(build_vllm_input(req, self._render, self.frames_as, self.video_fps))
            except Exception as e:  # noqa: BLE001 - bad media for one request fails that request only
                results[i] = GenerationResult(request_id=req.id, error=f"bad_request: {type(e).__name__}: {e}")
                continue
            params.append(self._vllm.SamplingParams(**vllm_sampling_kwargs(req.sampling)))
            index.append(i)
        if inputs:
            try:
                outputs = self.llm.generate(inputs, sampling_params=params, use_tqdm=self.progress)
                for i, out in zip(index, outputs, strict=True):
                    results[i] = GenerationResult(request_id=requests[i].id, generations=_generations(out))
            except Exception as e:  # noqa: BLE001 - isolate the failing request below
                # The engine validates a whole batch up front (e.g. a prompt longer than
                # max_model_len); rerun one by one so only the offending request fails.
                log.warning("vLLM batch of %d failed (%s); retrying requests one by one", len(inputs), e)
                for i, inp, sp in zip(index, inputs, params):
                    try:
                        [out] = self.llm.generate([inp], sampling_params=[sp], use_tqdm=False)
                        results[i] = GenerationResult(request_id=requests[i].id, generations=_generations(out))
                    except Exception as e1:  # noqa: BLE001 - recorded as its error
                        results[i] = GenerationResult(request_id=requests[i].id,
                                                      error=f"error: {type(e1).__name__}: {e1}")
        return [results[i] for i in range(len(requests))]
