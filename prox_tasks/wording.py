"""Words of the messages the library and the ``prox`` commands share."""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Characters a terminal acts on rather than shows: C0 controls but tab and line feed (ESC
#: starts the sequences that move the cursor, recolour, retitle or clear; CR returns to the
#: line's start, over what was written), DEL and the C1 controls (CSI 0x9b is ESC [).
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: ... and in a name embedded in a message, also what breaks its line or reads as a space
#: there: line feed, tab, and the line and paragraph separators.
_NAME_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(name: str) -> str:
    """``name`` (a path, URI or id) as a message embeds it: each control character in it,
    line feed and tab too, written as its escape (``\\n``), as ``repr`` does. A file named
    with a line feed broke a summary line in two (:func:`for_terminal` keeps line feeds: a
    message may have several lines), and an error's one line showed it as a space, naming
    a path that does not exist."""
    name = str(name)
    if _NAME_CONTROLS.search(name) is None:  # nearly every name: as it is
        return name
    return _NAME_CONTROLS.sub(lambda m: repr(m.group())[1:-1], name)


def for_terminal(text: str) -> str:
    """``text`` with each character a terminal would act on written as its escape (``\\x1b``,
    ``\\r``), as ``repr`` does: a file name or id from the input holding ``ESC ]0;…`` or a
    carriage return, printed in a message, shows as what it is and cannot retitle, clear or
    overwrite an operator's terminal. Line feeds and tabs are kept (messages of several
    lines)."""
    if _TERMINAL_CONTROLS.search(text) is None:  # nearly every message: as it is
        return text
    return _TERMINAL_CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)


#: How much of another library's message (a parser's, a decompressor's) a message of prox
#: quotes as its cause: it may quote a whole record or request, and prox's own words
#: around it (which file, what to do) must stay whole.
QUOTED_CHARS = 200
#: ... of which the end kept after the cut: where such a message says where it failed.
QUOTED_END = 60


def shortened(text: str, limit: int = QUOTED_CHARS, kept_end: int = QUOTED_END) -> str:
    """``text`` cut in its middle to ``limit`` characters when longer, ``… `` where it was
    cut: its start (what failed) and its last ``kept_end`` characters (where: a file, a
    byte, a column) both stay. Cut the quoted part of a message, never the message whole:
    its way out is at its end.

    Redacted (:func:`~prox_tasks.redaction.redact`) before it is cut: a secret cut in two
    is one no rule recognizes afterwards (a URL's password whose tail was kept, its
    ``scheme://user:`` cut away, reached the terminal as it was)."""
    if len(text) <= limit:
        return text
    from prox_tasks.redaction import redact

    text = redact(text)
    if len(text) <= limit:
        return text
    return f"{text[: limit - kept_end - 3]} … {text[-kept_end:]}"


def quoted_error(err: BaseException) -> str:
    """``Type: message`` of ``err``, another library's error, as a message of prox quotes it
    as its cause: the message :func:`shortened` (its start, what failed, and its end, where),
    the type alone when the message is empty."""
    said = str(err)
    return f"{type(err).__name__}: {shortened(said)}" if said else type(err).__name__


def count(n: int | float, word: str) -> str:
    """``1 shard``, ``2 shards``, ``1,234 documents`` (thousands separated)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def files_not_read(skipped: int, named: list[str], manifest: str,
                   crawl: int | None = None) -> str:
    """``2 input files of no known format not read (a.json, README.txt; …)``: files the
    input lists that no shard holds (:attr:`~prox_tasks.corpus.manifest.Manifest.skipped_files`),
    ``named`` the first of them, ``manifest`` the plan that lists them all. ``crawl``: how
    many of all ``skipped`` are a crawl's WARC or WAT files (:func:`crawl_files`); None, for a
    caller that knows only ``named``: counted among those (a segment's 4 WARC and WAT files,
    3 named, were called "of no known format", to be renamed .jsonl)."""
    more = f" and {skipped - len(named):,} more" if skipped > len(named) else ""
    named = [shown(name) for name in named]
    # a crawl's WARC or WAT file beside its WET: no rename or --format reads text from it
    crawl = crawl_files(named) if crawl is None else crawl
    todo = []
    if crawl:
        todo.append("a WARC or WAT file holds no text to read: give its WET conversion "
                    "(.warc.wet.gz)")
    if crawl < skipped:
        todo.append("rename them .jsonl or pass --format jsonl to read JSON Lines")
    return (f"{count(skipped, 'input file')}{_of_no_known_format(crawl, skipped)} not read "
            f"({', '.join(named)}{more}; {manifest} skipped_files says why: {'; '.join(todo)})")


def crawl_files(uris: list[str]) -> int:
    """How many of ``uris`` are a crawl's WARC or WAT files: a known format, holding no text
    to read."""
    from prox_tasks.corpus.readers import crawl_file_advice

    return sum(1 for uri in uris if crawl_file_advice(uri))


def of_no_known_format(uris: list[str]) -> str:
    """`` of no known format``, said of the files ``uris`` not read (all of them), or nothing
    when every one is a crawl's WARC or WAT file."""
    return _of_no_known_format(crawl_files(uris), len(uris))


def _of_no_known_format(crawl: int, skipped: int) -> str:
    return "" if crawl == skipped else " of no known format"


def a_type(value: object) -> str:
    """``an int``, ``a list``: the type of ``value`` with its article, for a message saying
    what a field holds instead of what it should."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def input_cut(files_cut: int, records_cut: int) -> str:
    """`` (and 1 input file not read to its end; 1 record cut short: its input file ends
    inside it)``: the input lost where files break off — a file's unread rest
    (``truncated_file``, ``corrupt_file``: no document) and a record the cut fell inside
    (``truncated_record``: a WET file cut in its payload, the file's rest lost with it); empty
    when neither."""
    parts = []
    if files_cut:
        parts.append(f"{count(files_cut, 'input file')} not read to its end")
    if records_cut:
        parts.append(f"{count(records_cut, 'record')} cut short: "
                     + ("its input file ends inside it" if records_cut == 1
                        else "their input files end inside them"))
    return f" (and {'; '.join(parts)})" if parts else ""


def by_reason(reasons: Mapping[str, int], shown: int | None = 3,
              advice: Mapping[str, str] | None = None) -> str:
    """``5 missing_text, 3 bad_encoding, 9 more``: counts by reason, the most frequent
    first, the rest summed after ``shown`` of them (None: every one); a reason of
    ``advice`` (reason -> what it means or what to do) is followed by it (``5 missing_gold:
    sampled rows without --gold-field``)."""
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    shown = len(ranked) if shown is None else shown
    said = advice or {}
    parts = [f"{n:,} {reason}" + (f": {said[reason]}" if said.get(reason) else "")
             for reason, n in ranked[:shown]]
    rest = sum(n for _, n in ranked[shown:])
    if rest:
        parts.append(f"{rest:,} more")
    return ", ".join(parts)
