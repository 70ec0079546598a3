"""The line tagger's bounded memory: long documents featurized and scored in windows of lines
give what the whole document gives; every featurizing call is bounded by lines and
characters, and only probabilities and tokens outlive it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from prox_tasks.models import line_tagger, long_documents
from prox_tasks.models.line_features import featurize_batch
from prox_tasks.models.line_tagger import (
    LineTaggerRefiner,
    TaggerConfig,
    _at_least,
    build_tagger,
    receptive_field,
)
from prox_tasks.models.precision import native_bfloat16

WIDE = {"buckets": 512, "embed_dim": 4, "hidden": 8, "dilations": [1, 2, 4, 8]}
WORDS = "the cat sat on a mat home login menu share privacy copyright 2024 news sport".split()


def _text(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.choice([0, 1, 2, 5, 12])))
                     for _ in range(lines))  # fmt: skip


def _tagger(batch_lines: int, precision: str = "float32") -> LineTaggerRefiner:
    """A random tagger; float32 unless asked: the windows' exactness is checked in float32,
    their agreement in bfloat16 by its own test below."""
    import torch

    config = TaggerConfig.from_dict(WIDE)
    torch.manual_seed(0)
    tagger = LineTaggerRefiner.from_model(build_tagger(config).eval(), config,
                                          precision=precision)  # fmt: skip
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


@pytest.mark.skipif(not native_bfloat16(), reason="this CPU has no native bfloat16")
def test_windows_in_bfloat16_score_like_the_whole_document(texts):
    """The windows go through the same bfloat16 convolutions as a whole batch: a float32
    difference of the last bit between the two can move a bfloat16 rounding (the largest
    difference measured: 4e-5), never more."""
    whole = _tagger(100_000, "bfloat16")
    windowed = _tagger(64, "bfloat16")
    for (p, keep), (q, keep_w) in zip(whole._score(texts)[0], windowed._score(texts)[0]):
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-3)
        assert keep_w == pytest.approx(keep, abs=1e-3)
    assert whole.predict_chunks(texts) == windowed.predict_chunks(texts)


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


def test_only_probabilities_and_int32_tokens_are_kept(texts):
    scores, tokens = _tagger(batch_lines=64)._score(texts)
    full = featurize_batch(texts, 1 << 15)
    for d, (probs, _) in enumerate(scores):
        a, b = int(full.doc_lines[d]), int(full.doc_lines[d + 1])
        assert probs.dtype == np.float32 and tokens[d].dtype == np.int32
        assert tokens[d].tolist() == full.tokens[a:b].tolist()


def _calls(monkeypatch) -> list[tuple[int, int]]:
    """(lines, characters) of every featurizing call, by either path."""
    calls = []

    def recording(texts, *args, **kwargs):
        calls.append((sum(t.count("\n") + 1 for t in texts), sum(map(len, texts))))
        return featurize_batch(texts, *args, **kwargs)

    monkeypatch.setattr(line_tagger, "featurize_batch", recording)
    monkeypatch.setattr(long_documents, "featurize_batch", recording)
    return calls


def test_featurizing_is_bounded_by_lines_and_characters(texts, monkeypatch):
    """Short documents are featurized per network batch, a long one per window: no call
    holds more than ``batch_lines`` lines and FEATURE_CHARS characters (plus a window's
    context lines), and the scores are those of featurizing everything at once."""
    whole = _tagger(batch_lines=100_000)._score(texts)[0]
    calls = _calls(monkeypatch)
    monkeypatch.setattr(line_tagger, "FEATURE_CHARS", 600)
    got = _tagger(batch_lines=64)._score(texts)[0]
    context = receptive_field(TaggerConfig.from_dict(WIDE))
    longest_line = max(len(line) for t in texts for line in t.split("\n"))
    assert len(calls) > 10 and sum(n for n, _ in calls) >= sum(t.count("\n") + 1 for t in texts)
    for lines, chars in calls:
        assert lines <= 64 + 2 * context
        assert chars <= 600 + (2 * context + 1) * (longest_line + 1)
    for (p, keep), (q, keep_q) in zip(whole, got):
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-6)
        assert keep_q == pytest.approx(keep, abs=1e-6)


def test_a_document_of_few_long_lines_goes_in_windows(monkeypatch):
    """Over FEATURE_CHARS a document is windowed even with few lines."""
    text = "\n".join(" ".join(WORDS[(i + j) % len(WORDS)] for j in range(40)) for i in range(100))
    whole = _tagger(batch_lines=64)._score([text])[0][0]
    calls = _calls(monkeypatch)
    monkeypatch.setattr(line_tagger, "FEATURE_CHARS", 1000)
    (probs, keep), = _tagger(batch_lines=64)._score([text])[0]
    assert len(calls) > 5 and max(chars for _, chars in calls) < len(text)
    np.testing.assert_allclose(probs, whole[0], rtol=0, atol=1e-6)
    assert keep == pytest.approx(whole[1], abs=1e-6)


def test_threshold_compared_as_python_floats():
    probs = np.array([0.3, 0.7, 0.5], np.float32)
    t = float(np.float32(0.7)) + 1e-12  # rounds to 0.7 as a float32
    assert _at_least(probs, t).tolist() == [i for i, p in enumerate(probs.tolist()) if p >= t] == []
    assert _at_least(probs, 0.5).tolist() == [1, 2]
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(2000, np.float32), np.float32([0.25, 0.5, 1.0])])
    for t in [0.5, 0.25, 1.0, 0.3, 0.7, 1e-9, *rng.random(50).tolist(),
              *(float(v) + d for v in values[:20] for d in (-1e-12, 0.0, 1e-12))]:
        expected = [i for i, p in enumerate(values.tolist()) if p >= t]
        assert _at_least(values, t).tolist() == expected, t
