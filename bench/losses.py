"""Where a tagger loses words against gold: per page type, per page, and the document level.

Word recall against gold has a ceiling below 1: some gold words are not in the page's text at
all (the text was extracted badly: a title-only page, a list the extraction skipped). This
bench separates those *unreachable* words from the ones the tagger removed, shows the
document-level decisions (keep probability of every dropped page with gold), and lists the
pages that hold most of the lost and of the extra (kept but not gold) words.

    python bench/losses.py --artifact prox_tasks/models/line-tagger            # test split
    python bench/losses.py --artifact DIR --split validation --seed-dir seed-best-v20

Every bench seed set (bench/seedset.py) has the same test pages.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.datadir import jsonl_rows, seed_file  # noqa: E402


def page_losses(refiner, docs: list[dict]) -> list[dict]:
    """Per page with gold: gold words, unreachable ones (not in the text), lost (gold words
    the refined text misses), extra (refined words not in gold), the keep probability."""
    from prox_tasks.evaluation import word_counts
    from prox_tasks.programs import execute

    docs = [d for d in docs if d.get("gold_text")]
    texts = [d["text"] for d in docs]
    scored, _ = refiner._scored(texts)
    rows = []
    for d, (_, keep), dp, cp in zip(docs, scored, refiner.predict_doc(texts),
                                    refiner.predict_chunks(texts)):  # fmt: skip
        gold, text = word_counts(d["gold_text"]), word_counts(d["text"])
        out = word_counts(execute(d["text"], dp, cp).text)
        overlap = sum((out & gold).values())
        rows.append({"id": d["id"], "page_type": d.get("page_type") or "?", "keep": keep,
                     "dropped": dp.startswith("drop"), "gold": sum(gold.values()),
                     "unreachable": sum(gold.values()) - sum((gold & text).values()),
                     "lost": sum(gold.values()) - overlap, "extra": sum(out.values()) - overlap,
                     "text_words": sum(text.values())})  # fmt: skip
    return rows


def report(rows: list[dict], worst: int = 8) -> str:
    gold = sum(r["gold"] for r in rows)
    unreachable = sum(r["unreachable"] for r in rows)
    lost = sum(r["lost"] for r in rows)
    extra = sum(r["extra"] for r in rows)
    overlap = gold - lost
    out = [f"{len(rows)} pages with gold, {gold} gold words: recall {overlap / gold:.4f}, "
           f"precision {overlap / (overlap + extra):.4f}; keep-everything recall (the ceiling) "
           f"{1 - unreachable / gold:.4f}; lost {lost} words, of them {unreachable} not in the "
           f"text; extra {extra}", "",
           "| page type | pages | gold words | lost | of them unreachable | extra | recall | precision |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    by_type: dict = defaultdict(lambda: defaultdict(int))
    for r in rows:
        t = by_type[r["page_type"]]
        t["pages"] += 1
        for k in ("gold", "lost", "unreachable", "extra"):
            t[k] += r[k]
    for name, t in sorted(by_type.items(), key=lambda kv: -kv[1]["extra"] - kv[1]["lost"]):
        ov = t["gold"] - t["lost"]
        out.append(f"| {name} | {t['pages']} | {t['gold']} | {t['lost']} | {t['unreachable']} | "
                   f"{t['extra']} | {ov / t['gold']:.3f} | {ov / max(1, ov + t['extra']):.3f} |")
    dropped = [r for r in rows if r["dropped"]]
    out += ["", f"Dropped pages with gold: {len(dropped)}"]
    out += [f"- {r['id']} ({r['page_type']}): keep probability {r['keep']:.3f}, {r['text_words']} "
            f"words of text, {r['gold']} gold words of which {r['unreachable']} not in the text"
            for r in dropped]  # fmt: skip
    for key in ("lost", "extra"):
        total = sum(r[key] for r in rows)
        top = sorted(rows, key=lambda r: -r[key])[:worst]
        share = sum(r[key] for r in top) / max(1, total)
        out += ["", f"The {worst} pages with most {key} words ({share:.0%} of all):"]
        out += [f"- {r['id']} ({r['page_type']}): {key} {r[key]} of {r['gold']} gold words "
                f"({r['unreachable']} unreachable), {r['text_words']} words of text" for r in top]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default=str(ROOT / "prox_tasks" / "models" / "line-tagger"),
                        help="the line-tagger artifact folder (default: the shipped one)")
    parser.add_argument("--seed-dir", default="seed-best", help="seed set under bench/out")
    parser.add_argument("--split", default="test",
                        help="the seed set's split scored: train, validation or test (default test)")
    parser.add_argument("--keep-threshold", type=float, help="instead of the artifact's")
    parser.add_argument("--json", help="also write the per-page rows here")
    args = parser.parse_args()
    path = seed_file(ROOT / "bench" / "out" / args.seed_dir, args.split)  # before the model
    from prox_tasks.models.line_tagger import LineTaggerRefiner

    refiner = LineTaggerRefiner(args.artifact, line_threshold=args.keep_threshold)
    docs = list(jsonl_rows(path))
    rows = page_losses(refiner, docs)
    print(f"{refiner.version} at keep threshold {refiner.config.line_threshold}, "
          f"{args.seed_dir}/{args.split}")
    print(report(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
