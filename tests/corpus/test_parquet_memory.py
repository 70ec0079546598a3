"""A Parquet text over ``max_doc_bytes`` is quarantined without costing memory in Python.

Measured in a fresh process (its peak RSS, ``VmHWM``, reset before the read), on a real 20 MB page with a
character past U+FFFF (Python then holds 4 bytes a character)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from prox_tasks.corpus import Quarantine, read_documents

PROBE = """
import sys
from prox_tasks.corpus import Quarantine, read_documents

def status(field):  # kB; VmHWM is the peak since the last reset
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

small, big, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
list(read_documents(small, quarantine=Quarantine()))  # imports and pyarrow's pools warm
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak starts again from here
before = status("VmRSS:")
quarantine = Quarantine()
docs = [d.id for d in read_documents(big, quarantine=quarantine)]
print(docs, dict(quarantine.reasons), (status("VmHWM:") - before) / size)
"""


def test_an_oversized_parquet_text_costs_what_arrow_holds_not_more(tmp_path):
    """pyarrow itself holds a row group's text column (~4x the text here: the page, its
    decompressed bytes, the array); the reader added ~10x more making the text a Python
    string and dumping the whole row as the quarantine's raw (15.5x in all; 0.7 GB more
    for a 50 MB page, where JSON Lines stays flat). It now cuts such a text in Arrow first
    (6.8x in all)."""
    text = "Ein Absatz über 🦀 Krabben und Muscheln am Strand.\n" * 400_000
    size = len(text.encode())
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": ["s"], "text": ["a small page " * 20]}), small)
    pq.write_table(pa.table({"id": ["big", "s"], "text": [text, "a small page " * 20]}), big)
    del text
    out = subprocess.run([sys.executable, "-c", PROBE, str(small), str(big), str(size)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["['s']", "{'too_large':", "1}"]
    assert float(out[3]) < 9, f"peak memory {float(out[3]):.1f}x the text's size"


def test_an_oversized_parquet_text_is_quarantined_as_before(tmp_path):
    """Cut before it is checked, an oversized text is still quarantined for the first of
    its faults (a bad id, a blank text before its size), with its size, its id (none when
    the row has none) and the row as raw."""
    limit = 1000
    text = "Ein Satz.\n" * 300
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["ok", None, "", "blank", "small"],
                             "text": [text, text, text, " " * 3000, "kurz"],
                             "url": ["u0", "u1", "u2", "u3", "u4"]}), path)
    quarantine = Quarantine()
    docs = list(read_documents(str(path), quarantine=quarantine, max_doc_bytes=limit))
    assert [d.id for d in docs] == ["small"]
    records = list(quarantine.records())
    assert [(r["offset"], r["reason"], r["id"], r["detail"]) for r in records] == [
        (0, "too_large", "ok", "3000 bytes > 1000"),
        (1, "too_large", None, "3000 bytes > 1000"),
        (2, "bad_id", None, "field 'id' is ''"),
        (3, "empty_text", "blank", "field 'text' is blank")]
    row = json.loads(records[0]["raw"])
    assert row == {"id": "ok", "text": text, "url": "u0"}
    assert records[3]["raw_bytes"] == len(records[3]["raw"].encode())
