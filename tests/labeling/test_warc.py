"""`prox label --warc` on WARC files that are cut, are not WARC, or belong to another crawl:
a clear error, never a label written from a page cut short or a quiet fallback for all."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from prox_tasks.cli import main
from prox_tasks.labeling.warc import WarcResponses, html_records
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


def test_a_warc_response_whose_content_length_is_too_short_is_an_error_not_half_a_page(
        tmp_path, capsys):
    """A response whose Content-Length is shorter than the record (a writer that counted
    characters, not bytes): warcio stops its page there and warns on stderr, and the page
    was labeled cut short. It is an error naming the response, as a cut file is."""
    warc, wet = write_warc_pair(tmp_path)
    body = gzip.decompress(warc.read_bytes())
    head, _, rest = body.partition(b"Content-Length: ")
    length, _, rest = rest.partition(b"\r\n")
    short = tmp_path / "short.warc.gz"
    short.write_bytes(gzip.compress(head + b"Content-Length: " + str(int(length) - 300).encode()
                                    + b"\r\n" + rest))  # fmt: skip
    with pytest.raises(ValueError, match="Content-Length ends inside the record"):
        list(html_records(str(short)))
    code, out = _label(tmp_path, wet, short, "html")
    assert code == 1 and not out.exists()
    assert "short.warc.gz" in capsys.readouterr().err


def test_a_warc_response_without_content_length_running_over_the_next_is_an_error(
        tmp_path, capsys):
    """A response without a Content-Length header in an uncompressed WARC: warcio reads it on
    to the end of the file, so the responses after it were never indexed (their WET records
    quarantined as having no response in the WARC files, or labeled by rules under
    ``best``) and the page was labeled with them in its HTML. It is an error naming the
    response, as a cut file is."""
    warc, wet = write_warc_pair(tmp_path)
    record = gzip.decompress(warc.read_bytes())
    head, blank, rest = record.partition(b"\r\n\r\n")
    without = b"\r\n".join(line for line in head.split(b"\r\n")
                            if not line.startswith(b"Content-Length:")) + blank + rest
    plain = tmp_path / "nolength.warc"
    plain.write_bytes(without + record.replace(b"valley.example/history", b"valley.example/other"))
    pdf = tmp_path / "pdf.warc"  # a response no teacher reads runs over the HTML after it
    pdf.write_bytes(without.replace(b"text/html; charset=utf-8", b"application/pdf") + record)
    for bad in (plain, pdf):
        with pytest.raises(ValueError, match="has no Content-Length header, so its page runs on "
                                             "over the 1 WARC record after it"):
            list(html_records(str(bad)))
        for teacher in ("html", "best"):
            code, out = _label(tmp_path, wet, bad, teacher)
            assert code == 1 and not out.exists()
            assert bad.name in capsys.readouterr().err


def _response(number: int, html: bytes, extra: int = 0) -> bytes:
    """A WARC response record; its Content-Length ``extra`` bytes too long."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://valley.example/"
            f"{number}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:r-{number}>"
            "\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http) + extra}\r\n\r\n")
    return head.encode() + http + b"\r\n\r\n"


# the page's bytes: the next header in the one block its body is read in, or split over the
# first two (the index reads a body in 64 KiB blocks)
@pytest.mark.parametrize("page", [100, (1 << 16) - 6])
def test_a_warc_response_whose_content_length_is_too_long_is_an_error_not_two_pages(
        tmp_path, page):
    """A response whose Content-Length is longer than the record, in an uncompressed WARC:
    warcio reads on over the record after it and finds the next header past it, so that
    response was never indexed (its WET record quarantined as having no response) and this
    page was labeled with the other's WARC headers and HTML in it. It is an error naming
    the response, as a length that is too short is."""
    html = (b"<html><body><p>" + b"A page of words. " * page)[:page - 4] + b"</p>"
    over = _response(2, html)
    warc = tmp_path / "long.warc"
    warc.write_bytes(_response(1, html, extra=len(over) + 2) + over + _response(3, html))
    message = ("response urn:uuid:r-1's Content-Length runs on past the record's end, over "
               "the 1 WARC record after it")
    with pytest.raises(ValueError, match=message):
        list(html_records(str(warc)))
    with pytest.raises(ValueError, match=message):
        WarcResponses([str(warc)])  # the index: sizes only, the body read in blocks


def test_a_warc_gz_page_quoting_warc_records_is_indexed_not_refused(tmp_path):
    """The check above looked at every response, in a .warc.gz too, where a record's gzip
    member ends it: a page on the WARC format whose ``<pre>`` quotes records (a blank line,
    then ``WARC/1.0``), written with the right length by warcio's own writer, failed the
    whole labeling ("Content-Length runs on past the record's end … fetch the file again").
    It is indexed and read like any page."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from tests.corpus.test_bad_input import QUOTED_RECORDS

    html = (f"<html><body><h1>The WARC format</h1><pre>{QUOTED_RECORDS}</pre>"
            "<p>Each record ends with two blank lines.</p></body></html>")  # fmt: skip
    warc = tmp_path / "format.warc.gz"
    with open(warc, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                protocol="HTTP/1.1")  # fmt: skip
        writer.write_record(writer.create_warc_record(
            "http://docs.example/warc", "response", payload=io.BytesIO(html.encode()),
            http_headers=http))  # fmt: skip
    assert [page["html"] for page in html_records(str(warc))] == [html]
    with WarcResponses([str(warc)]) as index:
        assert [index[record_id] for record_id in index] == [html]


def _not_read(rec_type: str, content_type: str, extra: int) -> bytes:
    """A WARC record no teacher reads (a PDF or image response, a request); its
    Content-Length ``extra`` bytes too long."""
    http = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode() + b"%PDF \x00\xff"
    head = (f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Target-URI: http://valley.example/1\r\n"
            "WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:r-1>\r\n"
            f"Content-Type: application/http; msgtype={rec_type}\r\n"
            f"Content-Length: {len(http) + extra}\r\n\r\n")
    return head.encode() + http + b"\r\n\r\n"


def test_a_warc_gz_pdf_quoting_warc_records_is_skipped_not_refused(tmp_path):
    """The check of records no teacher reads (a PDF response quoting records in its bytes)
    ran in a .warc.gz too, where a record's gzip member ends it: a PDF on the WARC format,
    written with the right length by warcio's own writer, failed the whole index. It is
    skipped, as any PDF is, and the HTML response after it indexed."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from tests.corpus.test_bad_input import QUOTED_RECORDS

    html = "<html><body><p>A page after the PDF.</p></body></html>"
    warc = tmp_path / "pdf.warc.gz"
    with open(warc, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for content_type, body in (("application/pdf", f"%PDF-1.4\n\n{QUOTED_RECORDS}"),
                                   ("text/html; charset=utf-8", html)):  # fmt: skip
            http = StatusAndHeaders("200 OK", [("Content-Type", content_type)],
                                    protocol="HTTP/1.1")  # fmt: skip
            writer.write_record(writer.create_warc_record(
                "http://docs.example/warc", "response", payload=io.BytesIO(body.encode()),
                http_headers=http))  # fmt: skip
    assert [page["html"] for page in html_records(str(warc))] == [html]
    with WarcResponses([str(warc)]) as index:
        assert [index[record_id] for record_id in index] == [html]


@pytest.mark.parametrize(("rec_type", "content_type"), [
    ("response", "application/pdf"), ("response", "image/png"), ("request", "text/plain")])  # fmt: skip
def test_a_record_not_read_whose_content_length_is_too_long_is_an_error_not_a_lost_response(
        tmp_path, capsys, rec_type, content_type):
    """A PDF or image response (or a request) whose Content-Length is longer than the
    record, in an uncompressed WARC: it was skipped unread while warcio read on over the
    HTML response after it, which was never indexed (its WET record quarantined as having
    no response in the WARC files, without a word of why). The check covered HTML responses
    only; it is an error naming the record now, as for an HTML response."""
    html = b"<html><body><p>" + b"A page of words. " * 10 + b"</p>"
    over = _response(2, html)
    warc = tmp_path / "long.warc"
    warc.write_bytes(_not_read(rec_type, content_type, len(over) + 2) + over + _response(3, html))
    message = (r"urn:uuid:r-1\b.*Content-Length runs on past the record's end, over the 1 WARC "
               "record after it")
    with pytest.raises(ValueError, match=message):
        list(html_records(str(warc)))
    with pytest.raises(ValueError, match=message):
        WarcResponses([str(warc)])
    good = tmp_path / "good.warc"  # the same record with its own length: read past
    good.write_bytes(_not_read(rec_type, content_type, 0) + over + _response(3, html))
    assert sorted(WarcResponses([str(good)])) == ["urn:uuid:r-2", "urn:uuid:r-3"]


def test_a_request_or_metadata_record_without_content_length_running_over_the_next_is_an_error(
        tmp_path, capsys):
    """The response check above left out the other records: a request (or metadata) record
    without a Content-Length header in an uncompressed WARC was skipped unread while warcio
    read it on to the end of the file, so the response after it was never indexed and its
    WET record was quarantined as having no response in the WARC files given. It is now an
    error naming the record, as for a response."""
    warc, wet = write_warc_pair(tmp_path)
    response = gzip.decompress(warc.read_bytes())
    for rec_type in ("request", "metadata"):
        record = (f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Record-ID: <urn:uuid:{rec_type}-1>"
                  "\r\nWARC-Target-URI: http://valley.example/\r\nContent-Type: application/http; msgtype=request\r\n\r\n"
                  "GET / HTTP/1.1\r\nHost: valley.example\r\n\r\n\r\n\r\n").encode()
        bad = tmp_path / f"{rec_type}.warc"
        bad.write_bytes(record + response)
        with pytest.raises(ValueError, match=f"a {rec_type} record without a Content-Length "
                                             "header runs on over the 1 WARC record after it"):
            list(html_records(str(bad)))
        code, out = _label(tmp_path, wet, bad, "html")
        assert code == 1 and not out.exists()
        err = capsys.readouterr().err
        assert bad.name in err and "runs on over the 1 WARC record after it" in err, err
    good = tmp_path / "good.warc"  # the same request with its Content-Length: read past
    body = b"GET / HTTP/1.1\r\nHost: valley.example\r\n\r\n"
    good.write_bytes((f"WARC/1.0\r\nWARC-Type: request\r\nWARC-Target-URI: http://valley.example/\r\n"
                      f"Content-Length: {len(body)}"
                      "\r\n\r\n").encode() + body + b"\r\n\r\n" + response)
    assert [r["url"] for r in html_records(str(good))] == [
        r["url"] for r in html_records(str(warc))]


def test_a_zstd_warc_or_wet_is_refused_saying_to_decompress_it_not_as_binary_noise(
        tmp_path, capsys):
    """docs/teachers.md names ``.warc.zst`` among the WARC files --warc reads, but warcio
    reads gzip and plain WARC only: a zstd WARC failed as 'breaks off after 0 records:
    Unknown archive format, first line: [binary noise]; fetch the file again', and a zstd
    WET under --format wet was one truncated_file entry saying the same. Both now say what
    the file is and to decompress it or use gzip (the WET, the input's one record, fails the
    run: nothing labeled)."""
    import zstandard

    warc, wet = write_warc_pair(tmp_path)
    squeeze = zstandard.ZstdCompressor().compress
    zst = tmp_path / "c.warc.zst"
    zst.write_bytes(squeeze(gzip.decompress(warc.read_bytes())))
    code, out = _label(tmp_path, wet, zst, "best")
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "c.warc.zst (--warc): a zstd-compressed WARC file, which prox does not read" in err
    assert "decompress it (zstd -d) or compress it with gzip instead" in err
    wet_zst = tmp_path / "c.warc.wet.zst"
    wet_zst.write_bytes(squeeze(gzip.decompress(wet.read_bytes())))
    labels = tmp_path / "wet-labels.jsonl"
    assert main(["label", "--input", str(wet_zst), "--format", "wet", "--output",
                 str(labels)]) == 2
    assert "its one record was quarantined (1 truncated_file)" in capsys.readouterr().err
    [entry] = [json.loads(line) for line in open(tmp_path / "wet-labels.jsonl.quarantine.jsonl")]
    assert entry["reason"] == "truncated_file"
    assert entry["detail"].startswith("a zstd-compressed WET file, which prox does not read")


def test_a_zstd_wet_or_warc_in_a_folder_is_skipped_saying_to_decompress_it(tmp_path, capsys):
    """A folder holding a .warc.wet.zst beside its JSONL skipped it as 'not JSONL, Parquet or
    WET by its name; rename it … or pass --format', which reads it no better, and a
    .warc.zst was told to be given as --warc, which does not read zstd either. Both are now
    named as zstd-compressed, with what to do (the wording the reader gives their bytes);
    a folder of .warc.wet.zst files only, or one given alone, is refused saying the same."""
    import zstandard

    warc, wet = write_warc_pair(tmp_path)
    squeeze = zstandard.ZstdCompressor().compress
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps(
        {"id": "a", "text": "A plain page of words that is long enough to label."}) + "\n")
    (folder / "c.warc.wet.zst").write_bytes(squeeze(gzip.decompress(wet.read_bytes())))
    (folder / "c.warc.zst").write_bytes(squeeze(gzip.decompress(warc.read_bytes())))
    decompress = "decompress it (zstd -d) or compress it with gzip instead"
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(folder), "--output", str(out)]) == 0
    reasons = {f["uri"].rsplit("/", 1)[1]: f["reason"]
               for f in json.loads(capsys.readouterr().out)["skipped_files"]}
    assert "is a zstd-compressed WET file, which prox does not read" in reasons["c.warc.wet.zst"]
    assert "--format" not in reasons["c.warc.wet.zst"]
    assert reasons["c.warc.zst"].endswith(f"; it is a zstd-compressed WARC file, which prox "
                                          f"does not read (its WARC reader, warcio, reads gzip, "
                                          f"one member a record, and plain WARC): {decompress}")
    assert all(reason.endswith(decompress) for reason in reasons.values())
    (folder / "a.jsonl").unlink()
    (folder / "c.warc.zst").unlink()
    for given in (folder, folder / "c.warc.wet.zst"):
        assert main(["label", "--input", str(given), "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert "c.warc.wet.zst is a zstd-compressed WET file" in err and decompress in err, err


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


def test_the_way_out_of_a_long_warc_error_is_not_cut(tmp_path, capsys):
    """Under a crawl's long folder names (and S3 URIs) the line prox label ended with was cut
    at 400 characters, a ValueError prox raised taken for another library's: "… none has its
    response among the 1 HTML response of the 1 WARC file read (file:///…/crawl-data/…-…",
    without why (another crawl's files) nor what to do. Prox's own message is said whole."""
    deep = tmp_path / "crawl-data" / "CC-MAIN-2024-51" / "segments" / "1733066035857.0" / (
        "nightly-refresh-team-shared-landing-zone-" + "x" * 80)
    deep.mkdir(parents=True)
    _warc, wet = write_warc_pair(deep)
    (other := deep / "other-segment").mkdir()
    other_warc, _ = write_warc_pair(other)  # the same page, another crawl: other record ids
    code, _out = _label(tmp_path, wet, other_warc, "best")
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err) > 400, err
    assert f"(file://{other_warc}); WARC files of another crawl or segment?" in err, err
    assert err.endswith("give those of the input's own segment (-v for the traceback)"), err


def test_warc_files_that_hold_none_of_the_wet_records_responses_are_an_error(tmp_path, capsys):
    warc, wet = write_warc_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_warc, _ = write_warc_pair(other)  # the same page, another crawl: other record ids
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    for bad, held in ((other_warc, "1 HTML response"), (empty, "0 HTML responses")):
        for teacher in ("html", "best"):  # best would label every row by rules, quietly
            code, out = _label(tmp_path, wet, bad, teacher)
            assert code == 1 and not out.exists()
            err = capsys.readouterr().err
            assert "of the 1 document" in err or "none of the 1 documents" in err, err
            # the files read, named (not only what --warc gave), what they held, none matched
            assert f"the {held} of the 1 WARC file read (file://{bad})" in err, err
            assert "WARC files of another crawl or segment?" in err, err
    code, out = _label(tmp_path, wet, tmp_path / "other", "best")  # a folder: its files named
    assert code == 1 and f"of the 1 WARC file read (file://{other_warc})" in capsys.readouterr().err
    code, out = _label(tmp_path, wet, warc, "best")
    assert code == 0 and '"joined": 1' in capsys.readouterr().out


def _write_pages(path, pages: int, gzip_members: bool = True) -> list[str]:
    """A WARC of ``pages`` HTML responses (each between a request and a non-HTML response,
    as in a crawl); returns the responses' record ids."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    ids = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip_members)
        for i in range(pages):
            url = f"http://pages.example/{i}"
            writer.write_record(writer.create_warc_record(url, "request",
                                                          payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")  # fmt: skip
            body = f"<html><body><p>Page {i} body, about river number {i}.</p></body></html>"
            record = writer.create_warc_record(url, "response", http_headers=http,
                                               payload=io.BytesIO(body.encode()))  # fmt: skip
            writer.write_record(record)
            ids.append(record.rec_headers.get_header("WARC-Record-ID").strip("<>"))
            image = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url + ".png", "response",
                                                          payload=io.BytesIO(b"\x89PNG" * 50),
                                                          http_headers=image))  # fmt: skip
    return ids


def test_warc_responses_are_indexed_and_read_on_demand_not_held_in_memory(tmp_path):
    """A 1 GB crawl WARC held as {id: html} took several GB: the index keeps offsets only,
    and a lookup reads the one response from the file (gzip members and plain WARC)."""
    from prox_tasks.labeling.warc import WarcResponses, html_by_record_id

    gz, plain = tmp_path / "p.warc.gz", tmp_path / "p.warc"
    gz_ids, plain_ids = _write_pages(gz, 6), _write_pages(plain, 6, gzip_members=False)
    with html_by_record_id([str(gz), str(plain)]) as responses:
        assert isinstance(responses, WarcResponses) and len(responses) == 12
        for i in (4, 0, 5, 2):  # any order: each a seek
            assert f"Page {i} body" in responses[gz_ids[i]]
            assert f"Page {i} body" in responses[plain_ids[i]]
        assert responses.size(gz_ids[3]) == len(responses[gz_ids[3]].encode())
        data = plain.read_bytes()  # the same bytes but for one word: read from the file now
        plain.write_bytes(data.replace(b"Page 3 body", b"Page 3 BODY"))
        assert "Page 3 BODY" in responses[plain_ids[3]]
        plain.write_bytes(data[: data.index(b"Page 3 body") - 600])  # cut: an error, no label
        with pytest.raises(ValueError, match="p.warc"):
            responses[plain_ids[4]]


def test_a_response_that_cannot_be_read_again_keeps_its_cause_and_way_out_under_a_long_path(
        tmp_path):
    """The message was cut whole at 300 characters: under a crawl's long folder names it
    ended at "… response urn:uuid:… cannot", without the cause nor "(the file changed while
    labeling?)". Only the quoted cause is cut now (wording.shortened)."""
    from prox_tasks.labeling.warc import html_by_record_id

    deep = tmp_path / "crawl-data" / "CC-MAIN-2024-51" / "segments" / (
        "nightly-refresh-team-shared-landing-zone-" + "x" * 120)
    deep.mkdir(parents=True)
    plain = deep / "p.warc"
    ids = _write_pages(plain, 6, gzip_members=False)
    with html_by_record_id([str(plain)]) as responses:
        data = plain.read_bytes()
        plain.write_bytes(data[: data.index(b"Page 3 body") - 600])  # cut since indexed
        with pytest.raises(ValueError) as raised:
            responses[ids[4]]
    message = str(raised.value)
    assert len(message) > 300 and f"{plain} (--warc): response {ids[4]}" in message, message
    assert "cannot be read again at byte" in message, message
    assert message.endswith(" (the file changed while labeling?)"), message


def test_a_wet_file_joins_responses_read_on_demand_from_s3(tmp_path, s3_bucket):
    import io

    from warcio.warcwriter import WARCWriter

    from prox_tasks.labeling.warc import html_by_record_id
    from prox_tasks.storage import open_uri

    warc = tmp_path / "s3.warc.gz"
    ids = _write_pages(warc, 5)
    uri = f"{s3_bucket}/crawl/s3.warc.gz"
    with open_uri(uri, "wb") as out:
        out.write(warc.read_bytes())
    with html_by_record_id([uri]) as responses:
        assert [f"Page {i} body" in responses[ids[i]] for i in (3, 1)] == [True, True]
    wet = tmp_path / "s3.warc.wet.gz"
    with open(wet, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in (1, 3):
            writer.write_record(writer.create_warc_record(
                f"http://pages.example/{i}", "conversion",
                payload=io.BytesIO(f"Home\nPage {i} body, about river number {i}.".encode()),
                warc_headers_dict={"WARC-Refers-To": f"<{ids[i]}>",
                                   "Content-Type": "text/plain"}))  # fmt: skip
    code, out = _label(tmp_path, wet, uri, "html")
    # both pages' labels are rejected (too little text left): the html teacher's decisions
    # on these pages, which fail no run (only an llm teacher's all rejected does)
    assert code == 0
    assert [r["teacher"] for r in map(json.loads, out.read_text().splitlines())] == ["html"] * 2


def test_a_repeated_warc_record_id_keeps_the_first_response_and_is_counted(tmp_path, capsys):
    """Two responses with one WARC-Record-ID (a copy of a segment, another fetch): the WET
    record joins the first in --warc order, as on a retry, and the repeat is reported."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc, wet = write_warc_pair(tmp_path)
    [first] = list(html_records(str(warc)))
    again = tmp_path / "again.warc.gz"
    with open(again, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            first["url"], "response", http_headers=http,
            payload=io.BytesIO(b"<html><body><p>Another page altogether.</p></body></html>"),
            warc_headers_dict={"WARC-Record-ID": f"<{first['record_id']}>"}))
    outputs = []
    for order in ([warc, again], [warc, again]):  # a retry gives the same bytes
        out = tmp_path / f"labels-{len(outputs)}.jsonl"
        assert main(["label", "--input", str(wet), "--teacher", "html", "--output", str(out),
                     *[a for w in order for a in ("--warc", str(w))]]) == 0
        line = capsys.readouterr().out
        assert "1 --warc response repeats a WARC-Record-ID indexed before: the first kept" in line
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    [row] = [json.loads(line) for line in outputs[0].splitlines()]
    assert row["valid"] and row["doc_program"] == "keep_doc()"  # the first page's label


def test_a_wet_record_whose_response_is_in_no_warc_file_is_quarantined_saying_so(tmp_path,
                                                                                 capsys):
    """The reverse join miss (a WET record without its WARC response) is counted as
    missing_html and its quarantine row names the WARC-Refers-To not found, not only the
    absent html field the WET input never had."""
    import io

    from warcio.warcwriter import WARCWriter

    warc, wet = write_warc_pair(tmp_path)
    with open(wet, "ab") as fh:  # a second conversion, of a response the WARC lacks
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warc_record(
            "http://lost.example/", "conversion", payload=io.BytesIO(b"A page of its own."),
            warc_headers_dict={"WARC-Refers-To": "<urn:uuid:0000-lost>",
                               "Content-Type": "text/plain"}))
    code, out = _label(tmp_path, wet, warc)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["quarantined"] == {"missing_html": 1} and summary["written"] == 1
    [row] = [json.loads(line) for line in open(summary["quarantine"])]
    assert ("WARC-Refers-To urn:uuid:0000-lost is no HTML response of the WARC files given "
            "(--warc)"
            in row["detail"])


def test_a_wet_record_without_warc_refers_to_is_quarantined_saying_so(tmp_path, capsys):
    """A WET record with no WARC-Refers-To beside one joined to its response: quarantined
    as missing_html with only "no string field 'html'", a field a WET input never has;
    its detail says now that it has nothing to join its WARC response on."""
    from warcio.warcwriter import WARCWriter

    warc, wet = write_warc_pair(tmp_path)
    with open(wet, "ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warc_record(
            "http://alone.example/", "conversion", payload=io.BytesIO(b"A page of its own."),
            warc_headers_dict={"Content-Type": "text/plain"}))
    code, out = _label(tmp_path, wet, warc)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["quarantined"] == {"missing_html": 1} and summary["written"] == 1
    [row] = [json.loads(line) for line in open(summary["quarantine"])]
    assert "and it has no WARC-Refers-To (a refers_to field)" in row["detail"], row["detail"]


def test_the_seed_probe_joins_a_wet_input_to_its_warc_files(tmp_path):
    """The probe the seed DAG's sample task runs (probe_teacher_input): a WET input with its
    own WARC passes; with another crawl's WARC it fails naming the Param to fix."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.run import MissingTeacherInput, probe_teacher_input

    warc, wet = write_warc_pair(tmp_path)
    (tmp_path / "other").mkdir()
    other_warc, _ = write_warc_pair(tmp_path / "other")
    teacher = get_teacher("html")
    probe_teacher_input(str(wet), teacher, warc_uris=[str(warc)], caller="dag")
    with pytest.raises(MissingTeacherInput, match=r"nor a response in the WARC files given: "
                       r"none is among the 1 HTML response of the 1 WARC file read "
                       rf"\(file://{other_warc}\); .*\); give the WET input's WARC files in "
                       "the warc_uris Param"):
        probe_teacher_input(str(wet), teacher, warc_uris=[str(tmp_path / "other")], caller="dag")


def test_the_seed_probe_reads_on_past_wet_records_whose_responses_are_not_given(tmp_path):
    """A WET input whose first records' responses are in no --warc file (a segment given
    without its WARC) but whose later records' are: the probe refused the seed set after
    its first documents. It reads on (the WARC files' response ids indexed once) and passes;
    it refuses only when no record's response is there."""
    from warcio.warcwriter import WARCWriter

    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.run import MissingTeacherInput, probe_teacher_input

    warc, wet = write_warc_pair(tmp_path)
    later = wet.read_bytes()
    with open(wet, "wb") as fh:  # 3 records of a segment whose WARC is not given, then it
        writer = WARCWriter(fh, gzip=True)
        for i in range(3):
            writer.write_record(writer.create_warc_record(
                f"http://lost.example/{i}", "conversion", payload=io.BytesIO(b"A page."),
                warc_headers_dict={"WARC-Refers-To": f"<urn:uuid:0000-lost-{i}>",
                                   "Content-Type": "text/plain"}))  # fmt: skip
        fh.write(later)
    teacher = get_teacher("html")
    probe_teacher_input(str(wet), teacher, warc_uris=[str(warc)], probe_docs=2)
    (tmp_path / "other").mkdir()
    other_warc, _ = write_warc_pair(tmp_path / "other")
    with pytest.raises(MissingTeacherInput, match="none of the 4 documents read"):
        probe_teacher_input(str(wet), teacher, warc_uris=[str(other_warc)], probe_docs=2)


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _wet_of_real_warc(warc: Path, texts: Path, wet: Path) -> int:
    """A WET file for the real WARC ``warc``: a conversion per HTML response, referring to
    it, holding that page's text as the shared collection converted it (``texts``, matched on
    URL and capture date). Returns the records written.

    Each record's WARC-Record-ID is derived from its response's, not warcio's random one: a
    WET record's id is its document's id, which decides its seed-set split, and a random id
    left some runs without a validation document (EmptySplit) by chance."""
    import uuid

    from warcio.warcwriter import WARCWriter

    with gzip.open(texts, "rt", encoding="utf-8") as fh:
        by_capture = {}
        for row in map(json.loads, fh):
            by_capture.setdefault((row["url"], row["warc_date"].rstrip("Z")), []).append(row)
    written = 0
    with open(wet, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for response in html_records(str(warc)):
            rows = by_capture.get((response["url"], response["date"].rstrip("Z"))) or []
            if not rows:
                continue
            writer.write_record(writer.create_warc_record(
                response["url"], "conversion", payload=io.BytesIO(rows.pop(0)["text"].encode()),
                warc_headers_dict={"WARC-Refers-To": f"<{response['record_id']}>",
                                   "WARC-Record-ID": "<urn:uuid:{}>".format(uuid.uuid5(
                                       uuid.NAMESPACE_URL, f"wet:{response['record_id']}")),
                                   "WARC-Date": response["date"],
                                   "Content-Type": "text/plain"}))  # fmt: skip
            written += 1
    return written


def _dolma_wet_and_crawl(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``wet/`` holding a WET file of the Dolma toolkit's real WARC (:func:`_wet_of_real_warc`)
    and ``crawl/`` holding a copy of that WARC: (the WET folder, the crawl folder, the WARC)."""
    import shutil

    wet, crawl = tmp_path / "wet", tmp_path / "crawl"
    wet.mkdir()
    crawl.mkdir()
    dolma_warc = SHARED / "dolma_cc" / "warc" / "sample-0000.warc.gz"
    _wet_of_real_warc(dolma_warc, SHARED / "dolma_cc" / "dolma_warc_pages_text.jsonl.gz",
                      wet / "dolma-0000.warc.wet.gz")  # fmt: skip
    shutil.copy(dolma_warc, crawl / dolma_warc.name)
    return wet, crawl, dolma_warc


def test_a_seed_set_of_a_wet_input_takes_its_html_from_the_warc_files(tmp_path, capsys):
    """``prox label --seed-set --warc`` was refused ("--warc does not apply with
    --seed-set"): a WET input could not give the html or best teacher its pages' HTML in a
    seed set, only in one labels file. It now joins each sampled WET record to the response
    its WARC-Refers-To names, as ``prox label --warc`` does (the same code): the seed set's
    labels are the plain route's, and a rerun reuses them. Real files: Common Crawl's
    whirlwind WARC/WET pair, and the Dolma toolkit's wget WARC with a WET of its pages."""
    import shutil

    whirlwind = SHARED / "commoncrawl_warc"
    dolma_warc = SHARED / "dolma_cc" / "warc" / "sample-0000.warc.gz"
    wet = tmp_path / "wet"
    wet.mkdir()
    shutil.copy(whirlwind / "whirlwind.warc.wet.gz", wet / "whirlwind.warc.wet.gz")
    pages = _wet_of_real_warc(dolma_warc, SHARED / "dolma_cc" / "dolma_warc_pages_text.jsonl.gz",
                              wet / "dolma-0000.warc.wet.gz")  # fmt: skip
    assert pages >= 10
    warcs = ["--warc", str(whirlwind / "whirlwind.warc.gz"), "--warc", str(dolma_warc)]
    seed = tmp_path / "seed"
    args = ["label", "--json", "--input", str(wet), "--output", str(seed), "--seed-set",
            "--teacher", "html", "--sample-size", "100", "--no-register", *warcs]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"]["sampled"] == pages + 1  # every WET record, whirlwind's too
    assert info["label_distribution"]["by_teacher"] == {"html": info["sizes"]["valid"]}
    assert info["rejected_reasons"].get("missing_html") is None, info["rejected_reasons"]
    parts = sorted((seed / "labels").glob("labels-*.jsonl.gz"))
    labeled = {r["id"]: r for p in parts for r in map(json.loads, gzip.open(p, "rt"))}
    assert len(labeled) == pages + 1 and {r["teacher"] for r in labeled.values()} == {"html"}
    done = json.loads(parts[0].with_name("labels-00000.done.json").read_text())
    assert done["warc_uris"] == sorted(Path(w).resolve().as_uri() for w in warcs[1::2])

    plain = tmp_path / "plain.jsonl"  # the one-file route over the same records
    assert main(["label", "--json", "--input", str(wet), "--output", str(plain),
                 "--teacher", "html", *warcs]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["warc"]["joined"] == pages + 1
    rows = {r["id"]: r for r in map(json.loads, plain.open())}
    assert {i: (r["doc_program"], r["chunk_program"]) for i, r in labeled.items()} == {
        i: (r["doc_program"], r["chunk_program"]) for i, r in rows.items()}  # fmt: skip

    written = {p: p.stat().st_mtime_ns for p in parts}
    assert main(args) == 0  # a rerun: the same seed set, no page extracted again
    assert json.loads(capsys.readouterr().out)["version"] == info["version"]
    assert {p: p.stat().st_mtime_ns for p in parts} == written


def test_warc_takes_a_folder_and_a_glob_as_every_prox_uri_option_does(tmp_path, capsys):
    """--warc DIR failed with 'Is a directory' and --warc 'DIR/*.warc.gz' with 'No such file':
    both now join as the file itself does; the folder's WET file (no responses) and other
    files are skipped by their names; the seed set's probe and index read them too."""
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    warc, wet = write_warc_pair(crawl)  # the WET file sits beside the WARC file
    (crawl / "README.txt").write_text("segment 0\n")
    rows = {}
    for given in (warc, crawl, f"{crawl}/*.warc.gz"):
        out = tmp_path / "labels.jsonl"
        assert main(["label", "--json", "--input", str(wet), "--warc", str(given),
                     "--teacher", "html", "--output", str(out)]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["warc"]["joined"] == 1 and summary["valid"] == 1, given
        rows[str(given)] = [json.loads(line)["doc_program"] for line in open(out)]
    assert len({json.dumps(r) for r in rows.values()}) == 1
    # the seed set's probe and index (prox label --seed-set, the seed DAG's warc_uris)
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.run import probe_teacher_input
    from prox_tasks.labeling.warc import write_index

    probe_teacher_input(str(wet), get_teacher("html"), warc_uris=[str(crawl)], caller="dag")
    [response] = list(html_records(str(warc)))
    counts = write_index([str(crawl)], [response["record_id"]], str(tmp_path / "index.json"))
    assert counts == {"html_responses": 1, "indexed": 1}
    code = main(["label", "--input", str(wet), "--warc", f"{tmp_path}/none/*.warc.gz",
                 "--teacher", "html", "--output", str(tmp_path / "l2.jsonl")])
    assert code == 1 and "no WARC file there" in capsys.readouterr().err


def test_json_rows_with_warc_but_no_refers_to_are_told_the_field_that_joins_them(tmp_path,
                                                                                 capsys):
    """JSON Lines rows with --warc and no refers_to field were refused naming only the html
    field: the message now names refers_to (the row's response WARC-Record-ID), for prox
    label and the seed probe, and what it says works: with the field the rows join."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.run import MissingTeacherInput, probe_teacher_input

    warc, _ = write_warc_pair(tmp_path)
    [response] = list(html_records(str(warc)))
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "p1", "text": "A page of text. " * 10}) + "\n")
    code = main(["label", "--input", str(rows), "--warc", str(warc), "--teacher", "html",
                 "--output", str(tmp_path / "l.jsonl")])
    err = capsys.readouterr().err
    assert code == 1
    assert ("a JSON Lines or Parquet row needs a refers_to field holding its response's "
            "WARC-Record-ID") in err
    with pytest.raises(MissingTeacherInput, match="needs a refers_to field"):
        probe_teacher_input(str(rows), get_teacher("html"), warc_uris=[str(warc)],
                            caller="dag")
    rows.write_text(json.dumps({"id": "p1", "text": "A page of text. " * 10,
                                "refers_to": f"<{response['record_id']}>"}) + "\n")
    assert main(["label", "--json", "--input", str(rows), "--warc", str(warc), "--teacher",
                 "html", "--output", str(tmp_path / "l.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["warc"]["joined"] == 1


def test_rows_with_url_and_capture_date_are_told_how_to_join_their_warc(tmp_path, capsys):
    """Real rows that another tool converted from a real WARC (dolma's: url and warc_date,
    no refers_to) with --warc were told only of refers_to, which such rows lack. The message
    now names html_by_capture, and what it says works: the rows given their html label."""
    from prox_tasks.labeling.warc import html_by_capture

    rows_in = SHARED / "dolma_cc" / "dolma_warc_pages_text.jsonl.gz"
    warc = SHARED / "dolma_cc" / "warc"
    code = main(["label", "--input", str(rows_in), "--warc", str(warc), "--teacher", "html",
                 "--output", str(tmp_path / "l.jsonl")])  # fmt: skip
    assert code == 1
    assert "rows that carry only url and warc_date (another tool's conversion) get their " \
        "HTML from prox_tasks.labeling.warc.html_by_capture(WARC files)" in capsys.readouterr().err
    by_capture = html_by_capture([str(warc)])
    with gzip.open(rows_in, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh][:5]
    for row in rows:
        row["html"] = by_capture[(row["url"], row["warc_date"])][0]
    given = tmp_path / "rows.jsonl"
    given.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["label", "--json", "--input", str(given), "--teacher", "html", "--output",
                 str(tmp_path / "l.jsonl")]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["valid"] == 5


def test_a_seed_set_rerun_naming_its_warc_folder_with_a_trailing_slash_reuses_it(tmp_path,
                                                                                capsys):
    """``--warc crawl`` then ``--warc crawl/`` (a shell's completion adds the slash) name one
    folder, yet the rerun was refused as other settings; past that, each part's done record
    held the other spelling, so every page would have been extracted (or an LLM fallback
    paid) again. The rerun now reuses the seed set and its parts."""
    wet, crawl, _ = _dolma_wet_and_crawl(tmp_path)
    seed = tmp_path / "seed"
    args = ["label", "--json", "--input", str(wet), "--output", str(seed), "--seed-set",
            "--teacher", "html", "--sample-size", "100", "--no-register"]  # fmt: skip
    assert main([*args, "--warc", str(crawl)]) == 0, capsys.readouterr().err
    version = json.loads(capsys.readouterr().out)["version"]
    parts = sorted((seed / "labels").glob("labels-*.jsonl.gz"))
    written = {p: p.stat().st_mtime_ns for p in parts}
    assert main([*args, "--warc", f"{crawl}/"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["version"] == version
    assert {p: p.stat().st_mtime_ns for p in parts} == written


def test_a_seed_set_rerun_with_other_warc_files_is_refused_naming_the_option(tmp_path, capsys):
    """A rerun with other ``--warc`` files was refused naming ``warc_uris`` (the DAG's Param),
    where every other difference is named by its ``prox label`` option; it says ``--warc``."""
    import shutil

    wet, _, dolma_warc = _dolma_wet_and_crawl(tmp_path)
    copy = tmp_path / "copy.warc.gz"
    shutil.copy(dolma_warc, copy)
    args = ["label", "--input", str(wet), "--output", str(tmp_path / "seed"), "--seed-set",
            "--teacher", "html", "--sample-size", "100", "--no-register"]  # fmt: skip
    assert main([*args, "--warc", str(dolma_warc)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main([*args, "--warc", str(copy)]) == 1
    err = capsys.readouterr().err
    assert f"(--warc ['{dolma_warc.as_uri()}'] -> ['{copy.as_uri()}'])" in err, err


def test_a_part_labeled_with_a_warc_path_is_reused_given_its_file_uri(tmp_path, capsys):
    """A part's done record compared its WARC files by their text less a trailing slash, not
    as the project compares URIs (``same_uri``): a part labeled with ``--warc crawl`` given
    as a path (a done record written so by a caller that passes paths, ``build_seed_set``)
    was labeled again, every page extracted anew, when a label task named the same folder
    ``file:///…/crawl/``. It is now reused."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.parts import label_part

    wet, crawl, _ = _dolma_wet_and_crawl(tmp_path)
    seed = tmp_path / "seed"
    assert main(["label", "--input", str(wet), "--output", str(seed), "--seed-set", "--teacher",
                 "html", "--sample-size", "20", "--no-register", "--warc", str(crawl)]) == 0
    sample = str(seed / "sample" / "sample-00000.jsonl.gz")
    first = label_part(sample, str(seed), 7, get_teacher("html"), warc_uris=[str(crawl)])
    assert not first["reused"]
    labels = seed / "labels" / "labels-00007.jsonl.gz"
    written = labels.stat().st_mtime_ns
    again = label_part(sample, str(seed), 7, get_teacher("html"),
                       warc_uris=[f"{crawl.as_uri()}/"])  # fmt: skip
    assert again["reused"] and labels.stat().st_mtime_ns == written


def test_records_without_a_target_uri_are_read_not_a_traceback_and_lose_nothing(tmp_path,
                                                                               capsys):
    """A request record typed application/http with no WARC-Target-URI (the standard
    requires one; some writers leave it out), and a response without one: warcio raised
    AttributeError ('NoneType' object has no attribute 'startswith'), so prox label --warc,
    its seed-set route, and prox label and prox refine over a WET holding such a record
    failed with that line, naming no file, and read nothing. They are now read as any other
    record: the response's page is labeled (no URL), the request skipped, every WET record
    labeled and refined, none quarantined."""
    warc, wet = write_warc_pair(tmp_path)
    response = gzip.decompress(warc.read_bytes())
    head, blank, rest = response.partition(b"\r\n\r\n")
    no_uri = b"\r\n".join(line for line in head.split(b"\r\n")
                           if not line.startswith(b"WARC-Target-URI:")) + blank + rest
    get = b"GET /history HTTP/1.1\r\nHost: valley.example\r\n\r\n"
    request = (b"WARC/1.0\r\nWARC-Type: request\r\nWARC-Record-ID: <urn:uuid:request-1>\r\n"
               b"Content-Type: application/http; msgtype=request\r\nContent-Length: "
               + str(len(get)).encode() + b"\r\n\r\n" + get + b"\r\n\r\n")  # fmt: skip
    plain, packed = tmp_path / "nouri.warc", tmp_path / "nouri.warc.gz"
    plain.write_bytes(request + no_uri)
    packed.write_bytes(gzip.compress(request) + gzip.compress(no_uri))
    [expected] = list(html_records(str(warc)))
    code, out = _label(tmp_path, wet, warc)
    assert code == 0
    capsys.readouterr()
    labeled = [json.loads(line) for line in out.open()]
    for bad in (plain, packed):
        [record] = list(html_records(str(bad)))
        assert record == {**expected, "url": None}
        code, out = _label(tmp_path, wet, bad)
        assert code == 0, capsys.readouterr().err
        summary = json.loads(capsys.readouterr().out)
        assert (summary["valid"], summary["warc"]["joined"]) == (1, 1), summary
        assert not summary["quarantined"], summary
        assert [(r["doc_program"], r["chunk_program"]) for r in map(json.loads, out.open())] \
            == [(r["doc_program"], r["chunk_program"]) for r in labeled]
    # the seed-set route: two WET records (a training and a validation one) of that page,
    # their ids fixed: warcio draws a random one, which the split (a seeded hash of the id)
    # put beside the other's half the time, leaving train or validation empty (EmptySplit)
    conversion = gzip.decompress(wet.read_bytes())
    first_id = conversion.split(b"WARC-Record-ID: <", 1)[1].split(b">", 1)[0]
    pair = tmp_path / "pair"
    pair.mkdir()
    (pair / "c.warc.wet.gz").write_bytes(b"".join(
        gzip.compress(conversion.replace(first_id, b"urn:uuid:" + name))
        for name in (b"first-conversion", b"second-conversion")))  # train, validation at seed 0
    seed = tmp_path / "seed"
    assert main(["label", "--json", "--input", str(pair), "--output", str(seed), "--seed-set",
                 "--teacher", "html", "--sample-size", "2", "--val-fraction", "0.5",
                 "--no-register", "--warc", str(packed)]) == 0, capsys.readouterr().err
    info = json.loads(capsys.readouterr().out)
    assert info["label_distribution"]["by_teacher"] == {"html": 2}, info
    # a WET file holding such a request record: every conversion record read, none lost
    mixed = tmp_path / "mixed.warc.wet.gz"
    mixed.write_bytes(gzip.compress(request) + wet.read_bytes())
    assert main(["label", "--json", "--input", str(mixed), "--output",
                 str(tmp_path / "wet-labels.jsonl")]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"]) == (1, 1) and not summary["quarantined"]
    assert main(["refine", "--json", "--input", str(mixed), "--output", str(tmp_path / "refined"),
                 "--model", "default", "--no-progress"]) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert (summary["docs_read"], summary["docs_kept"], summary["docs_quarantined"]) == (1, 1, 0)


@pytest.mark.parametrize("form", ["folder", "glob"])
def test_a_named_pipe_or_a_link_to_nothing_among_the_warc_files_is_named_not_opened(
        tmp_path, capsys, form):
    """The WARC files of --warc were not checked as every input is: a named pipe in a crawl
    folder (or, since globs keep such paths for the check, matched by a glob) was opened and
    waited on for ever, and a link to nothing failed the run with a bare 'No such file or
    directory'. Both are now named before any WARC file is opened, with the way out."""
    import os

    warc, wet = write_warc_pair(tmp_path)
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    os.replace(warc, crawl / "c.warc.gz")
    os.symlink(tmp_path / "unmounted.warc.gz", crawl / "gone.warc.gz")
    os.mkfifo(crawl / "pipe.warc.gz")
    given = str(crawl) if form == "folder" else f"{crawl}/*.warc.gz"
    code, out = _label(tmp_path, wet, given)
    err = capsys.readouterr().err
    assert code == 2, err  # a setting to fix: a rerun lists the same files
    assert "make the WARC files (--warc) readable by the user running prox" in err, err
    assert "2 WARC files cannot be read" in err, err
    assert "gone.warc.gz (a link to " in err and "which does not exist" in err, err
    assert "pipe.warc.gz (a named pipe, not a file prox can read)" in err, err
    assert not out.exists()
    (crawl / "gone.warc.gz").unlink()
    (crawl / "pipe.warc.gz").unlink()
    code, out = _label(tmp_path, wet, given)
    assert code == 0, capsys.readouterr().err


def test_a_page_whose_declared_charset_is_wrong_is_rejected_not_a_drop_to_learn(tmp_path,
                                                                               capsys):
    """A Shift_JIS page served as ``charset=iso-8859-1`` (its WET text, decoded right by the
    crawler, in Japanese) was read as Latin-1 mojibake, of which the extractor's words
    are nowhere in the text: labeled ``drop_doc()`` removing every line, valid, a drop of a
    good page to learn. It is rejected as ``html:unaligned``, saying why; a page decoded
    right beside it is labeled as before."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = {  # url: (declared charset, encoding of the bytes, lines)
        "http://jp.example/": ("iso-8859-1", "shift_jis", [
            "ホーム | 会社概要", "これは日本語の段落です。川の谷の歴史について書かれています。",
            "人々は何世紀にもわたってこの谷で農業を営んできました。",
            "春には桜が咲き、秋には稲刈りの季節を迎えます。"]),
        "http://en.example/": ("utf-8", "utf-8", [
            "Home | About", "The river valley was farmed for centuries by its settlers.",
            "Each spring the orchards bloom along the old stone terraces of the hills.",
            "In autumn the villages gather the harvest and hold their market fairs."]),
    }
    warc, wet = tmp_path / "c.warc.gz", tmp_path / "c.warc.wet.gz"
    with open(warc, "wb") as fw, open(wet, "wb") as ft:
        responses, conversions = WARCWriter(fw, gzip=True), WARCWriter(ft, gzip=True)
        for url, (declared, encoding, lines) in pages.items():
            body = (f"<html><body><nav>{lines[0]}</nav><article>"
                    + "".join(f"<p>{line}</p>" for line in lines[1:])
                    + "</article></body></html>").encode(encoding)
            http = StatusAndHeaders("200 OK", [("Content-Type", f"text/html; charset={declared}")],
                                    protocol="HTTP/1.1")
            response = responses.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                    http_headers=http)
            responses.write_record(response)
            conversions.write_record(conversions.create_warc_record(
                url, "conversion", payload=io.BytesIO("\n".join(lines).encode()),
                warc_headers_dict={
                    "WARC-Refers-To": response.rec_headers.get_header("WARC-Record-ID"),
                    "Content-Type": "text/plain"}))
    code, out = _label(tmp_path, wet, warc)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == {"html:unaligned": 1}, summary
    japanese, english = [json.loads(line) for line in open(out)]
    assert japanese["rejected"] == ["html:unaligned"] and not japanese["valid"]
    assert "decoded by another charset than the text" in \
        japanese["label_meta"]["error_details"][0]
    assert english["valid"] and english["doc_program"] == "keep_doc()"
