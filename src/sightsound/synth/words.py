"""Every word the synthetic world writes into questions, options and descriptions.

Tiny models train their tokenizers on it (:mod:`sightsound.models.tiny`), so no generated word is
split into characters. It reads the templates of :mod:`.families` and :mod:`.describe`, which is why
it lives apart from the plain word lists of :mod:`.vocab` that those modules import.
"""

from __future__ import annotations

from sightsound.synth import describe, families
from sightsound.synth.vocab import _CLASSES, CLASS_NAMES, MELODY_WORDS, NUMBER_WORDS, SLOT_WORDS, YES_NO


def vocabulary() -> list[str]:
    """All words the generator writes into questions, options and descriptions (sorted, unique)."""
    words: set[str] = set(CLASS_NAMES) | set(NUMBER_WORDS) | set(MELODY_WORDS) | set(YES_NO)
    words |= set(describe.TEXT_WORDS)
    words |= set(SLOT_WORDS.values()) | {c.verb for c in _CLASSES}
    for text in families.template_texts():
        words |= set(text.replace("?", " ").replace(",", " ").replace(".", " ").lower().split())
    return sorted(w for w in words if w and "{" not in w)
