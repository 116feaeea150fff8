"""The verifier's reply rule: 'Yes' keeps, 'No' discards, anything else is unparsable (= No)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightsound.verdicts import ERROR, NO, UNPARSABLE, YES, decide, parse_verdict


@pytest.mark.parametrize("reply", ["Yes", "yes", "yes.", "YES!", " Yes \n", "'Yes'", '"yes".', "**Yes**",
                                   "\u201cYes\u201d", "`yes`"])
def test_yes_forms(reply):
    assert parse_verdict(reply) == YES


@pytest.mark.parametrize("reply", ["No", "no", "No.", "'no'", "NO"])
def test_no_forms(reply):
    assert parse_verdict(reply) == NO


@pytest.mark.parametrize("reply", [
    "Yes, but\u2026",
    "Yes, but the barking is faint.",
    "",
    "   ",
    None,
    "Yes No",
    "The answer is Yes",
    "Y",
    "Yess",
    "Yes\u2026",
    "<answer>Yes</answer>",
    "Yes. " + "The audio contains a dog barking and a car passing by, which the reasoning describes. " * 20,
    "No, the reasoning mentions a violin that cannot be heard.",
])
def test_anything_else_is_unparsable(reply):
    assert parse_verdict(reply) == UNPARSABLE


def test_one_vote_is_the_parsed_reply():
    assert decide(["Yes"]) == (YES, True)
    assert decide(["No"]) == (NO, False)
    assert decide(["Yes, but"]) == (UNPARSABLE, False)  # counts as No: not kept


def test_majority_needs_strictly_more_than_half_yes():
    assert decide(["Yes", "yes.", "No"]) == (YES, True)
    assert decide(["Yes", "No", "garbage"]) == (NO, False)  # one yes of three
    assert decide(["Yes", "No"]) == (NO, False)  # a tie is not a majority
    assert decide(["Yes", "Yes", "?", "?"]) == (UNPARSABLE, False)  # 2 of 4: no; unparsable outnumber no
    assert decide(["Yes", "No", "?", "No"]) == (NO, False)
    assert decide(["Yes", "?", "No"]) == (NO, False)  # no and unparsable tie -> no


def test_no_replies_is_an_error():
    assert decide([]) == (ERROR, False)


@given(st.text())
def test_any_text_gets_one_of_three_verdicts_and_yes_needs_the_word(text):
    v = parse_verdict(text)
    assert v in (YES, NO, UNPARSABLE)
    if v == YES:
        assert "yes" in text.lower() and "no" not in text.lower().replace("yes", "")


@given(st.sampled_from(["yes", "Yes", "YES", "no", "No"]), st.text(alphabet="\"'`*_ \n.!", max_size=6))
def test_wrapping_never_changes_the_word(word, wrap):
    # Symmetric wrapping plus trailing punctuation/whitespace: the word is still read.
    opening = "".join(c for c in wrap if c in "\"'`*_")
    text = f"{opening}{word}{opening[::-1]}{'.' if '.' in wrap else ''}"
    assert parse_verdict(text) == word.lower()


@pytest.mark.parametrize("reply, verdict", [
    ("I hear a dog, then a piano. Yes", YES),
    ("I hear a dog. No.", NO),
    ("Yes", YES),
    ("No", NO),
    ("I hear a dog, then a piano.", UNPARSABLE),  # no verdict at the end
    ("Yes, I hear a dog", UNPARSABLE),  # the last word decides, not the first
    ("", UNPARSABLE),
    (None, UNPARSABLE),
])
def test_final_rule_reads_the_last_word(reply, verdict):
    assert parse_verdict(reply, "final") == verdict
    assert decide([reply] if reply is not None else [None], "final")[0] == verdict


def test_strict_rule_is_the_default_and_unknown_rules_are_refused():
    assert parse_verdict("I hear a dog. Yes") == UNPARSABLE
    with pytest.raises(ValueError, match="unknown verdict rule"):
        parse_verdict("Yes", "lenient")
