import pytest

from prox_tasks.evaluation import (
    binary_prf,
    line_removal_prf,
    word_counts,
    word_prf,
    word_prf_per_group,
)


def test_word_counts_normalizes_case_apostrophes_and_punctuation():
    assert word_counts("They’re here. THEY'RE here!") == {"they": 2, "re": 2, "here": 2}
    assert word_counts(None) == {}
    assert word_counts("") == {}


def test_word_prf_is_micro_averaged_bag_of_words():
    refined = ["a b c d", "x y"]
    gold = ["a b c", "x y z w"]
    m = word_prf(refined, gold)
    # overlap 3 + 2 = 5; refined words 4 + 2 = 6; gold words 3 + 4 = 7
    assert m["precision"] == pytest.approx(5 / 6)
    assert m["recall"] == pytest.approx(5 / 7)
    assert m["f1"] == pytest.approx(2 * (5 / 6) * (5 / 7) / (5 / 6 + 5 / 7))
    assert (m["docs"], m["docs_kept"]) == (2, 2)


def test_multiset_overlap_counts_repeats_once_each():
    m = word_prf(["the the the cat"], ["the cat"])
    assert m["words_overlap"] == 2
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == 1.0


def test_dropped_document_keeps_nothing_but_counts_its_gold():
    m = word_prf([None, "a b"], ["c d e f", "a b"])
    assert m["docs_kept"] == 1
    assert m["precision"] == 1.0
    assert m["recall"] == pytest.approx(2 / 6)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 refined texts but 1 gold"):
        word_prf(["a", "b"], ["a"])


def test_per_group_adds_all():
    out = word_prf_per_group(["a", "b c"], ["a", "b"], ["forum", "article"])
    assert set(out) == {"article", "forum", "all"}
    assert out["forum"]["f1"] == 1.0
    assert out["article"]["precision"] == pytest.approx(0.5)
    assert out["all"]["docs"] == 2


def test_binary_prf_keep_is_positive():
    m = binary_prf([True, True, False, False], [True, False, True, False])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 1)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["accuracy"] == 0.5
    with pytest.raises(ValueError):
        binary_prf([True], [True, False])


def test_line_removal_prf_over_sets():
    m = line_removal_prf([{1, 2, 3}, []], [[2, 3, 4], [7]])
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert (m["removed_predicted"], m["removed_gold"]) == (3, 4)
