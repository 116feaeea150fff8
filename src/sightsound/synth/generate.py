"""``generate(out_dir, cfg)``: records + wav + PNG frames + mp4 for the synthetic world.

Item ``i`` depends only on ``(seed, i)`` (its own random generators), so a run is reproducible
byte for byte, can resume after a crash (records already in ``data.jsonl`` are skipped; media are
written before their record), and a larger ``num`` extends a smaller run with the same items.
The scene is drawn from one generator and the audio from another, so the voice engine (espeak-ng
or babble) can change the sound of voices but never the scenes, questions or answers.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np

from sightsound.config import ConfigError, SynthConfig, dump_yaml
from sightsound.jsonl import ArtefactError, JsonlWriter, atomic_write_json, atomic_write_text
from sightsound.media import save_wav
from sightsound.schema import Sample
from sightsound.synth import voice
from sightsound.synth.audio import render_scene
from sightsound.synth.families import FAMILIES, MODES, Ctx, evidence_for
from sightsound.synth.scene import new_scene
from sightsound.synth.video import render_frames, write_mp4, write_pngs

DATA = "data.jsonl"
CONFIG = "synth_config.yaml"
SUMMARY = "synth_summary.json"
BATCH = 16  # records per fsync


def check_config(cfg: SynthConfig) -> list[str]:
    """The families to generate; raises ConfigError naming the bad ``synth.*`` key."""
    if not 0.0 <= cfg.p_consistent <= 1.0:
        raise ConfigError(f"synth.p_consistent: must be in [0, 1], got {cfg.p_consistent}")
    if not 2.5 <= cfg.duration_s <= 60:
        raise ConfigError(f"synth.duration_s: must be in [2.5, 60] s (families need room for timing), got {cfg.duration_s}")
    if cfg.sample_rate < 8000:
        raise ConfigError(f"synth.sample_rate: must be >= 8000, got {cfg.sample_rate}")
    if not 3 <= cfg.max_sources <= 4:
        raise ConfigError(f"synth.max_sources: must be 3 or 4 (three on-screen slots + one off-screen), got {cfg.max_sources}")
    if cfg.fps <= 0 or cfg.fps > 30:
        raise ConfigError(f"synth.fps: must be in (0, 30], got {cfg.fps}")
    for key in ("width", "height"):
        v = getattr(cfg, key)
        if v < 56 or v % 2:
            raise ConfigError(f"synth.{key}: must be even and >= 56 (h264 yuv420p), got {v}")
    if cfg.num < 0:
        raise ConfigError(f"synth.num: must be >= 0, got {cfg.num}")
    families = list(cfg.families) or list(FAMILIES)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ConfigError(f"synth.families: unknown {unknown} (known: {', '.join(FAMILIES)})")
    return families


def item_id(seed: int, index: int) -> str:
    return f"synth-{seed}-{index:05d}"


def make_item(cfg: SynthConfig, index: int, families: list[str] | None = None) -> tuple[str, dict, dict]:
    """(family, question fields, scene) of item ``index``: pure, no files written."""
    families = families or check_config(cfg)
    family = families[index % len(families)]  # round robin: every family equally often
    rng = np.random.default_rng([cfg.seed, index, 0])
    mode = "consistent" if rng.random() < cfg.p_consistent else MODES[1 + int(rng.integers(len(MODES) - 1))]
    # The answer's position cycles with the item's rank in its family, from a per-seed offset.
    offset = int(np.random.default_rng([cfg.seed, families.index(family), 2]).integers(1 << 16))
    rank = offset + index // len(families)
    ctx = Ctx(rng=rng, duration=cfg.duration_s, max_sources=cfg.max_sources, mode=mode, fps=cfg.fps, rank=rank)
    item = FAMILIES[family](ctx)
    scene = new_scene(cfg.duration_s, cfg.sample_rate, item.sources)
    fields = {
        "question": item.question,
        "choices": item.choices,
        "answer": item.answer,
        "meta": {
            "family": family,
            "evidence": evidence_for(family, item),
            "vision_answer": item.vision_answer,
            "answer_text": item.choices[item.answer],
            "mode": item.mode,
            "scene": scene,
        },
    }
    return family, fields, scene


def _write_item(out: Path, cfg: SynthConfig, index: int, families: list[str]) -> dict:
    rid = item_id(cfg.seed, index)
    family, fields, scene = make_item(cfg, index, families)
    media = out / "media"
    audio = render_scene(scene, np.random.default_rng([cfg.seed, index, 1]))
    save_wav(media / f"{rid}.wav", audio, cfg.sample_rate)
    frames = render_frames(scene, cfg.fps, cfg.width, cfg.height)
    pngs = write_pngs(frames, media / rid)
    video = None
    if cfg.write_mp4:
        video = write_mp4(frames, media / f"{rid}.mp4", cfg.fps).relative_to(out).as_posix()
    sample = Sample(
        id=rid, question=fields["question"], choices=fields["choices"], answer=fields["answer"],
        audio=f"media/{rid}.wav", video=video, frames=[p.relative_to(out).as_posix() for p in pngs],
        question_type=family, source="synthetic", meta=fields["meta"],
    )
    return sample.to_dict()


def _check_resume(out: Path, cfg: SynthConfig) -> None:
    """Refuse to extend a folder generated with other settings (``num`` may differ)."""
    text = dump_yaml(dataclasses.replace(cfg, num=0))
    path = out / CONFIG
    if (out / DATA).exists() and path.exists() and path.read_text(encoding="utf-8") != text:
        raise ArtefactError(f"{out}: holds a synthetic set made with other settings ({path}); use a new --out")
    atomic_write_text(path, text)


def summarize(records: list[dict]) -> dict:
    """Counts that describe a set (deterministic: no timings, no paths)."""
    c = {k: Counter() for k in ("family", "evidence", "mode", "answer_position", "sources")}
    vision_differs = 0
    for r in records:
        m = r["meta"]
        c["family"][m["family"]] += 1
        c["evidence"][m["evidence"]] += 1
        c["mode"][m["mode"]] += 1
        c["answer_position"][str(r["answer"])] += 1
        c["sources"][str(len(m["scene"]["sources"]))] += 1
        vision_differs += m["vision_answer"] is not None and m["vision_answer"] != r["answer"]
    return {"num": len(records), **{k: dict(sorted(v.items())) for k, v in c.items()},
            "vision_answer_differs": vision_differs, "voice_engine": voice.engine()}


def generate(out_dir: str | Path, cfg: SynthConfig, progress: bool = True) -> Path:
    """Write ``cfg.num`` items into ``out_dir`` (resumable) and return the path of ``data.jsonl``."""
    families = check_config(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, cfg)
    ids = [item_id(cfg.seed, i) for i in range(cfg.num)]
    with JsonlWriter(out / DATA) as writer:
        unexpected = [r["id"] for r in writer.existing if r["id"] not in set(ids)]
        if unexpected:
            raise ArtefactError(f"{out / DATA}: holds ids outside this run ({unexpected[:3]}...); use a new --out")
        todo = [i for i, rid in enumerate(ids) if rid not in writer.done]
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="synth", unit="item")
        batch = []
        for i in todo:
            batch.append(_write_item(out, cfg, i, families))
            if len(batch) >= BATCH:
                writer.write_many(batch)
                batch = []
            if bar is not None:
                bar.update(1)
        writer.write_many(batch)
        if bar is not None:
            bar.close()
    records = _read_ordered(out / DATA, ids)
    summary = summarize(records)
    atomic_write_json(out / SUMMARY, summary)
    return out / DATA


def _read_ordered(path: Path, ids: list[str]) -> list[dict]:
    """Records in index order; a resumed run is rewritten in order so it equals a fresh run."""
    from sightsound.jsonl import read_jsonl, write_jsonl_atomic

    rows = list(read_jsonl(path))
    order = {rid: k for k, rid in enumerate(ids)}
    ordered = sorted(rows, key=lambda r: order[r["id"]])
    if [r["id"] for r in rows] != [r["id"] for r in ordered]:
        write_jsonl_atomic(path, ordered)
    return ordered
