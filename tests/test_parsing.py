"""The response parser: accepted answer forms, ambiguity and malformed output, and never raising."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightsound.parsing import (
    AMBIGUOUS,
    EMPTY,
    NO_ANSWER,
    NO_MATCH,
    OK,
    answer_format_ok,
    answer_line,
    choice_from_answer,
    extract_answer,
    extract_think,
    format_ok,
    normalize,
    parse_response,
    scored_text,
)

CHOICES = ["chicken", "cat", "dog", "turkey"]


@pytest.mark.parametrize("answer", [
    "B", "b", "(B)", "[B]", "B.", "B)", "B:", "B. cat", "B) cat", "(B) cat", "B. Cat.",
    "The correct answer is: B. cat", "The correct answer is: B", "The answer is B", "Answer: B",
    "Final answer: (B)", "Option B", "cat", "Cat", "The correct answer is: cat", "It is a cat.",
    "**B**", "`B`", '"B"', "**Answer:** B", "B\nbecause the meowing is a cat",
])
def test_accepted_forms_pick_option_b(answer):
    assert choice_from_answer(answer, CHOICES) == (1, OK)


def test_paper_example_end_to_end():
    text = ("<think> The sounds include a series of meows and purrs, which are characteristic of a cat. </think> "
            "<answer> The correct answer is: B. cat </answer>")
    p = parse_response(text, CHOICES)
    assert p.ok and p.choice == 1
    assert p.think.startswith("The sounds include") and p.answer == "The correct answer is: B. cat"
    assert format_ok(text)


def test_answer_line_round_trips_every_option():
    for i in range(len(CHOICES)):
        assert choice_from_answer(answer_line(CHOICES, i), CHOICES) == (i, OK)


@pytest.mark.parametrize("answer,status", [
    ("The correct answer is: C. cat", AMBIGUOUS),  # letter contradicts the text after it
    ("B. cat or dog", AMBIGUOUS),
    ("cat or dog", AMBIGUOUS),
    ("B, C", AMBIGUOUS),
    ("B and C", AMBIGUOUS),
    ("(A)/(B)", AMBIGUOUS),
    ("E", NO_MATCH),  # no fifth option
    ("None of the above", NO_MATCH),
    ("I am not sure", NO_MATCH),
    ("", EMPTY),
    ("   ", EMPTY),
])
def test_ambiguous_and_unmatched_answers_are_failures_not_guesses(answer, status):
    assert choice_from_answer(answer, CHOICES) == (None, status)


def test_prose_starting_with_an_article_is_not_option_a():
    # "A dog barks": the article must not be read as the letter A.
    assert choice_from_answer("A dog barks", CHOICES) == (2, OK)


def test_keyword_prefix_needs_a_word_boundary():
    # "Answers"/"Optional" are not the "answer"/"option" prefix; the text still names one option.
    assert choice_from_answer("Answers vary, but dog", CHOICES) == (2, OK)
    assert choice_from_answer("Optional: dog", CHOICES) == (2, OK)


def test_longer_option_wins_over_its_sub_phrase():
    choices = ["dog", "hot dog", "cat"]
    assert choice_from_answer("a hot dog", choices) == (1, OK)
    assert choice_from_answer("dog", choices) == (0, OK)


def test_option_text_that_is_a_letter_beats_the_letter():
    choices = ["B", "A"]  # option 0's text is "B"
    assert choice_from_answer("B", choices) == (0, OK)


def test_numeric_and_underscored_options():
    assert choice_from_answer("There are 3 sounding objects", ["1", "2", "3", "4"]) == (2, OK)
    assert choice_from_answer("acoustic guitar", ["acoustic_guitar", "violin"]) == (0, OK)


def test_malformed_responses():
    # Where tags are required (the teacher's consistency filter), no <answer> block is no answer.
    assert parse_response("no tags at all: B", CHOICES, require_answer_tag=True).status == NO_ANSWER
    assert parse_response("<think>x</think><answer>B", CHOICES, require_answer_tag=True).status == NO_ANSWER
    # Otherwise the whole reply is read, and it names no option here: unparsable, not missing.
    assert parse_response("no tags at all: B", CHOICES).status == NO_MATCH
    assert parse_response("<think>x</think><answer>B", CHOICES).status == NO_MATCH  # unclosed
    p = parse_response("<answer>B</answer>", CHOICES)
    assert p.ok and p.tagged and p.think is None and not format_ok("<answer>B</answer>")
    assert parse_response("<think>x</think><answer></answer>", CHOICES).status == EMPTY
    assert parse_response(None, CHOICES).status == NO_ANSWER  # type: ignore[arg-type]
    assert parse_response("   ", CHOICES).status == NO_ANSWER  # an empty reply is the only "no answer"


@pytest.mark.parametrize("reply, choice", [
    ("The main source of sound is a cat.", 1),
    ("B. cat", 1),
    ("B", 1),
    ("I hear a dog barking.", 2),
    ("<think>meows and purrs</think> It is a cat.", 1),  # tags in the reasoning, none around the answer
])
def test_plain_text_replies_are_read_like_tagged_ones(reply, choice):
    p = parse_response(reply, CHOICES)
    assert p.ok and p.choice == choice and not p.tagged
    assert parse_response(f"<answer>{reply}</answer>", CHOICES).choice == choice


def test_scored_text_is_last_answer_block_else_whole_reply():
    assert scored_text("<think>a</think><answer> B. cat </answer>") == "B. cat"
    assert scored_text("<answer>A</answer> no, <answer>C</answer>") == "C"
    assert scored_text("  The cat.  ") == "The cat."
    assert scored_text("<think>x</think><answer></answer>") == ""  # answered, but empty: wrong, not missing
    assert scored_text("") is None and scored_text(None) is None and scored_text(" \n") is None


def test_answer_format_is_r1_aqas_fullmatch():
    assert answer_format_ok("<answer>cat</answer>")
    assert answer_format_ok("<answer>\ncat\n</answer>")
    assert not answer_format_ok("<think>x</think><answer>cat</answer>")  # R1-AQA wants the answer alone
    assert not answer_format_ok("cat") and not answer_format_ok("<answer>cat</answer> ")


def test_last_answer_block_wins_and_tags_are_case_insensitive():
    text = "<think>hmm</think><answer>A</answer> wait <ANSWER>C</ANSWER>"
    assert parse_response(text, CHOICES).choice == 2
    assert extract_answer(text) == "C" and extract_think(text) == "hmm"


def test_format_ok_is_strict():
    assert format_ok("<think> a </think>\n<answer> B </answer>\n")
    assert not format_ok("<think> </think><answer>B</answer>")  # empty think
    assert not format_ok("<think>a</think><answer>B</answer><answer>C</answer>")
    assert not format_ok("preamble <think>a</think><answer>B</answer>")


def test_normalize():
    assert normalize("  Acoustic_Guitar!! ") == "acoustic guitar"


@settings(max_examples=300, deadline=None)
@given(text=st.text(), choices=st.lists(st.text(max_size=12), max_size=8))
def test_parser_never_raises_and_is_self_consistent(text, choices):
    p = parse_response(text, choices)
    assert p.status in {OK, NO_ANSWER, EMPTY, AMBIGUOUS, NO_MATCH}
    assert (p.choice is not None) == (p.status == OK)
    if p.choice is not None:
        assert 0 <= p.choice < len(choices)


@settings(max_examples=200, deadline=None)
@given(think=st.text(), answer=st.text(), junk=st.text())
def test_parser_never_raises_on_tagged_text(think, answer, junk):
    text = f"{junk}<think>{think}</think><answer>{answer}</answer>{junk}"
    p = parse_response(text, CHOICES)
    assert (p.choice is not None) == (p.status == OK)
    format_ok(text)  # must not raise either


@settings(max_examples=100, deadline=None)
@given(index=st.integers(min_value=0, max_value=3))
def test_any_option_in_the_paper_format_parses_to_itself(index):
    text = f"<think>I would hear something.</think> <answer>{answer_line(CHOICES, index)}</answer>"
    assert parse_response(text, CHOICES).choice == index
