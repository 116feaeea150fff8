"""The ``vllm`` backend: its import guard, and the request -> engine-input conversion.

vLLM itself runs on CUDA GPUs only, so on CPU machines the engine is never built; what is tested is
the clear error when it is missing and the pure function that builds each engine input (prompt
from the tiny models' real chat templates + ``multi_modal_data``), checked by running the real
HF processor on the result: it refuses a prompt whose placeholders do not match the media.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from sightsound.backends.base import GenerationRequest, SamplingParams, make_backend
from sightsound.backends.vllm_backend import (
    INSTALL_HINT,
    build_vllm_input,
    frames_to_video,
    mm_limits,
    vllm_sampling_kwargs,
)
from sightsound.config import ModelSpec

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="module")
def processors(tiny_models_dir):
    from sightsound.models.loading import load_processor

    return {role: (load_processor(ModelSpec(name_or_path=str(tiny_models_dir / role)), arch), arch)
            for role, arch in (("teacher", "qwen2_5_vl"), ("student", "qwen2_audio"))}


def render_with(processor):
    from sightsound.models.chat import render_prompt

    return lambda messages: render_prompt(processor, messages, add_generation_prompt=True)


def frames(k: int, size=(64, 48)) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(k)]


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here; the missing-install message cannot be shown")
def test_missing_vllm_gives_a_clear_install_message():
    spec = ModelSpec(name_or_path="Qwen/Qwen2.5-VL-32B-Instruct", backend="vllm")
    with pytest.raises(ImportError) as info:
        make_backend(spec)
    assert str(info.value) == INSTALL_HINT
    assert "pip install 'sightsound[vllm]'" in INSTALL_HINT and "GPU" in INSTALL_HINT
    assert isinstance(info.value.__cause__, ImportError)  # the original error is kept for debugging


def test_frames_as_images_prompt_matches_the_media(processors):
    processor, _ = processors["teacher"]
    imgs = frames(3)
    req = GenerationRequest(id="t", text="Which instrument sounds first?", images=imgs, system="Be careful.",
                            sampling=SamplingParams(n=4))
    inp = build_vllm_input(req, render_with(processor), frames_as="images")
    prompt = inp["prompt"]
    block = "<|vision_start|><|image_pad|><|vision_end|>"
    assert prompt.count(block) == 3 and prompt.count("<|image_pad|>") == 3
    assert prompt.rindex(block) < prompt.index("Which instrument sounds first?")  # media before text
    assert prompt.index("Be careful.") < prompt.index(block)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert set(inp["multi_modal_data"]) == {"image"}
    sent = inp["multi_modal_data"]["image"]
    assert len(sent) == 3 and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(sent, imgs))
    # The real processor accepts the pair (it raises when placeholders and images disagree).
    enc = processor(text=[prompt], images=inp["multi_modal_data"]["image"], return_tensors="pt")
    assert enc["image_grid_thw"].shape[0] == 3
    with pytest.raises(ValueError):
        processor(text=[prompt], images=inp["multi_modal_data"]["image"][:2], return_tensors="pt")


def test_frames_as_video_is_one_array_with_its_fps(processors):
    processor, _ = processors["teacher"]
    imgs = frames(4) + [frames(1, size=(32, 32))[0]]  # a frame of another size is resized
    req = GenerationRequest(id="v", text="What would you hear?", images=imgs)
    inp = build_vllm_input(req, render_with(processor), frames_as="video", video_fps=2.0)
    assert inp["prompt"].count("<|video_pad|>") == 1 and "<|image_pad|>" not in inp["prompt"]
    video = inp["multi_modal_data"]["video"]
    assert video.shape == (5, 48, 64, 3) and video.dtype == np.uint8
    assert np.array_equal(video[0], np.asarray(imgs[0]))
    assert inp["mm_processor_kwargs"] == {"fps": 2.0}


def test_audio_prompt_and_data(processors):
    processor, _ = processors["student"]
    wave = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    req = GenerationRequest(id="a", text="Given the audio, which is right?", audio=wave,
                            sampling=SamplingParams(n=2, temperature=0.7, top_p=0.9, max_new_tokens=33, seed=5))
    inp = build_vllm_input(req, render_with(processor))
    prompt = inp["prompt"]
    assert prompt.count("<|audio_bos|><|AUDIO|><|audio_eos|>") == 1
    assert prompt.index("<|AUDIO|>") < prompt.index("Given the audio")
    arr, sr = inp["multi_modal_data"]["audio"]
    assert sr == 16000 and arr.dtype == np.float32 and np.array_equal(arr, wave)
    assert "mm_processor_kwargs" not in inp
    enc = processor(text=[prompt], audio=[arr], sampling_rate=sr, return_tensors="pt")
    assert "input_features" in enc
    assert vllm_sampling_kwargs(req.sampling) == {"n": 2, "temperature": 0.7, "top_p": 0.9, "max_tokens": 33, "seed": 5}


def test_text_only_request_has_no_media():
    inp = build_vllm_input(GenerationRequest(id="x", text="hi"), lambda m: repr(m))
    assert "multi_modal_data" not in inp and "hi" in inp["prompt"]
    assert "seed" not in vllm_sampling_kwargs(SamplingParams(seed=None))


def test_stereo_audio_is_refused():
    req = GenerationRequest(id="s", text="x", audio=np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="mono"):
        build_vllm_input(req, lambda m: "p")


def test_mm_limits_follow_the_architecture():
    assert mm_limits("qwen2_audio", 16) == {"audio": 1}
    assert mm_limits("qwen2_5_vl", 16) == {"image": 16, "video": 1}
    assert mm_limits("qwen2_5_omni_thinker", 8) == {"image": 8, "video": 1, "audio": 1}
    assert frames_to_video(frames(2)).shape == (2, 48, 64, 3)
