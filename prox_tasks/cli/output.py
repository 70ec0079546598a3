"""What every ``prox`` command prints: a progress bar on stderr while it works, then one line.

A command's ``run(args)`` returns an :class:`Outcome`; :func:`emit` prints its one human
summary line on stdout, or with ``--json`` the machine-readable result (one JSON document, or
one JSON line per row for listings). A failure prints nothing on stdout, with or without
``--json``: one line ``prox COMMAND: what failed`` on stderr, as any fault of a command
(:func:`prox_tasks.cli.main`). :func:`progress_bar`
is the bar long-running commands pass to the library: a tqdm bar on stderr only when stderr
is a terminal, so logs, pipes and ``--json`` callers never see bar output.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prox_tasks.wording import (  # here for the commands too: one implementation
    by_reason,
    count,
    files_not_read,
    for_terminal,
)

#: Where :func:`emit` prints (None: ``sys.stdout``); set by :func:`stdout_for_the_result`.
_result_stream = None


@contextmanager
def stdout_for_the_result() -> Iterator[None]:
    """While a ``prox`` process runs its command, file descriptor 1 goes to stderr and only
    :func:`emit` writes to the real stdout. Libraries log to stdout — vLLM's logger, and
    its engine processes, which inherit the descriptor — and a ``--json`` caller must get
    one JSON document there, nothing else."""
    from prox_tasks.redaction import RedactingStream

    global _result_stream
    if sys.stdout is None:  # started with stdout closed: nothing to keep apart
        yield
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 (a closed stdout): print as before
        yield
        return
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    _result_stream = RedactingStream(io.TextIOWrapper(os.fdopen(saved, "wb"), encoding=encoding,
                                                      errors="backslashreplace"))
    try:
        yield
    finally:
        stream, _result_stream = _result_stream, None
        stream.flush()
        sys.stdout.flush()
        os.dup2(saved, 1)
        stream.stream.close()


@dataclass
class Outcome:
    """The result of one command.

    Attributes:
        summary: One line for a person (no newline).
        data: The JSON-ready result ``--json`` prints (a dict, or a list of rows).
        code: Exit code.
        rows: ``data`` is a list printed as one JSON line per row (listings).
        error: ``summary`` describes a failure: printed on stderr, nothing on stdout.
    """

    summary: str
    data: Any = field(default_factory=dict)
    code: int = 0
    rows: bool = False
    error: bool = False

    @classmethod
    def failure(cls, command: str, message: str, code: int = 1) -> Outcome:
        """A command that could not do its work: ``prox COMMAND: message`` on stderr."""
        return cls(f"prox {command}: {message}", None, code, error=True)


def add_output_options(parser, progress: bool = True) -> None:
    """``--json`` on a subcommand's parser and on its own subcommands (``prox catalog list
    snapshots --json``; read it with :func:`wants_json`), and ``--no-progress``: shown where
    the command draws a bar (``progress``); a command that draws none takes it silently
    and leaves it out of its ``--help`` (scripts pass it to every command; refusing it
    would break them for an option that changes nothing there)."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_output_options(child, progress)
    # SUPPRESS: a nested parser's default must not undo the option given before its name
    parser.add_argument("--json", action="store_true", dest="json_output",
                        default=argparse.SUPPRESS, help="print the machine-readable result "
                        "(JSON) instead of the summary line")
    if not any("--no-progress" in a.option_strings for a in parser._actions):
        parser.add_argument("--no-progress", action="store_true", default=argparse.SUPPRESS,
                            help="no progress bar (there is none when stderr is not a "
                            "terminal)" if progress else argparse.SUPPRESS)


def wants_json(args) -> bool:
    """Whether ``--json`` was given."""
    return getattr(args, "json_output", False)


def emit(outcome: Outcome, as_json: bool) -> int:
    """Print ``outcome`` (see module docs); returns its exit code."""
    out = _result_stream or sys.stdout
    if out is None:  # stdout closed: the exit code still says how it went
        return outcome.code
    summary = for_terminal(outcome.summary)  # it names the input's files, ids, models
    if outcome.error:
        print(summary, file=sys.stderr)
    elif as_json:
        for item in outcome.data if outcome.rows else [outcome.data]:
            print(json.dumps(item, sort_keys=True, default=str), file=out)
    else:
        print(summary, file=out)
    out.flush()
    return outcome.code


def progress_bar(args, desc: str, unit: str = "doc", total: int | None = None):
    """A tqdm bar on stderr (``update(n)``, ``reset(total)``, ``close()``), disabled unless
    stderr is a terminal and ``--no-progress`` was not given. The library functions take it
    as their ``progress`` argument."""
    from tqdm import tqdm

    enabled = sys.stderr.isatty() and not getattr(args, "no_progress", False)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True,
                file=sys.stderr, leave=False)


#: What to do about ``missing_text`` records (each one's detail lists the row's fields).
NAME_TEXT_FIELD = ("a text under another field name wants --text-field (the quarantine "
                   "lists each row's fields)")
#: What to do about ``missing_id`` records: rows without the field --id-field names.
GIVE_IDS = ("rows without the field --id-field names: give them their ids, or read the input "
            "without --id-field (each row's id its text's hash)")


def quarantined(reasons: Mapping[str, int], where: str, shown: int = 3,
                advice: Mapping[str, str] | None = None) -> str:
    """``17 quarantined (5 missing_text, 3 bad_encoding, 9 more) in WHERE``: the records a
    command set aside, by reason (the most frequent first), and where to read them; ``0
    quarantined`` when there are none. Records not in UTF-8, and rows without the text
    field, add once what to do (``… in WHERE (bad_encoding: write those files as UTF-8, as
    each entry's detail says: …) (missing_text: a text under another field name wants --text-field …)``);
    ``advice`` (reason -> what to do) adds to or replaces those (None: says nothing)."""
    total = sum(reasons.values())
    if not total:
        return "0 quarantined"
    from prox_tasks.corpus.document import BAD_ENCODING_FIX

    # missing_text: most often every row, the text being a column of another name
    todo = {"bad_encoding": BAD_ENCODING_FIX,
            "missing_text": NAME_TEXT_FIELD, "missing_id": GIVE_IDS, **(advice or {})}
    said = "".join(f" ({reason}: {what})" for reason, what in todo.items()
                   if what and reasons.get(reason))  # advice None: nothing to say
    return f"{total:,} quarantined ({by_reason(reasons, shown)}) in {where}{said}"


def name_text_field(candidates: Mapping[str, int]) -> str | None:
    """What to do about ``missing_text`` rows that hold a string under another field
    (``candidates``: rows by that field, :func:`~prox_tasks.corpus.document.text_candidate`):
    name the most frequent; None when none does (a row of an id only has no text under any
    name), for :func:`quarantined`'s ``advice`` to say nothing."""
    from prox_tasks.corpus.document import likeliest_text_field

    likeliest = likeliest_text_field(candidates)
    if likeliest is None:
        return None
    field, rows = likeliest
    return (f"{rows:,} of them hold a string in {field!r}: --text-field {field} if it is "
            "the text (the quarantine lists each row's fields)")


def rejected_by_reason(n: int, reasons: Mapping[str, int],
             advice: Mapping[str, str] | None = None) -> str:
    """``12 rejected (7 doc_program:syntax, 5 missing_gold: …)``: labels rejected, and every
    reason with its count (a label may have several: they may add up to more than ``n``),
    with ``advice`` (:func:`by_reason`); ``0 rejected`` when none is."""
    return f"{n:,} rejected" + (f" ({by_reason(reasons, None, advice)})" if n else "")


def input_notices(notices: Mapping[str, int]) -> str:
    """``, 1 input file not as named (1 misnamed_compression: …)``: input problems that lost
    no record (:class:`~prox_tasks.corpus.document.InputNotice`), by kind; empty when none."""
    total = sum(notices.values())
    if not total:
        return ""
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(notices.items()))
    return (f", {count(total, 'input file')} not as named ({kinds}: compressed otherwise than "
            "its name says, read as what its bytes are, every record kept; the log names each file: rename or "
            "recompress it)")


def files_skipped(skipped: int, named: list[str], manifest: str,
                  crawl: int | None = None) -> str:
    """``, 2 input files of no known format not read (a.json, README.txt; …)``: files the
    input lists that no shard holds (:attr:`~prox_tasks.corpus.manifest.Manifest.skipped_files`),
    ``crawl`` of them a crawl's WARC or WAT files (:func:`~prox_tasks.wording.files_not_read`);
    empty when none."""
    return f", {files_not_read(skipped, named, manifest, crawl)}" if skipped else ""


def table(rows: list[dict], max_width: int = 40) -> list[str]:
    """Rows as aligned text lines under a header of their keys; long values are cut in their
    middle (:func:`cut_any` says whether one was)."""
    if not rows:
        return []
    keys = list(rows[0])
    cells = [[_cell(row.get(k), max_width) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    return ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip()
            for line in [keys, *cells]]


def cut_any(rows: list[dict], max_width: int = 40) -> bool:
    """Whether :func:`table` cuts a value of ``rows``."""
    return any(len(_one_line(v)) > max_width for row in rows for v in row.values())


def _one_line(value) -> str:
    if isinstance(value, dict | list):  # a JSON column (a runner, drop reasons): as --json shows it
        value = json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else " ".join(str(value).split())


def _cell(value, max_width: int) -> str:
    # the middle goes: a URI's tail names the snapshot or shard (its head is the same in
    # every row), an error's tail the file or object it is about
    text = _one_line(value)
    if len(text) <= max_width:
        return text
    head = (max_width - 1) // 2
    return text[:head] + "…" + text[len(text) - (max_width - 1 - head):]
