"""Plain-text renderings of a scene: what an ideal listener hears, what an ideal viewer sees.

SightSound-mini trains tiny models on these sentences, so they use the world's small vocabulary
only: class names, slot words and number words.
"""

from __future__ import annotations

from sightsound.synth.scene import cue_frames, frame_times
from sightsound.synth.vocab import CLASSES, number_word

SIMULTANEOUS_S = 0.2  # onsets closer than this are heard "together"
# Every fixed word the sentences below use (the vocabulary adds class, slot and number words).
TEXT_WORDS = ("i", "hear", "see", "a", "and", "then", "on", "in", "the", "moves", "nothing", "once", "twice",
              "times")
_WHERE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}


def _np(name: str) -> str:
    return name if CLASSES[name].category == "ambience" else f"a {name}"


def _times_word(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{number_word(n)} times")


def describe_audio(scene: dict, counts: bool = False) -> str:
    """'I hear a drum, then a dog.' (audible sources by onset; ``counts`` adds 'three times')."""
    heard = sorted((s for s in scene["sources"] if s["audible"] and s["events"]), key=lambda s: s["onset_s"])
    if not heard:
        return "I hear nothing."
    parts, prev = [], None
    for s in heard:
        phrase = _np(s["name"])
        if counts and CLASSES[s["name"]].countable:
            phrase += f" {_times_word(len(s['events']))}"
        if prev is None:
            parts.append(phrase)
        elif s["onset_s"] - prev < SIMULTANEOUS_S:
            parts.append(f"and {phrase}")
        else:
            parts.append(f"then {phrase}")
        prev = s["onset_s"]
    text = parts[0]
    for p in parts[1:]:
        text += (" " if p.startswith("and") else ", ") + p
    return f"I hear {text}."


def describe_frames(scene: dict, fps: float = 2.0) -> str:
    """'I see a dog on the left and a car on the right. The dog moves.' (what the frames show)."""
    times = frame_times(scene["duration_s"], fps)
    shown = sorted((s for s in scene["sources"] if s["visible"] and s["drawn"]),
                   key=lambda s: ("left", "middle", "right").index(s["slot"]))
    if not shown:
        return "I see nothing."
    seen = " and ".join(f"{_np(s['drawn'])} {_WHERE[s['slot']]}" for s in shown)
    active = [s["drawn"] for s in shown if any(cue_frames(s, times))]
    if not active:
        return f"I see {seen}. Nothing moves."
    return f"I see {seen}. " + " ".join(f"The {a} moves." for a in active)
