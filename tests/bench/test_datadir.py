"""The benches find the public page collections through ``--data DATA_DIR`` or
``$PROX_BENCH_DATA`` (bench/README.md, "Data for the benches"), and a folder that lacks them
gets one line naming what to download, not a traceback."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "PROX_BENCH_DATA"}
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
                          env={**environ, **(env or {})})  # fmt: skip


def test_a_missing_data_folder_names_what_to_download_and_writes_nothing(tmp_path):
    gold = ROOT / "prox_tasks" / "evaluation" / "gold"
    before = {p.name: p.read_bytes() for p in gold.iterdir() if p.is_file()}
    for script, args in (("goldset.py", ["--data", str(tmp_path / "missing")]),
                         ("executor.py", ["--skip-parse"]),  # $PROX_BENCH_DATA: a typo
                         ("seedset.py", ["--data", str(tmp_path), "--out", str(tmp_path / "seed")])):
        done = run_bench(script, *args, env={"PROX_BENCH_DATA": str(tmp_path / "typo")})
        assert done.returncode == 1, (script, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert "wcxb/wcxb_dev.jsonl.gz (from WCXB, Murrough-Foley/web-content-extraction-" \
               "benchmark @ c039d5ee" in done.stderr
        assert "'Data for the benches'" in done.stderr and "--data DATA_DIR" in done.stderr
    assert {p.name: p.read_bytes() for p in gold.iterdir() if p.is_file()} == before
    assert not (tmp_path / "seed").exists()


def test_the_data_folder_comes_from_prox_bench_data(tmp_path):
    rows = [{"id": f"p{i}", "text": f"Menu\nArticle {i} body text here\nFooter",
             "gold_text": f"Article {i} body text here"} for i in range(3)]
    (tmp_path / "wcxb").mkdir()
    with gzip.open(tmp_path / "wcxb" / "wcxb_dev.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    done = run_bench("executor.py", "--skip-parse", "--repeats", "1",
                     env={"PROX_BENCH_DATA": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["docs"] == 3


def test_the_package_and_the_docs_name_no_private_data_folder():
    """Users have no ``../shared/data`` (this project's developers' copy of the public
    collections): the package never reads it, and the docs' commands take DATA_DIR."""
    texts = [p for p in (ROOT / "prox_tasks").rglob("*") if p.suffix in (".py", ".md", ".json")]
    texts += [*(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "bench" / "README.md"]
    naming = [str(p.relative_to(ROOT)) for p in texts
              if "shared/data" in p.read_text(encoding="utf-8", errors="replace")]
    assert naming == []


def test_a_pages_folder_without_page_collections_stops_the_bench_with_one_line(tmp_path):
    """``--pages`` (or ``$PROX_BENCH_DATA``) naming a folder without ``*/*.jsonl.gz``: one
    line saying so, before any model loads; the benches measured the bundled sample instead
    (refine.py, precision.py) or failed in a child process (batch_memory.py)."""
    typo = str(tmp_path / "typo")
    for script, args in (("refine.py", ["--docs", "10", "--workers", "", "--sizes", "",
                                        "--feature-docs", "0", "--ceiling-docs", "0",
                                        "--work", str(tmp_path / "work")]),
                         ("precision.py", ["--speed-docs", "1", "--repeats", "1",
                                           "--seed-dir", str(tmp_path / "no-seed")]),
                         ("batch_memory.py", ["--batches", "1", "--docs", "1",
                                              "--settings", "refine"])):
        done = run_bench(script, "--pages", typo, *args)
        assert done.returncode == 1, (script, done.stdout[-2000:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert f"bench data: {typo} is not a folder of page collections (*/*.jsonl.gz)" \
            in done.stderr, done.stderr
        assert "--pages DATA_DIR" in done.stderr, done.stderr


def test_a_missing_seed_set_stops_the_bench_with_one_line_saying_how_to_build_it(tmp_path):
    """The benches that read a bench seed set (bench/seedset.py's) name the missing file and
    the command that builds it, instead of a FileNotFoundError traceback."""
    (tmp_path / "data" / "wcxb").mkdir(parents=True)
    with gzip.open(tmp_path / "data" / "wcxb" / "wcxb_dev.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"id": "p0", "text": "a page"}) + "\n")
    missing = tmp_path / "no-seed"
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "0001.html.gz").write_bytes(gzip.compress(b"<html></html>"))
    for script, args, named in (
            ("losses.py", ["--seed-dir", str(missing)], missing / "test.jsonl.gz"),
            ("train.py", ["run", "default", "--seed-dir", str(missing)], missing / "test.jsonl.gz"),
            ("train_memory.py", ["--seed", str(missing), "--pages", "10"],
             missing / "train.jsonl.gz"),
            ("html_hint.py", ["--data", str(tmp_path / "data"), "--html-dir", str(tmp_path / "html"),
                              "--seed-dir", str(missing)], missing / "validation.jsonl.gz")):
        done = run_bench(script, *args)
        assert done.returncode == 1, (script, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert f"bench seed set: {named} does not exist" in done.stderr, done.stderr
        assert "python bench/seedset.py --data DATA_DIR --teacher best --out" in done.stderr
        assert "| pages" not in done.stdout  # train_memory.py: no table header before it


def test_a_folder_without_the_page_html_stops_the_html_benches_with_one_line(tmp_path):
    """--html-dir / --wcxb-html / --trafilatura-html name the page HTML DATA_DIR leaves out;
    a folder without it ran the bench on pages without HTML (html_hint.py scored them all,
    html_teacher.py measured 0 pages), or labeled without it (seedset.py)."""
    (tmp_path / "data" / "wcxb").mkdir(parents=True)
    with gzip.open(tmp_path / "data" / "wcxb" / "wcxb_dev.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"id": "wcxb-dev-0001", "text": "a page", "gold_text": "a"}) + "\n")
    data, wrong = str(tmp_path / "data"), str(tmp_path / "data" / "wcxb")
    for script, args, option in (
            ("html_teacher.py", ["--html-dir", wrong], "--html-dir"),
            ("html_hint.py", ["--html-dir", wrong], "--html-dir"),
            ("seedset.py", ["--teacher", "html", "--wcxb-html", wrong, "--out",
                            str(tmp_path / "seed")], "--wcxb-html"),
            ("seedset.py", ["--teacher", "best", "--trafilatura-html", wrong, "--out",
                            str(tmp_path / "seed")], "--trafilatura-html")):
        done = run_bench(script, "--data", data, *args)
        assert done.returncode == 1, (script, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert f"bench data: {option} {wrong} holds no page HTML" in done.stderr, done.stderr
    assert not (tmp_path / "seed").exists()
