"""The inference contract: ``load_backend(backend, uri_or_None)`` -> predict_doc /
predict_chunks / version, for the shipped default tagger and a generative (tiny Llama)
artifact."""

from __future__ import annotations

import json

import pytest

from prox_tasks.inference import load_backend
from prox_tasks.models import SHIPPED_MODEL, resolve_model
from prox_tasks.models.artifact import artifact_version
from prox_tasks.programs import execute, parse, render_chunks
from tests.training.fixtures import make_docs, tiny_lm_config

PAGE = "\n".join([
    "Home", "News", "Sign in",
    "The river flooded the valley after three days of heavy rain, and the people of the "
    "town moved their animals to the hills before the water reached the market square.",
    "Engineers say the old dam held, but the school will stay closed until the roads are "
    "safe again and the water has gone down in the lower part of the city.",
    "Share on Facebook", "© 2024 Example News. All rights reserved.",
])  # fmt: skip


@pytest.fixture(scope="module")
def default():
    return load_backend(None, "default")


def test_default_is_the_shipped_checkpoint(monkeypatch, tmp_path):
    monkeypatch.delenv("PROX_DEFAULT_MODEL", raising=False)
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "empty-registry"))
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    assert resolve_model(None).uri == str(SHIPPED_MODEL)
    assert resolve_model("default").source == "default"
    settings = json.loads((SHIPPED_MODEL / "refiner.json").read_text())
    assert settings["kind"] == "line_tagger" and settings["seed_set"]


def test_default_refines_a_page(default):
    assert default.version == artifact_version(SHIPPED_MODEL)
    assert default.version.startswith("line_tagger-")
    [doc_program] = default.predict_doc([PAGE])
    [chunk_program] = default.predict_chunks([PAGE])
    assert doc_program == "keep_doc()"
    program = parse(chunk_program, level="chunk")
    assert not program.errors
    result = execute(PAGE, doc_program, chunk_program)
    assert "river flooded" in result.text and "dam held" in result.text
    assert "Home" not in result.text and "All rights reserved" not in result.text


def test_default_programs_follow_the_chunks(default):
    texts = [d["text"] for d in make_docs(4, seed=9)] + ["", "one line"]
    programs = default.predict_chunks(texts)
    assert len(programs) == len(texts) == len(default.predict_doc(texts))
    for text, program in zip(texts, programs):
        parsed = parse(program, level="chunk")
        assert not parsed.errors and parsed.calls
        chunks = render_chunks(text)
        assert len(parsed.scope_table) - 1 == len(chunks)


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model"):
        load_backend(None, str(tmp_path))


def test_generative_artifact_round_trip(tmp_path):
    from prox_tasks.training.lm import train_causal_lm
    from prox_tasks.training.sft import SFTConfig

    docs = make_docs(8)
    config = SFTConfig(max_steps=2, batch_tokens=2048, save_every=0, log_every=0, threads=1)
    folder, report = train_causal_lm(docs, tmp_path / "art", tmp_path / "work", config,
                                     chunk_tokens=48, doc_tokens=64,
                                     tiny=tiny_lm_config().to_dict())  # fmt: skip
    assert report["steps"] == 2
    # an untrained model: keep decoding short
    refiner = load_backend("transformers", str(folder), batch_size=4, threads=1,
                           chunk_max_new_tokens=12)
    assert refiner.version == artifact_version(folder)
    texts = [docs[0]["text"], docs[1]["text"]]
    doc_programs = refiner.predict_doc(texts)
    chunk_programs = refiner.predict_chunks(texts)
    assert len(doc_programs) == len(chunk_programs) == 2
    assert all(isinstance(p, str) for p in doc_programs)
    for text, program in zip(texts, chunk_programs):
        renderer = refiner.renderers["chunk"]
        n_chunks = len(render_chunks(text, renderer.tokenizer, renderer.chunk_budget))
        assert program.count("# chunk ") == n_chunks
        execute(text, None, program)  # garbage output is counted by the executor, not raised
    # a bare Hugging Face checkpoint folder loads too (both levels, DESIGN.md budgets)
    bare = load_backend("transformers", str(folder / "model"), threads=1)
    assert bare.settings.chunk_tokens == 1500 and bare.version.startswith("causal_lm-")
