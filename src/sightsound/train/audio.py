"""Audio for training: decode each clip once, normalise chat messages, validate every file up front.

* :class:`AudioCache` decodes a file with :func:`sightsound.media.load_audio` (float32 mono at the
  feature extractor's rate) the first time it is asked for and keeps the waveform: an epoch of SFT
  and every GRPO group (the same prompt ``num_generations`` times) then cost one decode per file.
* :func:`normalize_messages` drops the ``None`` fields Arrow's struct unification adds to content parts;
  :func:`audio_paths` lists a conversation's clips.
* :func:`validate_audio` checks every clip *before step 1*: one unreadable file in the middle of a
  distributed run can hang every rank, so the run stops early with the full list of offenders.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from sightsound.errors import MediaError

log = logging.getLogger(__name__)


class AudioCache:
    """``cache(path) -> np.float32`` waveform at ``sample_rate``, decoded once per file (LRU bounded)."""

    def __init__(self, sample_rate: int = 16000, max_items: int = 4096):
        self.sample_rate = int(sample_rate)
        self.max_items = max_items
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self.decodes = 0  # how many files were actually decoded (tests check "once per file")

    def __call__(self, path: str) -> np.ndarray:
        key = str(path)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        from sightsound.media import load_audio

        audio = load_audio(key, sr=self.sample_rate)
        audio.setflags(write=False)  # shared between batches: nobody may modify it in place
        self.decodes += 1
        self._items[key] = audio
        if len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return audio

    def __len__(self) -> int:
        return len(self._items)


def normalize_messages(messages: list[dict]) -> list[dict]:
    """Messages without the ``None`` fields Arrow adds when it unifies content parts into one struct.

    (``{"type": "audio", "path": p, "text": None}``: a template testing ``'text' in content`` before
    the part's type would render the word "None".) Rendering itself is
    :func:`sightsound.models.chat.render_prompt`, which also gives audio parts the key the Qwen
    templates look for.
    """
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [{k: v for k, v in part.items() if v is not None} for part in content]
            for part in content:
                if part.get("type") not in ("audio", "text"):
                    raise ValueError(f"unsupported content part type {part.get('type')!r} (audio and text only)")
        out.append({"role": message["role"], "content": content})
    return out


def audio_paths(messages: list[dict]) -> list[str]:
    """The audio paths of a conversation, in order (``path``, or ``audio`` holding a path)."""
    out = []
    for message in messages:
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                if part.get("type") == "audio":
                    path = part.get("path") or part.get("audio")
                    if not isinstance(path, str) or not path:
                        raise ValueError(f"audio part without a path: {part!r}")
                    out.append(path)
    return out


def validate_audio(paths: Iterable[str], where: str = "training set") -> None:
    """Decode every distinct clip once; raise :class:`MediaError` listing all offenders if any fails."""
    from sightsound.media import validate_media

    unique = sorted(set(map(str, paths)))
    bad = validate_media(unique, decode=True, audio=True, progress=len(unique) > 50)
    if bad:
        listing = "; ".join(f"{p} ({reason})" for p, reason in bad[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise MediaError(where, f"{len(bad)} of {len(unique)} audio files are missing or undecodable, "
                                f"nothing was trained: {listing}{more}")
    log.info("validated %d audio files of the %s", len(unique), where)
