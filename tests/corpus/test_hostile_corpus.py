"""A seeded adversarial corpus through ``prox plan``, ``prox refine`` and ``prox gate``.

:func:`hostile_corpus` writes, deterministically for a seed, a folder of the input a nightly
delivery can hold at its worst — hostile records (duplicate ids within and across files,
``1`` beside ``"1"``, ids missing, null, blank or a bool, texts that are lists, objects,
numbers or bools, ``NaN``, lone surrogates, a name written twice, records over the size
and line limits), and
hostile files (UTF-16 with a BOM, Latin-1, a gzip member followed by garbage, concatenated
gzip members, zstd with skippable frames, Parquet with large_string, dictionary and binary
text columns, empty row groups and nested columns, names with spaces, unicode, ``#``,
``?`` and ``%``, a symbolic link loop and a link to a file) — and returns what must become
of each record. The run is then checked record by record: each written record is in the
refined shards or in the quarantine exactly once, where the generator said, a quarantined
JSON Lines record with its original bytes (a user can recover it), documents read = kept +
dropped + quarantined in the summary, the shard records and the gate, and a second run
into another folder writes the same bytes.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import os
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

#: Limits the run is given, so that records over them stay small files.
MAX_DOC_BYTES = 4096
MAX_DOC_LINES = 40
_WORDS = ("river stone cloud paper engine garden window letter market silver forest "
          "harbor candle mirror signal bridge").split()  # fmt: skip


@dataclass(frozen=True)
class Expected:
    """What must become of one record: ``file`` (its name in the input folder), ``offset``
    (line or row), ``outcome`` (``"doc"``: in a refined shard, else the quarantine reason)
    and ``raw`` (a JSON Lines record's bytes, which its quarantine entry must give back)."""

    file: str
    offset: int
    outcome: str
    raw: bytes | None = None


def _text(rng: random.Random, lines: int | None = None) -> str:
    count = lines if lines is not None else rng.randint(3, 8)
    return "\n".join(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 12)))
                     for _ in range(count))  # fmt: skip


def _jsonl(folder: Path, name: str, lines: list[tuple[bytes, str]], expected: list,
           compress=None) -> None:
    """Write ``lines`` (``(record bytes, outcome)``) as one JSON Lines file."""
    data = b"".join(line + b"\n" for line, _outcome in lines)
    (folder / name).write_bytes(compress(data) if compress else data)
    expected.extend(Expected(name, n, outcome, line) for n, (line, outcome) in enumerate(lines))


def _row(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def hostile_corpus(folder: Path, seed: int = 0) -> list[Expected]:
    """Write the adversarial corpus of ``seed`` into ``folder``; what must become of each
    record (:class:`Expected`), in no particular order."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    expected: list[Expected] = []
    good = [(_row(id=f"a{i}", text=_text(rng)), "doc") for i in range(6)]
    _jsonl(folder, "a b #1?%.jsonl", good[:2] + [
        (_row(id="a0", text=_text(rng)), "duplicate_id"),  # within the file
        (_row(id=1, text=_text(rng)), "doc"),
        (_row(id="1", text=_text(rng)), "duplicate_id"),  # 1 and "1" are one id
        (_row(text=_text(rng)), "doc"),  # no id: the text's content id
        (_row(id=None, text=_text(rng)), "doc"),
        (_row(id="", text=_text(rng)), "bad_id"),
        (_row(id=" ", text=_text(rng)), "bad_id"),
        (_row(id=True, text=_text(rng)), "bad_id"),
        (_row(id=1.5, text=_text(rng)), "doc"),
        (_row(id="t1", text=["a list", "of strings"]), "not_text"),
        (_row(id="t2", text={"an": "object"}), "not_text"),
        (_row(id="t3", text=12), "not_text"),
        (_row(id="t4", text=False), "not_text"),
        (_row(id="t5", text="   \n "), "empty_text"),
        (_row(id="t6"), "missing_text"),
        (b'{"id": "n1", "text": "not a number", "score": NaN}', "bad_number"),
        (b'{"id": "n2", "text": "not a number", "score": -Infinity}', "bad_number"),
        (b'{"id": "s1", "text": "a lone \\ud800 surrogate"}', "lone_surrogate"),
        (b'{"id": "s2", "text": "a pair \\ud83d\\ude00 is fine"}', "doc"),
        (b'{"id": "j1", "text": "cut', "malformed_json"),
        (b'["an", "array"]', "not_an_object"),
        (b'{"id": "k1", "text": "one text", "text": "or another"}', "duplicate_key"),
        (_row(id="big", text="word " * MAX_DOC_BYTES), "too_large"),
        (_row(id="lines", text="\n".join(["x y"] * (MAX_DOC_LINES + 5))), "too_many_lines"),
    ] + good[2:], expected)  # fmt: skip
    # the same id in another file (and shard): the first seen is kept
    _jsonl(folder, "ünï-ß €.jsonl", [(_row(id="a1", text=_text(rng)), "duplicate_id"),
                                     (_row(id="u1", text=_text(rng)), "doc")], expected)
    _utf16(folder, rng, expected)
    latin = [json.dumps({"id": "l1", "text": "café " + _text(rng)}, ensure_ascii=False)
             .encode("latin-1"), _row(id="l2", text=_text(rng))]  # fmt: skip
    _jsonl(folder, "latin1.jsonl", [(latin[0], "bad_encoding"), (latin[1], "doc")], expected)
    _compressed(folder, rng, expected)
    _parquet_files(folder, rng, expected)
    (folder / "sub").mkdir()
    os.symlink("..", folder / "sub" / "loop")  # a loop: never followed into
    _jsonl(folder / "sub", "real.jsonl", [(_row(id="k1", text=_text(rng)), "doc")], expected)
    expected[-1] = Expected("sub/real.jsonl", 0, "doc", expected[-1].raw)
    os.symlink("real.jsonl", folder / "sub" / "zz-link.jsonl")  # the same file again
    expected.append(Expected("sub/zz-link.jsonl", 0, "duplicate_id", expected[-1].raw))
    return expected


def _utf16(folder: Path, rng: random.Random, expected: list) -> None:
    rows = [_row(id=f"w{i}", text="é " + _text(rng)) for i in range(2)]
    (folder / "windows.jsonl").write_bytes(b"\n".join(rows).decode().encode("utf-16"))
    expected.extend(Expected("windows.jsonl", n, "doc", row) for n, row in enumerate(rows))


def _compressed(folder: Path, rng: random.Random, expected: list) -> None:
    rows = [_row(id=f"g{i}", text=_text(rng)) for i in range(4)]
    (folder / "garbage.jsonl.gz").write_bytes(
        gzip.compress(rows[0] + b"\n" + rows[1] + b"\n", mtime=0) + b"not gzip at all")
    expected += [Expected("garbage.jsonl.gz", 0, "doc", rows[0]),
                 Expected("garbage.jsonl.gz", 1, "doc", rows[1]),
                 Expected("garbage.jsonl.gz", 2, "truncated_file")]  # fmt: skip
    (folder / "members.jsonl.gz").write_bytes(gzip.compress(rows[2] + b"\n", mtime=0)
                                              + gzip.compress(rows[3] + b"\n", mtime=0))
    expected += [Expected("members.jsonl.gz", 0, "doc", rows[2]),
                 Expected("members.jsonl.gz", 1, "doc", rows[3])]  # fmt: skip
    skippable = struct.pack("<II", 0x184D2A50, 4) + b"seek"
    rows = [_row(id=f"z{i}", text=_text(rng)) for i in range(2)]
    frames = zstandard.ZstdCompressor(level=3)
    (folder / "framed.jsonl.zst").write_bytes(
        skippable + frames.compress(rows[0] + b"\n") + skippable + frames.compress(rows[1] + b"\n"))
    expected += [Expected("framed.jsonl.zst", n, "doc", row) for n, row in enumerate(rows)]
    (folder / "old.jsonl.bz2").write_bytes(bz2.compress(_row(id="b1", text=_text(rng)) + b"\n"))
    expected.append(Expected("old.jsonl.bz2", 0, "truncated_file"))


def _parquet_files(folder: Path, rng: random.Random, expected: list) -> None:
    texts = [_text(rng) for _ in range(6)]
    pq.write_table(pa.table({
        "id": ["p1", "p2", "p3"],
        "text": pa.array([texts[0], texts[1], None], pa.large_string()),
        "nested": pa.array([{"a": [1, 2], "b": {"c": "x"}}, None, {"a": [], "b": None}]),
    }), folder / "large.parquet")  # fmt: skip
    expected += [Expected("large.parquet", 0, "doc"), Expected("large.parquet", 1, "doc"),
                 Expected("large.parquet", 2, "missing_text")]  # fmt: skip
    pq.write_table(pa.table({"id": ["q1", "q2"],
                             "text": pa.array(texts[2:4]).dictionary_encode()}),
                   folder / "dictionary.parquet")  # fmt: skip
    expected += [Expected("dictionary.parquet", n, "doc") for n in range(2)]
    table = pa.table({"id": ["r1", "r2"],
                      "text": pa.array([texts[4].encode(), b"\xff\xfe not utf-8"], pa.binary())})
    with pq.ParquetWriter(folder / "row groups.parquet", table.schema) as writer:
        writer.write_table(table.slice(0, 0))  # a row group of no rows, first and between
        writer.write_table(table.slice(0, 1))
        writer.write_table(table.slice(0, 0))
        writer.write_table(table.slice(1, 1))
    expected += [Expected("row groups.parquet", 0, "doc"),
                 Expected("row groups.parquet", 1, "bad_encoding")]  # fmt: skip


def _refine(tmp_path: Path, folder: Path, out: Path, model: Path, capsys) -> dict:
    from prox_tasks.cli import main

    common = ["--input", str(folder), "--output", str(out), "--target-docs", "7"]
    assert main(["plan", *common, "--max-doc-bytes", str(MAX_DOC_BYTES)]) == 0
    capsys.readouterr()
    assert main(["refine", *common, "--json", "--model", str(model), "--no-progress",
                 "--max-doc-bytes", str(MAX_DOC_BYTES), "--max-doc-lines", str(MAX_DOC_LINES),
                 "--threads", "1"]) == 0, capsys.readouterr().err  # fmt: skip
    return json.loads(capsys.readouterr().out)


def _quarantined(out: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((out / "quarantine").glob("*.jsonl.gz"))
            for line in gzip.decompress(path.read_bytes()).splitlines()]  # fmt: skip


def test_a_hostile_corpus_loses_nothing_and_refines_to_the_same_bytes(tmp_path, tagger_model,
                                                                     capsys):
    from prox_tasks.cli import main
    from prox_tasks.storage import to_uri

    folder = tmp_path / "in"
    expected = hostile_corpus(folder, seed=7)
    assert hostile_corpus(tmp_path / "again", seed=7) == [
        Expected(e.file, e.offset, e.outcome, e.raw) for e in expected]  # deterministic
    summary = _refine(tmp_path, folder, tmp_path / "out", tagger_model, capsys)

    # every record once, where the generator said
    want = {(to_uri(str(folder / e.file)), e.offset): e for e in expected}
    rows = pq.read_table(tmp_path / "out" / "shards").to_pylist()
    quarantined = _quarantined(tmp_path / "out")
    found = [(r["source"], r["offset"]) for r in rows] + [
        (q["source"], q["offset"]) for q in quarantined]
    assert sorted(found) == sorted(want), "a record lost or written twice"
    got = {(r["source"], r["offset"]): "doc" for r in rows}
    got.update({(q["source"], q["offset"]): q["reason"] for q in quarantined})
    assert {k: got[k] for k in want} == {k: e.outcome for k, e in want.items()}
    for entry in quarantined:  # a user can recover each JSON Lines record from its entry
        raw = want[entry["source"], entry["offset"]].raw
        if raw is not None and not entry["source"].endswith(".gz"):
            kept = (base64.b64decode(entry["raw_b64"]) if "raw_b64" in entry
                    else entry["raw"].encode("utf-8", "surrogatepass"))  # fmt: skip
            assert kept.rstrip(b"\n") == raw and not entry["truncated"], entry
        assert entry["detail"], entry

    # documents in = kept + dropped + quarantined, in the summary and each shard's record
    docs_in = len(expected)
    assert summary["docs_read"] == docs_in
    assert summary["docs_kept"] + summary["docs_dropped"] + summary["docs_quarantined"] \
        == docs_in  # fmt: skip
    assert summary["docs_quarantined"] == len(quarantined)
    assert summary["docs_written"] == len(rows)
    statuses = [json.loads(p.read_text()) for p in (tmp_path / "out" / "_status").glob("*.json")]
    assert sum(s["docs_read"] for s in statuses) == docs_in
    assert all(s["docs_read"] == s["docs_written"] + s["docs_quarantined"] for s in statuses)

    # the gate judges the same counts: two input losses (the gzip garbage, the bzip2 file)
    assert main(["gate", "--snapshot", str(tmp_path / "out"), "--json"]) == 1
    gate = json.loads(capsys.readouterr().out)
    metrics = gate["metrics"]
    assert metrics["input_losses"] == 2, metrics
    assert metrics["docs_planned"] == metrics["docs_accounted"] == docs_in, metrics
    assert metrics["docs_kept"] + metrics["docs_dropped"] + metrics["docs_quarantined"] \
        == docs_in  # fmt: skip
    assert metrics["duplicate_ids_written"] == 0

    # a rerun in another folder writes the same bytes; one in the same folder changes none
    again = _refine(tmp_path, folder, tmp_path / "out2", tagger_model, capsys)
    assert {k: v for k, v in again.items() if k in summary and not isinstance(v, dict | list)
            and k not in ("output", "manifest", "seconds", "snapshot")} == {
        k: v for k, v in summary.items() if k in again and not isinstance(v, dict | list)
        and k not in ("output", "manifest", "seconds", "snapshot")}  # fmt: skip
    for part in ("shards", "quarantine"):
        first = sorted((tmp_path / "out" / part).iterdir())
        assert [p.read_bytes() for p in first] == [
            (tmp_path / "out2" / part / p.name).read_bytes() for p in first]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_hostile_corpus_is_the_same_for_a_seed(tmp_path, seed):
    """The generator is deterministic: the same seed writes the same bytes."""
    one = hostile_corpus(tmp_path / "one", seed)
    two = hostile_corpus(tmp_path / "two", seed)
    assert one == two
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*")
                   if p.is_file() and not p.is_symlink())  # fmt: skip
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes()
               for f in files)  # fmt: skip
