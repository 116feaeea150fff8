"""Ground truth for the fact-check on synthetic data: is a teacher sample a hallucination?

On synthetic records the scene graph (``meta["scene"]``) says exactly what is audible, so the
verifier's verdicts can be scored. A sample is a *hallucination* when

* ``wrong_answer``: its chosen option differs from the record's label (the audio truth), or
* its ``<think>`` makes an audio claim the scene contradicts:
  - ``inaudible:<class>``: it says a sound class is heard that no audible source makes (a class
    that is only drawn, or absent altogether);
  - ``count:<what>``: it gives a number of sounds / sources / instruments, … that differs from
    the number of audible ones, says a class sounds N times when its source has another number
    of events, or (``count:silence``) says nothing can be heard when something can;
  - ``order:<a>><b>``: it puts two audible classes in an order ("a … before/then/followed by b",
    "a … after b") that their onsets contradict.

What is detected, and what is not, on purpose (a truth function must not invent hallucinations):
claims are read one clause at a time, and a clause with a negation or a silence cue ("no dog
barks", "the car is silent", "cannot hear") makes no positive claim, so its mentions are skipped.
Class names match as whole words, with a plain plural (``dog``/``dogs``), and a class name that is
only part of a longer mentioned class (``guitar`` in ``acoustic guitar``) is not counted on its own.
A number is read as a count only after a verb of hearing or being ("I would hear two sounds",
"there are 3 sources") or before "distinct"/"different"; "a dog ..., then a dog ..." claims two
dogs. Onsets closer than ``ONSET_TOLERANCE_S`` are not ordered. Loudness, timing in seconds and
spatial claims (slots) are not checked. Cross-checked against SightSound-mini's own true and
corrupted accounts (tests/test_hallucination.py): no true account flagged, every corruption caught.

:func:`judge` and :func:`score` are pure; :func:`score` turns (discarded?, hallucinated?) pairs into
precision and recall of discarding hallucinations. :func:`write_truth_scores` applies them to a
``verify`` output: Step 2 itself never sees a scene graph, so whoever knows the data is synthetic
(the pipeline, the ``verify``/``merge`` commands) calls it after the stage, and it fills the
``hallucination`` entry of ``VERIFIED.stats.json``, with the modality leak [ours] of the same samples
beside the hallucination rates (:mod:`sightsound.synth.leak`: spatial claims are not hallucinations
here, but they are claims the audio student cannot perceive).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sightsound.parsing import normalize

NUMBER_WORDS = {
    "no": 0, "zero": 0, "one": 1, "single": 1, "a single": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3}
# Counted nouns (plural and singular) -> which audible sources they count (None: every audible one).
COUNT_NOUNS = {
    "sound sources": None, "sound source": None, "sources": None, "source": None, "sounds": None, "sound": None,
    "sounding objects": None, "sounding object": None,
    "instruments": "instrument", "instrument": "instrument", "animals": "animal", "animal": "animal",
    "vehicles": "vehicle", "vehicle": "vehicle", "voices": "voice", "voice": "voice", "speakers": "voice",
    "speaker": "voice",
}
# A number is a count claim only after a verb of hearing/being ("I hear two sounds", "there are 3
# sources") or before "distinct"/"different" ("two distinct sounds"); "one sound is louder" is not one.
COUNT_LEAD = r"(?:hear|hears|heard|hearing|is|are|be|contains?|includes?|has|have|with|of)\s+(?:only\s+|exactly\s+|just\s+)?"
COUNT_QUALIFIER = r"(?:distinct|different|separate|individual)\s+"
# A clause with one of these makes no positive audio claim about the classes it names.
NEGATION = re.compile(
    r"\b(no|not|never|none|nothing|without|silent|silence|absent|mute|muted|cannot|can t|isn t|aren t|"
    r"doesn t|don t|didn t|won t|neither|nor|lack|lacks|unlike|instead of|rather than)\b")
# Connectors between two mentions: "a ... <before> ... b" means a first; "<after>" means b first.
BEFORE = re.compile(r"\b(before|then|followed by|and then|next|later|afterwards|after that|after which)\b")
AFTER = re.compile(r"\b(after)\b(?! that| which)")
# A clause claiming that nothing can be heard ("I would hear nothing clear", "there is no sound").
SILENCE = re.compile(r"\b(hear nothing|nothing (?:is |can be )?(?:heard|audible)|no (?:sound|sounds|audio)\b|"
                     r"(?:clip|audio|scene|recording) is silent|complete silence)")
CLAUSE_SPLIT = re.compile(r"[.;!?\n]+|,\s*(?:but|while|whereas|although|though)\b|\b(?:but|whereas|although|though)\b")
ONSET_TOLERANCE_S = 0.05


@dataclass
class Truth:
    hallucinated: bool
    reasons: list[str] = field(default_factory=list)


def _forms(name: str) -> list[str]:
    n = normalize(name)
    forms = [n]
    if n and not n.endswith("s"):
        forms += [n + "s", n + "es"]
    return forms


@lru_cache(maxsize=256)
def _mention_pattern(vocabulary: tuple[str, ...]) -> tuple[re.Pattern, dict[str, str]]:
    """One alternation of every class form, longest first, matched between spaces of a normalized clause."""
    form_to_name: dict[str, str] = {}
    for name in vocabulary:
        for form in _forms(name):
            if form:
                form_to_name.setdefault(form, name)
    alternatives = "|".join(re.escape(f) for f in sorted(form_to_name, key=len, reverse=True)) or r"(?!x)x"
    return re.compile(rf"(?<![^ ])({alternatives})(?![^ ])"), form_to_name


def _mentions(clause: str, vocabulary: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, class) of whole-word class mentions in a normalized clause.

    Matches do not overlap and the longest form wins at each position, so a class that is only part
    of a longer mentioned class ("guitar" in "acoustic guitar") is not counted on its own.
    """
    pattern, form_to_name = _mention_pattern(tuple(sorted(set(vocabulary))))
    return [(m.start(), m.end(), form_to_name[m.group(1)]) for m in pattern.finditer(clause)]


def _clauses(think: str) -> list[str]:
    return [c for c in (normalize(part) for part in CLAUSE_SPLIT.split(think or "") if part) if c]


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return NUMBER_WORDS.get(token)


def _count_claims(clause: str) -> list[tuple[int, str]]:
    """(number, counted noun) pairs such as "hear two sounds", "3 distinct instruments"."""
    nouns = "|".join(sorted((re.escape(n) for n in COUNT_NOUNS), key=len, reverse=True))
    numbers = "|".join(k for k in NUMBER_WORDS if k != "no" and " " not in k) + r"|\d+|a single"
    pattern = (rf"(?:\b{COUNT_LEAD}({numbers})\s+(?:{COUNT_QUALIFIER})?|\b({numbers})\s+{COUNT_QUALIFIER})"
               rf"(?:audible\s+)?({nouns})\b")
    out = []
    for m in re.finditer(pattern, clause):
        word = (m.group(1) or m.group(2)).replace("a single", "single")
        number = _number(word)
        if number is not None:
            out.append((number, m.group(3)))
    return out


def audio_facts(scene: dict) -> dict:
    """What the scene graph says is audible: names, categories, onsets, event counts."""
    # Audible with no events (none in the generator's scenes) would be heard as nothing.
    audible = [s for s in scene.get("sources", []) if s.get("audible") and s.get("events", [None])]
    by_name: dict[str, list[dict]] = {}
    for s in audible:
        by_name.setdefault(s["name"], []).append(s)
    return {"audible": audible, "by_name": by_name}


def scene_vocabulary(scene: dict, extra: Iterable[str] = ()) -> list[str]:
    """Classes a sample could name: every source's sound and drawn class, plus ``extra``."""
    names = set(extra)
    for s in scene.get("sources", []):
        names.add(s["name"])
        if s.get("drawn"):
            names.add(s["drawn"])
    return sorted(n for n in names if normalize(n))


def judge(think: str | None, choice: int | None, label: int | None, scene: dict | None,
          vocabulary: Iterable[str] = ()) -> Truth:
    """Whether one teacher sample is a hallucination, with the reasons (see the module docstring)."""
    reasons: list[str] = []
    if label is not None and choice != label:
        reasons.append("wrong_answer")
    if scene:
        reasons += _think_contradictions(think or "", scene, scene_vocabulary(scene, vocabulary))
    return Truth(bool(reasons), reasons)


def _think_contradictions(think: str, scene: dict, vocabulary: list[str]) -> list[str]:
    facts = audio_facts(scene)
    by_name = facts["by_name"]
    reasons: list[str] = []
    for clause in _clauses(think):
        mentions = _mentions(clause, vocabulary)
        if SILENCE.search(clause) and not mentions:
            if facts["audible"]:
                reasons.append("count:silence")
            continue
        if NEGATION.search(clause):
            continue
        for _, _, name in mentions:
            if name not in by_name:
                reasons.append(f"inaudible:{name}")
        for number, noun in _count_claims(clause):
            category = COUNT_NOUNS[noun]
            # Ambience counts as a sound, as the synthetic world's own accounts count it.
            pool = [s for s in facts["audible"] if category is None or s.get("category") == category]
            if number != len(pool):
                reasons.append(f"count:{noun}")
        reasons += _multiplicity_claims(clause, mentions, by_name)
        reasons += _times_claims(clause, mentions, by_name)
        reasons += _order_claims(clause, mentions, by_name)
    # One reason of each kind and target is enough.
    return list(dict.fromkeys(reasons))


def _multiplicity_claims(clause: str, mentions, by_name) -> list[str]:
    """"a flute ..., then a flute ..." claims two flutes: more than the audible sources of that class."""
    indefinite = Counter(name for s, _, name in mentions
                         if re.search(r"\b(?:a|an|another)\s+$", clause[max(0, s - 9):s]))
    return [f"count:{name}" for name, k in indefinite.items() if 1 < k and len(by_name.get(name, [])) < k]


def _times_claims(clause: str, mentions, by_name) -> list[str]:
    out = []
    times = rf"\b(\d+|{'|'.join(k for k in NUMBER_WORDS if ' ' not in k and k != 'no')})\s+times\b|\b(once|twice|thrice)\b"
    for i, (s, e, name) in enumerate(mentions):
        if len(by_name.get(name, [])) != 1:
            continue
        stop = mentions[i + 1][0] if i + 1 < len(mentions) else len(clause)
        m = re.search(times, clause[e:stop])
        if not m:
            continue
        n = _number(m.group(1)) if m.group(1) else TIMES_WORDS[m.group(2)]
        if n is not None and n != len(by_name[name][0].get("events") or []):
            out.append(f"count:{name}")
    return out


def _order_claims(clause: str, mentions, by_name) -> list[str]:
    out = []
    for i in range(len(mentions) - 1):
        (s1, e1, a), (s2, _, b) = mentions[i], mentions[i + 1]
        if a == b or len(by_name.get(a, [])) != 1 or len(by_name.get(b, [])) != 1:
            continue
        between = clause[e1:s2]
        prefix = clause[mentions[i - 1][1] if i else 0:s1]
        if BEFORE.search(between):  # "a ... then b"
            first, second = a, b
        elif AFTER.search(between):  # "a ... after b"
            first, second = b, a
        elif AFTER.search(prefix):  # "after a ..., b ..."
            first, second = a, b
        else:
            continue
        if by_name[first][0]["onset_s"] > by_name[second][0]["onset_s"] + ONSET_TOLERANCE_S:
            out.append(f"order:{first}>{second}")
    return out


def score(pairs: Iterable[tuple[bool, bool]]) -> dict:
    """Precision and recall of *discarding hallucinated samples*, from (discarded, hallucinated) pairs.

    Precision = hallucinated among discarded; recall = discarded among hallucinated. A ratio whose
    denominator is zero is ``None`` (undefined), never 0 or 1.
    """
    tp = fp = fn = tn = 0
    for discarded, hallucinated in pairs:
        if discarded and hallucinated:
            tp += 1
        elif discarded:
            fp += 1
        elif hallucinated:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fp + fn + tn
    return {
        "samples": total, "hallucinated": tp + fn, "discarded": tp + fp,
        "true_positive": tp, "false_positive": fp, "false_negative": fn, "true_negative": tn,
        "precision": precision, "recall": recall, "f1": f1,
        "hallucination_rate_before": (tp + fn) / total if total else None,
        # Among what the verifier keeps (the training set): the hallucination rate left over.
        "hallucination_rate_after": fn / (fn + tn) if fn + tn else None,
    }


# ------------------------------------------------------------------------------ scoring a verify output
def truth_sources(traces: list[dict], records: dict) -> dict[str, dict]:
    """id -> {"answer", "meta"} for scoring: the data file's record where given, else the trace's copy.

    ``records`` maps id -> :class:`~sightsound.schema.Sample` (an invalid record, a
    :class:`~sightsound.schema.RecordError`, leaves the trace's copy in place).
    """
    out = {t["id"]: {"answer": t.get("label"), "meta": t.get("meta") or {}} for t in traces}
    for rid, rec in records.items():
        if not isinstance(rec, Exception):
            out[rid] = {"answer": rec.answer, "meta": rec.meta or {}}
    return out


def hallucination_stats(rows: list[dict], truth: dict[str, dict]) -> dict[str, Any] | None:
    """Verdicts against the scene-graph truth (rows of records with a scene only), or None.

    Besides the overall precision/recall of discarding hallucinated samples: per kind of
    hallucination how many samples had it and how many of those were discarded, and the scores per
    evidence type of the synthetic question (visual / audio / both), where the teacher's blind spot is.
    Beside the hallucination rates, the modality leak [ours] (:mod:`sightsound.synth.leak`) of the
    same samples before verification and of the kept ones after: ``modality_leak_before`` /
    ``modality_leak_after`` (the fraction of their think claims that are visual) and their counts
    under ``modality_leak``.
    """
    from sightsound.synth.leak import modality_leak
    from sightsound.synth.vocab import all_classes
    from sightsound.verdicts import ERROR

    # A think naming any class of the world that is not audible is a hallucination.
    vocab = all_classes()
    pairs: list[tuple[bool, bool]] = []
    by_evidence: dict[str, list[tuple[bool, bool]]] = {}
    by_reason, discarded_by_reason = Counter(), Counter()
    thinks: list[tuple[str | None, bool]] = []  # (think, kept) of every scored sample
    for row in rows:
        if row["verdict"] == ERROR:
            continue  # no decision was made
        rec = truth.get(row["id"]) or {}
        meta = rec.get("meta") or {}
        if not meta.get("scene"):
            continue
        label = rec.get("answer") if rec.get("answer") is not None else row.get("label")
        verdict = judge(row.get("think"), row.get("choice"), label, meta["scene"], vocab)
        pair = (not row["kept"], verdict.hallucinated)
        pairs.append(pair)
        thinks.append((row.get("think"), bool(row["kept"])))
        if meta.get("evidence"):
            by_evidence.setdefault(str(meta["evidence"]), []).append(pair)
        for kind in {r.split(":", 1)[0] for r in verdict.reasons}:
            by_reason[kind] += 1
            discarded_by_reason[kind] += not row["kept"]
    if not pairs:
        return None
    out = score(pairs)
    out["by_reason"] = {k: {"samples": n, "discarded": discarded_by_reason[k]} for k, n in sorted(by_reason.items())}
    out["by_evidence"] = {k: score(v) for k, v in sorted(by_evidence.items())}
    before = modality_leak(t for t, _ in thinks)
    after = modality_leak(t for t, kept in thinks if kept)
    out["modality_leak_before"], out["modality_leak_after"] = before["rate"], after["rate"]
    out["modality_leak"] = {"before": before, "after": after}
    return out


def verified_truth_scores(verified_path: str | Path, traces_path: str | Path | None = None,
                          data_path: str | Path | None = None) -> dict[str, Any] | None:
    """The ``hallucination`` figures of a verify output, or None where no record has a scene graph.

    The truth comes from the scene graphs of ``data_path`` (the records) or, where the teacher
    copied them into its traces, of ``traces_path``.
    """
    from sightsound.artefacts import index_records, read_traces
    from sightsound.jsonl import read_jsonl

    rows = list(read_jsonl(verified_path)) if Path(verified_path).exists() else []
    traces = read_traces(traces_path) if traces_path else []
    records = index_records(data_path) if data_path else {}
    return hallucination_stats(rows, truth_sources(traces, records))


def write_truth_scores(verified_path: str | Path, traces_path: str | Path | None = None,
                       data_path: str | Path | None = None) -> dict[str, Any] | None:
    """Fill the ``hallucination`` entry of ``VERIFIED.stats.json`` (rewritten atomically); return it."""
    from sightsound.jsonl import atomic_write_json, read_json
    from sightsound.stage_io import stats_path

    figures = verified_truth_scores(verified_path, traces_path, data_path)
    path = stats_path(verified_path)
    stats = read_json(path)
    if stats.get("hallucination") != figures:
        stats["hallucination"] = figures  # in place: the entry keeps its position in the file
        atomic_write_json(path, stats)
    return figures
