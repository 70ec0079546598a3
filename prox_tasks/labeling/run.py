"""Label a corpus file with a teacher: the function ``prox label`` and the DAG call."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Iterator

from prox_tasks.corpus.document import DEFAULT_MAX_DOC_BYTES
from prox_tasks.corpus.quarantine import FirstReads
from prox_tasks.labeling.base import Teacher
from prox_tasks.labeling.validate import validate_label

log = logging.getLogger(__name__)

#: HTML handed to an extractor at most (the reader's per-document limit, 8 MiB).
DEFAULT_MAX_HTML_BYTES = DEFAULT_MAX_DOC_BYTES
#: Documents read before a teacher that needs a field (``diff``: a gold text, ``html``: the
#: HTML) warns that none of them has it. It reads on: the rows that have it may come later
#: (an input whose first files or rows lack it), and it refuses only when no row has it.
PROBE_DOCS = 1000
#: What each teacher input is, and how ``prox label`` / the seed DAG give it.
_NEEDS = {
    "gold": {"what": "a clean text (gold)", "cli": "--gold-field NAME names the rows' field",
             "dag": "give an input_uri whose rows have it"},
    "html": {"what": "the page's HTML",
             "cli": "--html-field NAME names the rows' field; a WET input takes it from its "
                    "WARC files with --warc",
             "dag": "give the WET input's WARC files in the warc_uris Param, or an input_uri "
                    "whose rows have an html field"},
}  # fmt: skip


class MissingTeacherInput(ValueError):
    """No document has what the teacher reads (a gold text, HTML): labeling them would only
    quarantine every one (``missing_gold``, ``missing_html``)."""


def missing_teacher_input(teacher: str, needs: str, field: str, checked: int, input_uri,
                          warc_uris=None, caller: str = "cli",
                          refers_to: int | None = None,
                          warc_read: str | None = None) -> MissingTeacherInput:
    """The error for ``checked`` documents of ``input_uri`` none of which has the string
    ``field`` (nor, with ``warc_uris``, a WARC response their ``WARC-Refers-To`` names) that
    ``teacher`` reads as ``needs``; ``caller`` (``cli`` or ``dag``) decides how the way out
    is named. ``refers_to``: how many of them had a ``refers_to`` to join on (0: the
    message says what a JSON Lines or Parquet row needs to join its WARC response).
    ``warc_read``: the WARC files read and their responses
    (:func:`prox_tasks.labeling.warc.responses_read`), named where rows had one to join on."""
    need = _NEEDS[needs]
    where = ""
    if warc_uris:
        joins = ""
        if needs == "html" and refers_to == 0:  # rows converted by a tool: nothing to join on
            joins = (": none of them has a refers_to to join on; a WET record has it from its "
                     "WARC-Refers-To, a JSON Lines or Parquet row needs a refers_to field "
                     "holding its response's WARC-Record-ID (<urn:uuid:…>; docs/teachers.md); "
                     "rows that carry only url and warc_date (another tool's conversion) get "
                     "their HTML from prox_tasks.labeling.warc.html_by_capture(WARC files): "
                     "write it into their html field first")  # fmt: skip
        elif needs == "html" and warc_read:  # joinable, none joined: the files named
            from prox_tasks.labeling.warc import OTHER_CRAWL

            joins = f": none is among {warc_read}; {OTHER_CRAWL}"
        where = f" (nor a response in the WARC files given{joins})"
    other = "--teacher" if caller == "cli" else "the teacher Param"
    return MissingTeacherInput(
        f"the {teacher} teacher needs {need['what']} in each row's {field!r} field: none of "
        f"the {checked:,} documents read of {input_uri} has it{where}; {need[caller]}, or "
        f"choose another teacher ({other}: rules; best uses it where a row has it)")


def read_input(
    uri: str, text_field: str = "text", id_field: str = "id", quarantine=None, exclude=(),
    format: str | None = None, skipped: list | None = None, warn: bool = True,
) -> Iterator:
    """Documents of ``uri`` through :func:`prox_tasks.corpus.read_documents` (bad records go
    to ``quarantine`` with their reason; ``exclude``: the labeling's own output files;
    ``format``: jsonl, parquet or wet for every file, None: by each file's name;
    ``skipped``: given the files of no known format not read; ``warn`` False: they are
    not logged, another pass says them)."""
    from prox_tasks.corpus import read_documents

    return read_documents(uri, text_field=text_field, id_field=id_field, quarantine=quarantine,
                          exclude=exclude, format=format, skipped=skipped, warn=warn)


def holds_input(value, needs: str) -> bool:
    """Whether a row's ``gold`` or ``html`` field value is that input: a string, and for HTML
    one with more than whitespace — an empty body is no page, and the html teacher's
    ``drop_doc()`` for it (nothing extracted) would teach dropping a document for the HTML
    it lacks. An empty gold text is one: a clean version that keeps nothing."""
    return isinstance(value, str) and (needs != "html" or bool(value.strip()))


def has_teacher_input(meta: dict, needs: str | None, fields: dict, warc_html=()) -> bool:
    """Whether a document (its ``meta``) has what a teacher reading ``needs`` (``gold``,
    ``html``; None: nothing) takes: a string field (``fields[needs]``), or for HTML the WARC
    response (in ``warc_html``) its ``WARC-Refers-To`` names."""
    if not needs:
        return False
    if holds_input(meta.get(fields[needs]), needs):
        return True
    return needs == "html" and str(meta.get("refers_to") or "").strip("<>") in warc_html


def probe_teacher_input(input_uri: str, teacher: Teacher, text_field: str = "text",
                        id_field: str = "id", gold_field: str = "gold_text",
                        html_field: str = "html", warc_uris=None, format: str | None = None,
                        caller: str = "cli", probe_docs: int = PROBE_DOCS) -> None:
    """Fail before a seed set is claimed or sampled when no document of ``input_uri`` has
    what ``teacher`` reads; with ``warc_uris``, a WET record counts when those WARC files
    hold its response. Reads until the first document that has it: the first
    ``probe_docs`` (and the WARC files up to the first response they refer to) in the
    common case; the whole input (and the WARC files' response ids) only when none of those
    has it, so an input whose rows with it come later is not refused.

    Raises:
        MissingTeacherInput: Naming what is missing and, as ``caller`` sets it, what to give.
    """
    from prox_tasks.corpus import Quarantine

    needs = teacher.reads
    if not needs:
        return
    fields = {"gold": gold_field, "html": html_field}
    # a look at the first rows: the files it skips are said by the pass that labels them
    docs = iter(read_input(input_uri, text_field, id_field, Quarantine(), format=format,
                           warn=False))
    first = list(itertools.islice(docs, probe_docs))
    if not first or any(has_teacher_input(d.meta, needs, fields) for d in first):
        return  # no documents: sampling says so
    responses = frozenset()
    if needs == "html" and warc_uris:
        from prox_tasks.labeling.warc import holds_any, html_record_ids, warc_files

        refers_to = {str(d.meta.get("refers_to") or "").strip("<>") for d in first}
        if holds_any(list(warc_uris), refers_to - {""}, caller):
            return
        read_files = warc_files(list(warc_uris), caller)  # named in the error: no join
        responses = html_record_ids(read_files, caller)
    _warn_reading_on(teacher.name, fields[needs], len(first), input_uri)
    read = len(first)
    joinable = sum(bool(d.meta.get("refers_to")) for d in first)
    for doc in docs:
        read += 1
        joinable += bool(doc.meta.get("refers_to"))
        if has_teacher_input(doc.meta, needs, fields, responses):
            return
    warc_read = None
    if needs == "html" and warc_uris:
        from prox_tasks.labeling.warc import responses_read

        warc_read = responses_read(read_files, len(responses))
    raise missing_teacher_input(teacher.name, needs, fields[needs], read, input_uri,
                                warc_uris, caller, refers_to=joinable, warc_read=warc_read)


def _warn_reading_on(teacher: str, field: str, read: int, input_uri) -> None:
    """Say that the first ``read`` documents lack ``field`` and the rest is read for it: a
    long read of a large input that ends in :class:`MissingTeacherInput` is not silent."""
    log.warning("none of the first %s documents of %s has the %r field the %s teacher reads: "
                "reading on for one that has it (stop and fix the field or the teacher if no "
                "row has it)", f"{read:,}", input_uri, field, teacher)


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (a lone surrogate, as JSON can hold, counted as 3)."""
    return len(text.encode("utf-8", "surrogatepass"))


def _batches(items: Iterator, size: int, room=None) -> Iterator[list]:
    """``items`` in lists of ``size``; ``room``, called before each list, says how many more
    may be taken (None: all): a ``--limit`` counts the documents labeled, known only once
    the list before was, so no item past the limit is read."""
    items = iter(items)
    while (n := size if room is None else min(size, room())) > 0:
        batch = list(itertools.islice(items, n))
        if not batch:
            return
        yield batch


def _first_of_each_id(docs: Iterator, seen: FirstReads, quarantine) -> Iterator:
    """``docs`` without those whose id came before (each to ``quarantine`` as
    ``duplicate_id``): one label per id, as a seed set needs and sampling gives."""
    return (doc for doc in docs
            if not seen.is_repeat(doc.id, doc.source, doc.offset, quarantine))


def label_corpus(
    input_uri: str,
    output_uri: str,
    teacher: Teacher,
    text_field: str = "text",
    id_field: str = "id",
    gold_field: str = "gold_text",
    quarantine_uri: str | None = None,
    keep_text: bool = False,
    limit: int | None = None,
    batch_size: int = 64,
    html_field: str = "html",
    warc_uris: list[str] | None = None,
    progress=None,
    max_html_bytes: int = DEFAULT_MAX_HTML_BYTES,
    format: str | None = None,
    probe_docs: int | None = PROBE_DOCS,
    warc_index: str | None = None,
    caller: str = "cli",
    labeled_before: dict[str, dict] | None = None,
    on_labeled=None,
    whole_input: bool = False,
) -> dict:
    """Label every document of ``input_uri`` and write one row per document to ``output_uri``
    (read as ``format``, None: by each file's name).

    Output rows: ``id``, ``doc_program``, ``chunk_program``, ``teacher``, ``valid``,
    ``rejected`` (reasons; empty when valid), ``label_meta``, ``source``, ``offset`` (and
    ``text`` with ``keep_text``); ``teacher`` is the teacher that labeled the row (with the
    ``best`` teacher: ``diff``, ``html``, ``rules`` or ``llm``). Bad input records, and
    documents without what the teacher reads (``diff``: a string ``gold_field``, reason
    ``missing_gold``; ``html``: a string ``html_field``, reason ``missing_html``), and
    repeats of an id labeled before (``duplicate_id``) go to the
    quarantine file (default ``<output>.quarantine.jsonl``). The output is written
    atomically, so a retried task gives the same file. With ``warc_uris`` (the WARC files of
    a WET input), a row without ``html_field`` takes the HTML of the response record its
    ``WARC-Refers-To`` names (none joined at all is an error: WARC files of another crawl).
    ``progress``, a bar (``update``) or None, advances by the
    documents of each labeled batch. A teacher that needs a field (``diff``, ``html``) stops
    with :class:`MissingTeacherInput`, nothing written, at the end when no document had it,
    and warns once ``probe_docs`` documents were read and none had it (it reads on: the rows
    that have it may come later); ``probe_docs`` None: no such check (a seed set's parts,
    whose input was probed before sampling, :func:`probe_teacher_input`). ``warc_index``: the
    index of ``warc_uris`` that :func:`prox_tasks.labeling.warc.write_index` saved, instead of
    indexing them; ``caller`` (``cli`` or ``dag``) how messages name the WARC files
    (:func:`prox_tasks.labeling.warc.given`). ``labeled_before``: rows (by id) a killed run
    labeled from the same input with the same settings, written as they are instead of
    asking the teacher again; ``on_labeled``, called with each batch's new rows (without
    ``text``) once they are labeled, keeps them for such a rerun
    (:func:`prox_tasks.labeling.parts.label_part`). HTML over
    ``max_html_bytes`` (UTF-8 bytes of an
    ``html_field``, body bytes of a WARC response, which is then not read) is never handed to
    an extractor (a 35 MB page took trafilatura 2 minutes and 2.6 GB): the ``html`` teacher's
    row is quarantined as ``html_too_large``; the ``best`` teacher labels it with its next
    teacher, counted in ``html_too_large``. ``whole_input`` (``prox label``): an input whose
    every record was quarantined raises :class:`~prox_tasks.corpus.readers.NoDocuments`,
    its quarantine written and no output published (a seed set's part, one slice of a
    sample, may hold none to label while the others do).

    Returns:
        Counts: read (= written + quarantined), written, valid, rejected (by reason),
        quarantined (by reason), ``skipped_files`` (the input's files of no known format,
        not read, each ``{"uri", "reason"}``, as a plan lists them),
        doc-level keep/drop, rows per labeling teacher (``by_teacher``), with ``warc_uris``
        ``warc`` (``html_responses``, ``joined``: documents given a response's HTML,
        ``duplicate_record_ids``: responses left out as their id came before), and the
        teacher's usage report when it has one; for a teacher that uses HTML when it is
        there (``best``), ``html_too_large``: rows labeled by another teacher for it; for
        ``html`` and ``best``, ``html_repaired``: rows whose HTML held lone surrogates,
        replaced before extraction.
    """
    from prox_tasks.corpus import Quarantine, quarantine_beside
    from prox_tasks.corpus.jsonl import dumps_line
    from prox_tasks.labeling.warc import OTHER_CRAWL, responses_read, warc_setting
    from prox_tasks.storage import check_writable, open_uri
    from prox_tasks.wording import count

    quarantine_uri = quarantine_uri or quarantine_beside(output_uri)
    # a mistyped output bucket fails now, not once every document is labeled (an LLM
    # teacher's whole cost spent)
    check_writable(output_uri, quarantine_uri)
    quarantine = Quarantine()
    counts: Counter = Counter()
    rejected: Counter = Counter()
    fields = {"gold": gold_field, "html": html_field}
    needs = teacher.reads
    probe = bool(needs) and probe_docs is not None
    uses_html = bool(getattr(teacher, "use_html", False))  # the best teacher
    by_teacher: Counter = Counter()
    labeled_before = labeled_before or {}
    seen_ids = FirstReads()
    warned = False
    warc_html = {}
    if warc_uris:
        from prox_tasks.labeling.warc import html_by_record_id

        warc_html = html_by_record_id(list(warc_uris), warc_index, caller)
    skipped_files: list[dict] = []  # a folder's files of no known format: said, not lost
    docs = read_input(input_uri, text_field, id_field, quarantine,
                      exclude=(output_uri, quarantine_uri), format=format, skipped=skipped_files)
    responses = warc_html if warc_uris else contextlib.nullcontext()  # closes the WARC files
    with open_uri(output_uri, "wb", compression="infer") as out, responses:
        # --limit counts documents labeled: a repeated id (quarantined) or a row held back
        # for its teacher input is not one; the reader stops there, no row past it is read
        room = None if limit is None else (lambda: limit - counts["written"])
        for batch in _batches(_first_of_each_id(docs, seen_ids, quarantine), batch_size, room):
            counts["read"] += len(batch)
            within_cap = []
            for doc in batch:
                size = None
                refers_to = str(doc.meta.get("refers_to") or "").strip("<>")
                counts["refers_to"] += bool(refers_to)
                counts["has_input"] += has_teacher_input(doc.meta, needs, fields, warc_html)
                if warc_html and html_field not in doc.meta and refers_to in warc_html:
                    counts["warc_joined"] += 1
                    size = warc_html.size(refers_to)
                    if size <= max_html_bytes:
                        doc.meta[html_field] = warc_html[refers_to]
                elif isinstance(html := doc.meta.get(html_field), str):
                    # a character is at most 4 UTF-8 bytes: short HTML is not encoded to count
                    size = _utf8_size(html) if len(html) > max_html_bytes // 4 else 0
                if size is None or size <= max_html_bytes:
                    within_cap.append(doc)
                elif needs == "html":
                    counts["held_back"] += 1
                    quarantine.add(doc.source, doc.offset, "html_too_large",
                                   f"{size:,} bytes of HTML, over the cap of "
                                   f"{max_html_bytes:,} (--max-html-bytes)", doc_id=doc.id)
                else:  # the next teacher labels it
                    doc.meta.pop(html_field, None)
                    counts["html_too_large"] += uses_html and not isinstance(
                        doc.meta.get(gold_field), str)
                    within_cap.append(doc)
            batch = within_cap
            if needs:
                complete = []
                for doc in batch:
                    value = doc.meta.get(fields[needs])
                    if holds_input(value, needs):
                        complete.append(doc)
                    else:
                        counts["held_back"] += 1
                        detail = (f"field {fields[needs]!r} holds no HTML (empty)"
                                  if isinstance(value, str) else
                                  f"no string field {fields[needs]!r}")  # fmt: skip
                        refers_to = str(doc.meta.get("refers_to") or "").strip("<>")
                        if needs == "html" and warc_uris and refers_to:  # the join's miss
                            detail += (f", and its WARC-Refers-To {refers_to} is no HTML "
                                       f"response of the WARC files given ({warc_setting(caller)}) "
                                       "(absent, or not HTML)")
                        elif needs == "html" and warc_uris:  # nothing to join on: said so
                            detail += (", and it has no WARC-Refers-To (a refers_to field) "
                                       "naming a response of the WARC files to join")
                        quarantine.add(doc.source, doc.offset, f"missing_{needs}", detail,
                                       doc_id=doc.id)
                batch = complete
            todo = [d for d in batch if d.id not in labeled_before]
            extras = [{k: d.meta.get(f) for k, f in fields.items()} for d in todo]
            labels = iter(teacher.label_rows([d.text for d in todo], extras) if todo else ())
            new_rows = []
            for doc in batch:
                row = labeled_before.get(doc.id)
                if row is None:
                    row = _label_row(doc, next(labels), teacher.name)
                    new_rows.append(row)
                else:
                    counts["resumed"] += 1
                rejected.update(row["rejected"])
                by_teacher[row["teacher"]] += 1
                # a teacher's lone surrogate: JSON-escaped
                out.write(dumps_line({**row, "text": doc.text} if keep_text else row))
                counts["written"] += 1
                counts["valid"] += bool(row["valid"])
                meta = row["label_meta"] or {}
                counts["html_repaired"] += bool(meta.get("html_lone_surrogates"))
                counts[row["doc_program"].strip() or "no_doc_program"] += 1
            if on_labeled is not None and new_rows:
                on_labeled(new_rows)
            if progress is not None:
                progress.update(len(batch))
            if probe and not counts["has_input"] and not warned and counts["read"] >= probe_docs:
                _warn_reading_on(teacher.name, fields[needs], counts["read"], input_uri)
                warned = True  # read on: rows with it may come later; none at all is refused
        if probe and counts["read"] and not counts["has_input"]:
            raise missing_teacher_input(
                teacher.name, needs, fields[needs], counts["read"], input_uri, warc_uris,
                caller, refers_to=counts["refers_to"],
                warc_read=responses_read(warc_html.files, warc_html.total) if warc_uris else None)
        if not counts["read"] and not len(quarantine):  # nothing published
            from prox_tasks.corpus.readers import empty_input, input_files

            files = [path for path, _ in input_files(input_uri, exclude=(output_uri,
                                                                         quarantine_uri))]
            raise empty_input(input_uri, files)
        if whole_input and not counts["written"]:  # a nightly run of 0 labels must fail
            from prox_tasks.corpus.readers import no_documents

            raise no_documents(input_uri, quarantine, quarantine_uri)
        if warc_uris and counts["read"] and not counts["warc_joined"]:  # nothing published
            raise ValueError(f"{warc_setting(caller)}: of the "
                             f"{count(counts['read'], 'document')} read of {input_uri}, none "
                             "has its response among "
                             f"{responses_read(warc_html.files, warc_html.total)}; "
                             f"{OTHER_CRAWL}")
        # before the output is published: a quarantine that cannot be written publishes neither
        quarantine.write(quarantine_uri)
    # records the reader quarantined were read too: read = written + quarantined
    read = counts["read"] + len(quarantine) - counts["held_back"]
    if read != counts["written"] + len(quarantine):
        raise RuntimeError(f"labeling lost documents: read {read} != written "
                           f"{counts['written']} + quarantined {len(quarantine)}")
    summary = {
        "read": read, "written": counts["written"], "valid": counts["valid"],
        "keep_doc": counts["keep_doc()"], "drop_doc": counts["drop_doc()"],
        "rejected": dict(rejected), "quarantined": dict(quarantine.reasons),
        "text_candidates": dict(quarantine.text_candidates),
        "by_teacher": dict(sorted(by_teacher.items())),
        "quarantine": quarantine_uri, "output": output_uri, "teacher": teacher.describe(),
        "skipped_files": skipped_files,
    }  # fmt: skip
    if uses_html:
        summary["html_too_large"] = counts["html_too_large"]
    if uses_html or needs == "html":  # HTML with lone surrogates, repaired before extraction
        summary["html_repaired"] = counts["html_repaired"]
    if warc_uris:
        summary["warc"] = {"html_responses": warc_html.total, "joined": counts["warc_joined"],
                           "duplicate_record_ids": len(warc_html.duplicates)}
    if labeled_before:
        summary["resumed"] = counts["resumed"]  # labels a killed run paid for, not asked again
    usage = getattr(teacher, "usage", None)
    if usage is not None:
        summary["usage"] = usage.to_dict()
    return summary


#: Characters of a rejected label's program kept in its row: a teacher's answer may run to
#: megabytes (a 3.9 MB chunk program seen), which no one reads and every later step
#: (parts, merge, the seed set's assembly) would carry.
MAX_REJECTED_PROGRAM_CHARS = 4096


def _label_row(doc, label, teacher_name: str) -> dict:
    """The output row of ``doc`` labeled ``label`` (validated; without ``text``). A rejected
    label's program longer than :data:`MAX_REJECTED_PROGRAM_CHARS` is kept as its first
    characters, its whole length and SHA-256 in ``program_excerpt``
    (:func:`program_excerpts`)."""
    reasons = validate_label(doc.text, label)
    row = {"id": doc.id, "doc_program": label.doc_program,
           "chunk_program": label.chunk_program,
           "teacher": (label.meta or {}).get("teacher") or teacher_name,
           "valid": not reasons, "rejected": reasons, "label_meta": label.meta,
           "source": doc.source, "offset": doc.offset}  # fmt: skip
    if reasons:
        row.update(program_excerpts(row))
    return row


def program_excerpts(row: dict) -> dict:
    """The fields of a rejected label ``row`` that replace its programs longer than
    :data:`MAX_REJECTED_PROGRAM_CHARS`: each such program cut to its first characters, and
    ``program_excerpt`` naming each with its whole length (``chars``) and the SHA-256 of
    its UTF-8 bytes; empty when none is that long."""
    import hashlib

    cut, out = {}, {}
    for field in ("doc_program", "chunk_program"):
        program = row.get(field) or ""
        if len(program) > MAX_REJECTED_PROGRAM_CHARS:
            out[field] = program[:MAX_REJECTED_PROGRAM_CHARS]
            data = program.encode("utf-8", errors="surrogatepass")
            cut[field] = {"chars": len(program), "sha256": hashlib.sha256(data).hexdigest()}
    if cut:
        out["program_excerpt"] = cut
    return out
