"""The line tagger's bounded memory: long documents scored in windows of lines give what the
whole document gives, features are stored compactly, featurizing is bounded by lines."""

from __future__ import annotations

import random

import numpy as np
import pytest

from prox_tasks.models import line_tagger
from prox_tasks.models.line_features import featurize_batch
from prox_tasks.models.line_tagger import (
    LineTaggerRefiner,
    TaggerConfig,
    _at_least,
    _compact,
    _parts,
    build_tagger,
    receptive_field,
)

WIDE = {"buckets": 512, "embed_dim": 4, "hidden": 8, "dilations": [1, 2, 4, 8]}
WORDS = "the cat sat on a mat home login menu share privacy copyright 2024 news sport".split()


def _text(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.choice([0, 1, 2, 5, 12])))
                     for _ in range(lines))  # fmt: skip


def _tagger(batch_lines: int) -> LineTaggerRefiner:
    import torch

    config = TaggerConfig.from_dict(WIDE)
    torch.manual_seed(0)
    tagger = LineTaggerRefiner.from_model(build_tagger(config).eval(), config)
    tagger.batch_lines = batch_lines
    return tagger


@pytest.fixture(scope="module")
def texts():
    # short documents around one of 700 lines: the long one goes in windows of 64 lines
    return [_text(5, 1), _text(700, 2), _text(40, 3), _text(63, 4), _text(65, 5)]


def test_windows_score_like_the_whole_document(texts):
    whole = _tagger(batch_lines=100_000)._score(texts)[0]
    windowed = _tagger(batch_lines=64)._score(texts)[0]
    for (p, keep), (q, keep_w) in zip(whole, windowed):
        assert p.dtype == np.float32 and len(p) == len(q)
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-6)
        assert keep_w == pytest.approx(keep, abs=1e-6)
    a, b = _tagger(100_000), _tagger(64)
    assert a.predict_doc(texts) == b.predict_doc(texts)
    assert a.predict_chunks(texts) == b.predict_chunks(texts)


def test_windows_need_the_receptive_field_of_context(texts, monkeypatch):
    """Without the overlap the lines near each window's cut lose their context: the test
    above would fail."""
    assert receptive_field(TaggerConfig.from_dict(WIDE)) == 15
    whole = _tagger(batch_lines=100_000).scores(texts[1:2])[0][0]
    monkeypatch.setattr(line_tagger, "receptive_field", lambda config: 0)
    cut = _tagger(batch_lines=64).scores(texts[1:2])[0][0]
    assert max(abs(a - b) for a, b in zip(whole, cut)) > 1e-4


def test_short_documents_score_the_same_beside_a_windowed_one(texts):
    alone = _tagger(batch_lines=64).scores([texts[0], texts[2], texts[3]])
    beside = _tagger(batch_lines=64).scores(texts)
    assert [beside[0], beside[2], beside[3]] == alone


def test_features_are_stored_compactly():
    full = featurize_batch([_text(30, 6), _text(8, 7)], 1 << 15)
    small = _compact(full)
    assert {small.ids.dtype, small.id_starts.dtype, small.tokens.dtype} == {np.dtype(np.int32)}
    assert small.dense.dtype == np.float32 and small.stats.dtype == np.float32
    for name in ("ids", "id_starts", "tokens"):
        assert np.array_equal(getattr(small, name), getattr(full, name))


def test_featurizing_is_bounded_by_lines_as_well_as_characters():
    texts = ["a\nb\nc"] * 5 + ["x"]
    parts = list(_parts(texts, chars=10**9, lines=7))
    assert [len(p) for p in parts] == [2, 2, 2] and sum(parts, []) == texts
    assert list(_parts(["a\n" * 20], chars=10**9, lines=7)) == [["a\n" * 20]]  # one text fits


def test_threshold_compared_as_python_floats():
    probs = np.array([0.3, 0.7, 0.5], np.float32)
    t = float(np.float32(0.7)) + 1e-12  # rounds to 0.7 as a float32
    assert _at_least(probs, t) == [i for i, p in enumerate(probs.tolist()) if p >= t] == []
    assert _at_least(probs, 0.5) == [1, 2]
