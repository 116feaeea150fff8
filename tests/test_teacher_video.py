"""The teacher's frames as ONE silent video through the OpenAI-compatible API (``frames_as: video``).

The paper shows Qwen2.5-VL the video without audio. Over the chat API the sampled frames travel as
one ``video_url`` part holding an h264 mp4 at the sampling rate with no audio stream; the local
server (:mod:`sightsound.serve`) decodes it back to frames for its backend. These tests go through
the real encoder/decoder (PyAV), the official ``openai`` client, real HTTP on 127.0.0.1 and the tiny
Qwen2.5-VL behind the ``hf`` backend (which, on CPU without torchvision, shows frames as images).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sightsound.backends.base import GenerationRequest, SamplingParams, make_backend
from sightsound.backends.openai_backend import (
    OpenAIBackend,
    openai_chat_messages,
    resolve_frames_as,
    video_data_url,
)
from sightsound.config import ConfigError, ModelSpec
from sightsound.media import decode_video_bytes, encode_silent_mp4, load_frames
from sightsound.serve import BadRequest, decode_video_url, parse_chat_request
from sightsound.testing.fault_server import serve_backend

MODEL = "tiny-teacher"


def scene(k: int = 6, size=(112, 84)) -> list[Image.Image]:
    """Frames of a moving shape on a gradient: smooth content, as real video is (noise is not)."""
    w, h = size
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    out = []
    for t in range(k):
        img = Image.fromarray((base * [1.0, 0.5, 0.2]).astype(np.uint8))
        x = 8 + 12 * t
        ImageDraw.Draw(img).ellipse([x, 20, x + 30, 50], fill=(30, 200, 90))
        out.append(img)
    return out


def streams(data: bytes) -> list[str]:
    import av

    with av.open(io.BytesIO(data)) as c:
        return [s.type for s in c.streams]


def mp4_of(url: str) -> bytes:
    header, payload = url.split(",", 1)
    assert header == "data:video/mp4;base64"
    return base64.b64decode(payload)


def spec(base_url: str | None = "http://127.0.0.1:9/v1", **kw) -> ModelSpec:
    return ModelSpec(name_or_path=MODEL, backend="openai", base_url=base_url,
                     api_key_env="SIGHTSOUND_TEST_NO_KEY", **{"max_retries": 0, "timeout_s": 20.0, **kw})


# ------------------------------------------------------------------------------------- the mp4 itself
def test_silent_mp4_decodes_to_the_same_frames_at_its_rate_and_has_no_audio():
    frames = scene(6)
    data = encode_silent_mp4(frames, fps=2.0)
    assert streams(data) == ["video"]  # one video stream, nothing the teacher could hear
    back, fps = decode_video_bytes(data)
    assert fps == 2.0 and len(back) == len(frames)
    assert all(b.size == f.size for b, f in zip(back, frames))
    err = [np.abs(np.asarray(b, np.float32) - np.asarray(f, np.float32)).mean() for b, f in zip(back, frames)]
    assert max(err) < 3.0, err  # h264 at crf 18: close to the pixels sent (mean error out of 255)
    assert encode_silent_mp4(frames, fps=2.0) == data  # deterministic: same frames, same request body
    # Odd sides (yuv420p needs even ones) are padded by one replicated edge pixel, not rescaled.
    odd, fps = decode_video_bytes(encode_silent_mp4([f.crop((0, 0, 111, 83)) for f in frames[:3]], 1.5))
    assert (len(odd), odd[0].size, fps) == (3, (112, 84), 1.5)
    with pytest.raises(ValueError, match="no frames"):
        encode_silent_mp4([], 2.0)


def test_mp4_from_a_real_clip_with_sound_carries_no_audio(shared_dir):
    clips = sorted((shared_dir / "data" / "avqa_clips").glob("*.mp4"))
    if not clips:
        pytest.skip(f"no mp4 clips in {shared_dir / 'data' / 'avqa_clips'}")
    clip = clips[0]
    assert "audio" in streams(clip.read_bytes())  # the source has a soundtrack...
    frames = load_frames(clip, fps=2.0, max_frames=16, max_pixels=64 * 28 * 28)
    data = mp4_of(video_data_url(frames, 2.0))
    assert streams(data) == ["video"]  # ...the teacher's video has none
    back, _ = decode_video_bytes(data)
    assert len(back) == len(frames)


# --------------------------------------------------------------------------------- request body
def test_video_mode_sends_one_video_url_part_and_images_mode_one_image_per_frame():
    frames = scene(5)
    req = GenerationRequest(id="r", text="Which animal?", images=frames, system="Be brief.")
    parts = openai_chat_messages(req, frames_as="video", video_fps=2.0)[1]["content"]
    assert [p["type"] for p in parts] == ["video_url", "text"]
    back, fps = decode_video_bytes(mp4_of(parts[0]["video_url"]["url"]))
    # 5 frames go as 6: Qwen2.5-VL pairs frames (temporal patch 2), so the last one is repeated
    # rather than dropped by vLLM's fps sampler.
    assert fps == 2.0 and len(back) == 6
    d = np.abs(np.asarray(back[5], np.float32) - np.asarray(frames[4], np.float32)).mean()
    assert d < 3.0
    # The labelled fallback: one image_url part per frame, no video.
    parts = openai_chat_messages(req, frames_as="images")[1]["content"]
    assert [p["type"] for p in parts] == ["image_url"] * 5 + ["text"]
    # A request without frames (the verifier's audio) is unchanged by frames_as.
    audio = GenerationRequest(id="a", text="Heard?", audio=np.zeros(1600, np.float32))
    parts = openai_chat_messages(audio, frames_as="video")[0]["content"]
    assert [p["type"] for p in parts] == ["input_audio", "text"]


def test_frames_as_auto_is_video_for_a_qwen2_5_vl_endpoint_only():
    assert resolve_frames_as(spec(architecture="qwen2_5_vl")) == "video"
    assert resolve_frames_as(spec()) == "images"  # unknown endpoint (e.g. gpt-4o: no video part)
    assert resolve_frames_as(spec(architecture="qwen2_5_vl", frames_as="images")) == "images"
    assert resolve_frames_as(spec(frames_as="video")) == "video"
    d = OpenAIBackend(spec(frames_as="video", video_fps=1.5)).describe()
    assert (d["frames_as"], d["video_fps"]) == ("video", 1.5)
    assert "video_fps" not in OpenAIBackend(spec(frames_as="images")).describe()
    assert "frames_as" not in OpenAIBackend(spec(architecture="qwen2_audio")).describe()
    with pytest.raises(ConfigError, match="video_fps"):
        OpenAIBackend(spec(frames_as="video", video_fps=0.0))


def test_server_parses_a_video_url_into_the_request_frames():
    frames = scene(4)
    messages = openai_chat_messages(GenerationRequest(id="x", text="Which?", images=frames), frames_as="video")
    parsed = parse_chat_request({"messages": messages, "n": 2}, "id1")
    assert parsed.text == "Which?" and parsed.audio is None and len(parsed.images) == 4
    assert parsed.images[0].size == frames[0].size
    url = messages[0]["content"][0]["video_url"]["url"]
    with pytest.raises(BadRequest, match="at most one video_url"):
        parse_chat_request({"messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": url}}] * 2}]}, "2")
    with pytest.raises(BadRequest, match="not both"):
        parse_chat_request({"messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": url}},
            *openai_chat_messages(GenerationRequest(id="y", text="", images=frames[:1]))[0]["content"][:1]]}]}, "3")
    with pytest.raises(BadRequest, match="data:video"):
        decode_video_url("https://example.com/clip.mp4")
    with pytest.raises(BadRequest, match="cannot decode video"):
        decode_video_url("data:video/mp4;base64," + base64.b64encode(b"not a video").decode())


# ----------------------------------------------------------------------------- over real HTTP
@pytest.fixture(scope="module")
def tiny_teacher_dir(tiny_models_dir):
    return tiny_models_dir / "teacher"


@pytest.fixture(scope="module")
def hf_teacher(tiny_teacher_dir):
    import torch

    # One thread: on a busy 2-core machine, torch's thread pool spinning costs ~8x on these tiny models.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make_backend(ModelSpec(name_or_path=str(tiny_teacher_dir), backend="hf"), progress=False)
    torch.set_num_threads(threads)


def test_openai_backend_sends_one_video_over_http_and_gets_the_models_answers(hf_teacher):
    frames = scene(4)
    req = GenerationRequest(id="v0", text="Which object sounds?", images=frames,
                            sampling=SamplingParams(n=2, temperature=1.0, max_new_tokens=5, seed=3))
    with serve_backend(hf_teacher, model_name=MODEL) as server:
        backend = OpenAIBackend(spec(server.base_url, frames_as="video"), progress=False)
        [res] = backend.generate([req])
    assert res.ok, res.error
    [entry] = server.log
    # The body the server received: exactly one video_url part, no image_url part, no audio.
    assert (entry.num_videos, entry.num_images, entry.has_audio, entry.status) == (1, 0, False, 200)
    # The answers are the served model's own for the frames the server decoded from the mp4.
    decoded, _ = decode_video_url(openai_chat_messages(req, frames_as="video")[0]["content"][0]["video_url"]["url"])
    [expected] = hf_teacher.generate([GenerationRequest(id="v0", text=req.text, images=decoded,
                                                        sampling=req.sampling)])
    assert [g.text for g in res.generations] == [g.text for g in expected.generations]


def test_teach_in_video_mode_through_the_server_writes_traces(hf_teacher, tmp_path):
    """End to end: synthetic records -> teach (openai, frames_as=video) -> HTTP -> serve -> tiny VL."""
    from sightsound.config import SynthConfig, load_recipe
    from sightsound.jsonl import read_jsonl
    from sightsound.synth import generate
    from sightsound.teacher import stats_path, teach

    data = generate(tmp_path / "synth", SynthConfig(num=2, seed=5, duration_s=2.5), progress=False)
    with serve_backend(hf_teacher, model_name=MODEL) as server:
        recipe = load_recipe(Path(__file__).resolve().parents[1] / "configs" / "paper.yaml", [
            f"models.teacher.name_or_path={MODEL}", f"models.teacher.base_url={server.base_url}",
            "models.teacher.api_key_env=SIGHTSOUND_TEST_NO_KEY", "models.teacher.max_retries=0",
            "teach.n=2", "teach.max_new_tokens=12", "teach.batch_size=2", "teach.max_pixels=12544"])
        assert recipe.models.teacher.frames_as == "video"  # the paper recipe's default
        out = tmp_path / "traces.jsonl"
        stats = teach(recipe, data, out, progress=False)
        log = list(server.log)
    traces = list(read_jsonl(out))
    assert len(traces) == 2 and stats["errors"] == 0 and stats["samples"] == 4
    assert all(len(t["samples"]) == 2 and t["num_frames"] > 0 for t in traces)
    assert all(t["teacher"]["frames_as"] == "video" and t["teacher"]["video_fps"] == 2.0 for t in traces)
    assert stats_path(out).exists() and stats["teacher_frames_as"] == ["video"]
    assert len(log) == 2 and all((e.num_videos, e.num_images, e.has_audio) == (1, 0, False) for e in log)
    # Resuming the same file with the frames as images would mix two teacher inputs in one run.
    recipe.models.teacher.frames_as = "images"
    with pytest.raises(ConfigError, match="models.teacher.frames_as: 'video' -> 'images'"):
        teach(recipe, data, out, progress=False)
