"""Rewards of Step 3: format and accuracy against the distilled label (pure functions, registry by name)."""

import pytest

from sightsound.rewards import (
    REWARDS,
    accuracy_reward,
    build_reward_funcs,
    completion_text,
    format_reward,
    get_reward,
)

CHOICES = ["chicken", "cat", "dog", "turkey"]
GOOD = "<think> Meows and purrs: a cat. </think> <answer> The correct answer is: B. cat </answer>"


def test_registry_names_and_weights():
    assert {"format", "accuracy"} <= set(REWARDS)
    assert get_reward("format") is format_reward
    funcs, weights = build_reward_funcs(["format", "accuracy"], [1, 0.5])
    assert funcs == [format_reward, accuracy_reward] and weights == [1.0, 0.5]
    # TRL logs rewards/<__name__>/mean: the registry name must be the function's name.
    assert [f.__name__ for f in funcs] == ["format", "accuracy"]
    with pytest.raises(KeyError, match="unknown reward 'acc'"):
        get_reward("acc")
    with pytest.raises(ValueError, match="weights"):
        build_reward_funcs(["format", "accuracy"], [1.0])


@pytest.mark.parametrize("text,expected", [
    (GOOD, 1.0),
    ("<think>a\nmultiline\nthought</think>\n<answer>\nB\n</answer>\n", 1.0),  # multiline is fine
    ("<answer> B </answer>", 0.0),  # no think
    ("<think> x </think>", 0.0),  # no answer
    ("<answer> B </answer> <think> x </think>", 0.0),  # wrong order
    ("<think> x </think> <answer> </answer>", 0.0),  # empty answer
    ("<think></think> <answer> B </answer>", 0.0),  # empty think
    ("<think> x </think> <answer> B </answer> <answer> C </answer>", 0.0),  # two answers
    ("<think> x <think> y </think> <answer> B </answer>", 0.0),  # nested think
    ("Sure! <think> x </think> <answer> B </answer>", 0.0),  # text outside the blocks
    ("<think> x </think> <answer> B </answer> trailing", 0.0),
    ("<think> x </think> <answer> B", 0.0),  # truncated
    ("", 0.0),
])
def test_format(text, expected):
    assert format_reward([text], [1], [CHOICES]) == [expected]


@pytest.mark.parametrize("answer,expected", [
    ("The correct answer is: B. cat", 1.0),
    ("B", 1.0),  # letter only
    ("(B)", 1.0),
    ("cat", 1.0),  # option text only
    ("It is a cat.", 1.0),
    ("The correct answer is: C. dog", 0.0),  # wrong option
    ("dog", 0.0),
    ("B. dog", 0.0),  # letter and text disagree: ambiguous, never rewarded
    ("cat or dog", 0.0),  # several options named
    ("A, B, C, D", 0.0),
    ("", 0.0),  # empty answer
    ("a bird", 0.0),  # no option
])
def test_accuracy_letter_text_multiple_empty(answer, expected):
    text = f"<think> I hear meowing. </think> <answer> {answer} </answer>"
    assert accuracy_reward([text], [1], [CHOICES]) == [expected]


def test_accuracy_edge_cases():
    # No <answer> block: the whole reply is read, as evaluation reads it — a correct plain-text
    # reply earns accuracy (and no format reward); a wrong or unparsable one earns nothing.
    untagged = ["The main source of sound is a cat.", "B. cat", "<think> B. cat </think>", "a dog", "cat or dog", ""]
    assert accuracy_reward(untagged, [1] * 6, [CHOICES] * 6) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert format_reward(untagged) == [0.0] * 6
    # The last <answer> block counts (a model that corrects itself).
    assert accuracy_reward(["<answer> A </answer> <answer> B </answer>"], [1], [CHOICES]) == [1.0]
    # Multiline answer.
    assert accuracy_reward(["<think>x</think><answer>\nThe correct answer is:\nB. cat\n</answer>"], [1], [CHOICES]) == [1.0]
    # Accuracy does not require the format: the two rewards are independent signals.
    assert accuracy_reward(["blah <answer>cat</answer>"], [1], [CHOICES]) == [1.0]
    assert format_reward(["blah <answer>cat</answer>"]) == [0.0]


def test_answer_format_reward_is_r1_aqas():
    from sightsound.rewards import get_reward

    r = get_reward("answer_format")
    assert r(["<answer>cat</answer>", GOOD, "cat", [{"role": "assistant", "content": "<answer>B</answer>"}]]) \
        == [1.0, 0.0, 0.0, 1.0]


def test_batch_columns_conversational_and_broadcast():
    convo = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": "<answer>dog</answer>"}]]
    assert completion_text(convo[0]) == GOOD
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]) == GOOD
    # Per-completion label columns, as TRL passes them (one row per completion).
    assert accuracy_reward(convo, [1, 2], [CHOICES, CHOICES]) == [1.0, 1.0]
    assert accuracy_reward(convo, [2, 1], [CHOICES, CHOICES]) == [0.0, 0.0]
    assert format_reward(convo) == [1.0, 0.0]
    # A single label and a single option list apply to every completion.
    assert accuracy_reward(convo, 1, CHOICES) == [1.0, 0.0]
    # Different questions in one batch keep their own options.
    other = ["piano", "violin"]
    assert accuracy_reward(["<answer>violin</answer>", "<answer>violin</answer>"], [1, 1], [other, CHOICES]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="3 entries for 2 completions"):
        accuracy_reward(convo, [1, 1, 1], [CHOICES, CHOICES])
    # Missing label (None) never scores.
    assert accuracy_reward(["<answer>B</answer>"], [None], [CHOICES]) == [0.0]
