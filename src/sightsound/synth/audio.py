"""Numpy sound synthesis for the synthetic world: one short recipe per class, mixed at 16 kHz mono.

Recipes are classic, cheap synthesis: additive harmonics (piano, violin, flute, voice formants),
Karplus-Strong plucks (guitar), inharmonic partials (bell), noise bursts through resonant filters
(drum, dog, rain, train), frequency sweeps (bird, siren). Every event is shaped by an envelope and
scaled so that its RMS is ``REF_RMS * 10**(gain_db / 20)``: loudness in the scene graph is then
exactly what an RMS meter measures in the event's window, which the tests check.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from sightsound.synth import voice

REF_RMS = 0.08  # RMS of an event at 0 dB; four sources at 0 dB still mix below full scale
NOISE_FLOOR = 1e-4  # a faint, deterministic hiss so that silence is not digital zero


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _resonate(x: np.ndarray, sr: int, freq: float, q: float) -> np.ndarray:
    """Two-pole resonator (band-pass) at ``freq`` with quality ``q``, unit peak gain."""
    w = 2 * np.pi * min(freq, 0.45 * sr) / sr
    r = np.exp(-w / (2 * q))
    b = [(1 - r * r) / 2, 0.0, -(1 - r * r) / 2]
    a = [1.0, -2 * r * np.cos(w), r * r]
    return lfilter(b, a, x)


def _harmonics(n: int, sr: int, f0: np.ndarray | float, amps: list[float], decays: list[float] | None = None,
               stretch: float = 0.0) -> np.ndarray:
    """Sum of partials k*f0 (optionally stretched, piano-like) with per-partial exponential decay."""
    t = _t(n, sr)
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(np.asarray(f0, float), (n,))) / sr
    out = np.zeros(n)
    for k, a in enumerate(amps, start=1):
        mult = k * np.sqrt(1 + stretch * k * k)
        if np.max(np.asarray(f0)) * mult >= 0.45 * sr:
            break
        env = np.exp(-decays[k - 1] * t) if decays else 1.0
        out += a * env * np.sin(mult * phase)
    return out


def _pluck(n: int, sr: int, f0: float, rng: np.random.Generator, damping: float = 0.996) -> np.ndarray:
    """Karplus-Strong string: a noise burst circulating in a delay line with an averaging filter.

    Computed one period at a time (vectorised inside a period), so it costs n/period numpy steps.
    """
    p = max(2, round(sr / f0))
    out = np.empty(n + p + 1)
    # A smoothed noise burst plus one sine period: a real pluck's excitation, with the fundamental
    # strong enough that the note's pitch is heard (and measured) at f0, not an octave up.
    burst = np.convolve(rng.uniform(-1, 1, p + 3), np.ones(3) / 3, mode="valid")
    out[: p + 1] = 0.5 * burst + np.sin(2 * np.pi * np.arange(p + 1) / p)
    i = p + 1
    while i < n + p + 1:
        j = min(i + p, n + p + 1)
        out[i:j] = damping * 0.5 * (out[i - p:j - p] + out[i - p - 1:j - p - 1])
        i = j
    return out[p + 1:p + 1 + n]


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


# ------------------------------------------------------------------------------------- class recipes
def guitar(n, sr, f0, rng):
    return _pluck(n, sr, f0, rng, damping=0.997)


def piano(n, sr, f0, rng):
    amps = [1.0, 0.5, 0.33, 0.25, 0.2, 0.15, 0.1, 0.08]
    return _harmonics(n, sr, f0, amps, decays=[2.5 + 1.2 * k for k in range(8)], stretch=4e-4)


def violin(n, sr, f0, rng):
    t = _t(n, sr)
    f = f0 * (1 + 0.006 * np.sin(2 * np.pi * 5.5 * t))  # vibrato
    x = _harmonics(n, sr, f, [1.0 / k for k in range(1, 11)])
    return _resonate(x, sr, 2800, 2.0) * 0.5 + x


def flute(n, sr, f0, rng):
    t = _t(n, sr)
    f = f0 * (1 + 0.004 * np.sin(2 * np.pi * 5.0 * t))
    tone = _harmonics(n, sr, f, [1.0, 0.2, 0.08])
    breath = _resonate(_noise(n, rng), sr, 2 * f0, 4.0)
    return tone + 0.05 * breath / (np.std(breath) + 1e-9)


def drum(n, sr, f0, rng):
    t = _t(n, sr)
    f = f0 + 90 * np.exp(-t * 30)  # the skin's pitch drops right after the hit
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 14)
    snap = _resonate(_noise(n, rng), sr, 1800, 1.2) * np.exp(-t * 60)
    return body + 0.6 * snap / (np.abs(snap).max() + 1e-9)


def bell(n, sr, f0, rng):
    t = _t(n, sr)
    out = np.zeros(n)
    for ratio, a, d in [(1.0, 1.0, 3.0), (2.0, 0.6, 4.0), (2.76, 0.5, 5.0), (5.4, 0.3, 7.0), (8.93, 0.15, 9.0)]:
        if ratio * f0 < 0.45 * sr:
            out += a * np.sin(2 * np.pi * ratio * f0 * t) * np.exp(-d * t)
    return out


def dog(n, sr, f0, rng):
    t = _t(n, sr)
    f = f0 * (1.25 - 0.45 * t / max(t[-1], 1e-3))  # a bark falls in pitch
    src = _harmonics(n, sr, f, [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]) + 0.3 * _noise(n, rng)
    return _resonate(src, sr, 700, 3) + 0.7 * _resonate(src, sr, 1600, 4)


def cat(n, sr, f0, rng):
    t = _t(n, sr)
    u = t / max(t[-1], 1e-3)
    f = f0 * (1 + 0.35 * np.sin(np.pi * u))  # me-ow: up then down
    src = _harmonics(n, sr, f, [1.0, 0.7, 0.5, 0.35, 0.25, 0.15])
    f1 = 500 + 500 * np.sin(np.pi * u)  # formant opens and closes
    return _resonate(src, sr, float(f1.mean()), 3) + 0.6 * _resonate(src, sr, 2200, 5)


def bird(n, sr, f0, rng):
    t = _t(n, sr)
    u = t / max(t[-1], 1e-3)
    f = f0 * (1 + 0.5 * u)  # one rising chirp
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * (0.6 + 0.4 * np.sin(2 * np.pi * 30 * t))


def cow(n, sr, f0, rng):
    t = _t(n, sr)
    u = t / max(t[-1], 1e-3)
    f = f0 * (1.1 - 0.2 * u)
    src = _harmonics(n, sr, f, [1.0 / k for k in range(1, 16)])
    return _resonate(src, sr, 350, 3) + 0.8 * _resonate(src, sr, 850, 4) + 0.2 * src


def car(n, sr, f0, rng):
    t = _t(n, sr)
    f = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.4 * t))
    engine = _harmonics(n, sr, f, [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2])
    rumble = _resonate(_noise(n, rng), sr, 120, 0.8)
    return engine + 0.5 * rumble / (np.std(rumble) + 1e-9)


def train(n, sr, f0, rng):
    t = _t(n, sr)
    chug = 0.35 + 0.65 * (0.5 + 0.5 * np.sin(2 * np.pi * 5.0 * t)) ** 4  # wheels on rail joints
    hiss = _resonate(_noise(n, rng), sr, 900, 1.0)
    hum = _harmonics(n, sr, f0, [1.0, 0.6, 0.4])
    return chug * hiss / (np.std(hiss) + 1e-9) + 0.4 * hum


def siren(n, sr, f0, rng):
    t = _t(n, sr)
    f = f0 * (1.25 + 0.3 * np.sin(2 * np.pi * 0.8 * t))  # the wail: pitch swings slowly
    return _harmonics(n, sr, f, [1.0, 0.3, 0.1])


def rain(n, sr, f0, rng):
    hiss = _resonate(_noise(n, rng), sr, 4000, 0.7)
    drops = np.zeros(n)
    idx = rng.integers(0, n, size=max(1, n // 400))
    drops[idx] = rng.uniform(0.5, 1.0, idx.size)
    drops = _resonate(drops, sr, 2500, 8)
    return hiss / (np.std(hiss) + 1e-9) + 2.0 * drops / (np.std(drops) + 1e-9)


def wind(n, sr, f0, rng):
    t = _t(n, sr)
    gust = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 2 * np.pi))
    x = _resonate(_resonate(_noise(n, rng), sr, 300, 0.7), sr, 500, 1.5)
    return (0.3 + 0.7 * gust) * x


RECIPES = {
    "guitar": guitar, "piano": piano, "violin": violin, "flute": flute, "drum": drum, "bell": bell,
    "dog": dog, "cat": cat, "bird": bird, "cow": cow, "car": car, "train": train, "siren": siren,
    "rain": rain, "wind": wind, "man": voice.speak, "woman": voice.speak,
}
# Attack and release (s): plucked/struck sounds start at once, bowed/blown/ambient ones fade in.
_ATTACK = {"violin": 0.06, "flute": 0.05, "cow": 0.05, "car": 0.15, "train": 0.15, "siren": 0.08,
           "rain": 0.2, "wind": 0.3, "man": 0.01, "woman": 0.01}


def envelope(n: int, sr: int, attack: float, release: float = 0.03) -> np.ndarray:
    env = np.ones(n)
    a = min(n // 2, max(1, int(attack * sr)))
    r = min(n // 2, max(1, int(release * sr)))
    env[:a] = np.linspace(0, 1, a, endpoint=False) ** 1.5
    env[n - r:] *= np.linspace(1, 0, r) ** 2
    return env


def render_event(name: str, n: int, sr: int, f0: float | None, gain_db: float, rng: np.random.Generator) -> np.ndarray:
    """One event of class ``name``, ``n`` samples, RMS set by ``gain_db``."""
    if name in ("man", "woman"):
        x = voice.speak(n, sr, f0, rng, name=name)
    else:
        x = RECIPES[name](n, sr, f0 if f0 is not None else 100.0, rng)
    x = np.asarray(x, dtype=np.float64) * envelope(n, sr, _ATTACK.get(name, 0.004))
    rms = np.sqrt(np.mean(x * x))
    if rms < 1e-9:
        return np.zeros(n)
    return x * (REF_RMS * 10 ** (gain_db / 20) / rms)


def render_scene(scene: dict, rng: np.random.Generator) -> np.ndarray:
    """Mix every audible source's events into one float32 mono track of ``duration_s``."""
    sr = scene["sample_rate"]
    total = round(scene["duration_s"] * sr)
    mix = NOISE_FLOOR * rng.standard_normal(total)
    for src in scene["sources"]:
        if not src["audible"]:
            continue
        notes = src.get("notes_hz")
        for i, (a, b) in enumerate(src["events"]):
            s, e = round(a * sr), min(total, round(b * sr))
            if e - s < 8:
                continue
            f0 = notes[i] if notes else src["pitch_hz"]
            mix[s:e] += render_event(src["name"], e - s, sr, f0, src["gain_db"], rng)
    peak = np.abs(mix).max()
    if peak > 0.98:  # scale the whole mix: relative loudness survives, clipping never happens
        mix *= 0.98 / peak
    return mix.astype(np.float32)
