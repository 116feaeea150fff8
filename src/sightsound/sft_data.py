"""The student's training sets, built from the fact-checked teacher samples.

``sightsound build-sft --verified VERIFIED.jsonl --data DATA.jsonl --out SFT.jsonl`` writes one
chat example per sample the verifier kept (``id`` = the sample's key ``<record id>#<index>``,
``record_id`` = the record's id, plus the pinned fields)::

    user:      [audio] + student_prompt(question, choices)        (the paper's "<audio> (AVQA Question) .")
    assistant: <think> {teacher's think} </think> <answer> The correct answer is: B. cat </answer>

Variants (same record selection, so systems differ only in what they learn from):

* ``--label-only``: the label-only baseline, on the records of the CoT set, whose assistant turn
  is only ``<answer> The correct answer is: B. cat </answer>``. ``--label-set`` says how often a
  record appears: ``per_record`` (default [ours]) once, its first kept sample's line, since a label
  repeated per kept sample only adds identical lines; ``per_sample`` mirrors the CoT set line for
  line (a record with three kept samples appears three times in both: the CoT set's weighting).
* ``--grpo-out GRPO.jsonl``: the GRPO prompt set, one line per record, with the *distilled label*
  (the teacher's unanimous, fact-checked choice) as ``solution``.
* ``--traces TRACES.jsonl`` instead of ``--verified``: the *unverified* CoT set (every consistent
  sample of every kept trace, no fact-check), for the "SFT on unverified CoT" ablation.
* ``--prompt-style r1_aqa``: the user turn in R1-AQA's words (``... Please choose the answer from
  the following options: [...]. Output the final answer in <answer> </answer>.``), and
  ``--labels ground_truth``: the record's own answer as ``solution`` instead of the distilled label;
  together, with ``--grpo-out``, the R1-AQA baseline's prompt set (same records).

A sample is refused, with a reason, when its record is not in the data or is invalid, has no audio
or its audio file is missing, when its choice (the distilled label) is not an index of the
record's choices, or when it has no reasoning. Refusals are counted in ``<out>.summary.json`` and
listed with their ids. Outputs are written atomically: a reader never sees half a set.

Question, choices, answer and audio come from the records, read by the one records reader
(:func:`sightsound.artefacts.index_records`), not from copies in the verified lines: the records
stay the one source of what a question is, and the verified format keeps only what Step 2 decides.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from sightsound.artefacts import (
    TeacherSample,
    consistent_trace_samples,
    index_records,
    kept_verified_samples,
    write_examples,
)
from sightsound.jsonl import atomic_write_json
from sightsound.parsing import answer_line
from sightsound.prompts import build_student_prompt
from sightsound.schema import RecordError, Sample

log = logging.getLogger(__name__)

NOT_IN_DATA = "not_in_data"
INVALID_RECORD = "invalid_record"
NO_AUDIO = "no_audio"
AUDIO_MISSING = "audio_file_missing"
LABEL_OUTSIDE_CHOICES = "label_outside_choices"
EMPTY_THINK = "empty_think"
CONFLICTING_LABELS = "conflicting_labels"


# -------------------------------------------------------------------------------------- message form
LABELS = ("distilled", "ground_truth")


def user_message(audio: str, question: str, choices: list[str], prompt_style: str = "paper") -> dict[str, Any]:
    """The student's user turn: the audio, then the question with its options (paper or R1-AQA wording)."""
    return {"role": "user", "content": [{"type": "audio", "path": audio},
                                        {"type": "text", "text": build_student_prompt(prompt_style, question, choices)}]}


def target_text(think: str | None, choices: list[str], choice: int, label_only: bool = False,
                answer_style: str = "letter_text") -> str:
    """The assistant turn: ``<think> … </think> <answer> … </answer>``, or the answer alone."""
    answer = f"<answer> {answer_line(choices, choice, answer_style)} </answer>"
    if label_only:
        return answer
    return f"<think> {(think or '').strip()} </think> {answer}"


def assistant_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


# ------------------------------------------------------------------------------------------ building
def _refusal(sample: TeacherSample, records: dict[str, Sample | RecordError]) -> tuple[str, str] | None:
    """(reason, detail) when the sample cannot become a training example, else None."""
    rec = records.get(sample.id)
    if rec is None:
        return NOT_IN_DATA, "record id not in the data file"
    if isinstance(rec, RecordError):
        return INVALID_RECORD, str(rec)
    if not rec.audio:
        return NO_AUDIO, "record has no audio"
    if not Path(rec.audio).is_file():
        return AUDIO_MISSING, f"audio file not found: {rec.audio}"
    choice = sample.choice
    if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < len(rec.choices):
        return LABEL_OUTSIDE_CHOICES, f"label {choice!r} is not an index of {len(rec.choices)} choices"
    if not (sample.think or "").strip():
        return EMPTY_THINK, "no reasoning to distil"
    return None


LABEL_SETS = ("per_record", "per_sample")


def build_sets(samples: list[TeacherSample], records: dict[str, Sample | RecordError], label_only: bool = False,
               answer_style: str = "letter_text", label_set: str = "per_record", prompt_style: str = "paper",
               labels: str = "distilled") -> tuple[list[dict], list[dict], list[dict]]:
    """(SFT rows, GRPO rows, refusals) from source samples; pure apart from checking audio files exist.

    ``labels="ground_truth"`` puts the record's own answer in the GRPO rows' ``solution`` (the SFT
    rows always learn the distilled choice: they are the teacher's samples).
    """
    if label_set not in LABEL_SETS:
        raise ValueError(f"label_set must be one of {LABEL_SETS}, got {label_set!r}")
    if labels not in LABELS:
        raise ValueError(f"unknown labels {labels!r} (known: {LABELS})")
    sft, refused = [], []
    grpo: dict[str, dict] = {}
    once = label_only and label_set == "per_record"
    in_sft: set[str] = set()
    for sample in samples:
        why = _refusal(sample, records)
        if why:
            refused.append({"id": sample.id, "key": sample.key, "reason": why[0], "detail": why[1]})
            continue
        rec = records[sample.id]
        choice = sample.choice
        user = user_message(rec.audio, rec.question, rec.choices, prompt_style)
        if once and rec.id in in_sft:
            continue  # the same answer line again: an identical example, not another sample
        in_sft.add(rec.id)
        sft.append({
            # One line per kept sample, and a record may have several: the line's id is the sample's
            # key ("<record id>#<index>"), unique as every artefact's id is; record_id names the record.
            "id": sample.key,
            "record_id": rec.id,
            "messages": [user, assistant_message(target_text(sample.think, rec.choices, choice, label_only,
                                                                 answer_style))],
            "audio": rec.audio, "question": rec.question, "choices": rec.choices,
            "solution": choice, "source_key": sample.key,
        })
        prev = grpo.get(rec.id)
        if prev is None:
            truth = rec.answer
            solution = choice if labels == "distilled" else truth
            if solution is None:
                refused.append({"id": rec.id, "key": sample.key, "reason": LABEL_OUTSIDE_CHOICES,
                                "detail": "the record has no ground-truth answer"})
                continue
            grpo[rec.id] = {"id": rec.id, "prompt": [user], "audio": rec.audio, "question": rec.question,
                               "choices": rec.choices, "solution": solution, "labels": labels,
                               "prompt_style": prompt_style}
        elif labels == "distilled" and prev["solution"] != choice:
            # Samples of one record that passed the unanimity filter cannot disagree; if they do, the
            # distilled label is unknown, so the record leaves the GRPO set rather than being guessed.
            refused.append({"id": rec.id, "key": sample.key, "reason": CONFLICTING_LABELS,
                            "detail": f"distilled labels {prev['solution']} and {choice} disagree"})
            prev["conflict"] = True
    grpo_rows = [g for g in grpo.values() if not g.pop("conflict", False)]
    return sft, grpo_rows, refused


def summary_path(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".summary.json")


def build_sft(data_path: str | Path, out_path: str | Path, verified_path: str | Path | None = None,
              traces_path: str | Path | None = None, label_only: bool = False,
              grpo_out: str | Path | None = None, answer_style: str = "letter_text",
              label_set: str = "per_record", prompt_style: str = "paper", labels: str = "distilled") -> dict[str, Any]:
    """Write the SFT set (and optionally the GRPO prompt set); return the summary.

    The source is exactly one of ``verified_path`` (kept, fact-checked samples: the paper's set)
    and ``traces_path`` (all consistent samples, unverified: the ablation). ``out_path`` None writes
    the GRPO prompt set only (the R1-AQA baseline has no SFT set).
    """
    if (verified_path is None) == (traces_path is None):
        raise ValueError("give exactly one source: verified_path (fact-checked) or traces_path (unverified)")
    samples = kept_verified_samples(verified_path) if verified_path else consistent_trace_samples(traces_path)
    records = index_records(data_path)
    sft, grpo, refused = build_sets(samples, records, label_only=label_only, answer_style=answer_style,
                                    label_set=label_set, prompt_style=prompt_style, labels=labels)
    if out_path is None and not grpo_out:
        raise ValueError("nothing to write: give out_path, grpo_out or both")
    if out_path is not None:
        write_examples(out_path, sft)
    if grpo_out:
        write_examples(grpo_out, grpo)
    summary = {
        "source": "verified" if verified_path else "unverified_traces",
        "source_path": str(verified_path or traces_path),
        "variant": "label_only" if label_only else "cot",
        "label_set": label_set if label_only else None,
        "answer_style": answer_style,
        "prompt_style": prompt_style,
        "labels": labels,
        "samples_in": len(samples),
        "examples": len(sft),
        "records": len({r["record_id"] for r in sft}),
        "grpo_prompts": len(grpo) if grpo_out else None,
        "refused": dict(sorted(Counter(r["reason"] for r in refused).items())),
        "refused_samples": refused,
    }
    atomic_write_json(summary_path(out_path if out_path is not None else grpo_out), summary)
    for r in refused[:20]:
        log.warning("build-sft: refused %s (%s): %s", r["key"], r["reason"], r["detail"])
    return summary
