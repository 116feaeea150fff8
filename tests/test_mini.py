"""SightSound-mini: targets with known truth, disjoint splits, the pretraining loop, shipped checkpoints."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from sightsound.config import SynthConfig
from sightsound.mini import targets as T
from sightsound.mini.splits import SPLITS
from sightsound.synth import make_item
from sightsound.synth.hallucination import judge


def _items(split: str, n: int):
    cfg = SynthConfig(seed=SPLITS[split].seed, num=n)
    return [make_item(cfg, i) for i in range(n)]


@pytest.fixture(scope="module")
def pretrain_items():
    return _items("pretrain", 160)


@pytest.fixture(scope="module")
def mini_cache(tmp_path_factory):
    """Worlds and models of these tests go to a temporary cache (shared by this module), never the user's."""
    path = tmp_path_factory.mktemp("mini_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGHTSOUND_CACHE", str(path))
        yield path


# ------------------------------------------------------------------------------------- targets
def test_verifier_labels_agree_with_the_hallucination_truth(pretrain_items):
    """Yes-accounts make no audio claim the scene contradicts; every corruption makes one.

    The truth function (sightsound.synth.hallucination) was written independently of these targets, so
    agreement checks both.
    """
    from sightsound.synth import all_classes

    rng = random.Random(0)
    kinds = set()
    scenes = [scene for *_, scene in pretrain_items]
    for k, scene in enumerate(scenes):
        for cot, label, kind in T.verifier_examples(scene, rng, foreign=scenes[k - 1]):
            truth = judge(cot, None, None, scene, vocabulary=all_classes())  # as the verify stage calls it
            kinds.add(kind)
            assert truth.hallucinated == (label == "No"), (kind, cot, truth.reasons, scene)
    assert {"truth", "swap", "count", "order", "inaudible", "teacher_false", "foreign_false"} <= kinds


def test_teacher_samples_join_the_verifier_examples_labelled_by_the_truth(pretrain_items, tmp_path):
    """``--teacher-traces``: the teacher's sampled thinks become examples labelled by the scene-graph
    truth the verify stage is scored against; Yes stays common; other splits' traces are refused."""
    import json

    from sightsound.mini import roles as R
    from sightsound.mini.splits import SPLITS
    from sightsound.synth import all_classes
    from sightsound.synth.generate import item_id

    scenes = [scene for *_, scene in pretrain_items]
    traces = tmp_path / "traces.jsonl"
    with traces.open("w") as f:  # a true account in other words, a false one, an unparsed sample
        for i, scene in enumerate(scenes):
            thinks = [T.audio_cot(scene).replace("I would", "I think I would"),
                      T.corrupt_cot(scene, "swap", random.Random(i)), None]
            f.write(json.dumps({"id": item_id(SPLITS["pretrain"].seed, i), "kept": False, "reason": "inconsistent",
                                "samples": [{"index": k, "text": "", "think": t, "choice": 0}
                                            for k, t in enumerate(thinks)]}) + "\n")
    samples = R.teacher_samples(traces)
    assert len(samples) == len(scenes) and all(0 < len(s) <= 2 for s in samples.values())
    rng, labels, kinds = random.Random(3), [], set()
    for i, scene in enumerate(scenes):
        for cot, label, kind in T.verifier_examples(scene, rng, foreign=scenes[i - 1],
                                                    samples=samples[item_id(SPLITS["pretrain"].seed, i)]):
            assert judge(cot, None, None, scene, vocabulary=all_classes()).hallucinated == (label == "No"), (kind, cot)
            labels.append(label)
            kinds.add(kind)
    assert {"sample_false", "sample_true"} <= kinds
    assert 0.4 <= labels.count("Yes") / len(labels) <= 0.6

    other = tmp_path / "other.jsonl"
    other.write_text(traces.read_text().replace(f"synth-{SPLITS['pretrain'].seed}-", "synth-2000-"))
    with pytest.raises(ValueError, match="not of the pretraining split"):
        R.teacher_samples(other)


def _verifier_drills(**drill):
    """(records, plain examples, drill examples) of 12 pretraining records with one drill flag set
    (``reading_drill=0.5`` …); the examples other than the drill's are exactly the plain ones."""
    from sightsound.mini import roles as R
    from sightsound.mini.world import split_records

    (flag, _), = drill.items()
    records, base = split_records("pretrain", 12, progress=False)
    plain = R.examples_for("verifier", records, 0, base=base)
    drilled = R.examples_for("verifier", records, 0, base=base, **drill)
    drills = [e for e in drilled if e.info["kind"] == flag]
    assert [(e.text, e.target) for e in drilled if e.info["kind"] != flag] == [(e.text, e.target) for e in plain]
    assert 2 <= len(drills) <= 10
    return records, plain, drills


def test_reading_drill_adds_accounts_over_silence_whose_marks_only_reading_gets_right(mini_cache):
    """``--reading-drill``: a share of records add one of their accounts over a silent clip of the same
    length; every class the account names is ``silent``, every other ``no``; the other examples are
    exactly those without the drill."""
    import numpy as np

    _, plain, drills = _verifier_drills(reading_drill=0.5)
    for e in drills:
        real = next(x for x in plain if x.info["id"] == e.info["id"])
        assert e.audio.shape == real.audio.shape and not np.any(e.audio) and e.media_key.startswith("silence-")
        marks = dict(T.checklist_marks(e.target.rsplit(" ", 1)[0]))
        named = T.mentioned_classes(e.info["cot"])
        assert named and {c for c, m in marks.items() if m == "silent"} == named
        assert set(marks.values()) == {"silent", "no"} and e.target.endswith(" No")
    assert T.reading_drill_reply("I would hear nothing.").endswith(" Yes")


def test_hearing_drill_leaves_heard_sounds_out_over_the_real_clip(mini_cache):
    """``--hearing-drill``: a share of records add their true account with heard classes left out, over
    the record's own clip; the left-out classes are ``heard``, the rest ``yes``, the verdict No, and
    the hallucination truth the verify stage is scored with calls every such account false (a
    ``count`` error: the teacher's missed source, left out or doubled). The other examples are exactly
    those without it."""
    import numpy as np

    from sightsound.synth.hallucination import judge
    from sightsound.synth.vocab import all_classes

    records, plain, drills = _verifier_drills(hearing_drill=0.5)
    scenes = {r["id"]: r["meta"]["scene"] for r in records}
    for e in drills:
        real = next(x for x in plain if x.info["id"] == e.info["id"])
        assert np.array_equal(e.audio, real.audio) and e.media_key == real.media_key
        scene = scenes[e.info["id"]]
        heard = {s["name"] for s in T.heard_sounds(scene)}
        named = T.mentioned_classes(e.info["cot"])
        marks = dict(T.checklist_marks(e.target.rsplit(" ", 1)[0]))
        assert named < heard and e.target.endswith(" No")
        assert {c for c, m in marks.items() if m == "heard"} == heard - named
        assert {c for c, m in marks.items() if m == "yes"} == named
        truth = judge(e.info["cot"], None, None, scene, all_classes())
        assert truth.hallucinated and all(r.startswith("count:") for r in truth.reasons), truth
    # Leaving every class out gives the account that names nothing.
    scene = records[0]["meta"]["scene"]
    outs = {T.hearing_drill_cot(scene, random.Random(k)) for k in range(40)}
    assert T.sounds_sentence([]) in outs
    # Both shapes of a missed source, on a clip of two classes: left out, and doubled.
    two = next(r["meta"]["scene"] for r in records
               if len({name for name, _ in T.heard_items(r["meta"]["scene"])}) == 2)
    n_sources = len(T.heard_items(two))
    shapes = {T.hearing_drill_cot(two, random.Random(k)) for k in range(60)} - {T.sounds_sentence([])}
    left_out = [c for c in shapes if c.count(", then ") < n_sources - 1 and len(T.mentioned_classes(c)) == 1]
    doubled = [c for c in shapes if c.count(", then ") == n_sources - 1 and len(T.mentioned_classes(c)) == 1]
    assert left_out and doubled, shapes
    assert T.hearing_drill_cot({**scene, "sources": []}, random.Random(0)) is None


def test_first_mark_shows_the_order_errors_a_class_checklist_cannot(pretrain_items):
    """``--order-mark first``: a named class heard first reads ``first`` (all of them when onsets tie); the
    checklist then agrees with every true account and disagrees with every order corruption that puts
    another heard class first, whose class-by-class marks are all clean. Without the flag no reply
    changes."""
    rng = random.Random(3)
    scenes = [scene for *_, scene in pretrain_items]
    caught = clean_before = 0
    for k, scene in enumerate(scenes):
        first = T.heard_first(scene)
        heard = {s["name"] for s in T.heard_sounds(scene)}
        assert first <= heard and bool(first) == bool(heard)
        for cot, label, kind in T.verifier_examples(scene, rng, foreign=scenes[k - 1]):
            plain = T.verifier_checklist(cot, scene)
            marked = T.verifier_checklist(cot, scene, order_mark="first")
            assert T.verifier_reply(cot, scene, label) == f"{plain} {label}"
            assert T.verifier_reply(cot, scene, label, order_mark="first") == f"{marked} {label}"
            named = T.mentioned_classes(cot)
            marks = dict(T.checklist_marks(marked))
            # Only "yes" turns into "first", and exactly for the named classes heard first.
            assert {c for c, m in marks.items() if m == "first"} == named & first
            assert {c: ("yes" if m == "first" else m) for c, m in marks.items()} == dict(T.checklist_marks(plain))
            if label == "Yes":
                assert T.checklist_agrees(cot, marked) and T.checklist_agrees(cot, plain), (kind, cot, marked)
            if kind == "order":
                clean_before += T.checklist_agrees(cot, plain)
                first_named = next(c for c in T.named_in_order(cot) if c in heard)
                if first_named not in first:
                    caught += 1
                    assert not T.checklist_agrees(cot, marked), (cot, marked)
    assert caught >= 5 and clean_before >= caught
    # Onsets heard as together: either may be named first.
    a, b = (dict(s, onset_s=0.5 + 0.02 * i, audible=True, events=[1], visible=False) for i, s in
            enumerate([{"name": "dog", "slot": "left"}, {"name": "bell", "slot": "right"}]))
    tied = {"sources": [a, b]}
    assert T.heard_first(tied) == {"dog", "bell"}
    for cot in ("I would hear two sounds: a dog, then a bell.", "I would hear two sounds: a bell, then a dog."):
        assert T.checklist_agrees(cot, T.verifier_checklist(cot, tied, order_mark="first"))
    late = {"sources": [a, dict(b, onset_s=1.5)]}
    wrong = "I would hear two sounds: a bell, then a dog."
    assert "bell yes" in T.verifier_checklist(wrong, late, "first") and "dog first" in T.verifier_checklist(wrong, late, "first")
    assert not T.checklist_agrees(wrong, T.verifier_checklist(wrong, late, "first"))
    assert T.checklist_agrees(wrong, T.verifier_checklist(wrong, late))  # what a class checklist misses


def test_late_mark_puts_an_order_error_on_the_class_named_first(pretrain_items):
    """``--order-mark late``: the class an account names first reads ``late`` when it is heard but
    not first, and nothing else changes; true accounts agree, and every order corruption that names a
    later sound first (clean class by class) is found false by that one mark."""
    rng = random.Random(5)
    scenes = [scene for *_, scene in pretrain_items]
    caught = 0
    for k, scene in enumerate(scenes):
        heard = {s["name"] for s in T.heard_sounds(scene)}
        for cot, label, kind in T.verifier_examples(scene, rng, foreign=scenes[k - 1]):
            plain = T.verifier_checklist(cot, scene)
            marked = T.verifier_checklist(cot, scene, order_mark="late")
            assert T.verifier_reply(cot, scene, label, order_mark="late") == f"{marked} {label}"
            late = {c for c, m in T.checklist_marks(marked) if m == "late"}
            named = T.named_in_order(cot)
            expected = {named[0]} if named and named[0] in heard and named[0] not in T.heard_first(scene) else set()
            assert late == expected, (cot, marked)
            assert marked.replace(" late", " yes") == plain
            if label == "Yes":
                assert T.checklist_agrees(cot, marked), (kind, cot, marked)
            if kind == "order" and late:
                caught += T.checklist_agrees(cot, plain)
                assert not T.checklist_agrees(cot, marked)
    assert caught >= 5
    a, b = (dict(s, onset_s=0.5 + 0.02 * i, audible=True, events=[1], visible=False) for i, s in
            enumerate([{"name": "dog", "slot": "left"}, {"name": "bell", "slot": "right"}]))
    for cot in ("I would hear two sounds: a dog, then a bell.", "I would hear two sounds: a bell, then a dog."):
        assert "late" not in T.verifier_checklist(cot, {"sources": [a, b]}, "late")  # heard as together
    wrong = "I would hear two sounds: a bell, then a dog."
    assert "bell late" in T.verifier_checklist(wrong, {"sources": [a, dict(b, onset_s=1.5)]}, "late")
    with pytest.raises(ValueError, match="order_mark"):
        T.verifier_checklist(wrong, {"sources": [a, b]}, "last")


@pytest.mark.parametrize("mark", ["listed", "named"])
def test_listed_reply_opens_with_the_sounds_heard_then_the_late_checklist(pretrain_items, mark):
    """``--order-mark listed``: the reply is the student's listing sentence, then the late-mark
    checklist, then the verdict; ``named`` puts the sound the account names first between the two.
    Reading it back skips both sentences, so the marks and the verdict read as for ``late``. Over a
    silent clip (the reading drill) it opens "I hear nothing."."""
    rng = random.Random(7)
    scenes = [scene for *_, scene in pretrain_items]
    for k, scene in enumerate(scenes):
        listing = T.listing_sentence(scene)
        for cot, label, _ in T.verifier_examples(scene, rng, foreign=scenes[k - 1]):
            late = T.verifier_checklist(cot, scene, order_mark="late")
            assert T.verifier_checklist(cot, scene, order_mark=mark) == late
            reply = T.verifier_reply(cot, scene, label, order_mark=mark)
            first = T.named_in_order(cot)[:1]
            named = "" if mark != "named" else f" It names {T.mention(first[0])} first." if first else " It names nothing."
            assert reply == f"{listing}{named} {late} {label}"
            assert T.split_listing(reply) == (listing, f"{late} {label}")
            assert T.checklist_marks(reply.rsplit(" ", 1)[0]) == T.checklist_marks(late)
        assert T.split_listing(T.verifier_reply(cot, scene, label)) == (None, T.verifier_reply(cot, scene, label))
    cot = "I would hear two sounds: a dog, then a bell."
    named = " It names a dog first." if mark == "named" else ""
    assert T.reading_drill_reply(cot, mark) == f"I hear nothing.{named} {T.reading_drill_reply(cot)}"
    assert T.named_first_sentence("I would hear nothing clear.") == "It names nothing."


@pytest.mark.parametrize("mark", ["listed", "named"])
def test_role_check_scores_a_listed_reply_by_its_checklist_and_its_listing(mark):
    """The verifier's role check reads a ``listed`` (or ``named``) reply: verdict from the last word,
    checklist exact without the opening sentences, and the listing scored on its own (``listing_exact``)."""
    from sightsound.mini import roles as R
    from sightsound.mini.role_checks import reply_without_verdict, score_verifier
    from sightsound.mini.world import split_records

    records, base = split_records("pretrain", 8, progress=False)
    examples = R.examples_for("verifier", records, 0, base=base, with_media=False, order_mark=mark)
    replies = [e.target for e in examples]
    right = score_verifier(examples, replies)
    assert right["accuracy"] == right["checklist_exact"] == right["listing_exact"] == 1.0
    assert right["verdict_follows_checklist"] == 1.0
    assert all(T.split_listing(reply_without_verdict(r)) == (e.info["listing"], e.info["checklist"])
               for r, e in zip(replies, examples))
    misheard = [r.replace("I hear", "I hear a dog, then", 1) for r in replies]
    wrong = score_verifier(examples, misheard)
    assert wrong["listing_exact"] == 0.0 and wrong["checklist_exact"] == 1.0 and wrong["accuracy"] == 1.0
    assert "listing_exact" not in score_verifier(R.examples_for("verifier", records, 0, base=base, with_media=False),
                                                 [e.target for e in R.examples_for("verifier", records, 0, base=base,
                                                                                   with_media=False)])


@pytest.mark.parametrize("mark", ["first", "late"])
def test_order_mark_is_the_verifiers_alone_and_recorded(mini_cache, tmp_path, mark):
    """``--order-mark`` is refused for the other roles and for an unknown format; on the verifier it
    changes the replies only (the same examples, drills included) and ``pretrain_info.json`` records
    it, which the role checks read to score a verifier in its own reply format."""
    from sightsound.mini import roles as R
    from sightsound.mini.pretrain import pretrain
    from sightsound.mini.role_checks import reply_order_mark
    from sightsound.mini.world import split_records

    with pytest.raises(ValueError, match="--order-mark.*verifier only"):
        pretrain("student", tmp_path / "s", steps=1, order_mark=mark, evaluate=False, progress=False)
    with pytest.raises(ValueError, match="--order-mark is one of none, first, late"):
        pretrain("verifier", tmp_path / "v", steps=1, order_mark="last", evaluate=False, progress=False)
    records, base = split_records("pretrain", 12, progress=False)
    plain = R.examples_for("verifier", records, 0, base=base, hearing_drill=0.5, order_drill=0.5)
    marked = R.examples_for("verifier", records, 0, base=base, hearing_drill=0.5, order_drill=0.5, order_mark=mark)
    assert [(e.text, e.info["kind"]) for e in plain] == [(e.text, e.info["kind"]) for e in marked]
    assert [e.target.replace(f" {mark}", " yes") for e in marked] == [e.target for e in plain]
    share = sum(f" {mark}" in e.target for e in marked) / len(marked)
    assert share >= (1 / 3 if mark == "first" else 1 / 20), share
    assert all(e.info["checklist"] in e.target for e in marked if "drill" not in e.info["kind"])
    assert reply_order_mark(tmp_path) == "none"
    (tmp_path / "pretrain_info.json").write_text(json.dumps({"role": "verifier", "order_mark": mark}))
    assert reply_order_mark(tmp_path) == mark


def test_order_drill_names_a_later_sound_first_over_the_real_clip(mini_cache):
    """``--order-drill``: a share of records add their true account with a clearly later sound swapped to
    the front, over the record's own clip, verdict No; the hallucination truth calls each an ``order``
    error, a class checklist finds it clean and either order mark does not. The other examples are exactly
    those without it."""
    import numpy as np

    from sightsound.synth.vocab import all_classes

    records, plain, drills = _verifier_drills(order_drill=0.5)
    scenes = {r["id"]: r["meta"]["scene"] for r in records}
    for e in drills:
        real = next(x for x in plain if x.info["id"] == e.info["id"])
        assert np.array_equal(e.audio, real.audio) and e.target.endswith(" No")
        scene, cot = scenes[e.info["id"]], e.info["cot"]
        reasons = judge(cot, None, None, scene, all_classes()).reasons
        assert reasons and all(r.startswith("order:") for r in reasons), (cot, reasons)
        assert T.named_in_order(cot)[0] not in T.heard_first(scene)
        assert T.checklist_agrees(cot, T.verifier_checklist(cot, scene))
        for mark in ("first", "late"):
            assert not T.checklist_agrees(cot, T.verifier_checklist(cot, scene, order_mark=mark)), mark
    one = next(r["meta"]["scene"] for r in records if len(T.heard_sounds(r["meta"]["scene"])) == 1)
    assert T.order_drill_cot(one, random.Random(0)) is None


def test_listing_drill_asks_the_verifier_for_the_sounds_in_the_order_heard(mini_cache, tmp_path):
    """``--listing-drill``: a share of records add the student's listing task over the record's own
    clip (the sounds heard, in the order heard: exactly the student's target); the other examples are
    exactly those without it, and the flag is the verifier's alone."""
    import numpy as np

    from sightsound.mini import roles as R
    from sightsound.mini.pretrain import pretrain

    records, plain, drills = _verifier_drills(listing_drill=0.5)
    student = {e.info["id"]: e for e in R.examples_for("student", records, 0, with_media=False)
               if e.info["kind"] == "listing"}
    for e in drills:
        real = next(x for x in plain if x.info["id"] == e.info["id"])
        assert np.array_equal(e.audio, real.audio) and e.media_key == real.media_key
        assert (e.text, e.target) == (student[e.info["id"]].text, student[e.info["id"]].target)
    with pytest.raises(ValueError, match="--listing-drill.*verifier only"):
        pretrain("student", tmp_path / "s", steps=1, listing_drill=0.5, evaluate=False, progress=False)


def test_verifier_examples_are_balanced(pretrain_items):
    rng = random.Random(1)
    labels = [y for _, _, scene in pretrain_items for _, y, _ in T.verifier_examples(scene, rng)]
    share = labels.count("Yes") / len(labels)
    assert 0.35 <= share <= 0.65, share


def test_verifier_checklist_marks_what_is_named_and_what_is_heard(pretrain_items):
    """The checklist names every class once, in a fixed order; a source it marks silent (named, not
    heard) or heard (heard, not named) makes the account false; only count and order errors leave it clean."""
    from sightsound.synth.vocab import CLASS_NAMES

    rng = random.Random(2)
    scenes = [scene for *_, scene in pretrain_items]
    seen = set()
    for k, scene in enumerate(scenes):
        for cot, label, kind in T.verifier_examples(scene, rng, foreign=scenes[k - 1]):
            reply = T.verifier_reply(cot, scene, label)
            words = reply.split()
            assert words[-1] == label and words[0:-1:2] == CLASS_NAMES, reply
            marks = dict(zip(words[0:-1:2], (w.rstrip(".") for w in words[1:-1:2])))
            heard = {s["name"] for s in T.heard_sounds(scene)}
            assert {c for c, m in marks.items() if m in ("yes", "heard")} == heard
            assert {c for c, m in marks.items() if m in ("yes", "silent")} == T.mentioned_classes(cot)
            clean = set(marks.values()) <= {"yes", "no"}
            seen.add(clean)
            if not clean:
                assert label == "No", (kind, cot, reply)
            if label == "Yes":
                assert clean, (kind, cot, reply)
            if label == "No" and clean:
                assert kind in ("count", "order", "teacher_false", "foreign_false"), (kind, cot, reply)
    assert seen == {True, False}
    assert T.mentioned_classes("I would hear two sounds: a woman on the left, then rain.") == {"woman", "rain"}
    assert T.mentioned_classes("I see no sounding object, so I would hear nothing clear.") == set()


def test_teacher_target_follows_vision_and_answers_with_option_text(pretrain_items):
    from sightsound.parsing import format_ok, parse_response

    wrong_where_sight_misleads = 0
    for family, fields, scene in pretrain_items:
        record = {"choices": fields["choices"], "answer": fields["answer"], "meta": fields["meta"]}
        target = T.teacher_target(record)
        va = fields["meta"]["vision_answer"]
        if va is None:
            assert target is None
            continue
        assert format_ok(target)
        parsed = parse_response(target, fields["choices"])
        assert parsed.choice == va and "The correct answer is: " + fields["choices"][va] in target
        # The reasoning names only what is drawn: an off-screen source is never mentioned.
        drawn = {s["drawn"] for s in scene["sources"] if s["visible"] and s["drawn"]}
        hidden = {s["name"] for s in scene["sources"] if not s["visible"]} - drawn
        assert not any(f" {h} " in f" {parsed.think.replace(',', ' ').replace('.', ' ')} " for h in hidden)
        wrong_where_sight_misleads += fields["meta"]["evidence"] == "audio"
    assert wrong_where_sight_misleads > 0  # the world does hold cases sight cannot know


def test_student_listing_is_the_audio_truth():
    scene = {"duration_s": 3.0, "sample_rate": 16000, "sources": [
        {"name": "dog", "category": "animal", "slot": "left", "visible": True, "audible": True, "drawn": "dog",
         "onset_s": 1.2, "offset_s": 1.5, "gain_db": -12.0, "pitch_hz": None, "events": [[1.2, 1.5]]},
        {"name": "rain", "category": "ambience", "slot": "offscreen", "visible": False, "audible": True,
         "drawn": None, "onset_s": 0.1, "offset_s": 2.0, "gain_db": 0.0, "pitch_hz": None, "events": [[0.1, 2.0]]},
        {"name": "car", "category": "vehicle", "slot": "right", "visible": True, "audible": False, "drawn": "car",
         "onset_s": 0.0, "offset_s": 0.0, "gain_db": 0.0, "pitch_hz": None, "events": []},
    ]}
    assert T.perception_text(scene) == "I hear rain, then a dog. The rain is the loudest."
    # The teacher cannot know the off-screen rain and presumes the silent car sounds.
    assert T.teacher_cot(scene) == "I would hear two sounds: a dog on the left, then a car on the right."
    # The student's description is the truth in the teacher's sentence, without slots (audio cannot
    # tell them), and it is no reasoning: no answer follows it.
    assert T.audio_description(scene) == "I would hear two sounds: rain, then a dog."
    import random

    from sightsound.mini.roles import student_examples

    record = {"meta": {"scene": scene}, "answer": None}
    kinds = [info["kind"] for *_, info in student_examples(record, random.Random(0), describe=True)]
    assert kinds == ["listing", "describe"]
    assert [info["kind"] for *_, info in student_examples(record, random.Random(0))] == ["listing"]  # shipped mix
    assert not any("<think>" in t for _, t, _ in student_examples(record, random.Random(0), describe=True))


# ------------------------------------------------------------------------------------- splits
def test_pretraining_scenes_never_reappear_in_distillation_or_test():
    def digest(scene):
        return hashlib.sha1(json.dumps(scene, sort_keys=True).encode()).hexdigest()

    seeds = [s.seed for s in SPLITS.values()]
    assert len(seeds) == len(set(seeds))
    pre = {digest(scene) for *_, scene in _items("pretrain", 200)} | {
        digest(scene) for *_, scene in _items("pretrain_check", 100)}
    for other in ("distill", "test", "demo", "validation"):
        assert not pre & {digest(scene) for *_, scene in _items(other, 100)}, other


# ------------------------------------------------------------------------------------- features
def test_cached_tokenization_equals_the_processor(mini_cache, tmp_path):
    """Examples sharing a scene are tokenized without the processor; the result must be identical."""
    from sightsound.mini import roles as R
    from sightsound.mini.features import FeatureCache
    from sightsound.mini.pretrain import build_model_dir
    from sightsound.mini.world import split_records
    from sightsound.models.loading import load_model

    records, base = split_records("pretrain", 3, progress=False)
    for role in ("teacher", "verifier"):
        examples = R.examples_for(role, records, seed=0, base=base)
        out = build_model_dir(role, tmp_path / role, 0, R.corpus(examples), size="test")
        _, processor = load_model(str(out))
        cache = FeatureCache(processor, R.role_spec(role).arch)
        for ex in examples:
            cache.add(ex)
        shared = [ex for ex in examples if ex.media_key == examples[0].media_key]
        for ex in shared[1:] or shared:
            cache.check_consistency(ex)
        batch = cache.collate(cache.items[:4])
        assert batch["input_ids"].shape == batch["labels"].shape
        # Only the assistant turn is learnt: every label is -100 or the token in that place.
        learnt = batch["labels"] != -100
        assert learnt.any() and (batch["labels"][learnt] == batch["input_ids"][learnt]).all()


def test_focus_weights_fall_on_the_verdicts_words_and_weights_of_one_give_the_plain_loss(mini_cache):
    """``--focus-weight``: the checklist's disagreement marks and the verdict get weight W, every other
    target token 1, the prompt 0; with W = 1 the weighted loss is the model's own loss."""
    import torch

    from sightsound.mini import roles as R
    from sightsound.mini import targets as T
    from sightsound.mini.checkpoints import mini_model_dir
    from sightsound.mini.features import FeatureCache
    from sightsound.mini.pretrain import weighted_token_loss
    from sightsound.mini.world import split_records
    from sightsound.models.loading import load_model

    records, base = split_records("pretrain_check", 3, progress=False)
    examples = R.examples_for("verifier", records, seed=0, base=base)
    model, processor = load_model(str(mini_model_dir("verifier")))
    plain = FeatureCache(processor, "qwen2_audio")
    ones = FeatureCache(processor, "qwen2_audio", focus={w: 1.0 for w in T.DECISIVE_WORDS})
    five = FeatureCache(processor, "qwen2_audio", focus={w: 5.0 for w in T.DECISIVE_WORDS})
    for ex in examples:
        plain.add(ex), ones.add(ex), five.add(ex)
    tok = processor.tokenizer
    decisive = seen = 0
    for enc, ex in zip(five.items, examples):
        target_words = [tok.convert_ids_to_tokens(t).replace("\u0120", "") for t in enc.labels if t != -100]
        weights = [w for t, w in zip(enc.labels, enc.weights) if t != -100]
        assert all(w == 0 for t, w in zip(enc.labels, enc.weights) if t == -100)
        assert [w == 5.0 for w in weights] == [word in T.DECISIVE_WORDS for word in target_words]
        # Every decisive word of these replies is one token of this tokenizer, so each one is weighted.
        marks = [m for _, m in T.checklist_marks(ex.info["checklist"])]
        assert sum(weights) - len(weights) == 4.0 * (sum(m in T.DECISIVE_WORDS for m in marks) + 1)  # + verdict
        decisive += sum(w == 5.0 for w in weights)
        seen += 1
    assert seen and decisive > seen  # verdicts plus some disagreement marks
    # A focus word this (warm-started) tokenizer splits is weighted as its run of pieces: " late" is
    # "Ġl" + "ate" here (session 20's V13/V14 trained before this, without the weight on it).
    for text, expect in ((" dog late. No", [1, 5, 5, 1, 5]), (" wind no. Yes", [1, 1, 1, 1, 5])):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert five._weights(ids) == expect, tok.convert_ids_to_tokens(ids)
    assert len(tok(" late", add_special_tokens=False)["input_ids"]) == 2
    with torch.no_grad():
        b_plain, b_ones = plain.collate(plain.items), ones.collate(ones.items)
        w = b_ones.pop("loss_weights")
        assert "loss_weights" not in b_plain
        assert weighted_token_loss(model, b_ones, w).item() == pytest.approx(model(**b_plain).loss.item(), rel=1e-5)


def test_focus_weight_is_for_the_verifier_only(tmp_path):
    from sightsound.mini.pretrain import pretrain

    with pytest.raises(ValueError, match="--role verifier only"):
        pretrain("student", tmp_path / "s", steps=1, focus_weight=5.0)
    with pytest.raises(ValueError, match="positive"):
        pretrain("verifier", tmp_path / "v", steps=1, focus_weight=0.0)
    with pytest.raises(ValueError, match="--role verifier only"):
        pretrain("student", tmp_path / "s", steps=1, teacher_traces=tmp_path / "traces.jsonl")
    with pytest.raises(ValueError, match="--role verifier only"):
        pretrain("student", tmp_path / "s", steps=1, reading_drill=0.3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        pretrain("verifier", tmp_path / "v", steps=1, reading_drill=1.5)
    with pytest.raises(ValueError, match="--role verifier only"):
        pretrain("student", tmp_path / "s", steps=1, hearing_drill=0.3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        pretrain("verifier", tmp_path / "v", steps=1, hearing_drill=-0.1)
    with pytest.raises(ValueError, match="--role student only"):
        pretrain("verifier", tmp_path / "v", steps=1, qa_share=0.5)
    with pytest.raises(ValueError, match="between 0 and 0.5"):
        pretrain("student", tmp_path / "s", steps=1, qa_share=0.6)


def test_qa_share_sets_the_students_share_of_answer_only_examples(mini_cache):
    """``--qa-share``: the default gives the shipped first stage's mixture; 0.5 answers every record's
    question once; 0 none. Answers are the label's option text, never a reasoning reply."""
    from sightsound.mini import roles as R
    from sightsound.mini.world import split_records

    records, base = split_records("pretrain", 40, progress=False)
    with_q = sum(r.get("answer") is not None for r in records)

    def qa(share):
        return [e for e in R.examples_for("student", records, 0, base=base, with_media=False, qa_share=share)
                if e.info["kind"] == "qa"]

    assert [e.target for e in qa(R.STUDENT_QA_SHARE)] == \
        [e.target for e in R.examples_for("student", records, 0, base=base, with_media=False)
         if e.info["kind"] == "qa"]
    assert 0 < len(qa(R.STUDENT_QA_SHARE)) < with_q
    assert len(qa(0.5)) == with_q and not qa(0.0)
    for e in qa(0.5):
        assert "<think>" not in e.target and e.target == T.answer_block(e.info["choices"][e.info["answer"]])


# ------------------------------------------------------------------------------------- training
@pytest.mark.slow
@pytest.mark.parametrize("role", ["teacher", "verifier", "student"])
def test_pretrain_runs_and_the_loss_falls(role, mini_cache, tmp_path):
    from sightsound.cli import main
    from sightsound.models.loading import load_model

    out = tmp_path / role
    extra = []
    if role == "verifier":  # with the teacher's samples (--teacher-traces), as the shipped verifier's last stage
        from sightsound.synth.generate import item_id

        traces = tmp_path / "traces.jsonl"
        traces.write_text("".join(json.dumps({"id": item_id(SPLITS["pretrain"].seed, i), "kept": False, "samples": [
            {"index": 0, "think": "I would hear one sound: a dog on the left.", "choice": 0}]}) + "\n" for i in range(4)))
        extra = ["--teacher-traces", str(traces)]
    rc = main(["pretrain", "--role", role, "--out", str(out), "--steps", "12", "--num", "4", "--size", "test",
               "--threads", "1", "--lr", "1e-2", "--no-eval", *extra])
    assert rc == 0
    info = json.loads((out / "pretrain_info.json").read_text())
    if extra:
        assert info["teacher_traces"]["records_with_samples"] == 4 and "--teacher-traces" in info["reproduce"]
    assert info["steps"] == 12 and info["pretrain_split"]["seed"] == SPLITS["pretrain"].seed
    assert info["loss_last"] < info["loss_first"] - 0.5, info["loss_curve"]
    model, _ = load_model(str(out))  # an ordinary HF directory: the normal loader reads it
    assert sum(p.numel() for p in model.parameters()) == info["num_parameters"]


# ------------------------------------------------------------------------------------- shipped
# How far above chance each shipped role must score (see assets/mini/README.md for the numbers).
MARGIN = {"teacher": 0.1, "student": 0.1, "verifier": 0.25}  # verifier: 0.34 recorded on its slice, less slack


@pytest.mark.slow
@pytest.mark.parametrize("role", ["teacher", "verifier", "student"])
def test_shipped_checkpoint_reproduces_its_recorded_accuracy(role, mini_cache, margin=None):
    """The shipped model, loaded by the normal loader and the hf backend, scores what it recorded."""
    from sightsound.mini.checkpoints import shipped_dir
    from sightsound.mini.role_checks import evaluate_role

    path = shipped_dir(role)
    if path is None:
        pytest.skip(f"no shipped {role} checkpoint in assets/mini (an installed package without assets)")
    info = json.loads((path / "pretrain_info.json").read_text())
    ref = info["reference_check"]
    got = evaluate_role(role, path, split=ref["split"], num=ref["records"], margins=role == "verifier")
    assert got["n"] == ref["n"]
    # Greedy decoding is deterministic on one machine; float differences between CPUs or torch
    # builds can flip a near-tie, so two items of slack (a broken load scores near zero).
    assert abs(got["accuracy"] - ref["accuracy"]) * ref["n"] <= 2.0 + 1e-9, (got, ref)
    assert got["accuracy"] > ref["chance"] + (MARGIN[role] if margin is None else margin)  # it knows something
    # The figures the stage gates read, on the same slice, with the same slack (see README's gate table).
    if role == "teacher":
        for ev, acc in ref["accuracy_by_evidence"].items():
            assert abs(got["accuracy_by_evidence"][ev] - acc) * ref["n_by_evidence"][ev] <= 2.0 + 1e-9, (ev, got, ref)
    if role == "verifier":
        assert abs(got["discard_recall"] - ref["discard_recall"]) * ref["labels"]["No"] <= 2.0 + 1e-9, (got, ref)
        assert abs(got["discard_precision"] - ref["discard_precision"]) <= 0.1, (got, ref)
        assert abs(got["margins"]["auc"] - ref["auc"]) <= 0.02, (got["margins"], ref)
    if role == "student" and ref.get("description_exact") is not None:
        assert abs(got["description_exact"] - ref["description_exact"]) * ref["description_n"] <= 2.0 + 1e-9


def test_shipped_verifier_recorded_that_it_listens():
    """On the whole held-out set (362 accounts) the shipped verifier is clearly above chance and hears:
    its Yes-No margin separates true accounts from another clip's true account (0.5 = deaf).
    The slow test above re-measures a slice of the same evaluation on this machine."""
    from sightsound.mini.checkpoints import shipped_dir

    path = shipped_dir("verifier")
    if path is None:
        pytest.skip("no shipped verifier checkpoint in assets/mini")
    held = json.loads((path / "pretrain_info.json").read_text())["heldout"]
    assert held["n"] >= 300 and held["verdict_rule"] == "final"
    assert held["accuracy"] >= held["chance"] + 0.1, held
    assert held["margins"]["listening_auc"] >= 0.9, held["margins"]  # the gate (README); 0.93 recorded


def test_auc_is_the_mann_whitney_statistic():
    from sightsound.mini.role_checks import auc

    assert auc([2.0, 3.0], [0.0, 1.0]) == 1.0
    assert auc([0.0], [1.0]) == 0.0
    assert auc([1.0, 0.0], [1.0, 0.0]) == 0.5  # ties count half
    assert auc([], [1.0]) is None


@pytest.mark.slow
def test_verifier_margin_sign_is_its_greedy_verdict(mini_cache):
    """The threshold-free margin (Yes - No logit, after the model's own checklist) agrees with the verdict it generates."""
    from sightsound.mini import roles as R
    from sightsound.mini.checkpoints import shipped_dir
    from sightsound.mini.role_checks import _generate, logit_margins, reply_without_verdict, verifier_margins
    from sightsound.mini.world import split_records
    from sightsound.verdicts import parse_verdict

    path = shipped_dir("verifier")
    if path is None:
        pytest.skip("no shipped verifier checkpoint in assets/mini")
    records, base = split_records("pretrain_check", 6, progress=False)
    examples = R.examples_for("verifier", records, 0, base=base)
    texts = _generate(path, examples, R.role_spec("verifier").max_new_tokens, False)
    prefixes = [reply_without_verdict(t) for t in texts]
    margins = logit_margins(path, examples, prefixes)
    verdicts = [parse_verdict(t, R.VERDICT_RULE) for t in texts]
    assert verdicts == ["yes" if m > 0 else "no" for m in margins], list(zip(verdicts, margins, texts))
    summary = verifier_margins(path, examples, prefixes)
    assert 0.0 <= summary["auc"] <= 1.0
    assert set(summary["mean_margin_by_kind"]) == {ex.info["kind"] for ex in examples}


def test_verifier_generation_budget_fits_its_longest_reply():
    """The role checks generate at most ``max_new_tokens`` per reply: the longest ``named`` reply (the
    longest format: listing, the sound named first, the checklist, the verdict) on 300 pretraining
    records fits, counted by the shipped verifier's tokenizer, with room for the end token; so does
    the demo recipe's budget for the verify stage (a reply cut before its verdict reads as unparsable)."""
    from transformers import AutoTokenizer

    from sightsound.config import load_recipe
    from sightsound.mini import roles as R
    from sightsound.mini.checkpoints import shipped_dir
    from sightsound.mini.world import split_records

    path = shipped_dir("verifier")
    if path is None:
        pytest.skip("no shipped verifier checkpoint in assets/mini")
    tok = AutoTokenizer.from_pretrained(path)
    records, base = split_records("pretrain", 300, progress=False)
    examples = R.examples_for("verifier", records, 0, base=base, with_media=False, order_mark="named",
                              hearing_drill=1, order_drill=1, reading_drill=0.5)
    longest = max(len(tok(e.target, add_special_tokens=False).input_ids) for e in examples)
    assert 50 < longest < R.role_spec("verifier").max_new_tokens, longest
    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    assert longest < load_recipe(demo, []).verify.max_new_tokens, longest
