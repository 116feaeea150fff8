"""The synthetic audio-visual world: scenes with known truth, rendered as wav, PNG frames and mp4.

``generate(out_dir, cfg)`` writes ``out_dir/data.jsonl`` (one record per question, scene graph in
``meta``) plus media; ``sightsound synth`` is its command line. See :mod:`.families` for how
answers and vision-implied answers are defined.
"""

from sightsound.synth.describe import describe_audio, describe_frames
from sightsound.synth.families import FAMILIES, MODES
from sightsound.synth.generate import generate, make_item
from sightsound.synth.vocab import (
    CATEGORIES,
    CLASS_NAMES,
    CLASSES,
    MELODY_WORDS,
    NUMBER_WORDS,
    SLOT_WORDS,
    SLOTS,
    all_classes,
)
from sightsound.synth.words import vocabulary

__all__ = [
    "CATEGORIES", "CLASSES", "CLASS_NAMES", "FAMILIES", "MELODY_WORDS", "MODES", "NUMBER_WORDS", "SLOTS",
    "SLOT_WORDS", "all_classes", "describe_audio", "describe_frames", "generate", "make_item", "vocabulary",
]
