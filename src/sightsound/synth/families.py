"""Question families: each samples a scene built for its question, and answers it twice.

The *answer* comes from what sounds (the audio truth). The *vision answer* is what the frames alone
imply, under the rule a vision-only reasoner follows: every drawn object is presumed to make its
class's sound; activity cues (outline + loudness bar, only on frames where the source sounds) give
timing and loudness when they are visible. Off-screen sources cannot be seen, silent drawn objects
look like sources, and a drawn object whose sound differs looks like its drawn class. That answer
is the ground truth for teacher hallucination: a teacher that picks it where it differs from the
label followed the picture, not the sound.

Modes: ``consistent`` (what is drawn is what sounds) with probability ``p_consistent``; otherwise
one of ``offscreen`` (a source is heard but not drawn), ``silent`` (a drawn object stays silent, no
cue) or ``mismatch`` (a drawn object sounds like another class). Each family applies the mode to the
thing it asks about, so inconsistent items are the ones where vision misleads. Options are
shuffled and the answer's position cycles over a family's items, so answers are uniform over
positions; distractors come from the same attribute space
and include the vision answer where it differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sightsound.synth import scene as S
from sightsound.synth.vocab import (
    CLASS_NAMES,
    CLASSES,
    MELODY_WORDS,
    OFFSCREEN,
    SLOT_WORDS,
    SLOTS,
    activity,
    classes_in,
    number_word,
)

MODES = ("consistent", "offscreen", "silent", "mismatch")
ON = "on"  # placeholder slot for a drawn source; `_place` gives it a real one
COUNT_WORDS = [number_word(n) for n in range(1, 5)]
MAX_NOTE_HZ = 880.0

TEMPLATES = {
    "which_source": "Which of these is making a sound in the video?",
    "presence": "Is there a {x} sound in the video?",
    "count_sources": "How many different sounds can you hear?",
    "louder": "Which is louder, the {a} or the {b}?",
    "first": "Which do you hear first, the {a} or the {b}?",
    "where_first": "Where is the object that makes the first sound?",
    "count_events": "How many times does the {x} sound?",
    "offscreen_voice": "Is someone speaking off-screen?",
    "melody": "Is the melody rising, falling or steady?",
    "what_happening": "What is happening in the video?",
}
# Families whose answer is a place: mono audio cannot give it, so vision is part of the evidence.
SPATIAL = {"where_first"}


@dataclass
class Ctx:
    rng: np.random.Generator
    duration: float
    max_sources: int
    mode: str
    fps: float = 2.0  # the frames' rate: vision answers follow the frames actually written
    rank: int = 0  # a counter over the family's items (plus a random offset): the answer's position


@dataclass
class Item:
    question: str
    choices: list[str]
    answer: int
    vision_answer: int | None
    sources: list[dict]
    mode: str
    evidence: str | None = None  # None: derived from answer vs vision answer


def template_texts() -> list[str]:
    return list(TEMPLATES.values())


# ------------------------------------------------------------------------------------------ helpers
def _pick(rng: np.random.Generator, pool: list[str], exclude=()) -> str:
    cands = [c for c in pool if c not in set(exclude)]
    return cands[int(rng.integers(len(cands)))]


def _pick_near(rng: np.random.Generator, name: str, exclude=(), pool: list[str] | None = None) -> str:
    """Another class, from the same category when one is free (a plausible confusion)."""
    pool = pool or CLASS_NAMES
    same = [c for c in classes_in(CLASSES[name].category) if c in pool and c != name and c not in set(exclude)]
    if same and rng.random() < 0.7:
        return same[int(rng.integers(len(same)))]
    return _pick(rng, pool, exclude=set(exclude) | {name})


def _events_from(rng: np.random.Generator, name: str, start: float, end: float, count: int | None = None):
    """The class's events, the first one starting exactly at ``start`` (its onset)."""
    ev = S.class_events(rng, name, start, end, count)
    shift = start - ev[0][0]
    return [[a + shift, b + shift] for a, b in ev]


def _src(rng: np.random.Generator, name: str, slot: str, audible: bool, events=None, drawn="same",
         gain_db: float | None = None) -> dict:
    gain = float(rng.uniform(-6, 0)) if gain_db is None else gain_db
    return S.make_source(name, slot=slot, audible=audible, events=events, drawn=drawn, gain_db=gain,
                         pitch_hz=S.class_pitch(rng, name))


def _place(rng: np.random.Generator, sources: list[dict]) -> list[dict]:
    """Give drawn sources distinct on-screen slots (their order is random)."""
    on = [s for s in sources if s["slot"] == ON]
    for s, slot in zip(on, S.free_slots(rng, len(on))):
        s["slot"] = slot
    return sources


def _fillers(ctx: Ctx, sources: list[dict], exclude, at_least: int = 0) -> list[str]:
    """Add consistent background sources (drawn where they sound) into free slots; return their names."""
    free = len(SLOTS) - sum(1 for s in sources if s["slot"] == ON)
    room = min(free, ctx.max_sources - len(sources))
    k = int(ctx.rng.integers(min(at_least, room), room + 1)) if room > 0 else 0
    names = []
    used = set(exclude) | {s["name"] for s in sources} | {s["drawn"] for s in sources if s["drawn"]}
    for _ in range(k):
        name = _pick(ctx.rng, CLASS_NAMES, exclude=used)
        used.add(name)
        ev = S.class_events(ctx.rng, name, S.EDGE_S, ctx.duration - S.EDGE_S)
        sources.append(_src(ctx.rng, name, ON, True, ev, gain_db=float(ctx.rng.uniform(-9, -3))))
        names.append(name)
    return names


def _options(ctx: Ctx, answer: str, n: int, pool: list[str], must=(), near: str | None = None):
    """``n`` shuffled options: the answer, the ``must`` ones, then distractors from ``pool``.

    The answer goes to position ``ctx.rank % n``: the items of a family cycle through the positions,
    so answers are exactly uniform over positions (a shuffle is only uniform on average).
    """
    rng = ctx.rng
    chosen = [answer] + [m for m in dict.fromkeys(must) if m and m != answer]
    rest = [p for p in pool if p not in chosen]
    order = [rest[i] for i in rng.permutation(len(rest))]
    if near is not None:  # one distractor from the answer's own category, when there is one
        same = [p for p in order if p in CLASSES and CLASSES[p].category == CLASSES[near].category]
        order = same[:1] + [p for p in order if p not in same[:1]]
    chosen += order[: max(0, n - len(chosen))]
    chosen = chosen[:n]
    others = [chosen[i] for i in 1 + rng.permutation(len(chosen) - 1)]
    pos = ctx.rank % len(chosen)
    choices = others[:pos] + [answer] + others[pos:]
    return choices, pos


def _index(choices: list[str], text: str | None) -> int | None:
    return choices.index(text) if text is not None and text in choices else None


def _drawn_as(sources: list[dict], name: str) -> dict | None:
    for s in sources:
        if s["visible"] and s["drawn"] == name:
            return s
    return None


def _times(ctx: Ctx) -> list[float]:
    return S.frame_times(ctx.duration, ctx.fps)


# ---------------------------------------------------------------------------------------- identity
def _identify(ctx: Ctx, phrase: Callable[[str], str], fillers: bool) -> Item:
    """Which-source style: one asked-about source; options are the classes (or their activities)."""
    rng, mode = ctx.rng, ctx.mode
    a = _pick(rng, CLASS_NAMES)
    ev = S.class_events(rng, a, S.EDGE_S, ctx.duration - S.EDGE_S)
    sources, lure = [], None
    if mode == "mismatch":  # drawn as another class, whose cue follows a's sound
        lure = _pick_near(rng, a)
        sources.append(_src(rng, a, ON, True, ev, drawn=lure))
    elif mode == "offscreen":
        sources.append(_src(rng, a, OFFSCREEN, True, ev))
    else:
        sources.append(_src(rng, a, ON, True, ev))
    if mode in ("silent", "offscreen"):  # a drawn object that stays silent
        lure = _pick_near(rng, a)
        sources.append(_src(rng, lure, ON, False))
    background = _fillers(ctx, sources, exclude={a, lure}) if fillers else []
    _place(rng, sources)
    present = {s["name"] for s in sources} | {s["drawn"] for s in sources if s["drawn"]} | set(background)
    pool = [c for c in CLASS_NAMES if c not in present]
    choices, ans = _options(ctx, a, 4, pool, must=[lure], near=a)
    vision = _vision_identity(ctx, sources, choices)
    return Item("", [phrase(c) for c in choices], ans, _index(choices, vision), sources, mode)


def _vision_identity(ctx: Ctx, sources: list[dict], choices: list[str]) -> str | None:
    """The option a viewer picks: the one drawn object with a visible cue, else the one drawn at all."""
    times = _times(ctx)
    drawn = [c for c in choices if _drawn_as(sources, c) is not None]
    cued = [c for c in drawn if any(S.cue_frames(_drawn_as(sources, c), times))]
    if len(cued) == 1:
        return cued[0]
    if not cued and len(drawn) == 1:
        return drawn[0]
    return None


def which_source(ctx: Ctx) -> Item:
    item = _identify(ctx, phrase=lambda c: c, fillers=True)
    item.question = TEMPLATES["which_source"]
    return item


def what_happening(ctx: Ctx) -> Item:
    item = _identify(ctx, phrase=activity, fillers=False)
    item.question = TEMPLATES["what_happening"]
    return item


# ---------------------------------------------------------------------------------------- presence
def presence(ctx: Ctx) -> Item:
    rng, mode = ctx.rng, ctx.mode
    x = _pick(rng, CLASS_NAMES)
    yes = bool(rng.random() < 0.5)
    full = (S.EDGE_S, ctx.duration - S.EDGE_S)
    sources, used = [], {x}
    if yes:
        ev = S.class_events(rng, x, *full)
        if mode == "offscreen":
            sources.append(_src(rng, x, OFFSCREEN, True, ev))
        elif mode == "mismatch":
            lure = _pick_near(rng, x)
            used.add(lure)
            sources.append(_src(rng, x, ON, True, ev, drawn=lure))
        else:
            sources.append(_src(rng, x, ON, True, ev))
            if mode == "silent":
                lure = _pick_near(rng, x)
                used.add(lure)
                sources.append(_src(rng, lure, ON, False))
    else:
        if mode in ("offscreen", "mismatch"):
            y = _pick_near(rng, x)
            used.add(y)
            ev = S.class_events(rng, y, *full)
            if mode == "offscreen":
                sources.append(_src(rng, y, OFFSCREEN, True, ev))
            else:  # y sounds, but what is drawn is an x with y's cue
                sources.append(_src(rng, y, ON, True, ev, drawn=x))
        elif mode == "silent":
            sources.append(_src(rng, x, ON, False))
    _fillers(ctx, sources, exclude=used, at_least=0 if any(s["audible"] for s in sources) else 1)
    _place(rng, sources)
    answer = "yes" if yes else "no"
    vision = "yes" if _drawn_as(sources, x) is not None else "no"
    choices, ans = _options(ctx, answer, 2, ["yes", "no"])
    return Item(TEMPLATES["presence"].format(x=x), choices, ans, _index(choices, vision), sources, mode)


# ------------------------------------------------------------------------------------------- counts
def count_sources(ctx: Ctx) -> Item:
    rng, mode = ctx.rng, ctx.mode
    maxn = min(4, ctx.max_sources)
    full = (S.EDGE_S, ctx.duration - S.EDGE_S)
    if mode == "offscreen":
        n = int(rng.integers(1, maxn + 1))
        k_off = int(rng.integers(max(1, n - len(SLOTS)), min(n, 2) + 1))
        n_silent = 0
    elif mode == "silent":
        n = int(rng.integers(1, min(2, maxn - 1) + 1))
        k_off = 0
        n_silent = int(rng.integers(1, min(len(SLOTS), maxn) - n + 1))
    else:
        n = int(rng.integers(1, min(len(SLOTS), maxn) + 1))
        k_off, n_silent = 0, 0
    names = [CLASS_NAMES[i] for i in rng.permutation(len(CLASS_NAMES))[: n + n_silent]]
    sounding, silent = names[:n], names[n:]
    sources = []
    for i, name in enumerate(sounding):
        ev = S.class_events(rng, name, *full)
        slot = OFFSCREEN if i < k_off else ON
        sources.append(_src(rng, name, slot, True, ev))
    if mode == "mismatch":
        sources[0]["drawn"] = _pick_near(rng, sources[0]["name"], exclude=set(names))
    for name in silent:
        sources.append(_src(rng, name, ON, False))
    _place(rng, sources)
    vision_n = sum(1 for s in sources if s["visible"] and s["drawn"])
    choices, ans = _options(ctx, number_word(n), 4, COUNT_WORDS)
    vision = number_word(vision_n) if 1 <= vision_n <= 4 else None
    return Item(TEMPLATES["count_sources"], choices, ans, _index(choices, vision), sources, mode)


def count_events(ctx: Ctx) -> Item:
    rng, mode = ctx.rng, ctx.mode
    countable = [c for c in CLASS_NAMES if CLASSES[c].countable]
    x = _pick(rng, countable)
    c = int(rng.integers(1, 5))
    ev = S.discrete_events(rng, c, S.EDGE_S, ctx.duration - S.EDGE_S, min_len=0.12, max_len=0.22, min_gap=0.35)
    gain = float(rng.uniform(-3, 0))
    sources, used = [], {x}
    if mode == "offscreen":
        sources.append(_src(rng, x, OFFSCREEN, True, ev, gain_db=gain))
    elif mode == "mismatch":
        lure = _pick_near(rng, x, pool=countable)
        used.add(lure)
        sources.append(_src(rng, x, ON, True, ev, drawn=lure, gain_db=gain))
    else:
        sources.append(_src(rng, x, ON, True, ev, gain_db=gain))
        if mode == "silent":
            lure = _pick_near(rng, x)
            used.add(lure)
            sources.append(_src(rng, lure, ON, False))
    if rng.random() < 0.5 and len(sources) < ctx.max_sources:  # quiet ambience under the events
        amb = _pick(rng, classes_in("ambience"), exclude=used)
        amb_ev = S.sustained_events(rng, S.EDGE_S, ctx.duration - S.EDGE_S, min_len=1.5)
        sources.append(_src(rng, amb, ON, True, amb_ev, gain_db=gain - float(rng.uniform(16, 20))))
    _place(rng, sources)
    seen = _drawn_as(sources, x)
    runs = S.cue_runs(seen, _times(ctx)) if seen is not None else 0
    choices, ans = _options(ctx, number_word(c), 4, COUNT_WORDS)
    vision = number_word(runs) if 1 <= runs <= 4 else None
    return Item(TEMPLATES["count_events"].format(x=x), choices, ans, _index(choices, vision), sources, mode)


# --------------------------------------------------------------------------------- pairs: loud, first
def _pair_sources(ctx: Ctx, first: str, second: str, ev_first, ev_second, gains, asked: str) -> list[dict]:
    """Two audible sources; the mode acts on ``asked`` (the answer): hidden, swapped looks, or a lure."""
    rng, mode = ctx.rng, ctx.mode
    slot_first = OFFSCREEN if (mode == "offscreen" and asked == first) else ON
    slot_second = OFFSCREEN if (mode == "offscreen" and asked == second) else ON
    drawn_first, drawn_second = ("same", "same") if mode != "mismatch" else (second, first)
    sources = [_src(rng, first, slot_first, True, ev_first, drawn=drawn_first, gain_db=gains[0]),
               _src(rng, second, slot_second, True, ev_second, drawn=drawn_second, gain_db=gains[1])]
    if mode == "silent":
        sources.append(_src(rng, _pick(rng, CLASS_NAMES, exclude={first, second}), ON, False))
    return _place(rng, sources)


def louder(ctx: Ctx) -> Item:
    rng = ctx.rng
    a, b = [CLASS_NAMES[i] for i in rng.permutation(len(CLASS_NAMES))[:2]]
    mid = ctx.duration / 2
    # Disjoint halves: the RMS in each source's own events is its loudness, as the tests measure.
    # One long event each, so the frames catch both loudness bars.
    ev_a = S.sustained_events(rng, S.EDGE_S, mid - 0.05, min_len=0.6 * (mid - 0.1))
    ev_b = S.sustained_events(rng, mid + 0.05, ctx.duration - S.EDGE_S, min_len=0.6 * (mid - 0.1))
    loud = a if rng.random() < 0.5 else b
    g_loud = float(rng.uniform(-3, 0))
    g_soft = g_loud - float(rng.uniform(9, 14))
    gains = (g_loud, g_soft) if loud == a else (g_soft, g_loud)
    sources = _pair_sources(ctx, a, b, ev_a, ev_b, gains, asked=loud)
    choices, ans = _options(ctx, loud, 2, [a, b])
    vision = _vision_pair(ctx, sources, choices, key=lambda s: -s["gain_db"], needs_cue=True)
    q = TEMPLATES["louder"].format(a=choices[0], b=choices[1])
    return Item(q, choices, ans, _index(choices, vision), sources, ctx.mode)


def first(ctx: Ctx) -> Item:
    rng = ctx.rng
    a, b = [CLASS_NAMES[i] for i in rng.permutation(len(CLASS_NAMES))[:2]]
    on_a = float(rng.uniform(S.EDGE_S, 0.6))
    on_b = float(rng.uniform(on_a + 0.7, min(on_a + 1.4, ctx.duration - 0.7)))
    ev_a = _events_from(rng, a, on_a, ctx.duration - S.EDGE_S)
    ev_b = _events_from(rng, b, on_b, ctx.duration - S.EDGE_S)
    sources = _pair_sources(ctx, a, b, ev_a, ev_b, (float(rng.uniform(-6, 0)), float(rng.uniform(-6, 0))), asked=a)
    choices, ans = _options(ctx, a, 2, [a, b])
    times = _times(ctx)

    def first_seen(s):  # frames never showing a cue put the object last
        k = S.first_cue(s, times)
        return len(times) if k is None else k

    vision = _vision_pair(ctx, sources, choices, key=first_seen, needs_cue=False)
    q = TEMPLATES["first"].format(a=choices[0], b=choices[1])
    return Item(q, choices, ans, _index(choices, vision), sources, ctx.mode)


def _vision_pair(ctx: Ctx, sources: list[dict], choices: list[str], key, needs_cue: bool) -> str | None:
    """Of two options, the one the frames favour (smaller ``key``); the only drawn one if one is hidden."""
    times = _times(ctx)
    drawn = {c: _drawn_as(sources, c) for c in choices}
    shown = [c for c in choices if drawn[c] is not None]
    if len(shown) == 1:
        return shown[0]
    if len(shown) != 2:
        return None
    if needs_cue and not all(any(S.cue_frames(drawn[c], times)) for c in shown):
        return None
    k0, k1 = key(drawn[shown[0]]), key(drawn[shown[1]])
    if k0 == k1:
        return None
    return shown[0] if k0 < k1 else shown[1]


# ------------------------------------------------------------------------------------------- where
def where_first(ctx: Ctx) -> Item:
    rng, mode = ctx.rng, ctx.mode
    k = int(rng.integers(2, min(len(SLOTS), ctx.max_sources) + 1))
    if mode == "silent":
        k = 2  # leave a slot for the silent object
    names = [CLASS_NAMES[i] for i in rng.permutation(len(CLASS_NAMES))[:k]]
    onset = float(rng.uniform(S.EDGE_S, 0.4))
    sources = []
    for i, name in enumerate(names):
        ev = _events_from(rng, name, onset, ctx.duration - S.EDGE_S)
        slot = OFFSCREEN if (mode == "offscreen" and i == 0) else ON
        drawn = _pick_near(rng, name, exclude=set(names)) if (mode == "mismatch" and i == 0) else "same"
        sources.append(_src(rng, name, slot, True, ev, drawn=drawn))
        onset += float(rng.uniform(0.5, 0.8))
    if mode == "silent":
        sources.append(_src(rng, _pick(rng, CLASS_NAMES, exclude=set(names)), ON, False))
    _place(rng, sources)
    answer = SLOT_WORDS[sources[0]["slot"]]
    times = _times(ctx)
    seen = [(S.first_cue(s, times), s["slot"]) for s in sources if s["visible"]]
    seen = sorted((k, slot) for k, slot in seen if k is not None)
    vision = SLOT_WORDS[seen[0][1]] if seen and (len(seen) == 1 or seen[0][0] < seen[1][0]) else None
    choices, ans = _options(ctx, answer, 4, list(SLOT_WORDS.values()))
    return Item(TEMPLATES["where_first"], choices, ans, _index(choices, vision), sources, mode)


# ------------------------------------------------------------------------------------------- voice
def offscreen_voice(ctx: Ctx) -> Item:
    """Yes items need a voice heard but not seen, so they are inconsistent by construction."""
    rng, mode = ctx.rng, ctx.mode
    v = _pick(rng, classes_in("voice"))
    other = _pick(rng, classes_in("voice"), exclude={v})
    yes = bool(rng.random() < 0.5)
    speech = S.sustained_events(rng, S.EDGE_S, ctx.duration - S.EDGE_S, min_len=1.0)
    sources = []
    if yes:
        mode = "offscreen"
        sources.append(_src(rng, v, OFFSCREEN, True, speech))
        if rng.random() < 0.5:  # a person on screen who does not talk
            sources.append(_src(rng, other, ON, False))
    elif mode == "silent":
        sources.append(_src(rng, v, ON, False))
    elif mode == "mismatch":  # the on-screen person's voice is not the one their look suggests
        sources.append(_src(rng, v, ON, True, speech, drawn=other))
    elif mode == "offscreen":  # something else is heard off-screen; no voice anywhere
        y = _pick(rng, CLASS_NAMES, exclude=set(classes_in("voice")))
        sources.append(_src(rng, y, OFFSCREEN, True, S.class_events(rng, y, S.EDGE_S, ctx.duration - S.EDGE_S)))
    elif rng.random() < 0.5:
        sources.append(_src(rng, v, ON, True, speech))
    voices = set(classes_in("voice"))
    _fillers(ctx, sources, exclude=voices, at_least=0 if any(s["audible"] for s in sources) else 1)
    _place(rng, sources)
    choices, ans = _options(ctx, "yes" if yes else "no", 2, ["yes", "no"])
    # Nothing in a picture shows a voice that is off it: vision alone always implies "no".
    return Item(TEMPLATES["offscreen_voice"], choices, ans, _index(choices, "no"), sources, mode, evidence="both")


# ------------------------------------------------------------------------------------------ melody
def melody(ctx: Ctx) -> Item:
    rng, mode = ctx.rng, ctx.mode
    tonal = [c for c in CLASS_NAMES if CLASSES[c].tonal]
    t = _pick(rng, tonal)
    direction = MELODY_WORDS[int(rng.integers(3))]
    k = int(rng.integers(3, 6))
    step = int(rng.integers(2, 5)) * {"rising": 1, "falling": -1, "steady": 0}[direction]
    lo, hi = CLASSES[t].pitch_range
    span = abs(step) * (k - 1)
    low = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # the lowest note
    low = min(low, MAX_NOTE_HZ / 2 ** (span / 12))  # the highest stays in a clearly pitched range
    notes = [low * 2 ** (abs(step) * i / 12) for i in range(k)]
    if direction == "falling":
        notes = notes[::-1]
    start = float(rng.uniform(S.EDGE_S, 0.3))
    gap = 0.08
    length = min(float(rng.uniform(0.28, 0.4)), (ctx.duration - S.EDGE_S - start - (k - 1) * gap) / k)
    events = [[start + i * (length + gap), start + i * (length + gap) + length] for i in range(k)]
    gain = float(rng.uniform(-4, 0))
    slot = OFFSCREEN if mode == "offscreen" else ON
    drawn = _pick(rng, tonal, exclude={t}) if mode == "mismatch" else "same"
    src = S.make_source(t, slot=slot, audible=True, events=events, drawn=drawn, gain_db=gain,
                        pitch_hz=notes[0], notes_hz=notes)
    sources = [src]
    if mode == "silent" or (mode == "offscreen" and rng.random() < 0.5):
        sources.append(_src(rng, _pick(rng, tonal, exclude={t}), ON, False))
    _place(rng, sources)
    choices, ans = _options(ctx, direction, 3, list(MELODY_WORDS))
    # Frames show when notes play, never their pitch: vision implies no direction.
    return Item(TEMPLATES["melody"], choices, ans, None, sources, mode)


FAMILIES: dict[str, Callable[[Ctx], Item]] = {
    "which_source": which_source,
    "presence": presence,
    "count_sources": count_sources,
    "louder": louder,
    "first": first,
    "where_first": where_first,
    "count_events": count_events,
    "offscreen_voice": offscreen_voice,
    "melody": melody,
    "what_happening": what_happening,
}


def evidence_for(family: str, item: Item) -> str:
    """Which modality answers the question: both agree -> 'both'; vision misleads -> 'audio'.

    For a place (``SPATIAL``) mono audio never suffices: vision alone -> 'visual', else 'both'.
    """
    if item.evidence:
        return item.evidence
    agrees = item.vision_answer is not None and item.vision_answer == item.answer
    if family in SPATIAL:
        return "visual" if agrees else "both"
    return "both" if agrees else "audio"
