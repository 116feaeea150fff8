"""A hand-made synthetic world for the Step 2 tests: records with scene graphs and real wav audio,
teacher traces in the pinned format, and verified lines. Everything here is data with known truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SR = 16000


def _src(name, category, audible, onset, events, drawn=None, visible=True, slot="left"):
    return {"name": name, "category": category, "slot": slot, "visible": visible, "audible": audible,
            "drawn": drawn if drawn is not None else (name if visible else None), "onset_s": onset,
            "offset_s": max((e for _, e in events), default=onset), "gain_db": 0.0, "pitch_hz": None,
            "events": events}


def _render(scene: dict, seed: int) -> np.ndarray:
    """Tone bursts for the audible sources' events (each class its own pitch): real, decodable audio."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(scene["duration_s"] * SR)) / SR
    out = 0.01 * rng.standard_normal(t.size)
    for k, s in enumerate(scene["sources"]):
        if not s["audible"]:
            continue
        for a, b in s["events"]:
            m = (t >= a) & (t < b)
            out[m] += 0.3 * np.sin(2 * np.pi * (220 + 110 * k) * t[m])
    return out.astype(np.float32)


RECORDS = [
    # A dog barks twice; a car is drawn but silent.
    {"id": "r0", "question": "Which object makes the sound?", "choices": ["car", "dog", "cat", "violin"], "answer": 1,
     "scene": [_src("dog", "animal", True, 0.2, [[0.2, 0.5], [0.7, 1.0]]),
               _src("car", "vehicle", False, 0.0, [], slot="right")]},
    # A violin, then a drum.
    {"id": "r1", "question": "Which instrument sounds first?", "choices": ["drum", "violin"], "answer": 1,
     "scene": [_src("violin", "instrument", True, 0.1, [[0.1, 0.8]]),
               _src("drum", "instrument", True, 1.0, [[1.0, 1.2], [1.4, 1.6]], slot="right")]},
    # Its audio file is missing on disk.
    {"id": "r2", "question": "What animal is heard?", "choices": ["cat", "dog"], "answer": 0, "missing_audio": True,
     "scene": [_src("cat", "animal", True, 0.3, [[0.3, 0.9]])]},
    # The teacher did not agree on this one: not kept, never verified.
    {"id": "r3", "question": "What animal is heard?", "choices": ["cow", "sheep"], "answer": 1,
     "scene": [_src("sheep", "animal", True, 0.2, [[0.2, 1.0]], drawn="cow")]},
    # A drawn cow that sounds like a sheep; one of the teacher's reasonings names the cow.
    {"id": "r4", "question": "What animal is heard?", "choices": ["cow", "sheep", "horse"], "answer": 1,
     "scene": [_src("sheep", "animal", True, 0.4, [[0.4, 1.1]], drawn="cow")]},
]

# (think, choice) of each teacher sample; r3's samples disagree.
THINKS = {
    "r0": [("A dog barks twice on the left.", 1), ("A car engine hums while a dog barks.", 1),
           ("The dog barks two times.", 1)],
    "r1": [("A violin plays first, then a drum beats twice.", 1), ("The drum starts before the violin.", 1),
           ("I hear a violin, then a drum.", 1)],
    "r2": [("A cat meows.", 0), ("A cat meows softly.", 0), ("A cat meows once.", 0)],
    "r3": [("A cow moos.", 0), ("A sheep bleats.", 1), ("A cow moos loudly.", 0)],
    "r4": [("A sheep bleats.", 1), ("I hear a cow mooing and a sheep bleating.", 1), ("A sheep bleats on the left.", 1)],
}


def write_world(root: Path) -> dict[str, Path]:
    """data/data.jsonl (+ wavs) and traces.jsonl under ``root``; returns their paths."""
    import soundfile as sf

    data_dir = root / "data"
    (data_dir / "audio").mkdir(parents=True, exist_ok=True)
    records, traces = [], []
    for i, r in enumerate(RECORDS):
        scene = {"duration_s": 2.0, "sample_rate": SR, "sources": r["scene"]}
        audio_rel = f"audio/{r['id']}.wav"
        if not r.get("missing_audio"):
            sf.write(str(data_dir / audio_rel), _render(scene, i), SR, subtype="PCM_16")
        rec = {"id": r["id"], "question": r["question"], "choices": r["choices"], "answer": r["answer"],
               "audio": audio_rel, "video": None, "frames": None, "question_type": "synthetic",
               "source": "synthetic",
               "meta": {"family": "hand", "evidence": "audio", "vision_answer": None,
                        "answer_text": r["choices"][r["answer"]], "scene": scene}}
        records.append(rec)
        samples = []
        for k, (think, choice) in enumerate(THINKS[r["id"]]):
            ans = f"The correct answer is: {'ABCD'[choice]}. {r['choices'][choice]}"
            samples.append({"index": k, "text": f"<think>{think}</think> <answer>{ans}</answer>", "think": think,
                            "answer": ans, "choice": choice, "status": "ok", "num_tokens": 12,
                            "finish_reason": "stop"})
        choices = {c for _, c in THINKS[r["id"]]}
        kept = len(choices) == 1
        agreed = next(iter(choices)) if kept else None
        traces.append({"id": r["id"], "kept": kept, "reason": None if kept else "disagreement", "samples": samples,
                       "agreed_choice": agreed, "agreement": 3 if kept else 2, "n": 3, "label": r["answer"],
                       "label_match": (agreed == r["answer"]) if kept else None,
                       "teacher": {"model": "hand-made"}, "error": None,
                       # The teacher copies these so later stages need nothing else (absolute audio path).
                       "audio": str((data_dir / audio_rel).resolve()), "question": r["question"],
                       "choices": r["choices"]})
    data = data_dir / "data.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in records))
    tr = root / "traces.jsonl"
    tr.write_text("".join(json.dumps(x) + "\n" for x in traces))
    return {"data": data, "traces": tr, "data_dir": data_dir}


# The scene-graph truth of each kept sample (hallucinated?), worked out by hand from the scenes above.
HALLUCINATED = {"r0#0": False, "r0#1": True, "r0#2": False, "r1#0": False, "r1#1": True, "r1#2": False,
                "r4#0": False, "r4#1": True, "r4#2": False}


def kept_sample_keys() -> set[str]:
    """Every (id, sample) a verify run over the world must write exactly once."""
    out = set()
    for r in RECORDS:
        if len({c for _, c in THINKS[r["id"]]}) == 1:
            out |= {f"{r['id']}#{k}" for k in range(len(THINKS[r["id"]]))}
    return out
