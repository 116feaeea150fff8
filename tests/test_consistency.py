"""The consistency filter: unanimity of all n parsed choices [paper], optional label match [ours]."""

import pytest

from sightsound.consistency import DISAGREEMENT, LABEL_MISMATCH, PARSE_FAILURE, consistency_filter, majority


def test_unanimous_and_correct_is_kept_with_label_match():
    c = consistency_filter([2, 2, 2, 2], label=2, require_label_match=True)
    assert c.kept and c.reason is None
    assert (c.agreed_choice, c.agreement, c.majority_choice, c.label_match) == (2, 4, 2, True)


def test_unanimous_but_wrong_depends_on_the_switch():
    strict = consistency_filter([1, 1, 1, 1], label=2, require_label_match=True)
    assert not strict.kept and strict.reason == LABEL_MISMATCH
    assert strict.agreed_choice == 1 and strict.label_match is False
    paper = consistency_filter([1, 1, 1, 1], label=2, require_label_match=False)
    assert paper.kept and paper.reason is None and paper.label_match is False


def test_three_of_four_is_not_unanimity():
    # A majority is not enough: the paper keeps only questions on which all samples agree.
    for require in (True, False):
        c = consistency_filter([0, 0, 0, 3], label=0, require_label_match=require)
        assert not c.kept and c.reason == DISAGREEMENT
        assert c.agreed_choice is None and c.agreement == 3 and c.majority_choice == 0 and c.label_match is None


def test_a_parse_failure_breaks_unanimity():
    c = consistency_filter([1, 1, None, 1], label=1, require_label_match=False)
    assert not c.kept and c.reason == PARSE_FAILURE and c.agreed_choice is None
    assert c.agreement == 3 and c.majority_choice == 1
    none = consistency_filter([None, None], label=0)
    assert none.reason == PARSE_FAILURE and none.agreement == 0 and none.majority_choice is None


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_other_sample_counts(n):
    assert consistency_filter([3] * n, label=3).kept
    if n > 1:
        c = consistency_filter([3] * (n - 1) + [0], label=3)
        assert not c.kept and c.reason == DISAGREEMENT and c.agreement == n - 1


def test_single_sample_is_trivially_unanimous():
    assert consistency_filter([0], label=1, require_label_match=False).kept
    assert not consistency_filter([0], label=1, require_label_match=True).kept


def test_missing_label_cannot_pass_a_label_check():
    c = consistency_filter([1, 1, 1, 1], label=None, require_label_match=True)
    assert not c.kept and c.reason == LABEL_MISMATCH and c.label_match is None
    assert consistency_filter([1, 1, 1, 1], label=None, require_label_match=False).kept


def test_tie_has_no_majority():
    assert majority([0, 0, 1, 1]) == (None, 2)
    assert majority([0, 0, 1, None]) == (0, 2)
    assert majority([]) == (None, 0)


def test_empty_sample_list_is_an_error():
    with pytest.raises(ValueError):
        consistency_filter([], label=0)
