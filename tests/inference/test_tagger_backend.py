"""The tagger backend: the embedded default refiner behind the common interface."""

import pytest

from prox_tasks.inference import Refiner, load_backend
from prox_tasks.inference.tagger import TaggerRefiner
from prox_tasks.models.artifact import artifact_version
from prox_tasks.programs import parse
from tests.inference.helpers import short_docs


def test_the_embedded_default_is_the_tagger_backend(tagger_model, monkeypatch):
    monkeypatch.setenv("PROX_DEFAULT_MODEL", str(tagger_model))
    for model in (None, "default"):
        refiner = load_backend(None, model)
        assert isinstance(refiner, Refiner) and refiner.backend == "tagger"
        assert refiner.version == artifact_version(tagger_model)


def test_programs_and_usage(tagger_model):
    refiner = load_backend("tagger", str(tagger_model))
    texts = [d["text"] for d in short_docs(7)]
    doc = refiner.predict_doc(texts)
    chunk = refiner.predict_chunks(texts)
    assert all(p in ("keep_doc()", "drop_doc()") for p in doc)
    assert len(chunk) == 7 and all(not parse(p, "chunk").errors for p in chunk)
    assert refiner.usage["doc"].requests == 7 and refiner.usage["chunk"].requests == 7
    assert refiner.usage["doc"].prompt_tokens == 0  # no tokens: a tagger reads features


def test_a_tagger_cannot_run_on_a_generative_backend(tagger_model, tiny_model):
    with pytest.raises(ValueError, match="tagger backend"):
        load_backend("vllm", str(tagger_model))
    with pytest.raises(ValueError, match="generative model"):
        load_backend("tagger", str(tiny_model))
    with pytest.raises(ValueError, match="unknown backend"):
        load_backend("nope", str(tiny_model))


def test_an_option_the_tagger_does_not_take_is_named_not_a_type_error(tagger_model):
    # e.g. `prox refine --servers ... --request-timeout 30` left on for a tagger model
    # as words with the way out, not a Python list ("['servers', 'timeout']")
    with pytest.raises(ValueError, match=r"not understood by the tagger backend: servers, "
                       r"timeout \(settings of another backend or kind of model, .*drop them"):
        load_backend(None, str(tagger_model), servers="http://x:1/v1", timeout=30)


def test_a_refiner_returning_the_wrong_number_of_programs_is_an_error():
    class Short:
        """Test double: a refiner bug no real refiner produces on demand."""

        version = "short"

        def predict_doc(self, texts):
            return texts[:-1]

    with pytest.raises(RuntimeError, match="2 programs for 3 documents"):
        TaggerRefiner(Short()).predict_doc(["a", "b", "c"])


def test_the_kept_subset_reuses_the_batch_scores_with_identical_programs(tagger_model):
    texts = [d["text"] for d in short_docs(9)]
    subset = texts[1::2]
    reused = load_backend("tagger", str(tagger_model))
    reused.predict_doc(texts)
    fresh = load_backend("tagger", str(tagger_model))
    assert reused.predict_chunks(subset) == fresh.predict_chunks(subset)
    assert reused.usage["chunk"].requests == len(subset)
