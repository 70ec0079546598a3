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
