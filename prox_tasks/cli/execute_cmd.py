"""``prox execute``: run the programs stored in JSONL rows over their text."""

from __future__ import annotations

from collections import Counter

from prox_tasks.cli.arguments import description, field_name
from prox_tasks.cli.output import (
    Outcome,
    count,
    input_notices,
    name_text_field,
    progress_bar,
    quarantined,
)
from prox_tasks.corpus.document import (
    RecordError,
    fields_of,
    has_lone_surrogate,
    id_text,
    missing_field,
    text_candidate,
)
from prox_tasks.programs import Policy, execute
from prox_tasks.wording import a_type

#: The string fields of the rows ``prox execute`` reads that are never their text: the
#: programs, and what ``prox label`` writes beside them.
NOT_TEXT_FIELDS = ("doc_program", "chunk_program", "teacher", "source")
#: What a label row without its text needs: ``prox label`` writes the text only when asked.
RELABEL = "relabel with prox label --keep-text, then execute the new labels"
#: What a row without programs needs: prox execute runs the programs a row holds.
NO_PROGRAM = ("not a row of programs; execute the labels prox label writes (with "
              "--keep-text), or refine documents with prox refine")


def execute_rows(
    input_path: str,
    output_path: str,
    quarantine_path: str,
    text_field: str = "text",
    policy: Policy | None = None,
    progress=None,
) -> dict:
    """Execute ``doc_program``/``chunk_program`` of every row; bad rows go to quarantine.

    Rows are read with :func:`prox_tasks.corpus.read_rows` (paths, ``file://`` or
    ``s3://``; plain, ``.gz``, ``.zst``); a label row (holding a program) without
    ``text_field`` is read from ``text``, where ``prox label --keep-text`` writes the text
    whatever field it read, and its executed text written back there; a row whose text
    field is missing or not a
    string is quarantined (``missing_text``/``not_text``), a program that is not a string
    (``bad_program``), a row holding neither program (``missing_program``: nothing would
    run on it), an id, text or program holding a lone surrogate (``lone_surrogate``),
    a row whose id an earlier row written had (``duplicate_id``, as ``prox label`` and
    ``prox refine`` keep the first; ``12`` and ``"12"`` are one id),
    an id no reader takes (``bad_id``: a list, a bool; a JSON whole number too large for a
    float keeps its written digits, :func:`~prox_tasks.corpus.jsonl.read_id_exactly`;
    :func:`~prox_tasks.corpus.document.id_text`, whose id a quarantined row is recorded under, as ``prox refine`` records it). Output and quarantine are each written atomically, the quarantine
    first: a crash leaves no part of either, and no output without its quarantine (a crash
    between the two leaves the new quarantine beside the output as it was: run it again).

    Args:
        progress: A bar advanced by one per record read (``update``), or None.

    Returns:
        Counts: read, written, quarantined (and by reason), dropped, program errors by kind,
        input files not as named (``input_notices``, by kind: every record kept), and ``labels_without_text``: the missing_text rows that hold programs (labels
        written without ``prox label --keep-text``; their detail says to relabel).
    """
    from prox_tasks.corpus import Quarantine, read_rows
    from prox_tasks.corpus.jsonl import dumps_line
    from prox_tasks.corpus.quarantine import FirstReads
    from prox_tasks.storage import check_writable, open_uri

    check_writable(output_path, quarantine_path)  # a mistyped bucket fails before the work
    policy = policy or Policy()
    counts: Counter = Counter()
    errors: Counter = Counter()
    candidates: Counter = Counter()  # missing_text rows by the string field they hold
    quarantine = Quarantine()
    seen = FirstReads()  # one row per id, as prox label and prox refine keep
    with open_uri(output_path, "wb", compression="infer") as out:
        for source, line, row in read_rows(input_path, quarantine,
                                           exclude=(output_path, quarantine_path)):
            if progress is not None:
                progress.update(1)
            try:  # the readers' one rule: the id prox refine gives the same record
                doc_id = id_text(row.get("id"))
            except RecordError as err:
                doc_id, reason = None, (err.reason, err.detail)
            else:
                field = _text_field_of(row, text_field)
                reason = _bad(row, field)
            if reason:
                if reason[0] == "missing_text" and _is_label(row):  # programs, no text
                    counts["labels_without_text"] += 1
                    reason = (reason[0], f"{reason[1]}: a label row without its text; {RELABEL}")
                elif reason[0] == "missing_text":  # a text under another name, if any
                    candidate = text_candidate(row, text_field, exclude=NOT_TEXT_FIELDS)
                    if candidate is not None:
                        candidates[candidate] += 1
                quarantine.add(source, line, reason[0], reason[1], dumps_line(row), doc_id)
                continue
            # a repeated id (labels of two runs concatenated): its second row, whose program
            # may decide otherwise, was written as well, two rows for one document
            if doc_id is not None and seen.is_repeat(doc_id, source, line, quarantine,
                                                     dumps_line(row)):
                continue
            result = execute(
                row[field], row.get("doc_program"), row.get("chunk_program"), policy=policy
            )
            errors.update(result.stats.errors)
            row[field] = result.text  # where it was read: a label row's stays under "text"
            row["dropped"] = result.dropped
            row["stats"] = result.stats.to_dict()
            out.write(dumps_line(row))
            counts["written"] += 1
            counts["dropped"] += result.dropped
        if not counts["written"] and not len(quarantine):  # an empty delivery: publish nothing
            from prox_tasks.corpus.readers import empty_input, input_files

            raise empty_input(input_path, [path for path, _ in input_files(
                input_path, exclude=(output_path, quarantine_path))])  # fmt: skip
        if not counts["written"]:  # every row quarantined: a run of 0 rows must fail
            from prox_tasks.corpus.readers import no_documents

            raise no_documents(input_path, quarantine, quarantine_path, _missing_text_advice(
                counts["labels_without_text"], candidates) if quarantine.reasons.get(
                "missing_text") else None)
        # before the output is published: a quarantine that cannot be written publishes neither
        quarantine.write(quarantine_path)
    counts["quarantined"] = len(quarantine)
    counts["read"] = counts["written"] + counts["quarantined"]
    return {**counts, "quarantine_reasons": dict(quarantine.reasons),
            "program_errors": dict(errors), "text_candidates": dict(candidates),
            "input_notices": dict(sorted(quarantine.notices.items()))}


def _bad(row: dict, text_field: str) -> tuple[str, str] | None:
    if row.get(text_field) is None:
        # a label row's text is nowhere else: relabel (RELABEL), not another --text-field
        exclude = tuple(row) if _is_label(row) else NOT_TEXT_FIELDS
        return "missing_text", missing_field(row, text_field, exclude=exclude)
    if not isinstance(row[text_field], str):
        return "not_text", f"field {text_field!r} is {a_type(row[text_field])}"
    for field in ("doc_program", "chunk_program"):
        if row.get(field) is not None and not isinstance(row[field], str):
            return "bad_program", f"field {field!r} is {a_type(row[field])}"
    for field in ("id", text_field, "doc_program", "chunk_program"):
        if isinstance(row.get(field), str) and has_lone_surrogate(row[field]):
            return "lone_surrogate", f"field {field!r} holds a lone surrogate"
    if row.get("doc_program") is None and row.get("chunk_program") is None:
        # nothing would run: written back unchanged, it was counted as executed
        return "missing_program", (f"no 'doc_program' or 'chunk_program' ({fields_of(row)}): "
                                   f"{NO_PROGRAM}")
    return None


#: Where ``prox label --keep-text`` puts a row's text, whatever ``--text-field`` it read.
LABEL_TEXT_FIELD = "text"


def _text_field_of(row: dict, text_field: str) -> str:
    """The field of ``row`` holding its text: ``text_field``, or for a label row without it
    the field ``prox label --keep-text`` writes the text to (``text``, whatever field it
    read it from: labels of a ``--text-field raw_content`` corpus hold no ``raw_content``),
    so the same ``--text-field`` serves the corpus and its labels."""
    if row.get(text_field) is None and _is_label(row) and row.get(LABEL_TEXT_FIELD) is not None:
        return LABEL_TEXT_FIELD
    return text_field


def _is_label(row: dict) -> bool:
    """Whether ``row`` is one ``prox label`` wrote: it holds a program (its text only with
    ``--keep-text``)."""
    return isinstance(row.get("doc_program"), str) or isinstance(row.get("chunk_program"), str)


def run(args) -> Outcome:
    from prox_tasks.corpus import quarantine_beside
    from prox_tasks.corpus.jsonl import refused_output_name
    from prox_tasks.storage import real_uri

    for option, uri in (("--output", args.output), ("--quarantine", args.quarantine)):
        refused = uri and refused_output_name(uri, option)
        if refused:  # before any reading: nothing is written under a name that lies
            return Outcome.failure("execute", refused, code=2)
    if real_uri(args.input) == real_uri(args.output):  # a link to the output is the output
        return Outcome.failure("execute", "--input and --output are the same file: write the "
                               "executed rows to another file (the input is left as it is)",
                               code=2)  # a setting to fix: the same command meets it again
    quarantine = args.quarantine or quarantine_beside(args.output)
    policy = Policy(normalize_scope=args.normalize_scope)
    with progress_bar(args, "execute", "row") as bar:
        summary = execute_rows(args.input, args.output, quarantine, args.text_field, policy,
                               progress=bar)
    errors = sum(summary["program_errors"].values())
    labels = summary.get("labels_without_text", 0)
    advice = {"missing_text": _missing_text_advice(labels, summary["text_candidates"])}
    return Outcome(f"executed {count(summary['read'], 'row')}: {summary.get('written', 0):,} "
                   f"written ({summary.get('dropped', 0):,} dropped), "
                   f"{quarantined(summary['quarantine_reasons'], quarantine, advice=advice)}, "
                   f"{count(errors, 'program error')}{input_notices(summary['input_notices'])} -> "
                   f"{args.output}", summary)


def _missing_text_advice(labels: int, candidates: dict) -> str | None:
    """What to do about the missing_text rows: relabel labels written without their text,
    or name the field holding a string that may be the text; None: nothing to say (a row
    of an id only has no text under any name)."""
    if labels:
        said = ("1 of them is a label without its text" if labels == 1
                else f"{labels:,} of them are labels without their text")
        return f"{said}: {RELABEL}"
    return name_text_field(candidates)


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=description(__doc__))
    p.add_argument("--input", required=True, help="JSONL(.gz/.zst) rows with text and programs "
                   "(file, folder, glob; path, file://, s3://)")
    p.add_argument("--output", required=True, help="refined JSONL(.gz/.zst); dropped rows keep "
                   "text=null")
    p.add_argument("--quarantine", help="where malformed rows go (default: OUTPUT.quarantine.jsonl, without .gz/.zst)")
    p.add_argument("--text-field", type=field_name, default="text")
    p.add_argument("--normalize-scope", choices=["chunk", "document"], default="chunk")
    p.set_defaults(func=run)
