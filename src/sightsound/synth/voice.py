"""Voices: espeak-ng speech when the program is installed, formant babble otherwise.

Both are deterministic (espeak-ng renders the same text the same way; babble draws from the
caller's seeded generator), so a dataset is byte-identical across runs on one machine. Which
engine ran is recorded in the generator's summary, because the two differ between machines.
Set ``SIGHTSOUND_NO_ESPEAK=1`` to force babble.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import numpy as np
from scipy.signal import lfilter

PHRASES = (
    "hello there", "look at this", "come over here", "good morning", "listen to me", "what a nice day",
    "where are you going", "that is great", "let us go now", "can you hear it",
)
# Vowel formants (F1, F2, F3) in Hz for the babble fallback.
_VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240))


def engine() -> str:
    """'espeak-ng' when it is installed (and not disabled), else 'babble'."""
    if os.environ.get("SIGHTSOUND_NO_ESPEAK"):
        return "babble"
    return "espeak-ng" if shutil.which("espeak-ng") else "babble"


@functools.lru_cache(maxsize=256)
def _espeak(text: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """Raw espeak-ng output (int16 PCM in a wav with an unknown-length header) as float, rate."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        check=True, capture_output=True, timeout=30,
    ).stdout
    # espeak-ng streams a RIFF header whose sizes are placeholders: read the fmt and data by hand.
    if out[:4] != b"RIFF" or b"data" not in out[:200]:
        raise RuntimeError("espeak-ng did not return a wav")
    rate = int.from_bytes(out[24:28], "little")
    start = out.index(b"data") + 8
    pcm = np.frombuffer(out[start:start + ((len(out) - start) // 2) * 2], dtype="<i2").astype(np.float32) / 32768
    return pcm, rate


def _trim(x: np.ndarray, thresh: float = 0.01) -> np.ndarray:
    idx = np.flatnonzero(np.abs(x) > thresh)
    return x[idx[0]: idx[-1] + 1] if idx.size else x


def _espeak_fit(n: int, sr: int, f0: float, rng: np.random.Generator, name: str) -> np.ndarray:
    import soxr

    text = PHRASES[int(rng.integers(len(PHRASES)))]
    voice = "en-us+m3" if name == "man" else "en-us+f3"
    # espeak's pitch knob (0-99, 50 default) roughly follows the requested fundamental.
    pitch = int(np.clip(30 + (f0 - 95) / 35 * 25 if name == "man" else 55 + (f0 - 180) / 60 * 25, 10, 90))
    pcm, rate = _espeak(text, voice, pitch, 170)
    speech = _trim(soxr.resample(pcm, rate, sr))
    # Speak faster or slower so the phrase fills the event, then cut/pad to exactly n samples.
    speed = int(np.clip(170 * speech.size / max(n, 1), 80, 450))
    if abs(speed - 170) > 10:
        pcm, rate = _espeak(text, voice, pitch, speed)
        speech = _trim(soxr.resample(pcm, rate, sr))
    out = np.zeros(n)
    m = min(n, speech.size)
    out[:m] = speech[:m]
    return out


def _babble(n: int, sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    """Syllables of a glottal pulse train through vowel formants, with consonant noise onsets."""
    out = np.zeros(n)
    pos = 0
    while pos < n - int(0.05 * sr):
        syl = min(n - pos, int(rng.uniform(0.14, 0.26) * sr))
        t = np.arange(syl) / sr
        f = f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 3) * t + rng.uniform(0, 6.28)))
        phase = np.cumsum(f) / sr
        pulses = (phase % 1.0) - 0.5  # sawtooth ~ glottal source with all harmonics
        vowel = _VOWELS[int(rng.integers(len(_VOWELS)))]
        x = np.zeros(syl)
        for k, fk in enumerate(vowel):
            w = 2 * np.pi * fk / sr
            r = np.exp(-w / (2 * 8.0))
            x += lfilter([(1 - r * r) / 2, 0, -(1 - r * r) / 2], [1, -2 * r * np.cos(w), r * r], pulses) / (k + 1)
        c = min(syl, int(0.03 * sr))
        x[:c] += 0.3 * rng.standard_normal(c) * np.linspace(1, 0, c)  # consonant burst
        x *= np.sin(np.pi * np.arange(syl) / syl) ** 0.7
        out[pos:pos + syl] = x
        pos += syl + int(rng.uniform(0.02, 0.08) * sr)
    return out


def speak(n: int, sr: int, f0: float | None, rng: np.random.Generator, name: str = "man") -> np.ndarray:
    """``n`` samples of a ``name`` ("man"/"woman") voice at about ``f0`` Hz."""
    f0 = f0 or (110.0 if name == "man" else 210.0)
    if engine() == "espeak-ng":
        try:
            return _espeak_fit(n, sr, f0, rng, name)
        except (OSError, subprocess.SubprocessError, RuntimeError, ValueError):
            pass  # a broken install falls back, like a missing one
    return _babble(n, sr, f0, rng)
