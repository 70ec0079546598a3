"""JSON Lines written as UTF-16 (PowerShell's ``>``) or UTF-32 read like UTF-8: every record
refined, none quarantined, none counted twice — planner and reader agree."""

from __future__ import annotations

import gzip
import json

import pytest

from prox_tasks.cli import main
from prox_tasks.corpus import Quarantine, read_rows
from prox_tasks.corpus.encodings import detect

ROWS = [{"id": f"d{i}", "text": f"Ünïcödé line {i} 😀 (a surrogate pair in UTF-16).\n"
         f"A second line of document {i} with a few more words to keep."} for i in range(40)]
TEXT = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_every_row_of_a_utf16_or_utf32_file_is_read_once(tmp_path, codec, crlf, gz):
    text = TEXT.replace("\n", "\r\n") if crlf else TEXT
    data = text.encode(codec)  # "utf-16"/"utf-32" write a byte order mark, -le/-be none
    path = tmp_path / ("rows.jsonl.gz" if gz else "rows.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    quarantine = Quarantine()
    rows = [row for _s, _l, row in read_rows(str(path), quarantine)]
    assert rows == ROWS and len(quarantine) == 0


def test_a_long_utf16_file_transcodes_across_its_read_blocks(tmp_path):
    # surrogate pairs and line ends fall on every byte position of the 64 KiB blocks
    rows = [{"id": str(i), "text": "😀" * (i % 37) + "x" * (i % 5)} for i in range(20_000)]
    path = tmp_path / "long.jsonl"
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n"
                             for r in rows).encode("utf-16"))  # fmt: skip
    quarantine = Quarantine()
    assert [row for _s, _l, row in read_rows(str(path), quarantine)] == rows
    assert len(quarantine) == 0


def test_a_bad_sequence_costs_only_its_own_line(tmp_path):
    good = [json.dumps(r, ensure_ascii=False).encode("utf-16-le") for r in ROWS[:3]]
    lone_surrogate = '{"id": "bad", "text": "'.encode("utf-16-le") + b"\x00\xd8" + \
        '"}'.encode("utf-16-le")  # fmt: skip
    newline = "\n".encode("utf-16-le")
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\xff\xfe" + newline.join([good[0], lone_surrogate, good[1], good[2]])
                     + newline)
    quarantine = Quarantine()
    assert [row["id"] for _s, _l, row in read_rows(str(path), quarantine)] == ["d0", "d1", "d2"]
    assert [(q["offset"], q["reason"]) for q in quarantine.records()] == [(1, "bad_encoding")]


def test_utf8_and_other_bytes_pass_through():
    assert detect(b'{"id') == (None, 0)
    assert detect(b"\xef\xbb\xbf{") == (None, 0)  # a UTF-8 BOM: the line reader skips it
    assert detect(b"\xff\xfe{\x00") == ("utf-16-le", 2)
    assert detect(b"\xff\xfe\x00\x00") == ("utf-32-le", 4)
    assert detect(b"") == (None, 0)


def test_prox_refine_refines_a_powershell_written_file(tmp_path, capsys):
    path = tmp_path / "export.jsonl"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode("utf-16"))  # Out-File's default
    out = tmp_path / "refined"
    assert main(["refine", "--json", "--input", str(path), "--output", str(out),
                 "--model", "default", "--target-docs", "15", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["docs_read"], summary["docs_quarantined"]) == (40, 0)
    assert summary["docs_written"] + summary.get("docs_dropped", 0) == 40
    assert len(summary["results"]) == 3  # planned in three shards by the same reader


def _read(path):
    quarantine = Quarantine()
    rows = [row for _s, _l, row in read_rows(str(path), quarantine)]
    return rows, [(q["offset"], q["reason"]) for q in quarantine.records()]


def test_a_utf8_file_whose_first_line_is_garbage_stays_utf8(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"{\x00garbage\n" + TEXT.encode())
    rows, quarantined = _read(path)
    assert rows == ROWS and quarantined == [(0, "malformed_json")]  # NUL is UTF-8


def test_a_utf16_file_cut_inside_a_character_keeps_the_rows_before_the_cut(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(TEXT.encode("utf-16")[:-3])  # cut in the last row's last characters
    rows, quarantined = _read(path)
    assert rows == ROWS[:-1] and quarantined == [(len(ROWS) - 1, "bad_encoding")]


@pytest.mark.parametrize("written", ["utf16_cut", "cesu8"])
def test_an_encoded_surrogate_is_not_said_to_be_latin1(tmp_path, written):
    """A UTF-16 file cut inside a character (its last unit read as an encoded surrogate)
    and a CESU-8 file (Java's modified UTF-8: a pair as two encoded surrogates) were each
    told to 're-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8', which would make
    mojibake of them: the detail names the encoded surrogate and what writes one."""
    path = tmp_path / "rows.jsonl"
    if written == "utf16_cut":
        path.write_bytes(TEXT.encode("utf-16")[:-3])
    else:  # the emoji as CESU-8 writes it: each half of its UTF-16 pair encoded alone
        pair = "\ud83d\ude00".encode("utf-8", "surrogatepass")
        path.write_bytes(TEXT.encode().replace("😀".encode(), pair))
    quarantine = Quarantine()
    rows = [row for _s, _l, row in read_rows(str(path), quarantine)]
    assert len(rows) == (len(ROWS) - 1 if written == "utf16_cut" else 0)
    details = [q["detail"] for q in quarantine.records()]
    assert len(details) == len(ROWS) - len(rows)
    for detail in details:
        assert "latin1" not in detail and "encode a UTF-16 surrogate" in detail, detail
        assert "CESU-8" in detail and "UTF-16 holding a unit that is no text" in detail


def test_a_utf16_file_without_a_bom_starting_with_a_blank_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(("\r\n" + TEXT).encode("utf-16-le"))
    rows, quarantined = _read(path)
    assert rows == ROWS and quarantined == []


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_quarantined_record_of_a_utf16_file_keeps_the_files_own_bytes(tmp_path, codec):
    """A bad record of a UTF-16 file was quarantined as the UTF-8 it was read as (a lone
    surrogate as bytes neither encoding holds): unlike a UTF-8 file's entry, it could not
    give back the record as the file holds it. Its entry now keeps the file's own bytes in
    ``raw_b64`` and names their ``encoding``, through the document reader and the rows
    reader alike."""
    import base64

    from prox_tasks.corpus import read_documents

    lone = b"\x00\xd8" if codec == "utf-16-le" else b"\xd8\x00" if codec == "utf-16-be" \
        else b"\x00\xd8\x00\x00"  # fmt: skip
    records = [json.dumps(ROWS[0], ensure_ascii=False).encode(codec),
               '{"id": "cut", "text": "Ünïcödé 😀'.encode(codec),  # malformed JSON
               '{"id": "bad", "text": "'.encode(codec) + lone + '"}'.encode(codec),
               '{"id": "none"}'.encode(codec)]  # missing_text
    newline = "\n".encode(codec)
    path = tmp_path / "rows.jsonl"
    path.write_bytes("\ufeff".encode(codec) + newline.join(records) + newline)
    readers = {  # a row without a text is no document, but a row
        "documents": lambda q: [d.id for d in read_documents(str(path), quarantine=q)],
        "rows": lambda q: [row["id"] for _s, _l, row in read_rows(str(path), q)]}
    for name, read in readers.items():
        quarantine = Quarantine()
        good = read(quarantine)
        assert good == (["d0"] if name == "documents" else ["d0", "none"])
        entries = list(quarantine.records())
        assert [e["reason"] for e in entries][:2] == ["malformed_json", "bad_encoding"]
        assert [base64.b64decode(e["raw_b64"]) for e in entries] == \
            [r + newline for r in records[1:5 - len(good)]]
        assert {e["encoding"] for e in entries} == {codec} and not any("raw" in e for e in entries)


def test_a_binary_file_s_records_say_binary_not_latin1(tmp_path):
    """A binary file under a .jsonl name (an image, a database dump) had each of its lines
    quarantined as bad_encoding saying 're-encode the file as UTF-8, e.g. iconv -f latin1',
    which makes mojibake of it, not text. A record holding control bytes no text holds says
    it is binary data and to move the file out; latin-1 text, tabs, escapes and the Ctrl-Z
    (0x1a) old DOS text files end with kept, still says iconv."""
    from prox_tasks.corpus.document import BINARY_HINT

    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x03\x00>\x00\n"  # a program
                     + '{"id": "l", "text": "caf\u00e9\tcr\u00e8me \x1b[1m"}\x1a\n'.encode("latin-1"))
    quarantine = Quarantine()
    assert list(read_rows(str(path), quarantine)) == []
    details = [(q["offset"], q["reason"], q["detail"]) for q in quarantine.records()]
    assert details[0][1:] == ("bad_encoding", f"not UTF-8 at byte 10 (0xff): {BINARY_HINT}")
    assert "move it out of the input" in BINARY_HINT
    assert details[-1][1:] == ("bad_encoding", "not UTF-8 at byte 24 (0xe9): re-encode the file "
                               "as UTF-8, e.g. iconv -f latin1 -t utf-8")
