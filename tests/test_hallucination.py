"""Scene-graph truth for the fact-check and precision/recall of discarding hallucinations (hand-made cases)."""

import pytest

from sightsound.hallucination import judge, score


def _src(name, audible, onset, events, category="animal", drawn=None, visible=True):
    return {"name": name, "category": category, "slot": "left", "visible": visible, "audible": audible,
            "drawn": drawn if drawn is not None else (name if visible else None), "onset_s": onset,
            "offset_s": onset + 1.0, "gain_db": 0.0, "pitch_hz": None, "events": events}


# A dog barks twice from 0.2 s, a violin plays from 1.2 s, a cat meows off screen at 2.0 s,
# and a car is drawn but silent; a drawn "cow" actually sounds like a sheep.
SCENE = {"duration_s": 3.0, "sample_rate": 16000, "sources": [
    _src("dog", True, 0.2, [[0.2, 0.5], [0.7, 1.0]]),
    _src("violin", True, 1.2, [[1.2, 2.0]], category="instrument"),
    _src("cat", True, 2.0, [[2.0, 2.5]], visible=False),
    _src("car", False, 0.0, [], category="vehicle"),
    _src("sheep", True, 2.5, [[2.5, 2.9]], drawn="cow"),
]}


@pytest.mark.parametrize("think", [
    "A dog barks twice, then a violin plays. A cat meows at the end.",
    "I hear four distinct sounds: a dog, a violin, a cat and a sheep.",
    "The car is silent, and the dog barks.",  # negated clause: no claim about the car
    "There is no car engine; a sheep bleats.",
    "After the dog barks, the violin starts.",
    "The violin plays after the dog barks.",
    "",
])
def test_faithful_thinks_are_not_hallucinations(think):
    assert judge(think, 1, 1, SCENE).reasons == []


@pytest.mark.parametrize("think,reason", [
    ("A car engine roars in the background.", "inaudible:car"),
    ("I can hear a cow mooing.", "inaudible:cow"),  # drawn, but it sounds like a sheep
    ("A violin plays before the dog barks.", "order:violin>dog"),
    ("After the cat meows, the dog barks.", "order:cat>dog"),
    ("The dog barks three times.", "count:dog"),
    ("I hear two instruments.", "count:instruments"),
    ("There are 2 sound sources.", "count:sound sources"),
])
def test_contradicting_claims_are_hallucinations(think, reason):
    truth = judge(think, 1, 1, SCENE)
    assert truth.hallucinated and truth.reasons == [reason]


def test_wrong_answer_is_a_hallucination_even_with_a_faithful_think():
    truth = judge("A dog barks twice.", choice=2, label=1, scene=SCENE)
    assert truth.hallucinated and truth.reasons == ["wrong_answer"]
    assert not judge("A dog barks twice.", choice=1, label=None, scene=None).hallucinated  # nothing to check


def test_longer_class_names_win_and_extra_vocabulary_is_checked():
    # "guitar" alone is not reported when the text says "acoustic guitar".
    truth = judge("An acoustic guitar strums.", 0, 0, SCENE, vocabulary=["acoustic_guitar", "guitar"])
    assert truth.reasons == ["inaudible:acoustic_guitar"]
    # A class the scene never mentions is only known through the vocabulary.
    assert judge("A trumpet blares.", 0, 0, SCENE).reasons == []
    assert judge("A trumpet blares.", 0, 0, SCENE, vocabulary=["trumpet"]).reasons == ["inaudible:trumpet"]


def test_precision_recall_on_a_known_case():
    # Six samples with known truth: verifier discards 3 (2 truly hallucinated), keeps 3 (1 hallucinated).
    pairs = [(True, True), (True, True), (True, False), (False, True), (False, False), (False, False)]
    s = score(pairs)
    assert (s["true_positive"], s["false_positive"], s["false_negative"], s["true_negative"]) == (2, 1, 1, 2)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["hallucination_rate_before"] == pytest.approx(3 / 6)
    assert s["hallucination_rate_after"] == pytest.approx(1 / 3)


def test_undefined_ratios_are_none_not_numbers():
    s = score([(False, False), (False, False)])  # nothing discarded, nothing hallucinated
    assert s["precision"] is None and s["recall"] is None and s["f1"] is None
    s = score([(True, False), (False, True)])  # everything wrong
    assert s["precision"] == 0.0 and s["recall"] == 0.0 and s["f1"] == 0.0
    assert score([])["samples"] == 0


def test_end_to_end_truth_then_score():
    samples = [  # (think, choice, verifier discarded?)
        ("A dog barks twice, then a violin plays.", 1, False),  # faithful, kept      -> TN
        ("A car engine roars.", 1, True),  # hallucinated, discarded                   -> TP
        ("The cat meows before the dog barks.", 1, False),  # hallucinated, kept        -> FN
        ("A sheep bleats.", 3, True),  # wrong answer, discarded                       -> TP
        ("A violin plays.", 1, True),  # faithful, discarded                            -> FP
    ]
    pairs = [(d, judge(t, c, 1, SCENE).hallucinated) for t, c, d in samples]
    s = score(pairs)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)


def test_agrees_with_the_mini_worlds_independent_accounts():
    """Cross-check against SightSound-mini's targets (written separately from the scene graph): the true
    audio account is never flagged, every corruption of it is, and so are the teacher's vision-based
    accounts that are false (except onsets closer than the order tolerance, a rare case)."""
    import random

    import numpy as np

    from sightsound.mini.targets import CORRUPTIONS, audio_cot, corrupt_cot, teacher_cot
    from sightsound.synth.scene import class_events, free_slots, make_source, new_scene
    from sightsound.synth.vocab import CLASS_NAMES, OFFSCREEN, all_classes

    rng, prng, vocab = np.random.default_rng(0), random.Random(0), all_classes()
    counts = {"truth_flagged": 0, "corruptions": 0, "corruptions_missed": 0, "teacher_true_flagged": 0,
              "teacher_false": 0, "teacher_false_missed": 0}
    for _ in range(200):
        k = int(rng.integers(1, 4))
        sources = []
        for name, slot in zip(rng.choice(CLASS_NAMES, size=k, replace=False), free_slots(rng, k)):
            name = str(name)
            slot = OFFSCREEN if rng.random() < 0.15 else slot
            audible = rng.random() < 0.8
            drawn = str(rng.choice([c for c in CLASS_NAMES if c != name])) if rng.random() < 0.2 else "same"
            sources.append(make_source(name, slot=slot, audible=audible, drawn=drawn,
                                       events=class_events(rng, name, 0.1, 2.9) if audible else []))
        scene = new_scene(3.0, 16000, sources)
        trues = {audio_cot(scene, True), audio_cot(scene, False)}
        counts["truth_flagged"] += sum(judge(t, 0, 0, scene, vocab).hallucinated for t in trues)
        for kind in CORRUPTIONS:
            bad = corrupt_cot(scene, kind, prng, with_slots=prng.random() < 0.7)
            if bad is not None and bad not in trues:
                counts["corruptions"] += 1
                counts["corruptions_missed"] += not judge(bad, 0, 0, scene, vocab).hallucinated
        vision = teacher_cot(scene)
        flagged = judge(vision, 0, 0, scene, vocab).hallucinated
        if vision in trues:
            counts["teacher_true_flagged"] += flagged
        else:
            counts["teacher_false"] += 1
            counts["teacher_false_missed"] += not flagged
    assert counts["truth_flagged"] == 0 and counts["teacher_true_flagged"] == 0, counts
    assert counts["corruptions"] > 300 and counts["corruptions_missed"] == 0, counts
    assert counts["teacher_false"] > 60 and counts["teacher_false_missed"] <= 0.03 * counts["teacher_false"], counts
