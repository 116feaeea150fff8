"""Media I/O: real AVQA clips, generated files in several containers, and corrupt inputs."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.signal import correlate

from sightsound.errors import MediaError
from sightsound.media import (
    load_audio,
    load_frames,
    probe_media,
    sample_times,
    save_wav,
    smart_resize,
    target_size,
    validate_media,
)


# ------------------------------------------------------------------------------------- fixtures
def _encode_clip(path: Path, seconds: float = 2.0, fps: int = 10, size=(96, 64), audio_hz: float = 440.0,
                 faststart: bool = False, audio_codec: str = "aac") -> Path:
    """A small h264 clip whose frame k is filled with grey level 10*k and whose audio is a sine."""
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"bframes": "2", "g": "5"}  # B-frames and several GOPs: exercises skip and seek
        asr = 48000
        ast = out.add_stream(audio_codec, rate=asr)
        ast.layout = "stereo"
        for k in range(int(seconds * fps)):
            img = np.full((size[1], size[0], 3), (10 * k) % 256, np.uint8)
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
        t = np.arange(int(seconds * asr)) / asr
        wave = (0.5 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
        step = 1024
        for i in range(0, wave.size, step):
            chunk = np.stack([wave[i:i + step], wave[i:i + step]])
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
            frame.sample_rate = asr
            frame.pts = i
            frame.time_base = Fraction(1, asr)
            for pkt in ast.encode(frame):
                out.mux(pkt)
        for pkt in ast.encode(None):
            out.mux(pkt)
    return path


def _dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[spec.argmax()])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return _encode_clip(tmp_path_factory.mktemp("media") / "clip.mp4")


@pytest.fixture(scope="module")
def real_clips(shared_dir) -> list[Path]:
    clips = sorted((shared_dir / "data" / "avqa_clips").glob("*.mp4"))
    if len(clips) != 16:
        pytest.skip(f"expected 16 AVQA clips in {shared_dir / 'data' / 'avqa_clips'}, found {len(clips)}")
    return clips


# ------------------------------------------------------------------------------------- real clips
def test_real_wavs_and_mp4_audio_load_as_16k_mono_and_agree(real_clips):
    for mp4 in real_clips:
        wav = mp4.with_suffix(".wav")
        assert sf.info(str(wav)).samplerate == 32000
        a_wav, a_mp4 = load_audio(wav), load_audio(mp4)
        for a in (a_wav, a_mp4):
            assert a.dtype == np.float32 and a.ndim == 1
            assert abs(a.size / 16000 - 10.0) < 0.1, (mp4.name, a.size)
            assert 0 < np.abs(a).max() < 2.0  # AAC decode and resampling may overshoot 1 a little
        # The mp4's AAC track and the wav are the same recording: after resampling both to 16 kHz
        # they correlate almost perfectly at a small lag (AAC priming / edit lists shift it).
        n = 3 * 16000
        x, y = a_mp4[:n] - a_mp4[:n].mean(), a_wav[:n] - a_wav[:n].mean()
        xc = correlate(x, y, mode="full", method="fft")
        lags = np.arange(-n + 1, n)
        window = np.abs(lags) <= 400  # 25 ms
        peak = xc[window].max() / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9)
        assert peak > 0.85, (mp4.name, peak)


@pytest.mark.slow
def test_real_mp4_frames_at_2fps(real_clips):
    for mp4 in real_clips:
        frames = load_frames(mp4, fps=2.0, max_pixels=224 * 224)
        assert len(frames) == 20, mp4.name  # 10 s at 2 fps
        w, h = frames[0].size
        assert w % 28 == 0 and h % 28 == 0 and w * h <= 224 * 224
        assert all(f.mode == "RGB" and f.size == (w, h) for f in frames)
        assert len({np.asarray(f).tobytes() for f in frames}) > 1  # not one frame repeated
        info = probe_media(mp4)
        assert info["kind"] == "video" and info["sample_rate"] == 44100 and abs(info["duration_s"] - 10) < 0.5


def test_real_mp4_exact_sampling_matches_naive_decode(real_clips):
    """exact=True returns the very frame on screen at k/fps, as a decode-everything reference does."""
    mp4 = min(real_clips, key=lambda p: p.stat().st_size)
    with av.open(str(mp4)) as c:
        decoded = [(f.time, f) for f in c.decode(c.streams.video[0])]
    times = sample_times(10.0, 2.0)
    ref = []
    for t in times:
        shown = [f for ft, f in decoded if ft <= t + 1e-6] or [decoded[0][1]]
        ref.append(shown[-1].to_ndarray(format="rgb24"))
    got = load_frames(mp4, fps=2.0, exact=True)
    assert len(got) == len(ref)
    assert all(np.array_equal(np.asarray(g), r) for g, r in zip(got, ref))
    fast = load_frames(mp4, fps=2.0)  # may take a reference frame a few frames earlier
    assert np.mean([np.abs(np.asarray(f).astype(int) - r).mean() for f, r in zip(fast, ref)]) < 8


def test_real_media_validate_clean(real_clips):
    paths = [p for mp4 in real_clips[:4] for p in (mp4, mp4.with_suffix(".wav"))]
    assert validate_media(paths) == []


# ------------------------------------------------------------------------------------- generated
def test_frames_follow_time_with_seeking_and_bframes(clip):
    # 10 fps source, grey level 10*k in frame k; at 2 fps frame k = 5*j is on screen at t = j/2.
    frames = load_frames(clip, fps=2.0, exact=True)
    assert len(frames) == 4
    levels = [float(np.asarray(f).mean()) for f in frames]
    assert levels == pytest.approx([0, 50, 100, 150], abs=3)
    assert len(load_frames(clip, fps=10.0)) == 20
    assert len(load_frames(clip, fps=10.0, max_frames=3)) == 3
    thin = load_frames(clip, fps=10.0, max_frames=3, exact=True)
    assert [float(np.asarray(f).mean()) for f in thin] == pytest.approx([0, 100, 190], abs=3)


def test_max_pixels_resizes_keeping_aspect(clip):
    frames = load_frames(clip, fps=1.0, max_pixels=28 * 28 * 4)
    w, h = frames[0].size
    assert w % 28 == 0 and h % 28 == 0 and w * h <= 28 * 28 * 4
    assert load_frames(clip, fps=1.0, max_pixels=10**6, factor=None)[0].size == (96, 64)
    assert load_frames(clip, fps=1.0, max_pixels=48 * 32, factor=None)[0].size == (48, 32)


def test_audio_track_of_mp4_and_mkv(tmp_path, clip):
    a = load_audio(clip)
    assert a.dtype == np.float32 and abs(a.size / 16000 - 2.0) < 0.1
    assert _dominant_hz(a[4000:20000], 16000) == pytest.approx(440, abs=3)
    mkv = _encode_clip(tmp_path / "clip.mkv", audio_hz=1000.0, audio_codec="libopus" if _has("libopus") else "aac")
    b = load_audio(mkv, sr=8000)
    assert _dominant_hz(b[2000:10000], 8000) == pytest.approx(1000, abs=3)


def _has(codec: str) -> bool:
    return codec in av.codecs_available


def test_wav_flac_resample_and_mix(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    left, right = 0.4 * np.sin(2 * np.pi * 300 * t), np.zeros_like(t)
    sf.write(tmp_path / "s.flac", np.stack([left, right], 1), sr)
    x = load_audio(tmp_path / "s.flac")
    assert x.size == 16000 and _dominant_hz(x, 16000) == pytest.approx(300, abs=2)
    assert np.abs(x).max() == pytest.approx(0.2, abs=0.01)  # channels averaged, not summed
    out = save_wav(tmp_path / "m.wav", np.sin(2 * np.pi * 500 * np.arange(8000) / 16000) * 0.5, 16000)
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert np.allclose(load_audio(out), 0.5 * np.sin(2 * np.pi * 500 * np.arange(8000) / 16000), atol=1e-3)


def test_png_folder_and_list(tmp_path):
    for k in range(6):
        Image.new("RGB", (60, 40), (k * 40, 0, 0)).save(tmp_path / f"f{k:03d}.png")
    frames = load_frames(tmp_path)
    assert [f.getpixel((0, 0))[0] for f in frames] == [0, 40, 80, 120, 160, 200]
    frames = load_frames(sorted(tmp_path.glob("*.png")), max_frames=2, max_pixels=28 * 28 * 2)
    assert len(frames) == 2 and frames[1].getpixel((0, 0))[0] == 200
    assert frames[0].size[0] % 28 == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(8, 4000), st.integers(8, 4000), st.integers(28 * 28 * 4, 2_000_000))
def test_smart_resize_properties(h, w, max_pixels):
    nh, nw = smart_resize(h, w, max_pixels=max_pixels)
    assert nh % 28 == 0 and nw % 28 == 0 and nh * nw <= max_pixels
    if min(nh, nw) >= 28 * 4 and max(h, w) / min(h, w) < 4:
        assert abs(nw / nh - w / h) / (w / h) < 0.35  # aspect kept up to the 28-pixel rounding
    tw, th = target_size(w, h, max_pixels, factor=None)
    assert tw * th <= max(max_pixels, w * h if w * h <= max_pixels else 0) and tw <= w and th <= h


# ------------------------------------------------------------------------------------- corrupt inputs
def _raises(fn, path, reason_part: str):
    with pytest.raises(MediaError) as ei:
        fn(path)
    assert ei.value.path == str(path)
    assert str(path) in str(ei.value) and reason_part in ei.value.reason, ei.value.reason


def test_corrupt_audio_inputs(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _raises(load_audio, empty, "empty")
    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n" * 20)
    _raises(load_audio, text, "not a RIFF/WAVE")
    _raises(load_audio, tmp_path / "missing.wav", "not found")
    good = save_wav(tmp_path / "good.wav", np.zeros(16000, np.float32), 16000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:20000])
    _raises(load_audio, cut, "truncated")
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros((0,), np.float32), 16000)
    _raises(load_audio, header_only, "no audio samples")
    noext = tmp_path / "text.mp4"
    noext.write_text("still not media")
    _raises(load_audio, noext, "cannot open")
    bad = validate_media([good, empty, text, cut])
    assert [p for p, _ in bad] == [str(empty), str(text), str(cut)]


def test_truncated_mp4(tmp_path, clip):
    # moov at the end (PyAV's default): cutting the file loses the index.
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    _raises(load_frames, cut, "cannot open")
    _raises(load_audio, cut, "cannot open")
    # moov first (faststart): the index survives, the media data does not.
    fast = _encode_clip(tmp_path / "fast.mp4", seconds=4.0, faststart=True)
    assert len(load_frames(fast, fps=2.0)) == 8
    data = fast.read_bytes()
    cut2 = tmp_path / "cut_fast.mp4"
    cut2.write_bytes(data[: len(data) // 2])
    _raises(load_frames, cut2, "truncated")
    _raises(load_audio, cut2, "truncated")
    text = tmp_path / "text.mp4"
    shutil.copy(clip, text)
    text.write_text("hello")
    _raises(load_frames, text, "cannot open")
    _raises(load_frames, tmp_path / "nothing.mp4", "not found")
    (tmp_path / "emptydir").mkdir()
    _raises(load_frames, tmp_path / "emptydir", "no image frames")
    png = tmp_path / "broken.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    _raises(load_frames, png, "cannot decode image")
