"""Would the page's HTML help the tagger at refine time? Its line scores beside the html teacher.

When a crawl keeps the HTML (WARC), the ``html`` teacher's decision for every line (trafilatura
on the HTML, aligned to the text) could serve as a hint next to the tagger's remove
probability. This bench measures the best such combination without training anything: a line
is kept when the tagger's remove probability is below ``a``, or below ``b`` (``b >= a``) where
the extractor keeps the line — ``a = b`` is the tagger alone, ``a = 0, b > 1`` the extractor
alone. ``(a, b)`` is chosen on the validation pages (best word F1, and best F1 with recall at
least ``--recall-target``); the test pages report it. The last row reads the best point with
test recall >= the target off the test pages themselves: the ceiling of this family of rules,
for judging it, not a choice. Pages without HTML, or where the extractor finds nothing, keep
the tagger's own decision. Also prints the pages per second of each part.

WCXB's HTML is not in DATA_DIR (bench/README.md, "Data for the benches"); take ``dev/html``
from the benchmark's repository
(Murrough-Foley/web-content-extraction-benchmark), as for bench/html_teacher.py:

    python bench/html_hint.py --data DATA_DIR --html-dir /path/to/wcxb/dev/html [--seed-dir seed-best-v20]
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.datadir import default, jsonl_rows, require, require_html, seed_file  # noqa: E402

GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995, 1.01)


def load_pages(seed_dir: Path, split: str, data: str, html_dir: str) -> list[dict]:
    """The split's pages with gold, each with its WCXB HTML where the folder has it."""
    encodings = {}
    for row in jsonl_rows(os.path.join(data, "wcxb", "wcxb_dev.jsonl.gz")):
        encodings[row["id"]] = row.get("html_encoding") or "utf-8"
    pages = [d for d in jsonl_rows(seed_file(seed_dir, split)) if d.get("gold_text")]
    for page in pages:
        path = os.path.join(html_dir, str(page["id"]).rsplit("-", 1)[-1] + ".html.gz")
        page["html"] = None
        if page["id"] in encodings and os.path.exists(path):
            page["html"] = gzip.open(path).read().decode(encodings[page["id"]], "replace")
    return pages


def extractor_keeps(teacher, pages: list[dict]) -> list[np.ndarray | None]:
    """Per page, which lines the html teacher keeps (None: no HTML, or nothing extracted)."""
    from prox_tasks.training.metrics import removed_lines

    out = []
    for page in pages:
        if page["html"] is None:
            out.append(None)
            continue
        label = teacher.label(page["text"], page["html"])
        n = page["text"].count("\n") + 1
        removed = removed_lines(label.chunk_program, n)
        empty = label.meta.get("empty_extraction")
        out.append(None if empty else np.array([i not in removed for i in range(n)]))
    return out


def word_scores(pages, scored, keeps, thresholds: tuple, a: float, b: float) -> tuple:
    """Word (P, R, F1) against gold of the rule ``(a, b)`` over these pages; ``thresholds``:
    the tagger's (document keep, line remove) thresholds, for pages without a hint."""
    from prox_tasks.evaluation import word_prf

    refined = []
    for page, (probs, keep_doc), hint in zip(pages, scored, keeps):
        if keep_doc < thresholds[0]:
            refined.append("")
            continue
        probs = np.asarray(probs)
        kept = probs < thresholds[1] if hint is None else (probs < a) | (hint & (probs < b))
        refined.append("\n".join(ln for ln, k in zip(page["text"].split("\n"), kept) if k))
    m = word_prf(refined, [p["gold_text"] for p in pages])
    return m["precision"], m["recall"], m["f1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default(), metavar="DATA_DIR",
                        help="the public page collections (bench/README.md, Data for the benches; default $PROX_BENCH_DATA)")
    parser.add_argument("--html-dir", required=True, help="WCXB dev/html")
    parser.add_argument("--seed-dir", default="seed-best-v20", help="seed set under bench/out, or a path")
    parser.add_argument("--artifact", default=str(ROOT / "prox_tasks" / "models" / "line-tagger"),
                        help="the line-tagger artifact folder scored (default: the shipped one)")
    parser.add_argument("--recall-target", type=float, default=0.95,
                        help="least word recall of the (a, b) chosen on validation (default 0.95)")
    args = parser.parse_args()
    require(args.data, "wcxb/wcxb_dev.jsonl.gz")
    require_html(args.html_dir, "--html-dir")
    seed_dir = Path(args.seed_dir) if os.path.isdir(args.seed_dir) else ROOT / "bench" / "out" / args.seed_dir
    for split in ("validation", "test"):
        seed_file(seed_dir, split)  # both there before the models load
    from prox_tasks.labeling.html import HtmlTeacher
    from prox_tasks.models.line_tagger import LineTaggerRefiner

    refiner, teacher = LineTaggerRefiner(args.artifact), HtmlTeacher()
    splits = {}
    for split in ("validation", "test"):
        pages = load_pages(seed_dir, split, args.data, args.html_dir)
        t0 = time.perf_counter()
        scored = refiner.scores([p["text"] for p in pages])
        t1 = time.perf_counter()
        keeps = extractor_keeps(teacher, pages)
        t2 = time.perf_counter()
        with_html = sum(k is not None for k in keeps)
        print(f"{split}: {len(pages)} pages with gold, {with_html} with HTML and an extraction; "
              f"tagger {len(pages) / (t1 - t0):.0f} pages/s, html teacher "
              f"{with_html / (t2 - t1):.1f} pages/s (1 process)")  # fmt: skip
        splits[split] = (pages, scored, keeps)
    th = (refiner.config.doc_threshold, refiner.config.line_threshold)
    grid = [(a, b) for a in GRID for b in GRID if a <= b]
    val = {ab: word_scores(*splits["validation"], th, *ab) for ab in grid}

    def row(name: str, ab: tuple) -> str:
        v, t = val[ab], word_scores(*splits["test"], th, *ab)
        return (f"| {name} | {ab[0]}, {ab[1]} | {v[0]:.3f} / {v[1]:.3f} / {v[2]:.4f} | "
                f"{t[0]:.3f} / {t[1]:.3f} / {t[2]:.4f} |")  # fmt: skip

    base = min(grid, key=lambda ab: abs(ab[0] - th[1]) + abs(ab[1] - th[1]))
    best = max(grid, key=lambda ab: val[ab][2])
    at_target = max((ab for ab in grid if val[ab][1] >= args.recall_target), key=lambda ab: val[ab][2])
    test = {ab: word_scores(*splits["test"], th, *ab) for ab in grid}
    ceiling = max((ab for ab in grid if test[ab][1] >= args.recall_target), key=lambda ab: test[ab][2])
    print(f"\n{refiner.version}, keep threshold {th[1]}; {seed_dir.name}\n")
    print("| rule | a, b | validation P / R / F1 | test P / R / F1 |\n|---|---|---|---|")
    print(row("tagger alone (its threshold)", base))
    print(row("html teacher alone", (0.0, 1.01)))
    print(row("best on validation", best))
    print(row(f"best on validation with recall >= {args.recall_target}", at_target))
    print(row(f"ceiling: best test F1 with test recall >= {args.recall_target} (read off test)", ceiling))
    return 0


if __name__ == "__main__":
    sys.exit(main())
