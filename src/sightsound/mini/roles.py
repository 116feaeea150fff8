"""The three SightSound-mini roles: architecture, size, and the examples each learns from.

    role      architecture (tiny builder role)  input                      learns to say
    teacher   Qwen2.5-VL   (teacher)            frames + teacher prompt    vision-imagined CoT + vision answer
    verifier  Qwen2-Audio  (student)            audio + fact-check prompt  a checklist of the sounds, then Yes / No
    student   Qwen2-Audio  (student)            audio + perception prompt  the sounds heard, in order, loudest
                                                audio + describe prompt    the counting sentence (no slots; opt-in)
                                                audio + question (share)   answer only, no reasoning

Sizes (text hidden 256, 4 layers; small encoders): 3-5 M parameters,
trainable from scratch in about 10 CPU-minutes. Frames are shown at 112x56 (8 visual tokens each),
audio clips of 3 s become 75 audio tokens (mel ``chunk_length`` = clip length).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sightsound.config import TeachConfig
from sightsound.mini import targets as T
from sightsound.mini.features import Example
from sightsound.mini.splits import split
from sightsound.prompts import question_with_options, teacher_prompt, verifier_prompt

ROLES = ("teacher", "verifier", "student")
FRAME_W, FRAME_H = 112, 56
CLIP_S = 3  # the synthetic world's clip length (SynthConfig.duration_s)
STUDENT_QA_SHARE = 0.15  # share of the student's examples that are answer-only replies to questions
VERDICT_RULE = "final"  # the verifier's reply ends with its verdict (targets.verifier_reply; verify.verdict)


def _sizes(text: dict, vision: dict, audio: dict) -> dict[str, dict]:
    """Builder sizes per architecture; frame size and clip length are the world's, whatever the width."""
    return {"teacher": dict(text, **vision, min_pixels=FRAME_W * FRAME_H, max_pixels=FRAME_W * FRAME_H),
            "audio": dict(text, **audio, chunk_length=CLIP_S)}


SIZES = _sizes(
    {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
     "intermediate_size": 512, "max_position_embeddings": 1024},
    {"vision_depth": 2, "vision_hidden_size": 128, "vision_num_heads": 4, "vision_intermediate_size": 256},
    {"audio_d_model": 256, "audio_layers": 2, "audio_heads": 4, "audio_ffn_dim": 512},
)
# "test": the same architectures at hidden 64 / 2 layers, for fast tests of the training loop.
TEST_SIZES = _sizes(
    {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
     "intermediate_size": 128, "max_position_embeddings": 1024},
    {"vision_depth": 1, "vision_hidden_size": 32, "vision_num_heads": 2, "vision_intermediate_size": 64},
    {"audio_d_model": 32, "audio_layers": 1, "audio_heads": 2, "audio_ffn_dim": 64},
)
SIZE_NAMES = ("mini", "test")


@dataclass(frozen=True)
class RoleSpec:
    name: str
    builder_role: str  # sightsound.models.tiny role
    arch: str
    sizes: dict
    max_new_tokens: int  # enough for the role's longest target


SPECS = {
    "teacher": RoleSpec("teacher", "teacher", "qwen2_5_vl", SIZES["teacher"], 64),
    "verifier": RoleSpec("verifier", "student", "qwen2_audio", SIZES["audio"], 72),  # named replies: up to 62
    "student": RoleSpec("student", "student", "qwen2_audio", SIZES["audio"], 40),
}


def role_spec(role: str) -> RoleSpec:
    if role not in SPECS:
        raise ValueError(f"unknown SightSound-mini role {role!r} (expected one of {', '.join(ROLES)})")
    return SPECS[role]


def role_sizes(role: str, size: str = "mini") -> dict:
    """Model sizes of a role: ``mini`` (the shipped models) or ``test`` (tiny, for tests)."""
    spec = role_spec(role)
    if size == "mini":
        return spec.sizes
    if size == "test":
        return TEST_SIZES["teacher" if spec.arch == "qwen2_5_vl" else "audio"]
    raise ValueError(f"unknown size {size!r} (expected one of {', '.join(SIZE_NAMES)})")


def teach_config() -> TeachConfig:
    """The frame sampling the teacher is trained with; ``teach`` should use the same (demo recipe)."""
    return TeachConfig(fps=2.0, max_frames=6, max_pixels=FRAME_W * FRAME_H, frames_from="auto")


# ------------------------------------------------------------------------------------------ media
def load_media(role: str, record: dict, base: Path | None = None):
    """(images, audio) of a record as the role's stage would load them."""
    from sightsound.artefacts import parse_record

    sample = parse_record(record, base)
    if role == "teacher":
        from sightsound.teacher import teacher_frames

        return teacher_frames(sample, teach_config()), None
    from sightsound.media import load_audio

    return None, load_audio(sample.audio)


# ------------------------------------------------------------------------------------------ examples
def teacher_examples(record: dict, rng: random.Random) -> list[tuple[str, str, dict]]:
    target = T.teacher_target(record)
    if target is None:  # vision implies no option: nothing consistent to teach
        return []
    meta = record["meta"]
    info = {"kind": "qa", "choices": record["choices"], "answer": record["answer"],
            "vision_answer": meta["vision_answer"], "evidence": meta["evidence"], "family": meta["family"],
            "cot": T.teacher_cot(meta["scene"])}
    return [(teacher_prompt(record["question"], record["choices"]), target, info)]


def verifier_examples(record: dict, rng: random.Random, foreign: dict | None = None,
                      samples: tuple[str, ...] = (), order_mark: str = "none") -> list[tuple[str, str, dict]]:
    """Fact-check examples: the paper's prompt with a true or false account; the reply is a
    checklist of every sound class, then Yes or No (:func:`targets.verifier_reply`).

    A bare Yes/No target carries one bit per example: too little for a tiny model to learn in
    minutes to check reasoning against audio. The checklist carries one decision per class.
    ``samples``: the mini teacher's sampled thinks for this record (:func:`teacher_samples`).
    ``order_mark``: how the checklist carries the order of sounds (``--order-mark``).
    """
    scene = record["meta"]["scene"]
    out = []
    for cot, label, kind in T.verifier_examples(scene, rng, foreign=foreign, samples=samples):
        reply = T.verifier_reply(cot, scene, label, order_mark)
        # Read back from the reply as the role check reads a generated one: its opening listing (None
        # unless the format has one) and its checklist.
        out.append((verifier_prompt(cot), reply, {"kind": kind, "label": label, "cot": cot,
                                                  "listing": T.split_listing(reply)[0],
                                                  "checklist": T.reply_checklist(reply)}))
    return out


def teacher_samples(traces_path: str | Path, per_record: int = 2) -> dict[str, tuple[str, ...]]:
    """id -> up to ``per_record`` distinct sampled thinks of the teacher, from a ``sightsound teach``
    output on pretraining-split records (every sample, whether or not its record was kept: the
    verifier is to learn the teacher's errors). Records of other splits are refused: the verifier
    must never train on the data it is later scored on."""
    from sightsound.artefacts import read_traces
    from sightsound.synth.generate import item_id

    pretrain_seed = split("pretrain").seed
    prefix = item_id(pretrain_seed, 0).rsplit("-", 1)[0] + "-"  # "synth-1000-"
    out: dict[str, tuple[str, ...]] = {}
    for trace in read_traces(traces_path):
        if not str(trace["id"]).startswith(prefix):
            raise ValueError(f"{traces_path}: record {trace['id']!r} is not of the pretraining split "
                             f"(seed {pretrain_seed}); teacher samples for the verifier come from that split only")
        thinks = dict.fromkeys(s.get("think") for s in trace.get("samples") or [] if s.get("think"))
        out[trace["id"]] = tuple(thinks)[:per_record]
    return out


def listing_task(scene: dict) -> tuple[str, str]:
    """(prompt, target) of the listing task: the sounds heard, in the order heard. The student's
    main task, and the verifier's ``listing_drill``."""
    return T.PERCEPTION_PROMPT, T.perception_text(scene)


def student_examples(record: dict, rng: random.Random, describe: bool = False,
                     qa_share: float = STUDENT_QA_SHARE) -> list[tuple[str, str, dict]]:
    """Listing, the audio description (``describe``: tried, not shipped, assets/mini/README.md) and,
    for a share of records, an answer-only reply to the record's question (``qa_share`` of all the
    examples, at most 0.5: one per record). No reasoning-then-answer example: that is what CoT SFT
    teaches."""
    scene = record["meta"]["scene"]
    out = [(*listing_task(scene), {"kind": "listing", "listing": T.listing_sentence(scene)})]
    if describe:
        out.append((T.DESCRIBE_PROMPT, T.audio_description(scene),
                    {"kind": "describe", "description": T.audio_description(scene)}))
    qa = T.answer_only(record)
    if qa is not None and rng.random() < qa_share / (1 - qa_share):
        # The shipped students were pretrained on the question and options without the paper's " .".
        out.append((question_with_options(record["question"], record["choices"]), qa,
                    {"kind": "qa", "choices": record["choices"], "answer": record["answer"],
                     "family": record["meta"]["family"]}))
    return out


_BUILDERS = {"teacher": teacher_examples, "verifier": verifier_examples, "student": student_examples}


def examples_for(role: str, records: list[dict], seed: int, base: Path | None = None,
                 with_media: bool = True, describe: bool = False,
                 samples: dict[str, tuple[str, ...]] | None = None, reading_drill: float = 0.0,
                 qa_share: float = STUDENT_QA_SHARE, hearing_drill: float = 0.0,
                 order_mark: str = "none", order_drill: float = 0.0, listing_drill: float = 0.0) -> list[Example]:
    """Every example of ``role`` from ``records`` (deterministic for ``seed``), media loaded once per record.

    ``describe`` (student only): add the audio description to the mixture (``--describe``; the
    shipped student was trained without it). ``samples`` (verifier only): the teacher's sampled
    thinks per record id (:func:`teacher_samples`). ``reading_drill`` (verifier only): the share of
    records that add one of their accounts over a silent clip (:func:`targets.reading_drill_reply`);
    drawn from a separate generator, so 0 gives exactly the examples of before. ``hearing_drill``
    (verifier only): the share of records that add their true account with heard classes left out
    or doubled, over the real clip (:func:`targets.hearing_drill_cot`; its own generator too). ``qa_share``
    (student only): the share of examples that answer the record's question (``--qa-share``).
    ``order_mark`` (verifier only): how the replies' checklists carry the order of sounds
    (``--order-mark``; :func:`targets.verifier_checklist`). It changes replies only, not which
    examples are drawn. ``order_drill`` (verifier only): the share of records that add their true
    account with a later sound named first (:func:`targets.order_drill_cot`; its own generator).
    ``listing_drill`` (verifier only): the share of records that add the student's listing task over
    the record's clip — the sounds heard, in the order heard (:func:`listing_task`; its own
    generator) — a task only an ear for order gets right [ours; assets/mini/README.md, session 20]."""
    rng = random.Random(f"{role}-{seed}")
    drill_rng = random.Random(f"{role}-{seed}-drill")
    hearing_rng = random.Random(f"{role}-{seed}-hearing")
    order_rng = random.Random(f"{role}-{seed}-order")
    listing_rng = random.Random(f"{role}-{seed}-listing")
    false_drills = [] if role != "verifier" else [
        (hearing_drill, hearing_rng, T.hearing_drill_cot, "hearing_drill"),
        (order_drill, order_rng, T.order_drill_cot, "order_drill")]
    out: list[Example] = []
    for k, record in enumerate(records):
        scene = record["meta"]["scene"]
        if role == "verifier":  # another scene's true account, labelled against this audio
            other = records[(k + 1 + rng.randrange(max(1, len(records) - 1))) % len(records)] if len(records) > 1 else None
            pairs = verifier_examples(record, rng, foreign=other["meta"]["scene"] if other else None,
                                      samples=(samples or {}).get(record["id"], ()), order_mark=order_mark)
        elif role == "student":
            pairs = student_examples(record, rng, describe=describe, qa_share=qa_share)
        else:
            pairs = _BUILDERS[role](record, rng)
        if not pairs:
            continue
        images, audio = load_media(role, record, base) if with_media else (None, None)
        for text, target, info in pairs:
            out.append(Example(text=text, target=target, media_key=record["id"], images=images, audio=audio,
                               info={"id": record["id"], **info}))
        if role == "verifier" and reading_drill and drill_rng.random() < reading_drill:
            cot = drill_rng.choice(pairs)[2]["cot"]
            # As long as the clip, so as many audio tokens; one feature set per length (the media key).
            silence = None if audio is None else np.zeros_like(audio)
            out.append(Example(text=verifier_prompt(cot), target=T.reading_drill_reply(cot, order_mark),
                               media_key=f"silence-{0 if audio is None else len(audio)}",
                               audio=silence, info={"id": record["id"], "kind": "reading_drill", "cot": cot}))
        # False accounts over the record's own clip, verdict No; each drill draws from its own generator.
        for share, drill, make, kind in false_drills:
            if share and drill.random() < share:
                cot = make(scene, drill, with_slots=drill.random() < 0.7)
                if cot is not None:
                    out.append(Example(text=verifier_prompt(cot), target=T.verifier_reply(cot, scene, "No", order_mark),
                                       media_key=record["id"], images=images, audio=audio,
                                       info={"id": record["id"], "kind": kind, "cot": cot}))
        if role == "verifier" and listing_drill and listing_rng.random() < listing_drill:
            text, target = listing_task(scene)
            out.append(Example(text=text, target=target, media_key=record["id"], images=images, audio=audio,
                               info={"id": record["id"], "kind": "listing_drill"}))
    return out


def corpus(examples: list[Example]) -> list[str]:
    """The world's own text for the tokenizer: every prompt and target the role will see."""
    seen: dict[str, None] = {}
    for ex in examples:
        seen.setdefault(ex.text, None)
        seen.setdefault(ex.target, None)
    return list(seen)
