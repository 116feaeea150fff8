"""Scene graphs: sources with slots, visibility, audibility, timing; and what the frames show of them.

A scene is the pinned dict ``{"duration_s", "sample_rate", "sources": [...]}`` (see the common
brief). Each source also carries ``notes_hz`` (the pitch of each event for melodies, else null), an
added field. Everything here is pure and driven by a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math

import numpy as np

from sightsound.synth.vocab import CLASSES, OFFSCREEN, SLOTS

# Gaps between countable events: long enough that an envelope shows separate peaks.
MIN_GAP_S = 0.3
EDGE_S = 0.05  # keep events this far from the clip's edges


def r3(x: float) -> float:
    return round(float(x), 3)


def make_source(name: str, *, slot: str, audible: bool, events: list[list[float]] | None = None,
                drawn: str | None = "same", gain_db: float = 0.0, pitch_hz: float | None = None,
                notes_hz: list[float] | None = None) -> dict:
    """One source in the pinned format. ``drawn="same"`` draws the class itself; None: not drawn."""
    visible = slot != OFFSCREEN
    if drawn == "same":
        drawn = name if visible else None
    if not visible:
        drawn = None
    events = [[r3(a), r3(b)] for a, b in (events or [])] if audible else []
    return {
        "name": name,
        "category": CLASSES[name].category,
        "slot": slot,
        "visible": visible,
        "audible": audible,
        "drawn": drawn,
        "onset_s": events[0][0] if events else 0.0,
        "offset_s": events[-1][1] if events else 0.0,
        "gain_db": r3(gain_db if audible else 0.0),
        "pitch_hz": r3(pitch_hz) if (audible and pitch_hz is not None) else None,
        "events": events,
        "notes_hz": [r3(f) for f in notes_hz] if (audible and notes_hz) else None,
    }


def new_scene(duration_s: float, sample_rate: int, sources: list[dict]) -> dict:
    return {"duration_s": r3(duration_s), "sample_rate": int(sample_rate), "sources": sources}


# ------------------------------------------------------------------------------------------ timing
def sustained_events(rng: np.random.Generator, start: float, end: float, min_len: float) -> list[list[float]]:
    """One event inside [start, end] lasting at least ``min_len`` (or all of it when shorter)."""
    min_len = min(min_len, end - start)
    length = rng.uniform(min_len, end - start)
    s = rng.uniform(start, end - length)
    return [[s, s + length]]


def discrete_events(rng: np.random.Generator, count: int, start: float, end: float,
                    min_len: float = 0.12, max_len: float = 0.25, min_gap: float = MIN_GAP_S) -> list[list[float]]:
    """``count`` short events inside [start, end], separated by at least ``min_gap``.

    Fewer events when ``count`` cannot fit (only natural counts ask for more than fits; a family
    that asks a question about the count sizes it to fit).
    """
    while count > 1 and count * min_len + (count - 1) * min_gap > end - start:
        count -= 1
    lengths = rng.uniform(min_len, max_len, size=count)
    need = lengths.sum() + (count - 1) * min_gap
    slack = (end - start) - need
    if slack < 0:  # squeeze: shorter events, never shorter gaps (counting relies on them)
        lengths *= max(0.3, ((end - start) - (count - 1) * min_gap) / lengths.sum())
        slack = max(0.0, (end - start) - lengths.sum() - (count - 1) * min_gap)
    share = rng.dirichlet(np.ones(count + 1)) * slack
    out, t = [], start + share[0]
    for i in range(count):
        out.append([t, t + lengths[i]])
        t += lengths[i] + min_gap + share[i + 1]
    return out


def class_events(rng: np.random.Generator, name: str, start: float, end: float,
                 count: int | None = None) -> list[list[float]]:
    """Events a class naturally makes in [start, end]: a few short ones, or one sustained sound."""
    if CLASSES[name].countable:
        n = count if count is not None else int(rng.integers(1, 4))
        return discrete_events(rng, n, start, end)
    return sustained_events(rng, start, end, min_len=min(1.0, 0.5 * (end - start)))


def class_pitch(rng: np.random.Generator, name: str) -> float | None:
    rng_hz = CLASSES[name].pitch_range
    if rng_hz is None:
        return None
    lo, hi = rng_hz
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


# ------------------------------------------------------------------------------------- what is seen
def frame_times(duration_s: float, fps: float) -> list[float]:
    n = max(1, math.floor(duration_s * fps + 1e-6))
    return [k / fps for k in range(n)]


def sounding_at(src: dict, t: float) -> bool:
    return bool(src["audible"]) and any(a <= t < b for a, b in src["events"])


def cue_shown(src: dict, t: float) -> bool:
    """The frames show an activity cue on a drawn object while its source sounds."""
    return bool(src["visible"]) and sounding_at(src, t)


def cue_frames(src: dict, times: list[float]) -> list[bool]:
    return [cue_shown(src, t) for t in times]


def cue_runs(src: dict, times: list[float]) -> int:
    """How many separate stretches of frames show the cue (what vision can count)."""
    on = cue_frames(src, times)
    return sum(1 for i, v in enumerate(on) if v and (i == 0 or not on[i - 1]))


def first_cue(src: dict, times: list[float]) -> int | None:
    on = cue_frames(src, times)
    return on.index(True) if True in on else None


def free_slots(rng: np.random.Generator, k: int) -> list[str]:
    """``k`` distinct on-screen slots in random order."""
    if k > len(SLOTS):
        raise ValueError(f"only {len(SLOTS)} on-screen slots, asked for {k}")
    return [SLOTS[i] for i in rng.permutation(len(SLOTS))[:k]]
