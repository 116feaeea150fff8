"""Benchmark loaders on the real annotation files, on the 16 real AVQA clips, and on broken records.

Real files (../shared/data/benchmarks): all 1,000 MMAU test-mini items, all 1,000 MMAR items, all
9,129 MUSIC-AVQA test questions, each checked field by field against the raw JSON. AVQA ships no
annotation file here, so the tests write a small AVQA-format JSON that points at the real clips.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from sightsound.data import BENCHMARKS, load_benchmark, select
from sightsound.data.avqa import split_video_name
from sightsound.data.music_avqa import fill_template
from sightsound.prompts import LETTERS, student_prompt
from sightsound.schema import RecordError, Sample

SLOT = re.compile(r"<[A-Za-z]+>")


@pytest.fixture(scope="module")
def bench_dir(shared_dir) -> Path:
    return shared_dir / "data" / "benchmarks"


@pytest.fixture(scope="module")
def clips_dir(shared_dir) -> Path:
    return shared_dir / "data" / "avqa_clips"


def _raw_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _assert_prompt_has_question_and_options(s: Sample) -> None:
    prompt = student_prompt(s.question, s.choices)
    assert s.question.strip() in prompt
    for i, c in enumerate(s.choices):
        assert f"{LETTERS[i]}. {c}" in prompt, (s.id, c)


# ------------------------------------------------------------------------------------------- MMAU
def test_mmau_all_items_field_by_field(bench_dir):
    path = bench_dir / "mmau-test-mini.json"
    raw = _raw_json(path)
    bench = load_benchmark("mmau", path)
    assert len(raw) == len(bench) == 1000 and bench.skipped == [] and bench.total == 1000
    assert bench.split == "test-mini"
    for r, s in zip(raw, bench):
        assert s.id == r["id"] and s.question == r["question"] and s.choices == r["choices"]
        assert s.choices[s.answer] == r["answer"]  # the text answer became its index
        assert s.choices.index(r["answer"]) == s.answer  # first occurrence where MMAU repeats an option
        assert s.source == "mmau" and s.video is None
        assert s.audio.endswith(r["audio_id"].removeprefix("./"))
        assert Path(s.audio).is_absolute()
        assert s.question_type == r["sub-category"]
        assert {k: s.meta[k] for k in r} == r  # every field of the benchmark kept verbatim
        cats = r["category"] if isinstance(r["category"], list) else [r["category"]]
        assert s.meta["categories"] == cats
    assert Counter(len(s.choices) for s in bench) == {4: 948, 2: 27, 5: 24, 8: 1}
    assert sum(isinstance(s.meta["category"], list) for s in bench) == 13
    assert {s.meta["task"] for s in bench} == {"sound", "music", "speech"}
    assert {s.meta["difficulty"] for s in bench} == {"easy", "medium", "hard"}
    sound = select(bench, mmau_task="sound")
    assert len(sound) == 333 and all(s.meta["task"] == "sound" for s in sound)
    assert sound.name == "mmau" and sound.annotations == bench.annotations


def test_mmau_media_root_layouts(bench_dir, tmp_path):
    path = bench_dir / "mmau-test-mini.json"
    # media_root = the folder the release unpacks into, or the audio folder itself.
    (tmp_path / "flat").mkdir()
    first = _raw_json(path)[0]
    name = Path(first["audio_id"]).name
    (tmp_path / "flat" / name).write_bytes(b"")
    b1 = load_benchmark("mmau", path, media_root=tmp_path)
    assert b1[0].audio == str(tmp_path / "test-mini-audios" / name)
    b2 = load_benchmark("mmau", path, media_root=tmp_path / "flat")
    assert b2[0].audio == str(tmp_path / "flat" / name)


# ------------------------------------------------------------------------------------------- MMAR
def test_mmar_all_items_field_by_field(bench_dir):
    path = bench_dir / "mmar-meta.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bench = load_benchmark("mmar", path)
    assert len(raw) == len(bench) == 1000 and bench.skipped == []
    for r, s in zip(raw, bench):
        assert s.id == r["id"] and s.question == r["question"] and s.choices == r["choices"]
        assert s.choices[s.answer] == r["answer"]
        assert s.source == "mmar" and s.audio.endswith(Path(r["audio_path"]).name)
        assert {k: s.meta[k] for k in r} == r
        assert s.meta["categories"] == [r["category"]]
    assert Counter(len(s.choices) for s in bench) == {4: 815, 2: 171, 3: 10, 5: 3, 6: 1}
    assert {s.meta["category"] for s in bench} == {"Signal Layer", "Perception Layer", "Semantic Layer", "Cultural Layer"}
    assert len(select(bench)) == 1000  # no MMAR filter by default
    assert len(select(bench, mmar_modality="sound")) == 165


# ------------------------------------------------------------------------------------- MUSIC-AVQA
def test_music_avqa_all_test_questions_field_by_field(bench_dir):
    path = bench_dir / "music-avqa-test.json"
    raw = _raw_json(path)
    bench = load_benchmark("music-avqa", path)
    assert len(raw) == len(bench) == 9129 and bench.skipped == [] and bench.split == "test"
    for r, s in zip(raw, bench):
        kinds = json.loads(r["type"])
        values = json.loads(r["templ_values"])
        assert s.id == str(r["question_id"])
        assert s.choices == [] and s.answer is None
        assert s.meta["answer_text"] == r["anser"] == s.answer_text
        assert s.question_type == "/".join(kinds) and s.meta["modality"] == kinds[0]
        assert not SLOT.search(s.question), s.question  # every <Object>/<LR>/... slot filled
        for v in values:
            assert v in s.question
        # The template's fixed words survive, in order, around the filled values.
        fixed = [part.strip() for part in SLOT.split(r["question_content"]) if part.strip()]
        pos = 0
        for part in fixed:
            pos = s.question.index(part, pos) + len(part)
        assert {k: s.meta[k] for k in r} == r
    types = Counter(s.question_type for s in bench)
    assert types["Audio/Counting"] == 1017 and types["Audio/Comparative"] == 594
    audio = select(bench, music_avqa_types=["Audio"])
    assert len(audio) == 1611 and {s.question_type for s in audio} == {"Audio/Counting", "Audio/Comparative"}
    assert len(select(bench, music_avqa_types=["Audio/Counting"])) == 1017
    assert len(select(bench, music_avqa_types=[])) == 9129
    # A known item: the template's slot is filled and its "?" kept.
    by_id = {s.id: s for s in bench}
    assert by_id["28"].question == "Is the violin in the video always playing?"


def test_music_avqa_val_loads(bench_dir):
    bench = load_benchmark("music-avqa", bench_dir / "music-avqa-val.json")
    assert len(bench) == 4568 and bench.split == "val" and bench.skipped == []


def test_fill_template_keeps_punctuation_and_order():
    assert fill_template("Is the <Object> on the <LR> louder than the <Object>?", ["violin", "left", "piano"]) == \
        "Is the violin on the left louder than the piano?"
    with pytest.raises(ValueError, match="2 slot"):
        fill_template("<Object> or <Object>", ["violin"])


# ------------------------------------------------------------------------------------------- AVQA
def _avqa_records(clips_dir: Path) -> list[dict]:
    names = sorted(p.stem for p in clips_dir.glob("*.mp4"))
    options = [["dog", "cat", "car", "violin"], ["man", "woman", "child", "helicopter"]]
    return [{"id": 7000 + i, "video_name": n, "video_id": 500 + i, "question_text": f"What is making the sound {i}?",
             "multi_choice": options[i % 2], "answer": i % 4, "question_relation": "View",
             "question_type": "Which"} for i, n in enumerate(names)]


def test_avqa_on_the_real_clips(clips_dir, tmp_path):
    records = _avqa_records(clips_dir)
    assert len(records) == 16
    ann = tmp_path / "val_qa.json"
    ann.write_text(json.dumps(records))
    bench = load_benchmark("avqa", ann, media_root=clips_dir)
    assert len(bench) == 16 and bench.split == "val" and bench.skipped == []
    for r, s in zip(records, bench):
        assert s.id == str(r["id"]) and s.question == r["question_text"] and s.choices == r["multi_choice"]
        assert s.answer == r["answer"] and s.question_type == "Which" and s.source == "avqa"
        assert s.audio == str(clips_dir / f"{r['video_name']}.wav")  # the separate wav is preferred
        assert s.video == str(clips_dir / f"{r['video_name']}.mp4")
        yt, start = r["video_name"].rsplit("_", 1)
        assert s.meta["youtube_id"] == yt and s.meta["start_s"] == int(start)
        assert s.meta["question_relation"] == "View" and s.meta["video_id"] == r["video_id"]
        _assert_prompt_has_question_and_options(s)
    from sightsound.media import load_audio

    audio = load_audio(bench[0].audio)  # 32 kHz stereo wav -> 16 kHz mono
    assert audio.ndim == 1 and 9.5 * 16000 < len(audio) < 10.5 * 16000


def test_avqa_media_layouts(clips_dir, tmp_path):
    """Sub-folder layouts, and a clip with only its mp4 (the audio track is the audio)."""
    records = _avqa_records(clips_dir)[:3]
    root = tmp_path / "media"
    (root / "audios").mkdir(parents=True)
    (root / "videos").mkdir()
    a, b, _ = (r["video_name"] for r in records)
    (root / "audios" / f"{a}.wav").symlink_to(clips_dir / f"{a}.wav")
    (root / "videos" / f"{a}.mp4").symlink_to(clips_dir / f"{a}.mp4")
    (root / "videos" / f"{b}.mp4").symlink_to(clips_dir / f"{b}.mp4")
    ann = tmp_path / "val_qa.json"
    ann.write_text(json.dumps(records))
    bench = load_benchmark("avqa", ann, media_root=root)
    assert bench[0].audio == str(root / "audios" / f"{a}.wav") and bench[0].video == str(root / "videos" / f"{a}.mp4")
    assert bench[1].audio == bench[1].video == str(root / "videos" / f"{b}.mp4")
    assert bench[2].audio is None and bench[2].video is None  # absent clip: loaded, no media
    from sightsound.media import load_audio

    assert load_audio(bench[1].audio).ndim == 1  # mp4 audio track through PyAV


@pytest.mark.parametrize("name, yt, start", [
    ("0-00uubiDNU_000210", "0-00uubiDNU", 210),
    ("a_b-c_d_000030", "a_b-c_d", 30),  # YouTube ids may contain "_": split on the last one
    ("__x_000000", "__x", 0),
])
def test_video_name_split_on_last_underscore(name, yt, start):
    assert split_video_name(name) == (yt, start)


@pytest.mark.parametrize("name", ["nounderscore", "abc_12x", "_000010", "abc_"])
def test_bad_video_names(name):
    with pytest.raises(ValueError, match="video_name"):
        split_video_name(name)


# ----------------------------------------------------------------------------------- malformed records
def _avqa_ok(i: int) -> dict:
    return {"id": i, "video_name": f"vid{i}_000010", "video_id": i, "question_text": "Which?",
            "multi_choice": ["a", "b", "c", "d"], "answer": 1, "question_relation": "View", "question_type": "Which"}


def test_avqa_malformed_records_are_reported_and_skipped(tmp_path):
    good = [_avqa_ok(i) for i in range(3)]
    bad = [
        {**_avqa_ok(10), "answer": 4},  # index 3: outside the options
        {**_avqa_ok(11), "video_name": "noseparator"},  # index 4
        {k: v for k, v in _avqa_ok(12).items() if k != "question_text"},  # index 5
        {**_avqa_ok(13), "multi_choice": "a, b"},  # index 6: not a list
        "just a string",  # index 7
        {**_avqa_ok(14), "answer": True},  # index 8: bool is not an index
        {**_avqa_ok(1)},  # index 9: duplicate id
    ]
    ann = tmp_path / "val_qa.json"
    ann.write_text(json.dumps(good + bad))
    bench = load_benchmark("avqa", ann)
    assert [s.id for s in bench] == ["0", "1", "2"]
    assert [s.where for s in bench.skipped] == [f"index {i}" for i in range(3, 10)]
    reasons = [s.reason for s in bench.skipped]
    assert "outside its 4 options" in reasons[0]
    assert "video_name" in reasons[1]
    assert "question_text" in reasons[2]
    assert "multi_choice" in reasons[3]
    assert "not a JSON object" in reasons[4]
    assert "0-based int" in reasons[5]
    assert "duplicate id" in reasons[6]
    summary = bench.summary()
    assert summary["records"] == 10 and summary["loaded"] == 3 and summary["skipped"] == 7
    with pytest.raises(RecordError, match=r"val_qa\.json: index 3 \(id '10'\): answer 4 is outside"):
        load_benchmark("avqa", ann, strict=True)


def test_mmau_malformed_records(tmp_path):
    ok = {"id": "x1", "audio_id": "./a/x1.wav", "question": "Q?", "choices": ["dog", "cat"], "answer": "cat",
          "task": "sound", "category": ["Reasoning"], "sub-category": "s", "difficulty": "easy"}
    items = [ok,
             {**ok, "id": "x2", "answer": "cow"},  # not an option
             {**ok, "id": "x3", "category": 5},
             {**ok, "id": "x4", "choices": ["only one"], "answer": "only one"},
             {**ok, "id": ""},
             {**ok, "id": "x6", "answer": " CAT "}]  # case/space-insensitive fallback still finds the option
    ann = tmp_path / "mmau.json"
    ann.write_text(json.dumps(items))
    bench = load_benchmark("mmau", ann)
    assert [s.id for s in bench] == ["x1", "x6"] and bench[1].answer == 1
    assert [(s.where, s.id) for s in bench.skipped] == [("index 1", "x2"), ("index 2", "x3"), ("index 3", "x4"),
                                                         ("index 4", "")]
    assert "not one of the choices" in bench.skipped[0].reason


def test_mmar_broken_lines_are_reported_with_line_numbers(tmp_path):
    ok = {"id": "m1", "audio_path": "./audio/m1.wav", "question": "Q?", "choices": ["a b", "c"], "answer": "c",
          "modality": "sound", "category": "Signal Layer", "sub-category": "x"}
    lines = [json.dumps(ok), "{not json", "", json.dumps({**ok, "id": "m2", "answer": None}),
             json.dumps({**ok, "id": "m3"})]
    ann = tmp_path / "mmar.jsonl"
    ann.write_text("\n".join(lines) + "\n")
    bench = load_benchmark("mmar", ann)
    assert [s.id for s in bench] == ["m1", "m3"]
    assert [s.where for s in bench.skipped] == ["line 2", "line 4"]
    assert "not valid JSON" in bench.skipped[0].reason and "answer" in bench.skipped[1].reason
    with pytest.raises(RecordError, match=r"mmar\.jsonl: line 2"):
        load_benchmark("mmar", ann, strict=True)


def test_music_avqa_malformed_records(tmp_path):
    ok = {"video_id": "00000001", "question_id": 1, "type": "[\"Audio\", \"Counting\"]",
          "question_content": "How many <Object> are there?", "templ_values": "[\"violin\"]",
          "question_deleted": 0, "anser": "two"}
    items = [ok,
             {**ok, "question_id": 2, "templ_values": "[]"},  # slot left unfilled
             {**ok, "question_id": 3, "type": "Audio Counting"},  # not a JSON list
             {**ok, "question_id": 4, "anser": ""},
             {k: v for k, v in ok.items() if k != "question_id"}]
    ann = tmp_path / "avqa-test.json"
    ann.write_text(json.dumps(items))
    bench = load_benchmark("music-avqa", ann)
    assert [s.id for s in bench] == ["1"] and bench[0].question == "How many violin are there?"
    assert [s.where for s in bench.skipped] == ["index 1", "index 2", "index 3", "index 4"]
    assert "slot" in bench.skipped[0].reason and "type" in bench.skipped[1].reason


def test_synthetic_records_loader(tmp_path):
    rows = [Sample(id=f"s{i}", question="Which sounds first?", choices=["dog", "violin"], answer=i % 2,
                   audio=f"audio/s{i}.wav", video=f"video/s{i}.mp4", frames=[f"frames/s{i}_0.png"],
                   question_type="order", source="synthetic",
                   meta={"family": "first_sound", "evidence": "audio", "vision_answer": None}).to_dict()
            for i in range(3)]
    rows[1]["bogus"] = 1  # unknown field: reported, not loaded
    path = tmp_path / "set" / "data.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    bench = load_benchmark("synthetic", path)
    assert [s.id for s in bench] == ["s0", "s2"] and bench.skipped[0].where == "line 2"
    assert bench[0].audio == str(path.parent.resolve() / "audio" / "s0.wav")
    assert bench[0].frames == [str(path.parent.resolve() / "frames" / "s0_0.png")]
    _assert_prompt_has_question_and_options(bench[0])


def test_unreadable_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        load_benchmark("mmau", tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(RecordError, match="bad.json: not valid JSON"):
        load_benchmark("avqa", bad)
    allbad = tmp_path / "allbad.json"
    allbad.write_text(json.dumps([{"id": 1}]))
    with pytest.raises(RecordError, match="no usable avqa records"):
        load_benchmark("avqa", allbad)
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("imagenet", bad)


# ------------------------------------------------------------------------------- loader -> prompt
@pytest.mark.parametrize("name, filename", [("mmau", "mmau-test-mini.json"), ("mmar", "mmar-meta.jsonl"),
                                            ("music-avqa", "music-avqa-test.json")])
def test_loader_to_prompt_on_real_files(bench_dir, name, filename):
    bench = load_benchmark(name, bench_dir / filename)
    for s in bench:
        _assert_prompt_has_question_and_options(s)
        prompt = student_prompt(s.question, s.choices)
        if name == "music-avqa":
            assert not SLOT.search(prompt) and prompt == f"{s.question} ."  # open: no options; the paper's " ."
        else:
            assert prompt.count(". ") >= len(s.choices) and "Available options: A. " in prompt


def test_every_benchmark_is_registered():
    assert set(BENCHMARKS) == {"avqa", "mmau", "mmar", "music-avqa", "synthetic"}
