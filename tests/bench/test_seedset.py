"""bench/seedset.py: the trafilatura evaluation pages get the html teacher from their own HTML
(``--trafilatura-html``), the way the shipped default's seed set is built."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from tests.labeling.test_html import ARTICLE, FOOTER, MENU, page_html, page_text

pytest.importorskip("trafilatura")

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "seedset.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_seedset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_checkout(root: Path, encoding: str) -> dict:
    """A trafilatura checkout holding one evaluation page, and its shared-data row."""
    html = page_html().replace("valley", "vallée")  # a character the encoding must decode
    path = root / "tests" / "eval" / "valley.html"
    path.parent.mkdir(parents=True)
    path.write_bytes(html.encode(encoding))
    return {"id": "trafilatura-valley", "text": page_text().replace("valley", "vallée"),
            "source": "trafilatura-evaluation", "orig_file": "tests/eval/valley.html",
            "html_encoding": encoding, "gold_with": [], "gold_without": []}  # fmt: skip


def test_extras_read_the_page_html_in_its_encoding(tmp_path):
    seedset = load_script()
    row = write_checkout(tmp_path, "iso-8859-1")
    html = seedset.extras_of(row, "best", {}, None, str(tmp_path))["html"]
    assert html is not None and "vallée" in html
    assert seedset.extras_of(row, "html", {}, None, str(tmp_path))["html"] == html
    # not asked for, not a trafilatura row, or no such file: no HTML
    assert seedset.extras_of(row, "best", {}, None, None)["html"] is None
    assert seedset.extras_of(row, "rules", {}, None, str(tmp_path))["html"] is None
    missing = {**row, "orig_file": "tests/eval/absent.html"}
    assert seedset.extras_of(missing, "best", {}, None, str(tmp_path))["html"] is None


def test_best_seed_set_labels_trafilatura_pages_from_their_html(tmp_path, monkeypatch):
    seedset = load_script()
    checkout, data, out = tmp_path / "trafilatura", tmp_path / "data", tmp_path / "seed"
    row = write_checkout(checkout, "utf-8")
    (data / "trafilatura_eval").mkdir(parents=True)
    with gzip.open(data / "trafilatura_eval" / "trafilatura_eval.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(row) + "\n")
    argv = ["seedset.py", "--data", str(data), "--teacher", "best", "--out", str(out)]
    for extra, teacher in (([], "rules"), (["--trafilatura-html", str(checkout)], "html")):
        monkeypatch.setattr("sys.argv", argv + extra)
        assert seedset.main() == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["by_teacher"] == {teacher: 1}
    docs = [json.loads(line) for split in ("train", "validation", "test")
            for line in gzip.open(out / f"{split}.jsonl.gz", "rt")]  # fmt: skip
    assert len(docs) == 1 and docs[0]["teacher"] == "html" and docs[0]["has_html"]
    from prox_tasks.programs import execute

    kept = execute(docs[0]["text"], docs[0]["doc_program"], docs[0]["chunk_program"]).text
    assert ARTICLE[1].replace("valley", "vallée") in kept
    assert not set(MENU + FOOTER) & set(kept.split("\n"))
