"""Modality leak [ours]: how much of a chain of thought the audio student cannot perceive.

The teacher reasons from silent frames, so its thinks mix audio claims ("I would hear two sounds")
with claims only sight can make ("a dog on the left", "the red square moves"). Distilled into an
audio-only student, the second kind teaches it to assert what it cannot hear. The *modality leak*
of a set of thinks is the fraction of their claims that are visual, measured on the teacher's
consistent samples before verification and on the kept ones after (beside the hallucination rate
of :mod:`sightsound.synth.hallucination`): it tells whether Step 2 removes such claims, which the
paper's fact-check is not asked to do.

The rule, on purpose a plain word rule over the synthetic world's language:

* **claims**: a think is cut into claims at sentence ends, ``;``, ``:``, commas and the order
  connectors "then", "followed by", "while", "but", "whereas" ("I would hear two sounds: a dog
  on the left, then rain" is three claims). Empty pieces are not claims.
* **visual claim**: a claim holding at least one word of :data:`VISUAL_WORDS` (or a phrase of
  :data:`VISUAL_PHRASES`), whatever its polarity: seeing and showing ("see", "drawn", "frame",
  "visible"), positions (the world's slots "left", "middle", "right", "off-screen", and "top",
  "bottom", "centre", ...), colours, the world's drawn shapes ("square", "circle", "box",
  "person", "cloud"), sizes ("big", "small", ...) and motion ("moves"). "I see no dog" is
  visual too: the student cannot perceive what the frames lack either.
* Everything else is an audio claim (sound classes, counts, order, loudness, "nothing").

Words are matched whole, after lower-casing; "right" and "left" are read as positions, which the
world's texts never use in another sense. The rates are pooled over claims, so a long think weighs
more than a short one; a set without any claim has no rate (``None``), never 0.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from itertools import pairwise

from sightsound.synth.vocab import SHAPES, SLOT_WORDS

SEEING = ("see", "sees", "seeing", "saw", "seen", "look", "looks", "looking", "looked", "watch", "watching",
          "visible", "invisible", "visibly", "visual", "visually", "show", "shows", "shown", "showing", "draw",
          "draws", "drawn", "drawing", "picture", "pictured", "image", "images", "frame", "frames", "screen",
          "video", "appear", "appears", "appeared", "view")
# The world's on-screen slots ("off-screen" is a phrase below: "off" alone says nothing visual).
POSITIONS = tuple(w for w in SLOT_WORDS.values() if "-" not in w) + (
    "offscreen", "top", "bottom", "centre", "center", "corner", "above", "below", "beside", "behind", "side")
COLOURS = ("red", "green", "blue", "yellow", "orange", "purple", "pink", "white", "black", "grey", "gray",
           "brown", "cyan", "violet", "colour", "color", "coloured", "colored")
SIZES = ("big", "bigger", "biggest", "small", "smaller", "smallest", "large", "larger", "largest", "tiny",
         "huge", "size", "tall")
MOTION = ("move", "moves", "moving", "moved", "motion")
# [ours] The word classes a listener cannot check: what each visual word is counted as.
VISUAL_KINDS: dict[str, tuple[str, ...]] = {
    "seeing": SEEING, "position": POSITIONS, "colour": COLOURS, "shape": tuple(SHAPES.values()) + ("shape", "round"),
    "size": SIZES, "motion": MOTION,
}
VISUAL_WORDS: dict[str, str] = {w: kind for kind, words in VISUAL_KINDS.items() for w in words}
VISUAL_PHRASES: dict[str, str] = {"off screen": "position", "on screen": "position", "in front": "position"}
CLAIM_SPLIT = re.compile(r"[.;:!?,\n]+|\b(?:and then|then|followed by|while|but|whereas)\b")
_WORD = re.compile(r"[a-z0-9]+")


def claims(think: str | None) -> list[str]:
    """The claims of a think (see the module docstring), lower-cased, in order."""
    out = []
    for piece in CLAIM_SPLIT.split((think or "").lower()):
        words = _WORD.findall(piece)
        if words:
            out.append(" ".join(words))
    return out


def visual_kinds(claim: str) -> set[str]:
    """Which kinds of visual word a claim holds (empty: an audio claim)."""
    words = claim.split()
    kinds = {VISUAL_WORDS[w] for w in words if w in VISUAL_WORDS}
    kinds |= {kind for a, b in pairwise(words) if (kind := VISUAL_PHRASES.get(f"{a} {b}"))}
    return kinds


def visual_claims(think: str | None) -> list[str]:
    """The claims of a think that the audio student cannot perceive."""
    return [c for c in claims(think) if visual_kinds(c)]


def modality_leak(thinks: Iterable[str | None]) -> dict:
    """The leak of a set of thinks [ours]: claims, visual claims, their rate and the kinds of word.

    ``rate`` = visual claims / claims (``None`` without any claim); ``samples_with_visual_claim``
    counts the thinks holding at least one.
    """
    n_claims = n_visual = n_samples = with_visual = 0
    kinds: Counter = Counter()
    for think in thinks:
        n_samples += 1
        found = [visual_kinds(c) for c in claims(think)]
        n_claims += len(found)
        visual = [k for k in found if k]
        n_visual += len(visual)
        with_visual += bool(visual)
        for k in visual:
            kinds.update(k)
    return {"samples": n_samples, "claims": n_claims, "visual_claims": n_visual,
            "rate": n_visual / n_claims if n_claims else None,
            "samples_with_visual_claim": with_visual, "by_kind": dict(sorted(kinds.items()))}
