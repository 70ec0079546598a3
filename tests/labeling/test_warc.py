"""`prox label --warc` on WARC files that are cut, are not WARC, or belong to another crawl:
a clear error, never a label written from a page cut short or a quiet fallback for all."""

from __future__ import annotations

import gzip

import pytest

from prox_tasks.cli import main
from prox_tasks.labeling.warc import html_records
from tests.labeling.test_html import write_warc_pair

pytest.importorskip("trafilatura")


def _label(tmp_path, wet, warc, teacher="html"):
    out = tmp_path / f"labels-{teacher}.jsonl"
    code = main(["label", "--json", "--input", str(wet), "--warc", str(warc),
                 "--teacher", teacher, "--output", str(out)])  # fmt: skip
    return code, out


def test_a_warc_cut_inside_its_response_is_an_error_not_a_label_from_half_a_page(
        tmp_path, capsys):
    warc, wet = write_warc_pair(tmp_path)
    body = gzip.decompress(warc.read_bytes())
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(gzip.compress(body[: len(body) - 800]))  # whole gzip, record cut short
    with pytest.raises(ValueError, match="is cut short"):
        list(html_records(str(cut)))
    for teacher in ("html", "best"):
        code, out = _label(tmp_path, wet, cut, teacher)
        assert code == 1 and not out.exists()
        assert "cut.warc.gz" in capsys.readouterr().err


def test_a_warc_cut_inside_a_gzip_member_or_not_warc_at_all_is_an_error(tmp_path, capsys):
    warc, wet = write_warc_pair(tmp_path)
    raw = warc.read_bytes()
    cut = tmp_path / "cutgz.warc.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    plain = tmp_path / "plain.warc.gz"
    plain.write_bytes(b"this is not a warc file\n" * 10)
    for bad, reason in ((cut, "breaks off|could not be read|cut short"), (plain, "not a WARC")):
        with pytest.raises(ValueError, match=reason):
            list(html_records(str(bad)))
        code, out = _label(tmp_path, wet, bad, "best")
        assert code == 1 and not out.exists()
        assert bad.name in capsys.readouterr().err


def test_warc_files_that_hold_none_of_the_wet_records_responses_are_an_error(tmp_path, capsys):
    warc, wet = write_warc_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_warc, _ = write_warc_pair(other)  # the same page, another crawl: other record ids
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    for bad in (other_warc, empty):
        for teacher in ("html", "best"):  # best would label every row by rules, quietly
            code, out = _label(tmp_path, wet, bad, teacher)
            assert code == 1 and not out.exists()
            assert "none of the 1 documents" in capsys.readouterr().err
    code, out = _label(tmp_path, wet, warc, "best")
    assert code == 0 and '"joined": 1' in capsys.readouterr().out
