"""Scene-graph truth for the fact-check and precision/recall of discarding hallucinations (hand-made cases)."""

import pytest

from sightsound.synth.hallucination import judge, score


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


# ------------------------------------------------------------------------------ scoring a verify output
# The figures the truth scoring gave, before it moved out of the verify stage, for the hand-made world
# of tests/verify_world.py and the verdicts of _verified_rows (kept fixed: the move must not change them).
EXPECTED_FIGURES = {
    "samples": 9, "hallucinated": 3, "discarded": 3, "true_positive": 2, "false_positive": 1,
    "false_negative": 1, "true_negative": 5, "precision": 0.6666666666666666, "recall": 0.6666666666666666,
    "f1": 0.6666666666666666, "hallucination_rate_before": 0.3333333333333333,
    "hallucination_rate_after": 0.16666666666666666,
}


def _verified_rows() -> list[dict]:
    """What verify writes for the world with a verifier that misses r4's cow and doubts r1#2."""
    from verify_world import HALLUCINATED, RECORDS, THINKS

    rows = []
    for r in RECORDS:
        if len({c for _, c in THINKS[r["id"]]}) != 1:
            continue  # not kept by the consistency filter: never verified
        for k, (think, choice) in enumerate(THINKS[r["id"]]):
            key = f"{r['id']}#{k}"
            if r.get("missing_audio"):
                verdict = "error"
            elif r["id"] == "r4":
                verdict = "yes"
            else:
                verdict = "no" if HALLUCINATED[key] or key == "r1#2" else "yes"
            rows.append({"key": key, "id": r["id"], "sample_index": k, "verdict": verdict, "kept": verdict == "yes",
                         "replies": [verdict.capitalize()] if verdict != "error" else [], "verdict_rule": "strict",
                         "verifier": {"backend": "scripted"}, "error": None, "think": think, "choice": choice,
                         "label": r["answer"]})
    return rows


def test_truth_scores_of_a_verify_output_are_unchanged_and_fill_its_stats_file(tmp_path):
    from verify_world import write_world

    from sightsound.jsonl import read_json, write_jsonl_atomic
    from sightsound.synth.hallucination import write_truth_scores
    from sightsound.verify import stats_path, write_stats

    world = write_world(tmp_path)
    out = tmp_path / "verified.jsonl"
    write_jsonl_atomic(out, _verified_rows())
    before = write_stats(out, extra={"api_usage": {"requests": 9}})
    assert before["hallucination"] is None  # Step 2 alone knows no truth

    h = write_truth_scores(out, world["traces"], world["data"])
    expected = dict(EXPECTED_FIGURES, by_reason={"inaudible": {"samples": 2, "discarded": 1},
                                                 "order": {"samples": 1, "discarded": 1}})
    expected["by_evidence"] = {"audio": dict(EXPECTED_FIGURES)}
    # r0#0 and r4#2 say "on the left": 2 visual of 12 claims in the 9 samples, 2 of 7 in the 6 kept.
    expected["modality_leak_before"], expected["modality_leak_after"] = 2 / 12, 2 / 7
    expected["modality_leak"] = {
        "before": {"samples": 9, "claims": 12, "visual_claims": 2, "rate": 2 / 12, "samples_with_visual_claim": 2,
                   "by_kind": {"position": 2}},
        "after": {"samples": 6, "claims": 7, "visual_claims": 2, "rate": 2 / 7, "samples_with_visual_claim": 2,
                  "by_kind": {"position": 2}}}
    assert h == expected
    on_disk = read_json(stats_path(out))
    assert on_disk["hallucination"] == h
    # The entry keeps its place in the file, before what the stage appended.
    assert list(on_disk) == list(before)
    # The traces alone carry no scene graph here: without the records there is no truth.
    assert write_truth_scores(out, world["traces"]) is None
    assert read_json(stats_path(out))["hallucination"] is None


def test_truth_scores_read_the_scene_graphs_the_teacher_copied_into_its_traces(tmp_path):
    import json

    from verify_world import write_world

    from sightsound.jsonl import write_jsonl_atomic
    from sightsound.synth.hallucination import verified_truth_scores

    world = write_world(tmp_path)
    meta = {r["id"]: r["meta"] for r in map(json.loads, world["data"].read_text().splitlines())}
    traces = [dict(t, meta=meta[t["id"]]) for t in map(json.loads, world["traces"].read_text().splitlines())]
    with_meta = tmp_path / "traces_with_meta.jsonl"
    write_jsonl_atomic(with_meta, traces)
    out = tmp_path / "verified.jsonl"
    write_jsonl_atomic(out, _verified_rows())
    assert verified_truth_scores(out, with_meta) == verified_truth_scores(out, world["traces"], world["data"])


def test_the_pipelines_verify_stage_writes_the_truth_scores_into_its_stats(tmp_path, monkeypatch):
    """Step 2 knows no truth, so the pipeline scores its output on synthetic data: same figures, same key."""
    from types import SimpleNamespace

    from verify_world import write_world

    import sightsound.backends.base as backends
    from sightsound.backends.base import Generation, GenerationResult
    from sightsound.config import load_recipe
    from sightsound.jsonl import read_json
    from sightsound.pipeline import _verify_stage
    from sightsound.verify import stats_path

    replies = {r["key"]: ("Yes" if r["kept"] else "No") for r in _verified_rows() if r["verdict"] != "error"}

    class Scripted:
        def describe(self):
            return {"backend": "scripted"}

        def generate(self, requests):
            return [GenerationResult(r.id, [Generation(replies[r.id], 1, "stop")]) for r in requests]

    monkeypatch.setattr(backends, "make_backend", lambda *a, **k: Scripted())
    world = write_world(tmp_path)
    L = SimpleNamespace(traces=world["traces"], data=world["data"], verified=tmp_path / "verify" / "verified.jsonl")
    recipe = load_recipe(None, ["pipeline.progress=false"])
    _verify_stage(recipe, L).fn()
    h = read_json(stats_path(L.verified))["hallucination"]
    assert {k: h[k] for k in EXPECTED_FIGURES} == EXPECTED_FIGURES


# ------------------------------------------------------------------------------- modality leak [ours]
@pytest.mark.parametrize("think,visual", [
    ("A dog barks on the left.", ["a dog barks on the left"]),  # a position
    ("I see a red square.", ["i see a red square"]),  # seeing, a colour, a drawn shape
    ("The big drum moves.", ["the big drum moves"]),  # a size, motion
    ("A cat meows off-screen.", ["a cat meows off screen"]),
    ("I see no dog.", ["i see no dog"]),  # what the frames lack is not heard either
])
def test_a_visual_claim_is_counted(think, visual):
    from sightsound.synth.leak import visual_claims

    assert visual_claims(think) == visual


@pytest.mark.parametrize("think", [
    "A dog barks twice, then a violin plays.", "I would hear two sounds: a dog, then rain.",
    "The drum is louder than the bell.", "I would hear nothing clear.",
])
def test_an_audio_claim_is_not_counted(think):
    from sightsound.synth.leak import claims, visual_claims

    assert claims(think) and visual_claims(think) == []


def test_leak_rate_is_pooled_over_claims_and_undefined_without_any():
    from sightsound.synth.leak import claims, modality_leak

    teacher = "I would hear two sounds: wind on the left, then a bird on the right."
    assert claims(teacher) == ["i would hear two sounds", "wind on the left", "a bird on the right"]
    leak = modality_leak([teacher, "A dog barks.", ""])
    assert leak == {"samples": 3, "claims": 4, "visual_claims": 2, "rate": 0.5, "samples_with_visual_claim": 1,
                    "by_kind": {"position": 2}}
    assert modality_leak(["", None])["rate"] is None and modality_leak([])["claims"] == 0
