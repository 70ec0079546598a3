import pytest

from prox_tasks.evaluation import word_counts, word_prf
from prox_tasks.labeling import get_teacher
from prox_tasks.labeling.diff import DiffTeacher
from prox_tasks.programs import execute, parse


def test_removes_lines_and_partial_fragments_only():
    raw = "\n".join([
        "My Site | Home",
        "Menu",
        "By Jane Doe Published: Jan 29, 2025",
        "Otters are back in the river after fifty years of absence.",
        "Share this article",
        "Volunteers count their tracks every winter. Advertisement - Continue Reading Below",
    ])  # fmt: skip
    gold = (
        "Published: Jan 29, 2025\n\nOtters are back in the river after fifty years of absence.\n\n"
        "Volunteers count their tracks every winter."
    )
    label = DiffTeacher().label(raw, gold)
    assert label.doc_program == "keep_doc()"
    assert not parse(label.chunk_program).errors
    assert "normalize(" in label.chunk_program
    result = execute(raw, label.doc_program, label.chunk_program)
    assert result.text == (
        "Published: Jan 29, 2025\n"
        "Otters are back in the river after fifty years of absence.\n"
        "Volunteers count their tracks every winter."
    )


def test_never_invents_text_and_reaches_gold_on_real_pages(wcxb_rows):
    teacher = get_teacher("diff")
    labels = teacher.label_many([r["text"] for r in wcxb_rows], [r["gold_text"] for r in wcxb_rows])
    refined = []
    for r, label in zip(wcxb_rows, labels):
        assert not parse(label.chunk_program).errors
        text = execute(r["text"], label.doc_program, label.chunk_program).text
        refined.append(text)
        # deletions only: every output word occurs in the raw page at least as often
        assert not word_counts(text) - word_counts(r["text"])
    got = word_prf(refined, [r["gold_text"] for r in wcxb_rows])
    assert got["precision"] >= 0.99
    assert got["f1"] >= 0.97


def test_normalization_sources_are_unique_among_kept_lines():
    tail = "the rest of this line is long enough to keep the document alive"
    raw = f"Intro text here\nfoo bar real words here in the middle\nfoo bar kept again here {tail}"
    gold = f"real words here in the middle\n\nfoo bar kept again here {tail}"
    label = DiffTeacher().label(raw, gold)
    result = execute(raw, label.doc_program, label.chunk_program)
    # "foo bar " also occurs in the third line, and a normalize would delete it there too:
    # the fragment is left in place (no normalize), the third line is untouched
    assert "normalize(" not in label.chunk_program
    assert result.text == f"foo bar real words here in the middle\nfoo bar kept again here {tail}"


def test_empty_gold_drops_and_missing_gold_is_an_error():
    assert DiffTeacher().label("some page\nwith lines", "").doc_program == "drop_doc()"
    with pytest.raises(ValueError, match="needs the clean text"):
        DiffTeacher().label("some page", None)


def _long_page(paragraphs: int) -> tuple[str, str, list[str]]:
    """A page of ``paragraphs`` article lines between a menu and a footer, with an ad inside
    one kept line; its gold is the article without the ad."""
    menu = ["Home", "News and weather", "Sign in to your account", "Subscribe"]
    footer = ["Privacy policy and cookie settings", "© 2025 Valley Times. All rights reserved."]
    article = [f"In year {1800 + i} the farmers of valley {i % 13} built mill number {i} by "
               f"the river and sold flour {i * 7} times to the town" for i in range(paragraphs)]
    raw = article.copy()
    raw[5] += " Advertisement Continue Reading Below"
    return "\n".join(menu + raw + footer), "\n".join(article), article


def test_a_page_over_the_bound_aligns_in_linear_time_and_keeps_the_article(tmp_path):
    """Past ``max_sequence_words`` SequenceMatcher is quadratic (60k repetitive words: ~38 s):
    the n-gram alignment labels the page, says so in the meta, and keeps the same lines."""
    import json

    from prox_tasks.cli import main

    text, gold, article = _long_page(1_600)  # ~32k words, over the default 25,000
    src, out = tmp_path / "big.jsonl", tmp_path / "labels.jsonl"
    src.write_text(json.dumps({"id": "big", "text": text, "gold_text": gold}) + "\n")
    assert main(["label", "--input", str(src), "--output", str(out), "--teacher", "diff"]) == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["label_meta"]["aligner"] == "ngram" and row["valid"]
    assert execute(text, row["doc_program"], row["chunk_program"]).text == "\n".join(article)
    small_text, small_gold, _ = _long_page(30)  # under a bound of 100 words: both aligners
    linear = DiffTeacher(max_sequence_words=100).label(small_text, small_gold)
    sequence = DiffTeacher().label(small_text, small_gold)
    assert linear.meta["aligner"] == "ngram" and "aligner" not in sequence.meta
    assert linear.chunk_program == sequence.chunk_program
    assert DiffTeacher(max_sequence_words=100).describe()["max_sequence_words"] == 100
