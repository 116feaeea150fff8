"""The synthetic world's vocabulary: sound classes, how they look, slots, number words.

Kept small and word-like on purpose: SightSound-mini trains tiny models whose tokenizers keep
these words whole, so every class is one plain English word and every number is a word.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SoundClass:
    name: str
    category: str  # instrument | animal | vehicle | voice | ambience
    colour: tuple[int, int, int]  # drawn colour; the category decides the shape
    verb: str  # "a dog barks"
    countable: bool  # short separate events (can be counted); else one sustained event
    tonal: bool = False  # plays notes with a pitch (melodies)
    pitch_range: tuple[float, float] | None = None  # Hz of the fundamental, None: unpitched


CATEGORIES = ("instrument", "animal", "vehicle", "voice", "ambience")
# The shape each category is drawn as: class = colour + shape.
SHAPES = {"instrument": "square", "animal": "circle", "vehicle": "box", "voice": "person", "ambience": "cloud"}

_CLASSES = [
    SoundClass("guitar", "instrument", (235, 140, 40), "plays", True, True, (196.0, 392.0)),
    SoundClass("piano", "instrument", (240, 240, 240), "plays", True, True, (220.0, 440.0)),
    SoundClass("violin", "instrument", (150, 75, 30), "plays", False, True, (262.0, 523.0)),
    SoundClass("flute", "instrument", (90, 210, 230), "plays", False, True, (392.0, 784.0)),
    SoundClass("drum", "instrument", (220, 40, 40), "beats", True, False, (60.0, 110.0)),
    SoundClass("bell", "instrument", (170, 100, 230), "rings", True, False, (500.0, 900.0)),
    SoundClass("dog", "animal", (200, 160, 100), "barks", True, False, (350.0, 550.0)),
    SoundClass("cat", "animal", (150, 150, 160), "meows", True, False, (450.0, 650.0)),
    SoundClass("bird", "animal", (60, 110, 230), "sings", True, False, (2500.0, 4000.0)),
    SoundClass("cow", "animal", (235, 130, 190), "moos", False, False, (95.0, 125.0)),
    SoundClass("car", "vehicle", (200, 30, 60), "drives", False, False, (30.0, 45.0)),
    SoundClass("train", "vehicle", (60, 150, 70), "passes", False, False, (40.0, 60.0)),
    SoundClass("siren", "vehicle", (0, 190, 200), "wails", False, False, (650.0, 750.0)),
    SoundClass("man", "voice", (70, 90, 200), "speaks", False, False, (95.0, 130.0)),
    SoundClass("woman", "voice", (230, 90, 140), "speaks", False, False, (180.0, 240.0)),
    SoundClass("rain", "ambience", (120, 160, 210), "falls", False, False, None),
    SoundClass("wind", "ambience", (190, 210, 200), "blows", False, False, None),
]
CLASSES: dict[str, SoundClass] = {c.name: c for c in _CLASSES}
CLASS_NAMES: list[str] = [c.name for c in _CLASSES]
# On-screen slots (left to right) and the one for sources that are heard but not seen.
SLOTS = ("left", "middle", "right")
OFFSCREEN = "offscreen"
SLOT_WORDS = {"left": "left", "middle": "middle", "right": "right", OFFSCREEN: "off-screen"}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
MELODY_WORDS = ("rising", "falling", "steady")
YES_NO = ("yes", "no")


def all_classes() -> list[str]:
    """Every sound class name (the verifier's hallucination truth reads this)."""
    return list(CLASS_NAMES)


def classes_in(category: str) -> list[str]:
    return [c.name for c in _CLASSES if c.category == category]


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def activity(name: str) -> str:
    """'a dog barks', 'a man speaks', 'rain falls' (ambience without article)."""
    c = CLASSES[name]
    article = "" if c.category == "ambience" else "a "
    return f"{article}{name} {c.verb}"
