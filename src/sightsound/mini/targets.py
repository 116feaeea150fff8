"""What each SightSound-mini role learns to say, written from a synthetic record's scene graph.

Pure functions of the pinned scene graph (``meta["scene"]``), so every target is ground truth by
construction:

- **teacher** (sees the silent frames): :func:`vision_view` is what the frames show: the drawn
  objects, their slots and the frames with an activity cue. :func:`teacher_cot` imagines the sounds
  from it by the world's vision-only rule (the one ``meta["vision_answer"]`` follows): every drawn
  object is heard as the class it is drawn as, in the order its cue first appears. So it is right
  where sight suffices and wrong exactly where it cannot know: an off-screen source (never
  mentioned), a drawn object that stays silent (presumed to sound), a drawn object whose sound
  differs (named by its looks).
- **verifier** (hears the audio): :func:`audio_cot` is the true account in the teacher's own words;
  :func:`corrupt_cot` makes a false one of a named kind (swapped source, wrong count, wrong order,
  inaudible source). Labels are Yes for the first and No for the second. The verifier's reply
  (:func:`verifier_reply`) is a checklist of every sound class, then the label.
- **student** (hears the audio): :func:`perception_text` lists the sounds heard, in order, and the
  loudest one; :func:`audio_description` (opt-in) says the same in the world's counting sentence
  (the words the teacher reasons in, without the slots audio cannot give).

Answers name the option's *text* (``The correct answer is: dog``): tiny models trained from scratch
cannot learn to map answers to letters among shuffled options in minutes.
"""

from __future__ import annotations

import random

from sightsound.synth.scene import cue_frames, frame_times
from sightsound.synth.vocab import CLASS_NAMES, CLASSES, SLOT_WORDS, SLOTS, number_word

PERCEPTION_PROMPT = "What do you hear? List the sounds in order and say which one is loudest."
DESCRIBE_PROMPT = "How many sounds are there, and in what order?"
CORRUPTIONS = ("swap", "count", "order", "inaudible")
ORDER_TOLERANCE_S = 0.05  # onsets closer than this have no order (the hallucination truth's tolerance)
ORDER_SWAP_MIN_S = 0.3  # an order corruption swaps only sounds this far apart (clearly audible)
LOUDEST_MARGIN_DB = 3.0  # below this the loudest source is not named (not reliably audible)


# ------------------------------------------------------------------------------------- wording
def mention(name: str) -> str:
    """'a dog' or 'rain' (ambience takes no article)."""
    return name if CLASSES[name].category == "ambience" else f"a {name}"


def sound_phrase(name: str, slot: str | None = None) -> str:
    """'a dog on the left', 'rain' (short: every token costs a tiny model training time)."""
    text = mention(name)
    if slot in SLOTS:
        text += " in the middle" if slot == "middle" else f" on the {SLOT_WORDS[slot]}"
    return text


def sounds_sentence(items: list[tuple[str, str | None]]) -> str:
    """'I would hear two sounds: a dog on the left, then a piano on the right.'"""
    if not items:
        return "I see no sounding object, so I would hear nothing clear."
    n = len(items)
    noun = "sound" if n == 1 else "sounds"
    body = ", then ".join(sound_phrase(name, slot) for name, slot in items)
    return f"I would hear {number_word(n)} {noun}: {body}."


def answer_block(text: str) -> str:
    return f"<answer> The correct answer is: {text} </answer>"


def cot_response(think: str, answer_text: str) -> str:
    """The paper's format, answering with the option text."""
    return f"<think> {think} </think> {answer_block(answer_text)}"


# ------------------------------------------------------------------------------------- teacher
def vision_view(scene: dict, fps: float = 2.0) -> list[dict]:
    """The drawn objects as the frames show them: drawn class, slot, first cued frame (or None)."""
    times = frame_times(scene["duration_s"], fps)
    out = []
    for s in scene["sources"]:
        if not (s.get("visible") and s.get("drawn")):
            continue
        on = cue_frames(s, times)
        out.append({"drawn": s["drawn"], "slot": s["slot"], "first_cue": on.index(True) if True in on else None,
                    "cue_frames": sum(on)})
    return out


def imagined_sounds(scene: dict, fps: float = 2.0) -> list[tuple[str, str]]:
    """(class, slot) the teacher imagines hearing, in the order it imagines them.

    The vision-only rule of the synthetic world (:mod:`sightsound.synth.families`): every drawn
    object is presumed to make its drawn class's sound; cues give the order (first cued frame;
    objects never cued come last); ties go left to right.
    """
    view = vision_view(scene, fps)
    never = len(frame_times(scene["duration_s"], fps))
    view.sort(key=lambda v: (never if v["first_cue"] is None else v["first_cue"], SLOTS.index(v["slot"])))
    return [(v["drawn"], v["slot"]) for v in view]


def teacher_cot(scene: dict, fps: float = 2.0) -> str:
    return sounds_sentence(imagined_sounds(scene, fps))


def teacher_target(record: dict, fps: float = 2.0) -> str | None:
    """The teacher's response for a record, or None when vision implies no option."""
    meta = record.get("meta") or {}
    va = meta.get("vision_answer")
    if va is None:
        return None
    return cot_response(teacher_cot(meta["scene"], fps), record["choices"][va])


# ------------------------------------------------------------------------------------- audio truth
def heard_sounds(scene: dict) -> list[dict]:
    """Audible sources in onset order (ties: left to right, then name)."""
    order = {slot: i for i, slot in enumerate(SLOTS)}
    audible = [s for s in scene["sources"] if s.get("audible") and s.get("events")]
    return sorted(audible, key=lambda s: (s["onset_s"], order.get(s["slot"], len(SLOTS)), s["name"]))


def heard_items(scene: dict, with_slots: bool = True) -> list[tuple[str, str | None]]:
    """(class, slot) of every heard source in onset order: an account's items (slots only for visible
    sources; audio cannot check them)."""
    return [(s["name"], s["slot"] if with_slots and s.get("visible") else None) for s in heard_sounds(scene)]


def audio_cot(scene: dict, with_slots: bool = True) -> str:
    """The true account in the teacher's words."""
    return sounds_sentence(heard_items(scene, with_slots))


def account_is_true(items: list[tuple[str, str | None]], scene: dict) -> bool:
    """Whether an account (classes in the order given) matches what is heard.

    Same sounds, as many of each, and no pair in an order their onsets contradict by more than
    :data:`ORDER_TOLERANCE_S` (onsets closer than that are heard as together, either order is true).
    """
    heard = heard_sounds(scene)
    if sorted(name for name, _ in items) != sorted(s["name"] for s in heard):
        return False
    onset = {}
    for s in heard:
        onset.setdefault(s["name"], s["onset_s"])
    times = [onset[name] for name, _ in items]
    return all(times[j] >= times[i] - ORDER_TOLERANCE_S for i in range(len(times)) for j in range(i + 1, len(times)))


def corrupt_cot(scene: dict, kind: str, rng: random.Random, with_slots: bool = True) -> str | None:
    """A false account of ``kind`` (see :data:`CORRUPTIONS`), or None where the scene cannot have one."""
    heard = heard_sounds(scene)
    items = heard_items(scene, with_slots)
    present = {s["name"] for s in heard}
    absent = [c for c in CLASS_NAMES if c not in present]
    if kind == "swap":
        if not items:
            return None
        i = rng.randrange(len(items))
        items[i] = (rng.choice(absent), items[i][1])
        return sounds_sentence(items)
    if kind == "count":
        if not items:
            return None
        wrong = rng.choice([n for n in (len(items) - 1, len(items) + 1) if n >= 1] or [len(items) + 1])
        body = ", then ".join(sound_phrase(name, slot) for name, slot in items)
        return f"I would hear {number_word(wrong)} {'sound' if wrong == 1 else 'sounds'}: {body}."
    if kind == "order":
        pairs = clear_order_pairs(heard, items)
        if not pairs:
            return None
        i, j = rng.choice(pairs)
        items[i], items[j] = items[j], items[i]
        return sounds_sentence(items)
    if kind == "inaudible":
        # Prefer what sight suggests but the audio lacks: a silent drawn object, else any absent class.
        silent = [s for s in scene["sources"] if s.get("visible") and s.get("drawn") and s["drawn"] not in present]
        if silent:
            s = rng.choice(silent)
            extra = (s["drawn"], s["slot"] if with_slots else None)
        elif absent:
            free = [slot for slot in SLOTS if slot not in {s["slot"] for s in scene["sources"]}] or list(SLOTS)
            extra = (rng.choice(absent), rng.choice(free) if with_slots else None)
        else:
            return None
        items.insert(rng.randrange(len(items) + 1), extra)
        return sounds_sentence(items)
    raise ValueError(f"unknown corruption {kind!r} (known: {', '.join(CORRUPTIONS)})")


def clear_order_pairs(heard: list[dict], items: list[tuple[str, str | None]]) -> list[tuple[int, int]]:
    """(i, j) of an account's items (``heard_items`` order) of two classes heard clearly apart (onsets
    more than :data:`ORDER_SWAP_MIN_S`): the pairs whose swap is an audible order error."""
    return [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))
            if heard[j]["onset_s"] - heard[i]["onset_s"] > ORDER_SWAP_MIN_S and items[i][0] != items[j][0]]


def verifier_examples(scene: dict, rng: random.Random, fps: float = 2.0,
                      foreign: dict | None = None, samples: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(chain-of-thought, "Yes"|"No", kind) for one scene, balanced between Yes and No.

    Besides the true account and its corruptions, the teacher's own vision-based account is
    included with its true label, so the verifier sees the errors the teacher really makes. With
    ``foreign`` (another scene), that scene's true account is included too, labelled against *this*
    scene's audio: the same kind of text is then sometimes Yes and sometimes No, so the label
    cannot be read off the text and the verifier has to listen. ``samples`` are the mini teacher's
    own sampled thinks for this scene (``sightsound pretrain --teacher-traces``), labelled by the
    scene-graph truth the verify stage is scored against: the errors the teacher makes when it
    samples (whole wrong accounts, duplicated and missing sources), which its greedy vision
    account does not show. Corruptions then fill only what Yes/No balance still lacks.
    """
    slots = rng.random() < 0.7
    truth = audio_cot(scene, with_slots=slots)
    out = [(truth, "Yes", "truth")]
    true_texts = audio_cot(scene, with_slots=True), audio_cot(scene, with_slots=False)
    vision = teacher_cot(scene, fps)
    vision_true = account_is_true(imagined_sounds(scene, fps), scene)
    out.append((vision, "Yes" if vision_true else "No", "teacher_true" if vision_true else "teacher_false"))
    if foreign is not None:
        with_slots = rng.random() < 0.7
        items = heard_items(foreign, with_slots)
        ok = account_is_true(items, scene)
        out.append((sounds_sentence(items), "Yes" if ok else "No", "foreign_true" if ok else "foreign_false"))
    if samples:
        from sightsound.synth.hallucination import judge
        from sightsound.synth.vocab import all_classes

        seen = {cot for cot, _, _ in out}
        for think in samples:
            if think and think not in seen:
                seen.add(think)
                false = judge(think, None, None, scene, all_classes()).hallucinated
                out.append((think, "No" if false else "Yes", "sample_false" if false else "sample_true"))
        # Most samples are false: the true account's other wording keeps Yes from becoming rare
        # (a verifier trained on 72 % No says No to accounts its own checklist finds true).
        if sum(y == "No" for _, y, _ in out) > sum(y == "Yes" for _, y, _ in out):
            other = audio_cot(scene, with_slots=not slots)
            if other not in seen:
                out.append((other, "Yes", "truth"))
    kinds = list(CORRUPTIONS)
    rng.shuffle(kinds)
    for kind in kinds:
        if sum(1 for _, y, _ in out if y == "No") >= sum(1 for _, y, _ in out if y == "Yes"):
            break
        bad = corrupt_cot(scene, kind, rng, with_slots=rng.random() < 0.7)
        if bad is not None and bad not in true_texts:
            out.append((bad, "No", kind))
    return out


# (named in the account, heard in the audio) -> the checklist word for a class
CHECK_WORDS = {(True, True): "yes", (False, False): "no", (True, False): "silent", (False, True): "heard"}
# [ours, opt-in: ``sightsound pretrain --order-mark``] where a checklist carries the order of sounds:
# "first" marks a named class heard first in place of "yes"; "late" marks the class an account names
# first when it is heard but not first, in place of "yes" (a disagreement, like "silent").
# "listed" is the late mark in a reply that first lists the sounds heard, in order; "named" adds, after
# that listing, the sound the account names first (:func:`verifier_reply`).
FIRST_MARK = "first"
LATE_MARK = "late"
LISTED = "listed"
NAMED = "named"
ORDER_MARKS = ("none", FIRST_MARK, LATE_MARK, LISTED, NAMED)
CLEAN_MARKS = frozenset({CHECK_WORDS[(True, True)], CHECK_WORDS[(False, False)]})  # account and audio agree
# The reply words a verdict turns on: the marks of a disagreement, the order marks and the verdict itself.
# Most of a checklist is "no"; ``sightsound pretrain --focus-weight`` gives these words more of the loss.
DECISIVE_WORDS = (CHECK_WORDS[(True, False)], CHECK_WORDS[(False, True)], FIRST_MARK, LATE_MARK, "Yes", "No")


def named_in_order(cot: str) -> list[str]:
    """The classes an account names, in the order it names them (repeats kept)."""
    body = cot.split(":", 1)[1] if ":" in cot else ""
    classes = set(CLASS_NAMES)
    return [w for w in body.replace(",", " ").replace(".", " ").split() if w in classes]


def mentioned_classes(cot: str) -> set[str]:
    """The classes an account names ("I would hear two sounds: a dog on the left, then rain.")."""
    return set(named_in_order(cot))


def heard_first(scene: dict) -> set[str]:
    """The classes heard first: the earliest onset, and any within :data:`ORDER_TOLERANCE_S` of it
    (heard as together: an account may name either first)."""
    heard = heard_sounds(scene)
    if not heard:
        return set()
    t0 = heard[0]["onset_s"]
    return {s["name"] for s in heard if s["onset_s"] <= t0 + ORDER_TOLERANCE_S}


def verifier_checklist(cot: str, scene: dict, order_mark: str = "none") -> str:
    """Every class in a fixed order with its check word: "guitar no piano yes ... dog silent ... wind no."

    ``yes`` = named and heard, ``no`` = neither, ``silent`` = named but not heard (a hallucinated
    source), ``heard`` = heard but not named (a missed source). ``order_mark`` (:data:`ORDER_MARKS`):
    ``first`` marks a named class heard first ``first`` instead of ``yes``; ``late`` (and ``listed``)
    marks the class the account names first ``late`` instead of ``yes`` when it is heard but not first
    (:func:`checklist_agrees` says what each adds).
    """
    if order_mark not in ORDER_MARKS:
        raise ValueError(f"order_mark must be one of {ORDER_MARKS}, got {order_mark!r}")
    heard = {s["name"] for s in heard_sounds(scene)}
    said = mentioned_classes(cot)
    if order_mark == FIRST_MARK:
        return _checklist(said, heard, first=heard_first(scene))
    if order_mark in (LATE_MARK, LISTED, NAMED):
        named = named_in_order(cot)
        late = {named[0]} if named and named[0] in heard and named[0] not in heard_first(scene) else set()
        return _checklist(said, heard, late=late)
    return _checklist(said, heard)


def _checklist(said: set[str], heard: set[str], first: set[str] = frozenset(), late: set[str] = frozenset()) -> str:
    def mark(c: str) -> str:
        if c in late:
            return LATE_MARK
        return FIRST_MARK if c in said and c in first else CHECK_WORDS[(c in said, c in heard)]

    return " ".join(f"{c} {mark(c)}" for c in CLASS_NAMES) + "."


def checklist_agrees(cot: str, checklist: str) -> bool:
    """Whether a checklist finds the account true: every mark clean and, where it marks a class
    ``first``, the account names a ``first`` class before any other heard one. A ``late`` mark is a
    disagreement (the account names first a sound heard later).

    [ours] A checklist of classes carries no order: an account that names the right sounds in the
    wrong order is clean mark by mark (the teacher's ``order`` errors, recall 0.27-0.31 with
    every checklist verifier). On the validation split's teacher samples 62 of the 66 order errors
    put a class before the one heard first. The ``first`` mark is a per-class hearing decision
    (is this class the one heard first?), but the verdict then compares two places (the class
    named first, the class marked first); V11/V12 learned the mark and not the comparison
    (assets/mini/README.md, session 19). The ``late`` mark puts the whole decision on one class,
    the one the account names first, so the verdict follows one local mark as it does for ``silent``.
    """
    marks = dict(checklist_marks(checklist))
    if not all(m in CLEAN_MARKS or m == FIRST_MARK for m in marks.values()):
        return False
    if FIRST_MARK not in marks.values():
        return True
    first_named = next((c for c in named_in_order(cot) if marks.get(c) in (FIRST_MARK, CHECK_WORDS[(True, True)])), None)
    return first_named is None or marks[first_named] == FIRST_MARK


def reading_drill_reply(cot: str, order_mark: str = "none") -> str:
    """The verifier's reply to ``cot`` over a *silent* clip: every class the account names is
    ``silent``, every other ``no``; Yes only for an account that names nothing.

    [ours] ``sightsound pretrain --reading-drill``: with real audio most marks can be got right by
    hearing alone (most accounts are mostly true), so the verifier learns to hear better than it
    reads (session 10: a third of the named-but-silent classes marked as not named). Over silence
    the only way to the right marks is reading the account. A ``listed`` or ``named`` reply opens
    "I hear nothing." (:func:`reply_opening`).
    """
    said = mentioned_classes(cot)
    return f"{reply_opening(cot, {'sources': []}, order_mark)}{_checklist(said, set())} {'No' if said else 'Yes'}"


def hearing_drill_cot(scene: dict, rng: random.Random, with_slots: bool = True) -> str | None:
    """The true account with one or more of its heard classes left out (every source of each); None
    where nothing is heard.

    [ours] ``sightsound pretrain --hearing-drill``: the teacher's commonest error the verifier misses
    on clips of several sounds is a heard source it does not mention — either left out, the count
    fitted to what is left, or *doubled*: its place taken by another copy of a class it does name
    ("two sounds: a guitar, then a guitar" over a guitar and a bird; the hallucination truth's
    ``count`` kind). Its weakest marks are those ``heard`` ones (assets/mini/README.md, sessions 12,
    16 and 17). The corruptions above never leave a source out (``count`` only changes the number
    word), so a missed source is drilled here, in both shapes, half each where a class is left to
    double: the right marks for the left-out classes (``heard``) can only come from listening.
    Leaving every class out gives the account that names nothing, where every mark is a hearing
    decision.
    """
    items = heard_items(scene, with_slots)
    classes = list(dict.fromkeys(name for name, _ in items))
    if not classes:
        return None
    dropped = set(rng.sample(classes, rng.randint(1, len(classes))))
    kept = [c for c in classes if c not in dropped]
    if kept and rng.random() < 0.5:  # doubled: each left-out source named as a kept class
        return sounds_sentence([(name if name not in dropped else rng.choice(kept), slot) for name, slot in items])
    return sounds_sentence([(name, slot) for name, slot in items if name not in dropped])


def order_drill_cot(scene: dict, rng: random.Random, with_slots: bool = True) -> str | None:
    """The true account with a sound heard clearly later (by :data:`ORDER_SWAP_MIN_S`) swapped to the
    front; None where the clip has no such pair.

    [ours] ``sightsound pretrain --order-drill`` (with ``--order-mark``): V11, trained with the first
    mark alone, marked the right class ``first`` in only half of the validation accounts of two or
    more heard sounds, and its verdict kept 15 of the 25 order errors its own marks showed. The
    corruptions above reorder any pair, and only where Yes/No balance asks for one; here every such
    record gets the order error the teacher makes (62 of its 66 put a later sound first), whose right
    marks and verdict only the first mark carries.
    """
    heard = heard_sounds(scene)
    items = heard_items(scene, with_slots)
    first = heard_first(scene)
    later = [j for i, j in clear_order_pairs(heard, items) if i == 0 and items[j][0] not in first]
    if not later:
        return None
    j = rng.choice(later)
    items[0], items[j] = items[j], items[0]
    return sounds_sentence(items)


def named_first_sentence(cot: str) -> str:
    """'It names a piano first.' (or 'It names nothing.'): the ``named`` reply's second sentence."""
    named = named_in_order(cot)
    return f"It names {mention(named[0])} first." if named else "It names nothing."


def reply_opening(cot: str, scene: dict, order_mark: str) -> str:
    """What a verifier reply says before its checklist: nothing; the sounds heard (``listed``); the
    sounds heard and the sound the account names first (``named``). Ends with a space if not empty."""
    if order_mark == LISTED:
        return f"{listing_sentence(scene)} "
    if order_mark == NAMED:
        return f"{listing_sentence(scene)} {named_first_sentence(cot)} "
    return ""


def split_listing(reply: str) -> tuple[str | None, str]:
    """(listing, rest) of a verifier reply: its opening "I hear ..." sentence, if it has one
    (the ``listed`` and ``named`` formats), and what follows it (less the ``named`` sentence)."""
    text = (reply or "").strip()
    if not text.startswith("I hear"):
        return None, text
    listing, _, rest = text.partition(".")
    rest = rest.strip()
    if rest.startswith("It names"):
        rest = rest.partition(".")[2].strip()
    return listing + ".", rest


def reply_without_verdict(text: str) -> str:
    """A verifier reply less its last word (the verdict): what it wrote first (the checklist, after
    the ``listed`` format's listing)."""
    words = (text or "").split()
    return " ".join(words[:-1])


def reply_checklist(reply: str) -> str:
    """The checklist of a verifier reply: what it wrote after its opening sentences and before its
    verdict. One reading for the training targets and for a model's generated replies."""
    return split_listing(reply_without_verdict(reply))[1]


def checklist_marks(checklist: str) -> list[tuple[str, str]]:
    """(class, check word) pairs read back from a checklist (:func:`verifier_checklist`'s format;
    an opening listing is skipped), in the order written (a model's reply may repeat or skip a class)."""
    words = split_listing(checklist)[1].rstrip(".").split()
    return list(zip(words[0::2], words[1::2]))


def verifier_reply(cot: str, scene: dict, label: str, order_mark: str = "none") -> str:
    """What the mini verifier says: the checklist, then its verdict ("guitar no ... wind no. No").

    [ours] The paper's verifier answers only Yes or No. A 4 M-parameter model trained from scratch
    on a CPU does not learn that one-token check against the audio in the budget (nine recipes,
    none above 0.66: assets/mini/README.md). The checklist turns one bit per
    example into one decision per class, each taken where the class's own word is the input
    (is it in the account? is it in the audio?), with the class order fixed so nothing has to be
    copied. The verify stage reads such replies with ``verify.verdict: final`` (the last word decides).
    ``order_mark``: how the checklist carries the order of sounds (:func:`verifier_checklist`).
    ``listed`` [ours, opt-in] opens the reply with the sounds heard, in the order heard (the student's
    listing sentence): the late mark then compares two texts in the context, the account's first
    sound and the listing's, instead of a reading and a hearing at once (session 21: V19 listed in
    order 39 of 41 times yet wrote the late mark on 7 of 56 order errors; V20, trained so, wrote it on
    8 of 56 though its own listing implied it on 39).
    ``named`` [ours, opt-in] adds, after the listing, the sound the account names first
    (:func:`named_first_sentence`), so both sounds the late mark compares are in the reply's own text.
    """
    return f"{reply_opening(cot, scene, order_mark)}{verifier_checklist(cot, scene, order_mark)} {label}"


# ------------------------------------------------------------------------------------- student
def loudest(scene: dict) -> str | None:
    """The clearly loudest audible class (by at least :data:`LOUDEST_MARGIN_DB`), if any."""
    heard = heard_sounds(scene)
    if len(heard) < 2:
        return None
    ranked = sorted(heard, key=lambda s: -s["gain_db"])
    if ranked[0]["gain_db"] - ranked[1]["gain_db"] < LOUDEST_MARGIN_DB or ranked[0]["name"] == ranked[1]["name"]:
        return None
    return ranked[0]["name"]


def listing_sentence(scene: dict) -> str:
    """'I hear a drum, then a dog.' (the part scored by the exact sound-listing accuracy)."""
    heard = heard_sounds(scene)
    if not heard:
        return "I hear nothing."
    return "I hear " + ", then ".join(mention(s["name"]) for s in heard) + "."


def perception_text(scene: dict) -> str:
    text = listing_sentence(scene)
    top = loudest(scene)
    if top is not None:
        text += f" The {top} is the loudest."
    return text


def audio_description(scene: dict) -> str:
    """'I would hear two sounds: a drum, then a dog.' -- the true account without slots.

    [ours, opt-in: ``sightsound pretrain --role student --describe``] Meant to make the world's
    counting sentence, which the teacher's reasoning is written in, familiar to the student before
    CoT SFT (SFT began at 7.4 nats per token). It is a description, not reasoning: no question, no
    answer follows it; slots are left out because audio cannot tell them. Tried and not shipped:
    it did not make the SFT student sample the format (assets/mini/README.md).
    """
    return audio_cot(scene, with_slots=False)


def answer_only(record: dict) -> str | None:
    """The label as an answer-only reply (no reasoning): what the base student learns for questions."""
    if record.get("answer") is None:
        return None
    return answer_block(record["choices"][record["answer"]])
