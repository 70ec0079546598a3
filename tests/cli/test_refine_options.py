"""``prox refine --keep-threshold`` and ``--quality-filter`` reach the tagger and the step."""

from __future__ import annotations

import json

from prox_tasks.cli import main
from prox_tasks.corpus import read_refined_rows
from tests.labeling.test_doc_quality import ARTICLE, LISTING


def test_keep_threshold_and_quality_filter_from_the_command_line(tmp_path, capsys, tagger_model):
    docs = tmp_path / "in.jsonl"
    docs.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                            for i, t in enumerate([ARTICLE, LISTING, ARTICLE + "\nHome"])))
    out = tmp_path / "out"
    code = main(["refine", "--json", "--input", str(docs), "--output", str(out), "--model", str(tagger_model),
                 "--keep-threshold", "1.0", "--quality-filter", "report", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["docs_read"] == 3 and summary["dropped_low_quality"] == 0
    rows = list(read_refined_rows(str(out)))
    kept = [r for r in rows if r["text"] is not None]
    assert all("quality" in r["stats"] for r in kept)
    assert summary["docs_low_quality"] == sum(r["stats"]["low_quality"] for r in kept)
    # keep threshold 1.0: no line has a removal probability >= 1, every kept text is whole
    texts = {str(i): t for i, t in enumerate([ARTICLE, LISTING, ARTICLE + "\nHome"])}
    assert all(r["text"] == texts[r["id"]] for r in kept)


def test_quality_drops_and_program_errors_are_kept_apart_and_survive_a_rerun(tmp_path, capsys):
    """The drop reasons and program errors live in each shard's status and catalog row: a
    rerun that reuses the shards reports what the first run did, and the gate reports the
    quality drops apart from the junk drops."""
    import gzip
    import itertools

    from prox_tasks.catalog import Catalog
    from prox_tasks.quality import run_gate
    from tests.labeling.conftest import SAMPLE  # the bundled sample: real crawled pages

    docs = tmp_path / "in.jsonl"
    with gzip.open(SAMPLE, "rt") as sample:
        docs.write_text("".join(itertools.islice(sample, 40)))
    out, url = tmp_path / "out", f"sqlite:///{tmp_path / 'c.sqlite'}"
    args = ["refine", "--json", "--input", str(docs), "--output", str(out), "--model",
            "default", "--quality-filter", "drop", "--no-progress", "--catalog", url]
    summaries = []
    for _ in range(2):
        assert main(args) == 0
        summaries.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    first, again = summaries
    rows = list(read_refined_rows(str(out)))
    low = sum(r["stats"].get("drop_reason") == "low_quality" for r in rows)
    assert low >= 2  # the listing pages
    assert again["shards_skipped"] == 1
    for summary in (first, again):
        assert summary["dropped_low_quality"] == low
        assert summary["drop_reasons"].get("low_quality") == low
        assert sum(summary["drop_reasons"].values()) == summary["docs_dropped"]
        assert summary["docs_low_quality"] == sum(bool(r["stats"].get("low_quality"))
                                                  for r in rows)
    with Catalog(url) as catalog:
        [shard] = catalog.get_shards(catalog.list_snapshots()[0]["name"])
    assert shard["drop_reasons"] == first["drop_reasons"]
    assert shard["docs_with_program_errors"] == first["docs_with_program_errors"]
    metrics = run_gate(str(out)).metrics
    assert metrics["docs_dropped_low_quality"] == low
    assert metrics["low_quality_drop_rate"] == round(low / len(rows), 6)
    # the PROX report's viewer names the reason in words
    from prox_tasks.report.pages import documents_page

    with Catalog(url) as catalog:
        page = documents_page(catalog, first["snapshot"], 0, "dropped", 1, "/prox", "/")
    assert "dropped: the document-quality decision dropped it" in page


def test_the_summary_line_names_quality_drops_and_program_errors():
    from prox_tasks.cli.refine_cmd import summary_line

    line = summary_line({"docs_read": 10, "shards": 1, "docs_kept": 6, "docs_dropped": 4,
                         "dropped_low_quality": 3, "docs_quarantined": 0,
                         "docs_with_program_errors": 2, "model_version": "v", "model_source":
                         "default", "seconds": 1.0, "output": "/o"})  # fmt: skip
    # the share, as the gate's max_failure_rate and ProX judge it: a count alone did not
    # tell a few bad programs from a model that writes none
    assert ("4 dropped (3 for low quality), 0 quarantined, 2 with program errors (20% of the "
            "documents; each row's stats.errors names them);") in line


def test_generative_options_for_a_tagger_model_are_refused_by_their_names_before_planning(
        tmp_path, capsys, tagger_model):
    """``--doc-model`` (or ``--servers``, ``--chat-template``) given with a line-tagger
    model failed after the plan, booked as a failed shard, with "options not understood by
    the tagger backend: ['doc_model']": a Python list of internal names. It is now refused
    before anything is written, naming the options as the command takes them."""
    docs = tmp_path / "in.jsonl"
    docs.write_text(json.dumps({"id": 1, "text": ARTICLE}) + "\n")
    out = tmp_path / "out"
    code = main(["refine", "--input", str(docs), "--output", str(out), "--model",
                 str(tagger_model), "--doc-model", str(tmp_path), "--request-timeout", "5",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "--doc-model, --request-timeout are for generative models" in err, err
    assert "leave them out" in err and "[" not in err and "doc_model" not in err
    assert not out.exists()  # refused before the plan


def test_level_folders_without_a_model_say_to_give_the_model(tmp_path, capsys):
    """``--doc-model D --chunk-model C`` alone (ProX's two released models, as docs/inference.md
    shows them) resolved the shipped tagger and said only "leave them out"; it now says to
    give the generative model with ``--model`` too."""
    docs = tmp_path / "in.jsonl"
    docs.write_text(json.dumps({"id": 1, "text": ARTICLE}) + "\n")
    code = main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                 "--doc-model", str(tmp_path), "--chunk-model", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "or give the generative model with --model (with --doc-model" in err
