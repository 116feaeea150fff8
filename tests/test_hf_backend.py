"""The `hf` backend on the tiny models: batched n-sample generation from frames and audio, seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sightsound.backends.base import GenerationRequest, SamplingParams, make_backend
from sightsound.config import ModelSpec
from sightsound.media import load_audio, load_frames

MAX_NEW = 12


def _write_mp4(path: Path, seconds: float = 2.0, fps: int = 8, size=(112, 64)) -> Path:
    """A small h264 mp4 of a square moving left to right (PyAV bundles FFmpeg)."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for k in range(int(seconds * fps)):
            img = np.zeros((h, w, 3), np.uint8)
            x = int(k / (seconds * fps) * (w - 16))
            img[24:40, x:x + 16] = (220, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def synthetic_media(tmp_path_factory):
    """One item of the synthetic world (its silent mp4 and its wav), plus a plain PyAV-written mp4."""
    from sightsound.artefacts import read_records
    from sightsound.config import SynthConfig
    from sightsound.synth.generate import generate

    d = tmp_path_factory.mktemp("synthetic_media")
    data = generate(d / "world", SynthConfig(num=1, seed=0, duration_s=3.0, width=112, height=56), progress=False)
    (sample,) = read_records(data)
    assert sample.video and sample.audio, "the synthetic item should carry an mp4 and a wav"
    video = data.parent / sample.video
    wav = data.parent / sample.audio
    mp4 = _write_mp4(d / "moving_square.mp4")
    return {"frames": load_frames(video, fps=2.0, max_frames=4), "audio": load_audio(wav),
            "square_frames": load_frames(mp4, fps=2.0, max_frames=2)}


@pytest.fixture(scope="module")
def real_clip(shared_dir):
    clips = sorted((shared_dir / "data" / "avqa_clips").glob("*.mp4"))
    if not clips:
        pytest.skip("no AVQA clips in shared/data/avqa_clips")
    mp4 = clips[0]
    return {"frames": load_frames(mp4, fps=1.0, max_frames=3, max_pixels=112 * 112),
            "audio": load_audio(mp4.with_suffix(".wav"))}


@pytest.fixture(scope="module")
def teacher(tiny_models_dir):
    return make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "teacher"), batch_size=8), progress=False)


@pytest.fixture(scope="module")
def student(tiny_models_dir):
    return make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "student"), batch_size=8), progress=False)


def _check_results(results, ids, n):
    assert [r.request_id for r in results] == ids
    for r in results:
        assert r.ok, r.error
        assert len(r.generations) == n
        for g in r.generations:
            assert isinstance(g.text, str)
            assert 1 <= g.num_tokens <= MAX_NEW
            assert g.finish_reason in ("stop", "length")
            if g.finish_reason == "length":
                assert g.num_tokens == MAX_NEW


def _texts(results):
    return [[g.text for g in r.generations] for r in results]


def test_teacher_n4_for_3_requests_from_synthetic_and_real_frames(teacher, synthetic_media, real_clip):
    sp = SamplingParams(n=4, temperature=1.0, top_p=0.95, max_new_tokens=MAX_NEW, seed=7)
    requests = [
        GenerationRequest(id="synth", text="Which object sounds first?", images=synthetic_media["frames"], sampling=sp),
        GenerationRequest(id="real", text="What would you hear?", images=real_clip["frames"], sampling=sp),
        GenerationRequest(id="synth2", text="How many sounding objects?", images=synthetic_media["square_frames"],
                          sampling=sp),
    ]
    first = teacher.generate(requests)
    _check_results(first, ["synth", "real", "synth2"], 4)
    assert _texts(teacher.generate(requests)) == _texts(first)  # same seed, same outputs
    other = [GenerationRequest(id=r.id, text=r.text, images=r.images,
                               sampling=SamplingParams(n=4, temperature=1.0, top_p=0.95, max_new_tokens=MAX_NEW,
                                                       seed=8)) for r in requests]
    assert _texts(teacher.generate(other)) != _texts(first)
    assert len(set(_texts(first)[0])) > 1  # four samples, not four copies
    ident = teacher.describe()
    assert ident["backend"] == "hf" and ident["architecture"] == "qwen2_5_vl" and ident["dtype"] == "float32"


def test_student_n4_for_3_requests_from_synthetic_and_real_audio(student, synthetic_media, real_clip):
    sp = SamplingParams(n=4, temperature=0.8, max_new_tokens=MAX_NEW, seed=11)
    real_32k = real_clip["audio"]
    requests = [
        GenerationRequest(id="synth", text="What do you hear?", audio=synthetic_media["audio"], sampling=sp),
        GenerationRequest(id="real", text="Which sound comes first?", audio=real_32k, sampling=sp),
        # the same real audio given at 32 kHz: the backend resamples it to the model's 16 kHz
        GenerationRequest(id="real32k", text="Which sound comes first?",
                          audio=np.repeat(real_32k, 2), sample_rate=32000, sampling=sp),
    ]
    first = student.generate(requests)
    _check_results(first, ["synth", "real", "real32k"], 4)
    assert _texts(student.generate(requests)) == _texts(first)
    assert student.describe()["architecture"] == "qwen2_audio"


def test_greedy_copies_and_batch_isolation(student, teacher, synthetic_media):
    from PIL import Image

    greedy = SamplingParams(n=3, temperature=0.0, max_new_tokens=MAX_NEW)
    ok = GenerationRequest(id="ok", text="Q?", audio=synthetic_media["audio"], sampling=greedy)
    results = student.generate([
        ok,
        GenerationRequest(id="frames", text="Q?", images=synthetic_media["frames"], sampling=greedy),
        GenerationRequest(id="empty", text="Q?", audio=np.zeros(0, np.float32), sampling=greedy),
        GenerationRequest(id="badn", text="Q?", sampling=SamplingParams(n=0)),
    ])
    assert [r.ok for r in results] == [True, False, False, False]
    assert "takes no images" in results[1].error and "empty audio" in results[2].error
    texts = _texts(results[:1])[0]
    assert len(texts) == 3 and len(set(texts)) == 1  # greedy: n identical samples
    assert _texts(student.generate([ok])) == [texts]

    # A request the processor rejects (a 0x0 frame) fails alone; its batch-mates still come back.
    sp = SamplingParams(n=2, max_new_tokens=MAX_NEW, seed=0)
    mixed = teacher.generate([
        GenerationRequest(id="a", text="Q?", images=synthetic_media["frames"][:1], sampling=sp),
        GenerationRequest(id="broken", text="Q?", images=[Image.new("RGB", (0, 0))], sampling=sp),
        GenerationRequest(id="b", text="Q?", images=synthetic_media["frames"][1:2], sampling=sp),
    ])
    assert [r.ok for r in mixed] == [True, False, True]
    assert mixed[1].error and mixed[1].request_id == "broken"


def test_finish_reason_and_token_count(student):
    eos = student.eos_ids[0]
    tok = student.processor.tokenizer
    ids = tok(" dog barks", add_special_tokens=False)["input_ids"]
    stopped = student._to_generation(ids + [eos, student.pad_id, student.pad_id])
    assert (stopped.text, stopped.num_tokens, stopped.finish_reason) == (" dog barks", len(ids) + 1, "stop")
    cut = student._to_generation(ids)
    assert (cut.text, cut.num_tokens, cut.finish_reason) == (" dog barks", len(ids), "length")


def test_omni_thinker_takes_frames_and_audio(tiny_models_dir, synthetic_media):
    omni = make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "omni")), progress=False)
    sp = SamplingParams(n=2, max_new_tokens=MAX_NEW, seed=1)
    res = omni.generate([GenerationRequest(id="av", text="Q?", images=synthetic_media["frames"][:2],
                                           audio=synthetic_media["audio"], sampling=sp)])
    _check_results(res, ["av"], 2)


def test_frames_as_video_needs_a_video_processor(tiny_models_dir):
    from transformers.utils import is_torchvision_available

    spec = ModelSpec(name_or_path=str(tiny_models_dir / "teacher"), frames_as="images")
    assert make_backend(spec, progress=False).describe()["frames_as"] == "images"
    if is_torchvision_available():
        pytest.skip("torchvision works here: frames go in as video")
    with pytest.raises(ValueError, match="frames_as=video needs a video processor"):
        make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "teacher"), frames_as="video"))
