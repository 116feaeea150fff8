"""The two controls that show whether a score is audio-grounded (PAPER.md, "Known pitfalls").

* silent audio: every clip replaced by zeros of the same length. What a model still gets right is
  answerable from the text (question and options) alone.
* shuffled choices: the options of every item permuted (per item, from ``(seed, id)``, so a subset
  or a resumed run permutes each item the same way) and the answer index remapped. A drop shows
  position bias (e.g. a model that favours "A").
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from sightsound.schema import Sample

SILENT = "silent_audio"
SHUFFLE = "shuffle_choices"


def control_name(kind: str, seed: int | None = None) -> str:
    return f"{SHUFFLE}_{seed}" if kind == SHUFFLE else kind


def silence_like(audio: np.ndarray) -> np.ndarray:
    return np.zeros_like(np.asarray(audio, dtype=np.float32))


def shuffle_sample(sample: Sample, seed: int) -> Sample:
    """A copy of ``sample`` with permuted options; ``meta["choice_permutation"][i]`` = original index shown at i."""
    if len(sample.choices) < 2:
        return sample
    order = list(range(len(sample.choices)))
    random.Random(f"{seed}:{sample.id}").shuffle(order)
    choices = [sample.choices[i] for i in order]
    answer = None if sample.answer is None else order.index(sample.answer)
    meta = {**sample.meta, "choice_permutation": order}
    # Other option indices in meta move with the options (the synthetic world's vision-implied answer).
    if isinstance(meta.get("vision_answer"), int) and not isinstance(meta["vision_answer"], bool):
        meta["vision_answer"] = order.index(meta["vision_answer"])
    return dataclasses.replace(sample, choices=choices, answer=answer, meta=meta)
