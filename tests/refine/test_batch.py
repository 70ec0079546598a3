"""refine_batch: documents -> programs -> executed rows, garbage counted, nothing lost."""

import pytest

from prox_tasks.corpus import Document
from prox_tasks.inference import load_backend
from prox_tasks.models.artifact import artifact_version
from prox_tasks.programs import Policy, parse
from prox_tasks.refine import refine_batch
from tests.inference.helpers import TINY_OPTIONS, short_docs


def _docs(n):
    return [Document(d["id"], d["text"], "file:///in.jsonl", i) for i, d in enumerate(short_docs(n))]


@pytest.fixture(scope="module")
def random_lm(tiny_model):
    backend = load_backend("transformers", str(tiny_model), batch_size=8, **TINY_OPTIONS)
    yield backend
    backend.close()


def test_garbage_model_output_is_counted_and_handled_by_policy(random_lm):
    docs = _docs(8)
    rows, stats = refine_batch(random_lm, docs, Policy())
    assert [r["id"] for r in rows] == [d.id for d in docs]  # nothing lost, order kept
    assert [(r["source"], r["offset"]) for r in rows] == [(d.source, d.offset) for d in docs]
    # a random-weight model writes garbage: every document program fails to parse, so the
    # executor's policy keeps the document (on_doc_program_error="keep") ...
    doc_failures = sum(1 for r in rows if parse(r["doc_program"], "doc").errors
                       or not parse(r["doc_program"], "doc").calls)
    assert doc_failures == 8 and sum(stats.failures["doc"].values()) >= 8
    assert stats.docs_with_failures == 8
    # ... its chunk programs are parsed, classified and ignored: the text is unchanged
    assert sum(stats.failures["chunk"].values()) > 0
    assert all(r["text"] == d.text for r, d in zip(rows, docs))
    assert stats.docs_kept == 8 and stats.docs_refined == 0
    assert all(r["stats"]["errors"] for r in rows)
    assert stats.usage["doc"]["requests"] == 8 and stats.usage["chunk"]["requests"] >= 8
    assert stats.usage["doc"]["prompt_tokens"] > 0


def test_the_drop_policy_for_broken_document_programs_drops(random_lm):
    docs = _docs(3)
    rows, stats = refine_batch(random_lm, docs, Policy(on_doc_program_error="drop"))
    assert all(r["text"] is None and r["chunk_program"] is None for r in rows)
    assert stats.docs_dropped == 3 and stats.dropped_by_model == 3
    assert stats.usage["chunk"]["requests"] == 0  # dropped documents skip the chunk model


def test_tagger_programs_are_executed(tagger_model):
    refiner = load_backend(None, str(tagger_model))
    assert refiner.backend == "tagger" and refiner.version == artifact_version(tagger_model)
    docs = _docs(10)
    rows, stats = refine_batch(refiner, docs, Policy())
    assert len(rows) == 10 and stats.docs_kept + stats.docs_dropped == 10
    for row in rows:
        assert row["doc_program"] in ("keep_doc()", "drop_doc()")
        assert row["model_version"] == artifact_version(tagger_model)
        if row["doc_program"] == "drop_doc()":
            assert row["text"] is None and row["chunk_program"] is None
        else:
            assert row["chunk_program"] is not None
            assert not parse(row["chunk_program"], "chunk").errors
    assert sum(stats.failures["chunk"].values()) == 0  # the tagger never writes garbage


def _sample_docs(n):
    import gzip
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line, _ in zip(f, range(n))]
    return [Document(str(r["id"]), r["text"], "file:///sample", i) for i, r in enumerate(rows)]


# min_kept_words 200: some of the 150 sample pages have fewer words, so too little is left
# of them whatever the model keeps (the default tagger keeps > 10 words of every page)
@pytest.mark.parametrize("quality, policy", [
    ("off", Policy(min_kept_words=200)),
    ("drop", Policy(min_kept_words=200, normalize_scope="document"))])
def test_checkpointed_rows_come_back_with_their_texts(tmp_path, quality, policy):
    """A checkpoint holds rows without their texts; the executor gives them again from the
    documents read again: the rows an uninterrupted run writes."""
    import json

    from prox_tasks.models import resolve_model
    from prox_tasks.refine.batch import rows_again
    from prox_tasks.refine.checkpoint import CheckpointStore

    refiner = load_backend(None, resolve_model("default").uri)
    docs = _sample_docs(150)
    rows, stats = refine_batch(refiner, docs, policy, quality=quality)
    texts = [r["text"] for r in rows]
    assert None in texts and any(t not in (None, d.text) for t, d in zip(texts, docs))
    reasons = {r["stats"].get("drop_reason") for r in rows}
    assert "too_little_left" in reasons and (quality == "off" or "low_quality" in reasons)
    store = CheckpointStore(str(tmp_path), 0, {"manifest": "m"})
    store.save(0, rows, stats.to_dict())
    [(_, saved)] = list(store.load())
    assert all("text" not in r for r in saved)
    assert rows_again(saved, docs, policy) == json.loads(json.dumps(rows))
    [(_, saved)] = list(store.load())
    changed = [*docs[:5], Document(docs[5].id, docs[5].text + "\nmore", docs[5].source, 5),
               *docs[6:]]  # fmt: skip
    with pytest.raises(ValueError, match=docs[5].id):
        rows_again(saved, changed, policy)
