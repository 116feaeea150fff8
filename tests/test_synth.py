"""The synthetic world: determinism, record format, media, and that the audio carries the claimed facts."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from sightsound.artefacts import read_records
from sightsound.cli import main as cli_main
from sightsound.config import ConfigError, SynthConfig
from sightsound.media import load_audio, load_frames
from sightsound.synth import (
    CLASS_NAMES,
    FAMILIES,
    NUMBER_WORDS,
    all_classes,
    describe_audio,
    describe_frames,
    generate,
    make_item,
    vocabulary,
    voice,
)
from sightsound.synth.audio import REF_RMS, render_event
from sightsound.synth.scene import make_source, new_scene, sounding_at
from sightsound.synth.video import CUE
from sightsound.synth.vocab import MELODY_WORDS, SLOT_WORDS, SLOTS

SR = 16000
SCENE_KEYS = {"duration_s", "sample_rate", "sources"}
SOURCE_KEYS = {"name", "category", "slot", "visible", "audible", "drawn", "onset_s", "offset_s", "gain_db",
               "pitch_hz", "events"}


# ------------------------------------------------------------------------------------------ fixtures
def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth_ab(tmp_path_factory) -> tuple[Path, Path]:
    """The issue's check: `sightsound synth --out A --num 24 --seed 7`, and again into B."""
    root = tmp_path_factory.mktemp("synth")
    a, b = root / "A", root / "B"
    for out in (a, b):
        assert cli_main(["synth", "--out", str(out), "--num", "24", "--seed", "7", "--no-progress"]) == 0
    return a, b


@pytest.fixture(scope="module")
def records(synth_ab):
    return read_records(synth_ab[0] / "data.jsonl")


@pytest.fixture(scope="module")
def signal_set(tmp_path_factory):
    """Items of the families whose answers a signal measurement can recover (no mp4: not needed)."""
    out = tmp_path_factory.mktemp("signal")
    cfg = SynthConfig(num=48, seed=3, p_consistent=0.5, write_mp4=False,
                      families=["louder", "first", "count_events", "melody"])
    return read_records(generate(out, cfg, progress=False))


# ---------------------------------------------------------------------------------- signal helpers
def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _window_rms(x: np.ndarray, events) -> float:
    return _rms(np.concatenate([x[int(a * SR):int(b * SR)] for a, b in events]))


def _envelope(x: np.ndarray, win: float = 0.04, hop: float = 0.01) -> np.ndarray:
    w, h = int(win * SR), int(hop * SR)
    n = 1 + max(0, (x.size - w) // h)
    return np.array([_rms(x[i * h:i * h + w]) for i in range(n)])


def _count_bursts(x: np.ndarray, threshold: float, merge_s: float = 0.12) -> int:
    """Separate stretches where the envelope exceeds ``threshold`` (gaps shorter than merge_s join)."""
    on = _envelope(x) > threshold
    starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    ends = np.flatnonzero(on & ~np.r_[on[1:], False])
    count, last_end = 0, None
    for s, e in zip(starts, ends):
        if last_end is None or (s - last_end) * 0.01 >= merge_s:
            count += 1
        last_end = e
    return count


def _first_onset(x: np.ndarray, threshold: float) -> float | None:
    w, h = int(0.01 * SR), int(0.005 * SR)
    for i in range(0, x.size - w, h):
        if _rms(x[i:i + w]) > threshold:
            return i / SR
    return None


def _pitch(x: np.ndarray, fmin: float = 80, fmax: float = 1200) -> float:
    """Autocorrelation pitch: the first lag whose correlation is within 10% of the best."""
    x = x - x.mean()
    n = x.size
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:n]
    ac = ac / (ac[0] + 1e-12) * n / (n - np.arange(n))
    lo, hi = int(SR / fmax), int(SR / fmin)
    seg = ac[lo:hi]
    peaks = [i for i in range(1, seg.size - 1) if seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1] and seg[i] > 0.9 * seg.max()]
    return SR / (lo + (peaks[0] if peaks else int(seg.argmax())))


def _audible(rec) -> list[dict]:
    return [s for s in rec.meta["scene"]["sources"] if s["audible"]]


# ----------------------------------------------------------------------------------- determinism
def _yuv_pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]


def test_two_runs_give_identical_files_and_pictures(synth_ab):
    """Every file byte for byte; each mp4 by what it decodes to: exactly the PNGs in yuv420p (lossless).

    The mp4s' bytes matched in every local rerun, but one CI run saw three differ, so the mp4's
    promise is its pictures (see synth/video.py) and the bytes are not asserted.
    """
    a, b = synth_ab
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    mp4s = sorted(k for k in fa if k.endswith(".mp4"))
    assert mp4s and {k for k in fa if k.endswith(".png")}
    differing = [k for k in fa if fa[k] != fb[k] and k not in mp4s]
    assert not differing, differing[:5]
    for k in mp4s:
        pngs = sorted((a / k).with_suffix("").glob("*.png"))
        want = [av.VideoFrame.from_image(Image.open(p).convert("RGB")).reformat(format="yuv420p").to_ndarray()
                for p in pngs]
        for run in (a, b):
            got = _yuv_pictures(run / k)
            assert len(got) == len(want) == 6, (run, k)
            assert all(np.array_equal(g, w) for g, w in zip(got, want)), (run, k)
    # ... and the seed matters.
    assert make_item(SynthConfig(seed=7), 0)[1] != make_item(SynthConfig(seed=8), 0)[1]


def test_resume_after_a_crash_equals_a_fresh_run(tmp_path):
    cfg = SynthConfig(num=7, seed=2, write_mp4=False)
    fresh = generate(tmp_path / "fresh", cfg, progress=False)
    part = generate(tmp_path / "part", SynthConfig(num=3, seed=2, write_mp4=False), progress=False)
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # a torn last line, as after a kill
    resumed = generate(tmp_path / "part", cfg, progress=False)
    assert resumed.read_bytes() == fresh.read_bytes()
    assert _files(tmp_path / "part") == _files(tmp_path / "fresh")
    with pytest.raises(Exception, match="other settings"):
        generate(tmp_path / "part", SynthConfig(num=7, seed=2, write_mp4=False, p_consistent=0.1), progress=False)


# ------------------------------------------------------------------------------------------ format
def test_records_follow_the_pinned_format(records):
    assert len(records) == 24
    assert len({r.meta["family"] for r in records}) >= 8
    for r in records:
        m = r.meta
        assert r.source == "synthetic" and r.question_type == m["family"] in FAMILIES
        assert 0 <= r.answer < len(r.choices) and len(set(r.choices)) == len(r.choices) >= 2
        assert m["answer_text"] == r.choices[r.answer]
        assert m["vision_answer"] is None or 0 <= m["vision_answer"] < len(r.choices)
        assert m["evidence"] in ("visual", "audio", "both")
        assert m["mode"] in ("consistent", "offscreen", "silent", "mismatch")
        scene = m["scene"]
        assert SCENE_KEYS <= scene.keys() and scene["sample_rate"] == 16000 and scene["duration_s"] == 3.0
        assert 1 <= len(scene["sources"]) <= 4
        on_screen = [s["slot"] for s in scene["sources"] if s["visible"]]
        assert len(on_screen) == len(set(on_screen))  # one object per slot
        for s in scene["sources"]:
            assert SOURCE_KEYS <= s.keys(), s
            assert s["name"] in CLASS_NAMES and s["slot"] in (*SLOTS, "offscreen")
            assert s["visible"] == (s["slot"] != "offscreen") and (s["drawn"] is not None) == s["visible"]
            ev = s["events"]
            if s["audible"]:
                assert ev and all(0 <= a < b <= scene["duration_s"] for a, b in ev)
                assert all(ev[i][1] <= ev[i + 1][0] for i in range(len(ev) - 1))
                assert (s["onset_s"], s["offset_s"]) == (ev[0][0], ev[-1][1])
            else:
                assert ev == [] and s["visible"]  # a silent source is a drawn object that stays silent
        assert any(s["audible"] for s in scene["sources"])


def test_every_wav_is_16k_mono_and_every_mp4_decodes(records):
    for r in records:
        info = sf.info(r.audio)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 48000)
        frames = load_frames(r.video, fps=2.0)
        assert len(frames) == len(r.frames) == 6 and frames[0].size == (224, 112)
        pngs = load_frames(r.frames)
        diff = np.mean([np.abs(np.asarray(f, int) - np.asarray(p, int)).mean() for f, p in zip(frames, pngs)])
        assert diff < 6, (r.id, diff)  # the mp4 holds the same pictures as the PNGs


def test_frames_show_a_cue_exactly_while_a_drawn_source_sounds(records):
    from PIL import Image

    for r in records:
        scene = r.meta["scene"]
        for k, path in enumerate(r.frames):
            img = np.asarray(Image.open(path), int)
            w = img.shape[1]
            cue = (np.abs(img[..., 0] - CUE[0]) <= 8) & (np.abs(img[..., 1] - CUE[1]) <= 8) & (img[..., 2] <= 30)
            for s in scene["sources"]:
                if not s["visible"]:
                    continue
                col = SLOTS.index(s["slot"])
                shown = cue[:, col * w // 3:(col + 1) * w // 3].sum() > 20
                assert shown == sounding_at(s, k / 2.0), (r.id, s["name"], k)


def test_silence_outside_events_and_sound_inside(records):
    """Silent drawn objects make no sound: outside every audible event the track is the noise floor."""
    for r in records:
        x = load_audio(r.audio)
        mask = np.ones(x.size, bool)
        for s in _audible(r):
            for a, b in s["events"]:
                mask[int(a * SR):int(b * SR) + 1] = False
                inside = _window_rms(x, [[a, b]])
                assert inside > 0.2 * REF_RMS * 10 ** (s["gain_db"] / 20), (r.id, s["name"])
        assert _rms(x[mask]) < 1e-3, r.id


# ---------------------------------------------------------------------- facts recovered from audio
def test_loudness_order_is_in_the_audio(signal_set):
    items = [r for r in signal_set if r.meta["family"] == "louder"]
    assert items
    for r in items:
        rms = {s["name"]: _window_rms(load_audio(r.audio), s["events"]) for s in _audible(r)}
        louder, softer = r.choices[r.answer], r.choices[1 - r.answer]
        assert 20 * np.log10(rms[louder] / rms[softer]) > 6, (r.id, rms)


def test_event_counts_are_in_the_audio(signal_set):
    items = [r for r in signal_set if r.meta["family"] == "count_events"]
    assert items
    for r in items:
        name = re.search(r"does the (\w+) sound", r.question).group(1)
        (src,) = [s for s in _audible(r) if s["name"] == name]
        threshold = REF_RMS * 10 ** ((src["gain_db"] - 10) / 20)  # 10 dB under the counted events
        n = _count_bursts(load_audio(r.audio), threshold)
        assert NUMBER_WORDS[n] == r.choices[r.answer] and n == len(src["events"]), (r.id, n)


def test_onset_order_is_in_the_audio(signal_set):
    items = [r for r in signal_set if r.meta["family"] == "first"]
    assert items
    for r in items:
        srcs = {s["name"]: s for s in _audible(r)}
        first, second = srcs[r.choices[r.answer]], srcs[r.choices[1 - r.answer]]
        threshold = REF_RMS * 10 ** ((min(first["gain_db"], second["gain_db"]) - 20) / 20)
        t = _first_onset(load_audio(r.audio), threshold)
        assert t is not None and first["onset_s"] - 0.01 <= t, (r.id, t)
        assert abs(t - first["onset_s"]) < abs(t - second["onset_s"]) and second["onset_s"] - t > 0.4, (r.id, t)


def test_melody_direction_is_in_the_audio(signal_set):
    items = [r for r in signal_set if r.meta["family"] == "melody"]
    assert items
    for r in items:
        x = load_audio(r.audio)
        (src,) = _audible(r)
        pitches = [_pitch(x[int(a * SR):int(b * SR)]) for a, b in src["events"]]
        steps = np.diff(12 * np.log2(pitches))
        got = "rising" if (steps > 1).all() else "falling" if (steps < -1).all() else \
            "steady" if (np.abs(steps) < 0.5).all() else None
        assert got == r.choices[r.answer], (r.id, pitches)


# ---------------------------------------------------------------- knob, positions, vision answers
def _items(p: float, n: int, seed: int = 1):
    cfg = SynthConfig(seed=seed, p_consistent=p)
    return [make_item(cfg, i)[1] for i in range(n)]


def test_p_consistent_one_draws_what_sounds():
    for f in _items(1.0, 200):
        m = f["meta"]
        if m["family"] == "offscreen_voice" and f["choices"][f["answer"]] == "yes":
            continue  # yes needs a voice that is not drawn: inconsistent by construction
        assert m["mode"] == "consistent"
        for s in m["scene"]["sources"]:
            assert s["visible"] and s["audible"] and s["drawn"] == s["name"]
        if m["family"] in ("which_source", "what_happening", "presence", "count_sources"):
            assert m["vision_answer"] == f["answer"] and m["evidence"] == "both"


def test_p_consistent_zero_makes_every_kind_of_disagreement():
    kinds = Counter()
    for f in _items(0.0, 300):
        m = f["meta"]
        assert m["mode"] != "consistent"
        srcs = m["scene"]["sources"]
        kinds["offscreen"] += any(s["audible"] and not s["visible"] for s in srcs)
        kinds["silent"] += any(s["visible"] and not s["audible"] for s in srcs)
        kinds["mismatch"] += any(s["visible"] and s["audible"] and s["drawn"] != s["name"] for s in srcs)
        if m["family"] in ("which_source", "what_happening") and m["mode"] in ("offscreen", "mismatch"):
            # The lure vision implies is among the options and differs from the label.
            assert m["vision_answer"] is not None and m["vision_answer"] != f["answer"]
            assert m["evidence"] == "audio"
    assert min(kinds.values()) >= 20, kinds


def test_answers_uniform_over_positions_and_options_from_one_space():
    by_family = defaultdict(Counter)
    spaces = {"count_sources": set(NUMBER_WORDS), "count_events": set(NUMBER_WORDS), "melody": set(MELODY_WORDS),
              "where_first": set(SLOT_WORDS.values()), "presence": {"yes", "no"}, "offscreen_voice": {"yes", "no"},
              "which_source": set(CLASS_NAMES), "louder": set(CLASS_NAMES), "first": set(CLASS_NAMES)}
    sizes = {}
    for f in _items(0.5, 400):
        fam = f["meta"]["family"]
        by_family[fam][f["answer"]] += 1
        sizes[fam] = len(f["choices"])
        if fam in spaces:
            assert set(f["choices"]) <= spaces[fam], f["choices"]
    for fam, counts in by_family.items():
        # Every position holds the answer equally often (to within one item) in every family.
        assert len(counts) == sizes[fam] and max(counts.values()) - min(counts.values()) <= 1, (fam, counts)


# --------------------------------------------------------------------------- text, vocab, voices
def test_describe_audio_and_frames():
    scene = new_scene(3.0, 16000, [
        make_source("dog", slot="right", audible=True, events=[[1.0, 1.2], [1.6, 1.8]]),
        make_source("drum", slot="left", audible=True, events=[[0.2, 0.4]]),
        make_source("rain", slot="offscreen", audible=True, events=[[1.05, 2.5]]),
        make_source("cat", slot="middle", audible=False),
    ])
    assert describe_audio(scene) == "I hear a drum, then a dog and rain."
    assert describe_audio(scene, counts=True) == "I hear a drum once, then a dog twice and rain."
    assert describe_frames(scene) == "I see a drum on the left and a cat in the middle and a dog on the right. " \
                                     "The dog moves."
    assert describe_audio(new_scene(3.0, 16000, [])) == "I hear nothing."


def test_vocabulary_covers_every_generated_word(records):
    vocab = set(vocabulary())
    assert set(all_classes()) <= vocab and set(all_classes()) == set(CLASS_NAMES)
    for r in records:
        for text in [r.question, *r.choices, describe_audio(r.meta["scene"], counts=True),
                     describe_frames(r.meta["scene"])]:
            words = re.findall(r"[a-z\-]+", text.lower())
            assert set(words) <= vocab, (text, set(words) - vocab)


@pytest.mark.parametrize("engine", ["babble", "espeak-ng"])
def test_voices_are_deterministic_and_audible(monkeypatch, engine):
    if engine == "babble":
        monkeypatch.setenv("SIGHTSOUND_NO_ESPEAK", "1")
    elif voice.engine() != "espeak-ng":
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it); babble is tested instead")
    assert voice.engine() == engine
    n = int(1.2 * SR)
    a = render_event("woman", n, SR, 210.0, -6.0, np.random.default_rng(5))
    b = render_event("woman", n, SR, 210.0, -6.0, np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert _rms(a) == pytest.approx(REF_RMS * 10 ** (-6 / 20), rel=1e-3)
    assert (_envelope(a) > 0.3 * _rms(a)).mean() > 0.4  # speech fills much of the event


def test_bad_settings_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="synth.families"):
        generate(tmp_path, SynthConfig(num=1, families=["nope"]))
    with pytest.raises(ConfigError, match="synth.p_consistent"):
        generate(tmp_path, SynthConfig(num=1, p_consistent=1.5))
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--num", "1", "width=57"]) == 2
    assert "synth.width" in capsys.readouterr().err


def test_classes_are_told_apart_by_colour_and_shape():
    from sightsound.synth.vocab import _CLASSES

    looks = [(c.category, c.colour) for c in _CLASSES]
    assert len(set(looks)) == len(looks)  # class = colour + shape (the shape is the category's)
    for c in _CLASSES:  # the activity cue must never be mistaken for an object's own colour
        assert sum(abs(a - b) for a, b in zip(c.colour, CUE)) > 120, c.name
