"""JSON Lines rows (not a WET file) with ``prox label --warc``: docs/teachers.md says a row
joins its response by a ``refers_to`` field, and not by its URL and capture date."""

from __future__ import annotations

import json

import pytest

from prox_tasks.cli import main
from prox_tasks.labeling.warc import html_records
from tests.labeling.test_html import page_text, write_warc_pair

pytest.importorskip("trafilatura")


def test_a_row_joins_its_warc_response_by_refers_to_not_by_url_and_date(tmp_path, capsys):
    warc, _ = write_warc_pair(tmp_path)
    [response] = list(html_records(str(warc)))
    row = {"id": "p1", "text": page_text(), "url": response["url"], "warc_date": response["date"]}
    by_capture, by_id = tmp_path / "capture.jsonl", tmp_path / "refers.jsonl"
    by_capture.write_text(json.dumps(row) + "\n")
    by_id.write_text(json.dumps({**row, "refers_to": response["record_id"]}) + "\n")

    def label(rows):
        return main(["label", "--json", "--input", str(rows), "--warc", str(warc), "--teacher",
                     "html", "--output", str(tmp_path / f"{rows.stem}-labels.jsonl")])  # fmt: skip

    assert label(by_id) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 1 and summary["warc"]["joined"] == 1, summary
    assert label(by_capture) == 1  # the URL and date alone join nothing: said, not labeled
    assert "MissingTeacherInput" in capsys.readouterr().err
