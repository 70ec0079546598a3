"""The batch features equal, bit for bit, the per-line Python reference
(:mod:`tests.models.line_features_reference`) — so a model trained on either reads the same
inputs — on real web pages, on edge cases of Unicode and whitespace, and on random text."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prox_tasks.models.line_features import DOC_DIM, LINE_DIM, STAT_DIM, featurize_batch
from prox_tasks.programs.render import line_prefix
from tests.models import line_features_reference as reference

BUCKETS = 1 << 15
ROOT = Path(__file__).resolve().parents[2]
# ../shared/data beside the checkout (a worktree sits one level deeper)
SHARED = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data")
               if p.is_dir()), ROOT / "missing")  # fmt: skip
EDGE_CASES = [
    "",
    "\n",
    "   \n\t\n",
    "Home\nThe cat sat on the mat and the dog was in the garden all day long ...\n\n# # #",
    "ΟΔΟΣ ΣΟΦΙΑΣ ΑΘΗΝΑ\nΣ. σ ς Σ'Α (ΟΣ) ΑΣ-Β",  # capital sigma: lower() depends on context
    "İstanbul İİ KELVİN \u212a \u0130a b\nİ",  # lower() of U+0130 is two characters
    "中文网页 标题\n日本語のテキスト、カタカナ\n한국어 문장 입니다",
    "x" * 70 + " " + "ü" * 40 + " " + "a" * 33 + "\n" + "-" * 80,
    "a\u2028b\x0bc\x1cd\u00a0e\u3000f\rg\x85h",  # whitespace that is not a line break
    "lone \ud800 surrogate \udfff",
    "nul\x00char \x00 the\x00",
    "...... . .. ... .... …… …a ...b a... the... (the) «the» —the— 'Cause",
    "(C) 2024 ACME ©, HTTP://X.COM www.Y.org WWW. Http @me (c)",
    " ".join(f"w{i}" for i in range(60)) + "\n" + " ".join(["The"] * 60),
    "| a | b |\n||\n• item\n► next\n→ arrow\n# heading\n- dash\n> quote",
    "Tab\tseparated\tWords\n  leading and trailing  \n\n\nend\n",
    "Ǆemal ǅ ǆ ﬁ ß ẞ ŉ Ω Å K",  # title case, ligatures, letters with special lower case
    "١٢٣ ٤٥ ² ³ ½ Ⅻ 𝟙 ⑴ ٣",  # digits and numbers that are not ASCII
    "der die und das Der DIE Und, das. für über Für ÜBER\nи в не на что Что",
    "emoji 😀 👍🏽 and 𝓜𝓪𝓽𝓱 𐐀𐐨 wide",
]


def assert_same(texts: list[str], stats: bool = True) -> None:
    got = featurize_batch(texts, BUCKETS, stats)
    assert got.dense.dtype == np.float32 and got.ids.dtype == np.int64
    assert got.dense.shape == (len(got.stats), LINE_DIM) and got.doc.shape == (len(texts), DOC_DIM)
    for d, text in enumerate(texts):
        dense, hashed, doc, line_stats = reference.featurize(text, BUCKETS, stats)
        a, b = int(got.doc_lines[d]), int(got.doc_lines[d + 1])
        # the reference's floats become float32 tensors: compare what the model reads
        np.testing.assert_array_equal(got.dense[a:b], np.array(dense, np.float32), err_msg=text)
        np.testing.assert_array_equal(got.doc[d], np.array(doc, np.float32), err_msg=text)
        expected = np.array(line_stats, np.float32).reshape(-1, STAT_DIM) if stats \
            else np.zeros((b - a, STAT_DIM), np.float32)  # fmt: skip
        np.testing.assert_array_equal(got.stats[a:b], expected, err_msg=text)
        starts = got.id_starts[a : b + 1]
        assert np.diff(starts).tolist() == [len(h) for h in hashed], text
        assert got.ids[starts[0] : starts[-1]].tolist() == [i for h in hashed for i in h], text
        # what the chunk level counts per rendered line (whitespace counter)
        rendered = [len((line_prefix(i) + line + "\n").split())
                    for i, line in enumerate(text.split("\n"))]  # fmt: skip
        assert got.tokens[a:b].tolist() == rendered, text


def test_edge_cases_equal_the_reference():
    assert_same(EDGE_CASES)
    for text in EDGE_CASES:  # alone as well: batch neighbours must not leak into a document
        assert_same([text])


def test_without_statistics():
    assert_same(EDGE_CASES[:5], stats=False)


def test_float64_values_before_rounding():
    """The float64 values already equal the reference's, not only after float32 rounding."""
    got = featurize_batch(EDGE_CASES, BUCKETS, dtype=np.float64)
    for d, text in enumerate(EDGE_CASES):
        dense, _, doc, line_stats = reference.featurize(text, BUCKETS)
        a, b = int(got.doc_lines[d]), int(got.doc_lines[d + 1])
        assert got.dense[a:b].tolist() == dense, text
        assert got.doc[d].tolist() == doc, text
        assert got.stats[a:b].tolist() == line_stats, text


def _real_pages(limit: int) -> list[str]:
    files = [ROOT / "data" / "sample" / "sample.jsonl.gz"]
    if SHARED.is_dir():
        files += sorted(SHARED.glob("*/*.jsonl.gz"))
    texts = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f):
                if n >= limit:
                    break
                texts.append(json.loads(line).get("text") or "")
    return texts


def test_real_pages_equal_the_reference():
    """Pages of every source (the bundled sample; the shared corpora where present)."""
    texts = _real_pages(limit=25)
    assert len(texts) >= 25
    assert_same(texts)


@pytest.mark.slow
def test_every_shared_page_equals_the_reference():
    """All pages of the bundled sample and the shared corpora (~4,200; ~70 CPU-s), in the
    refine step's batches of 512: every kernel path real text takes (the fast test above
    reads the first 25 of each source)."""
    texts = _real_pages(limit=1 << 30)
    for i in range(0, len(texts), 512):
        assert_same(texts[i : i + 512])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec=None), max_size=120), max_size=4),
       st.lists(st.text(alphabet=" \n\t.…#|ΣİAaZz(c)http", max_size=60), max_size=3))
def test_random_text_equals_the_reference(unicode_texts, ascii_texts):
    assert_same(unicode_texts + ascii_texts + [" \n ".join(unicode_texts)])
