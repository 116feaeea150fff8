"""The paper recipe's data layout built from the 16 real AVQA clips (../shared/data), as a user unpacks it.

``configs/paper.yaml`` reads, relative to the working directory::

    data/avqa/train_qa.json, data/avqa/val_qa.json   AVQA's own annotation format
    data/avqa/videos/<video_name>.mp4|.wav            the VGGSound clips
    data/mmau/mmau-test-mini.json + test-mini-audios/ MMAU test-mini format (audio_id relative to the file)
    data/music_avqa/avqa-test.json + audio/           MUSIC-AVQA json_update format

AVQA ships no question annotations with these clips, so the AVQA records are written here in its
format (questions about what sounds, four options); the MMAU and MUSIC-AVQA records are the first
real items of their benchmark files with the audio reference pointed at one of the clips. Media are
linked file by file, so a test can leave clips out (``missing``).
"""

from __future__ import annotations

import json
from pathlib import Path

CHOICES = [["dog", "car engine", "guitar", "rain"], ["speech", "siren", "drum", "bird"],
           ["water", "piano", "train", "crowd"], ["wind", "engine", "violin", "baby"]]


def clip_names(clips: Path) -> list[str]:
    return sorted(p.stem for p in clips.glob("*.mp4"))


def _avqa(names: list[str], start: int) -> list[dict]:
    return [{"id": start + i, "video_name": n, "video_id": start + i, "question_text": "What is making the sound?",
             "multi_choice": CHOICES[i % 4], "answer": i % 4, "question_relation": "View",
             "question_type": "Which"} for i, n in enumerate(names)]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def build_paper_world(root: Path, shared: Path, missing: tuple[str, ...] = (), n_train: int = 12,
                      n_bench: int = 3) -> dict:
    """Write ``root/data/...`` as paper.yaml expects it; returns the clip names per split."""
    clips = shared / "data" / "avqa_clips"
    names = clip_names(clips)
    train, val = names[:n_train], names[n_train:]
    d = root / "data"
    (d / "avqa").mkdir(parents=True)
    (d / "avqa" / "train_qa.json").write_text(json.dumps(_avqa(train, 0)))
    (d / "avqa" / "val_qa.json").write_text(json.dumps(_avqa(val, 1000)))
    for n in names:
        if n not in missing:
            for ext in (".mp4", ".wav"):
                _link(clips / f"{n}{ext}", d / "avqa" / "videos" / f"{n}{ext}")
    bench = shared / "data" / "benchmarks"
    mmau = [x for x in json.loads((bench / "mmau-test-mini.json").read_text()) if x.get("task") == "sound"][:n_bench]
    for x, n in zip(mmau, names):
        x["audio_id"] = f"./test-mini-audios/{n}.wav"
        _link(clips / f"{n}.wav", d / "mmau" / "test-mini-audios" / f"{n}.wav")
    (d / "mmau" / "mmau-test-mini.json").write_text(json.dumps(mmau))
    music = [x for x in json.loads((bench / "music-avqa-test.json").read_text())
             if json.loads(x["type"])[0] == "Audio"][:n_bench]
    for x, n in zip(music, names[::-1]):
        x["video_id"] = n
        _link(clips / f"{n}.wav", d / "music_avqa" / "audio" / f"{n}.wav")
    (d / "music_avqa" / "avqa-test.json").write_text(json.dumps(music))
    return {"train": train, "val": val, "mmau": len(mmau), "music-avqa": len(music)}
