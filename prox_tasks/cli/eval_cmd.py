"""``prox eval``: word-level precision/recall/F1 of refined texts against gold."""

from __future__ import annotations

from prox_tasks.cli.output import Outcome, count, input_notices, progress_bar
from prox_tasks.wording import by_reason


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument(
        "--refined",
        required=True,
        help="refined rows: JSONL(.gz/.zst) (a file, folder or glob), Parquet (a file or a "
        "glob: OUT/shards/*.parquet) or a refined output folder (path, file://, s3://)",
    )
    p.add_argument("--gold", required=True, help="rows with the gold text: a JSONL file (any "
                   "name, .gz/.zst), a folder or a glob (path, file://, s3://)")
    p.add_argument("--text-field", default="text", help="refined text field (default text)")
    p.add_argument("--gold-field", default="gold_text", help="gold text field (default gold_text)")
    p.add_argument("--id-field", default="id", help="id field of both (default id)")
    p.add_argument(
        "--by",
        default=None,
        metavar="FIELD",
        help="also report per value of this gold-row field (e.g. page_type), in the "
        "--json result's by_group (the summary line has the totals only)",
    )
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.evaluation.files import evaluate_files

    # a missing file ends in prox_tasks.cli.main: one line on stderr, exit code 1
    with progress_bar(args, "eval", "row") as bar:
        result = evaluate_files(args.refined, args.gold, args.text_field, args.gold_field,
                                args.id_field, args.by, progress=bar)
    if args.by and set(result.get("by_group") or {}) <= {"None"}:
        # every gold row lands in one group "None": a field no row holds (a typo) split
        # nothing, and the scores alone read as if it had
        return Outcome.failure("eval", f"--by {args.by}: no gold row holds a value in that "
                               "field, so nothing was split; name a field of the gold rows "
                               "(e.g. page_type), or leave --by out", code=2)
    reasons = result.get("bad_rows_by_reason")
    said = {"gold_field": args.gold_field, "reasons": f" ({by_reason(reasons)})" if reasons else ""}
    notes = [f"{count(result[key], noun)}{rest.format(**said)}"
             for key, noun, rest in NOTED if result.get(key)]
    return Outcome(f"word precision {result['precision']:.3f}, recall {result['recall']:.3f}, "
                   f"F1 {result['f1']:.3f} over {count(result['docs'], 'gold document')} "
                   f"({result['docs_kept']:,} kept, {result['docs_dropped']:,} dropped, "
                   f"{result['docs_missing']:,} missing)"
                   + (f"; {', '.join(notes)}" if notes else "")
                   + input_notices(result["input_notices"]), result)


#: Counts the summary line names when they are not 0 (``--json`` has them all): key, the
#: noun counted (:func:`~prox_tasks.cli.output.count` puts it in the plural), what follows
#: (``{gold_field}``: the --gold-field given; ``{reasons}``: the bad rows' reasons).
NOTED = (("bad_rows", "bad row", " skipped{reasons}"), ("refined_without_id", "refined row", " without id"),
         ("refined_without_gold", "refined row", " matching no gold row"),
         ("gold_rows_without_gold", "gold row", " without a {gold_field!r} text"),
         ("gold_rows_without_id", "gold row", " without id"),
         ("refined_duplicate_ids", "repeated refined id", " (first row scored)"),
         ("gold_duplicate_ids", "repeated gold id", " (first row scored)"))
