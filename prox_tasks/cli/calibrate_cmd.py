"""``prox calibrate``: a tagger's keep threshold for a word-recall target, on your own pages.

The shipped threshold was calibrated on prox's validation pages; a corpus whose pages differ
(more gold text the page text lacks, other page types) can land below the recall target
with it. This command scores the model on rows that carry a clean text (``gold_text``)
beside the page text, prints the precision/recall curve over the keep thresholds, and picks
the most precise threshold whose recall (the bootstrap 5th percentile) meets the target —
the same calibration ``prox train`` runs (:mod:`prox_tasks.training.calibrate`). Use the
result with ``prox refine --keep-threshold T`` or the DAG's ``keep_threshold`` Param.

Exit codes: 0 calibrated (``--json`` tells whether the target was met), 1 bad input (too few
rows with gold, not a tagger model), 2 an option out of range (``--recall-target``,
``--min-docs``).
"""

from __future__ import annotations

from prox_tasks.cli.arguments import positive_int, share
from prox_tasks.cli.output import Outcome, count, input_notices, progress_bar


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--gold", required=True, help="JSONL(.gz/.zst) rows with the page text and "
                   "its gold text (file, folder, glob; path, file://, s3://)")
    p.add_argument("--model", default=None, help="tagger model URI, 'default' or 'promoted' "
                   "(default: the promoted model, else $PROX_DEFAULT_MODEL, else the shipped line "
                   "tagger)")
    p.add_argument("--recall-target", type=share, default=None,
                   help="word recall the threshold must reach (default 0.95)")
    p.add_argument("--text-field", default="text", help="page text field (default text)")
    p.add_argument("--gold-field", default="gold_text", help="gold text field (default gold_text)")
    p.add_argument("--min-docs", type=positive_int, default=20,
                   help="fewest rows with gold to calibrate on (default 20)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads of the tagger (default 1)")
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.corpus import Quarantine, read_rows
    from prox_tasks.evaluation.files import page_id
    from prox_tasks.inference import load_backend
    from prox_tasks.inference.loading import NotATagger
    from prox_tasks.training.calibrate import DEFAULT_RECALL_TARGET, calibrate_threshold

    target = DEFAULT_RECALL_TARGET if args.recall_target is None else args.recall_target
    docs, bad = [], Quarantine()  # bad lines and rows without a text: counted, not fatal
    seen, repeated = set(), 0  # as prox eval: the first row of an id is the page
    with progress_bar(args, "read", "row") as bar:
        for source, line, row in read_rows(args.gold, bad):
            bar.update(1)
            page = page_id(row.get("id"))
            if page is not None:
                if page in seen:
                    repeated += 1
                    continue
                seen.add(page)
            text, gold = row.get(args.text_field), row.get(args.gold_field)
            if not isinstance(text, str):
                bad.add(source, line, "missing_text" if text is None else "not_text",
                        f"no string field {args.text_field!r}", doc_id=row.get("id"))
                continue
            docs.append({"text": text, "gold_text": gold if isinstance(gold, str) else None})
    bad_rows, without_text = len(bad), bad.reasons["missing_text"] + bad.reasons["not_text"]
    bad.close()
    if not docs and without_text:
        # gold rows of prox eval (an id and the gold text): calibrate refines the page too
        raise ValueError(f"{args.gold}: no row has a string {args.text_field!r}, the page "
                         f"text to refine ({count(without_text, 'row')} without one, "
                         f"{count(bad_rows - without_text, 'bad line')}); --text-field names "
                         "the field holding it")
    # the tagger backend refuses a generative model (it has no keep threshold) before loading it
    try:
        refiner = load_backend("tagger", args.model, threads=args.threads).inner
    except NotATagger as err:  # said as calibrate's user reads it: they named no backend
        raise NotATagger(f"{err.where} is a generative model, which has no keep threshold: "
                         "prox calibrate calibrates a line tagger's; give a line-tagger model "
                         "(--model default, or one prox train published)", err.where) from None
    shipped = refiner.config.line_threshold
    report = calibrate_threshold(refiner, docs, target, min_docs=args.min_docs)
    with_gold = sum(1 for d in docs if d["gold_text"])
    if report is None:
        # pages read but none with that field: the gold text is under another name
        from prox_tasks.evaluation.files import GOLD_FIELD_HINT

        fix = f"; {GOLD_FIELD_HINT}" if docs and not with_gold else ""
        raise ValueError(f"{args.gold}: {count(with_gold, 'row')} with a {args.gold_field!r} "
                         f"text, fewer than --min-docs {args.min_docs} "
                         f"({count(bad_rows, 'bad row')}: not JSON "
                         f"objects, or without a string {args.text_field!r}{fix})")
    point = report["point"]
    # pages read but not scored: no gold text to score against (139 of the bundled sample)
    without_gold = len(docs) - with_gold
    result = {**report, "model_version": refiner.version, "shipped_threshold": shipped,
              "rows": len(docs), "rows_without_gold": without_gold, "bad_rows": bad_rows,
              "duplicate_ids": repeated, "input_notices": dict(sorted(bad.notices.items()))}
    met = "meets" if report["met"] else "does NOT meet"
    return Outcome(
        f"keep threshold {report['threshold']} (model's {shipped}): word precision "
        f"{point['precision']:.3f}, recall {point['recall']:.3f} (5th percentile "
        f"{point['recall_low']:.3f}, {met} {target}), F1 {point['f1']:.3f} over "
        f"{count(with_gold, 'page')} with gold ("
        + (f"{count(without_gold, 'row')} without a {args.gold_field!r} text skipped, "
           if without_gold else "")
        + f"{count(bad_rows, 'bad row')}"
        + (f", {count(repeated, 'repeated id')}: first row used" if repeated else "")
        + f"){input_notices(result['input_notices'])}; use it with "
        f"--keep-threshold {report['threshold']}",
        result)
