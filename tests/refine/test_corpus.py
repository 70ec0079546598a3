"""refine_corpus and `prox refine`: a whole corpus, sharded, resumable, from the command line."""

import json

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main
from prox_tasks.corpus import load_manifest, read_refined_rows
from prox_tasks.models import SHIPPED_MODEL
from prox_tasks.models.artifact import artifact_version
from prox_tasks.refine import refine_corpus
from tests.inference.helpers import short_docs, write_jsonl


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    docs = short_docs(25)
    write_jsonl(folder / "a.jsonl", docs[:15], ["[1, 2]"])
    write_jsonl(folder / "b.jsonl", docs[15:])
    return folder, docs


def test_the_corpus_is_cut_into_shards_and_every_document_accounted(corpus, tmp_path,
                                                                    tagger_model):
    folder, docs = corpus
    out = tmp_path / "out"
    summary = refine_corpus(str(folder), str(out), model=str(tagger_model), shards=3,
                            checkpoint_every=4)
    assert summary["shards"] == 3 == len(load_manifest(str(out)).shards)
    assert summary["docs_read"] == 26 and summary["docs_written"] == 25
    assert summary["docs_quarantined"] == 1 and summary["shards_refined"] == 3
    assert summary["docs_kept"] + summary["docs_dropped"] == 25
    rows = list(read_refined_rows(str(out)))
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in docs)
    again = refine_corpus(str(folder), str(out), model=str(tagger_model), shards=3,
                          checkpoint_every=4)
    assert again["shards_skipped"] == 3 and again["docs_written"] == 25


def test_prox_refine_end_to_end(corpus, tmp_path, tagger_model, capsys):
    folder, docs = corpus
    out = tmp_path / "cli-out"
    code = main(["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
                 str(tagger_model), "--shards", "2", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shards"] == 2 and summary["backend"] == "tagger"
    rows = list(read_refined_rows(str(out)))
    assert len(rows) == 25 and {"id", "text", "doc_program", "chunk_program"} <= set(rows[0])


def test_prox_refine_uses_the_promoted_model(corpus, tmp_path, tagger_model, capsys,
                                             monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    catalog = Catalog(url)
    catalog.register_model("refiner", "v1", str(tagger_model), promoted=True)
    catalog.close()
    folder, _ = corpus
    assert main(["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == artifact_version(tagger_model)


def test_prox_refine_without_a_promoted_model(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "empty-registry"))
    folder, _ = corpus
    # nothing asked: the shipped default, as in the DAG
    assert main(["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "o1"),
                 "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == \
        artifact_version(SHIPPED_MODEL)
    # the promoted model asked for, and none: exit 2 with what to do
    code = main(["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "o2"),
                 "--model", "promoted"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no promoted model" in err and "prox train" in err and "--model" in err


def test_prox_refine_reports_bad_input(tmp_path, tagger_model, capsys):
    code = main(["refine", "--json", "--input", str(tmp_path / "missing"), "--output",
                 str(tmp_path / "o"), "--model", str(tagger_model)])
    assert code == 1 and "prox refine" in capsys.readouterr().err
