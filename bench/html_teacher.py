"""Choose the html teacher's extractor by measuring: WCXB dev pages with HTML and gold.

For each extractor setting: word P/R/F1 against the human gold of (a) the extractor's own
output and (b) what the ``html`` teacher keeps of the page text (the extraction aligned to the
corpus text as a deletion program, executed), beside the rules teacher and the raw text on the
same pages, per page type, and pages/s.

WCXB's HTML is not in DATA_DIR (bench/README.md, "Data for the benches"); take it from the
benchmark's repository (Murrough-Foley/web-content-extraction-benchmark, ``dev/html``):

    python bench/html_teacher.py --data DATA_DIR --html-dir /path/to/wcxb/dev/html [--docs 300]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bench.datadir import jsonl_rows  # noqa: E402

SETTINGS = {
    "trafilatura": {"extractor": "trafilatura", "favor_recall": False},
    "trafilatura-recall": {"extractor": "trafilatura", "favor_recall": True},
    # the extractor in this process, no time limit per page (the default runs it in a
    # worker process with extract_timeout): the worker's overhead is the difference
    "trafilatura-in-process": {"extractor": "trafilatura", "extract_timeout": None},
    "resiliparse": {"extractor": "resiliparse"},
}


def wcxb_pages(data: str, html_dir: str, n: int | None, half: str) -> list[dict]:
    """WCXB dev rows with gold and HTML, in a fixed pseudo-random order (first ``n``)."""
    pages = []
    for row in jsonl_rows(os.path.join(data, "wcxb", "wcxb_dev.jsonl.gz")):
        path = os.path.join(html_dir, row["id"].rsplit("-", 1)[-1] + ".html.gz")
        if not row.get("gold_text") or not os.path.exists(path):
            continue
        h = hashlib.sha256(f"half:{row['id']}".encode()).digest()[0]
        if half != "all" and (h % 2 == 0) != (half == "a"):
            continue
        raw = gzip.open(path, "rb").read()
        row["html"] = raw.decode(row.get("html_encoding") or "utf-8", errors="replace")
        pages.append(row)
    pages.sort(key=lambda r: hashlib.sha256(f"order:{r['id']}".encode()).hexdigest())
    return pages[:n] if n else pages


def scores(texts, pages) -> dict:
    from prox_tasks.evaluation import word_prf

    out = {"all": word_prf(texts, [p["gold_text"] for p in pages])}
    groups = defaultdict(list)
    for t, p in zip(texts, pages):
        groups[p.get("page_type") or "?"].append((t, p["gold_text"]))
    for g, pairs in sorted(groups.items()):
        out[g] = word_prf([a for a, _ in pairs], [b for _, b in pairs])
    return out


def main() -> int:
    from bench.datadir import default, require, require_html
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.html import HtmlTeacher
    from prox_tasks.programs import execute

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default(), metavar="DATA_DIR",
                        help="the public page collections (bench/README.md, Data for the benches; default $PROX_BENCH_DATA)")
    parser.add_argument("--html-dir", required=True,
                        help="WCXB dev/html (the benchmark's <id>.html.gz pages)")
    parser.add_argument("--docs", type=int, default=300,
                        help="WCXB dev pages with gold and HTML, in a fixed order (default 300; "
                        "0: all)")
    parser.add_argument("--half", choices=["all", "a", "b"], default="all",
                        help="one half of the pages, split by a hash of the id (default all)")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated extractor settings (default: all, {','.join(SETTINGS)})")
    args = parser.parse_args()
    require_html(args.html_dir, "--html-dir")
    for name in args.settings.split(","):  # each extractor there before any page is read
        try:
            HtmlTeacher(**SETTINGS[name]).close()
        except KeyError:
            parser.error(f"--settings: {name!r} is none of {', '.join(SETTINGS)}")
        except ImportError as err:
            parser.error(f"--settings {name}: {err}; leave it out of --settings")
    pages = wcxb_pages(str(require(args.data, "wcxb/wcxb_dev.jsonl.gz")), args.html_dir, args.docs, args.half)
    rows = {}
    rules = get_teacher("rules")
    rows["raw text"] = scores([p["text"] for p in pages], pages)
    labels = [rules.label(p["text"]) for p in pages]
    rows["rules teacher"] = scores([execute(p["text"], lb.doc_program, lb.chunk_program).text
                                    for p, lb in zip(pages, labels)], pages)  # fmt: skip
    rates = {}
    for name in args.settings.split(","):
        teacher = HtmlTeacher(**SETTINGS[name])
        teacher.extract("<html></html>")  # a worker process started before the clock
        # wall time: the worker's CPU is not this process's (one page at a time, one core)
        start = time.perf_counter()
        extracted = [teacher.extract(p["html"]) for p in pages]
        rates[name] = len(pages) / max(time.perf_counter() - start, 1e-9)
        rows[f"{name}: extractor output"] = scores(extracted, pages)
        labels = [teacher.label(p["text"], p["html"]) for p in pages]
        rows[f"{name}: html teacher on the text"] = scores(
            [execute(p["text"], lb.doc_program, lb.chunk_program).text for p, lb in zip(pages, labels)],
            pages)  # fmt: skip
        teacher.close()
    types = sorted({k for r in rows.values() for k in r if k != "all"})
    print(f"{len(pages)} WCXB dev pages with HTML and gold (half {args.half})\n")
    print("| | P | R | F1 | " + " | ".join(f"{t} F1" for t in types) + " |")
    print("|---|---|---|---|" + "---|" * len(types))
    for name, s in rows.items():
        a = s["all"]
        cells = " | ".join(f"{s[t]['f1']:.3f}" if t in s else "" for t in types)
        print(f"| {name} | {a['precision']:.3f} | {a['recall']:.3f} | {a['f1']:.3f} | {cells} |")
    print("\nextraction pages per second (wall, one page at a time): " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
