"""The document-quality decision: separate from junk drops, reported or applied by mode."""

from __future__ import annotations

import pytest

from prox_tasks.corpus import Document
from prox_tasks.inference import load_backend
from prox_tasks.labeling.doc_quality import FEATURES, check_mode, features, load_quality_model
from prox_tasks.refine import refine_batch

TOPICS = ["river", "school", "library", "market", "bridge", "orchard", "harbour", "mill",
          "festival", "forest", "museum", "railway"]
ARTICLE = "\n".join(
    f"The history of the {t} shows how the farmers and traders of the valley shaped the towns "
    f"that grew along the water, and why the {t} still matters to the people who live there "
    f"today, as the old letters kept in the town archive explain in some detail." for t in TOPICS)
LISTING = "\n".join(f"Cheap hotel {i} | Book now | $ {40 + i} | Free WiFi" for i in range(30))


def test_features_and_shipped_model_separate_prose_from_a_listing():
    f = features(ARTICLE)
    assert set(f) == set(FEATURES)
    model = load_quality_model()
    assert set(model.weights) == set(FEATURES) and 0 < model.threshold < 1
    assert model.meta["test"]["balanced_accuracy"] > 0.7  # recorded by bench/doc_quality.py
    assert model.probability(ARTICLE) > model.threshold > model.probability(LISTING)


def test_check_mode():
    assert check_mode(None) == "off" and check_mode("drop") == "drop"
    with pytest.raises(ValueError, match="quality filter"):
        check_mode("strict")


@pytest.fixture(scope="module")
def tagger(tagger_model):
    backend = load_backend("tagger", str(tagger_model))
    yield backend
    backend.close()


def test_refine_reports_or_drops_low_quality_apart_from_junk(tagger):
    docs = [Document("a", ARTICLE, "file:///in.jsonl", 0),
            Document("l", LISTING, "file:///in.jsonl", 1)]
    rows, stats = refine_batch(tagger, docs, quality="off")
    assert "quality" not in rows[0]["stats"] and stats.docs_low_quality == 0
    rows, stats = refine_batch(tagger, docs, quality="report")
    kept = [r for r in rows if r["text"] is not None]
    assert all("quality" in r["stats"] for r in kept)
    assert stats.dropped_low_quality == 0
    assert stats.docs_low_quality == sum(r["stats"]["low_quality"] for r in kept)
    dropped_rows, dropped = refine_batch(tagger, docs, quality="drop")
    assert dropped.dropped_low_quality == stats.docs_low_quality
    assert dropped.docs_dropped == dropped.dropped_by_model + dropped.dropped_too_little_left \
        + dropped.dropped_low_quality
    low = [r for r in dropped_rows if r["stats"].get("drop_reason") == "low_quality"]
    assert all(r["text"] is None for r in low) and len(low) == dropped.dropped_low_quality
    assert [r["id"] for r in dropped_rows] == ["a", "l"]  # nothing lost
