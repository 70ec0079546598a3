"""The HTML of WARC ``response`` records, for the ``html`` teacher.

Common Crawl ships every page twice: the WARC ``response`` (HTTP headers and HTML) and the
WET ``conversion`` (the extracted text a text corpus holds). The conversion names its response
in ``WARC-Refers-To``, so a WET corpus labels its own seed set from the matching WARC file:
``prox label --input crawl.warc.wet.gz --warc crawl.warc.gz --teacher html`` (or ``best``).
Corpora whose rows were converted from WARC files by another tool (no WET record ids) join on
``(url, date)`` instead (:func:`html_by_capture`).
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
from collections.abc import Iterator, Mapping

from prox_tasks.wording import count, shortened

log = logging.getLogger(__name__)
#: The names a folder's or glob's WARC files have (a crawl's WET and WAT files, in
#: ``.warc.wet.gz`` and ``.warc.wat.gz``, hold no response and are not read).
WARC_EXTENSIONS = (".warc", ".warc.gz", ".warc.zst")


def warc_setting(caller: str = "cli") -> str:
    """How a message names the WARC files to whoever gave them (``caller``,
    :data:`prox_tasks.setting_names.CALLERS`): ``--warc`` (``prox label``) or ``the
    warc_uris Param`` (the seed DAG)."""
    from prox_tasks.setting_names import setting_name

    return setting_name("warc_uris", caller, cli_options={"warc_uris": "--warc"})


def given(uri: str, caller: str = "cli") -> str:
    """``URI (--warc)`` or ``URI (the warc_uris Param)``: how a message about a WARC file
    names it, so its user knows which setting to change."""
    return f"{uri} ({warc_setting(caller)})"


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


@functools.lru_cache(maxsize=64)
def _single_byte(charset: str | None) -> bool:
    """Whether ``charset`` maps every byte to one character (iso-8859-*, windows-125*, koi8-r…):
    such a decoding never fails, so it cannot tell a wrong declaration."""
    if not charset:
        return False
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return False
    return not name.startswith("utf") and len(bytes(range(256)).decode(name, "replace")) == 256


def decode_html(payload: bytes, http_charset: str | None = None) -> str:
    """Decode an HTML body: the HTTP charset, else UTF-8, else ``<meta charset>``, else a
    guess by charset-normalizer, windows-1252 over a Latin guess no language would write
    (:mod:`prox_tasks.labeling.charset_guess`; undecodable bytes replaced, never an error). A single-byte
    HTTP charset loses to UTF-8 when the body is valid UTF-8 with non-ASCII bytes (servers
    that default to iso-8859-1 turn UTF-8 Cyrillic into mojibake; text in a single-byte
    charset is practically never valid UTF-8)."""
    candidates = [http_charset, "utf-8"]
    if _single_byte(http_charset) and not payload.isascii():
        candidates.reverse()
    meta = _CHARSET.search(payload[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    for charset in candidates:
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        from prox_tasks.labeling.charset_guess import guess_text

        guessed = guess_text(payload)
        if guessed is not None:
            return guessed
    except ImportError:  # pragma: no cover - charset-normalizer comes with requests
        pass
    return payload.decode("utf-8", errors="replace")


def warc_files(warc_uris: list[str], caller: str = "cli") -> list[str]:
    """The WARC files ``warc_uris`` name, each a file, a folder or a glob (local or S3),
    listed as every prox input is (:func:`prox_tasks.corpus.readers.listed_inputs`), in
    order: a file named is read whatever its name; of a folder or glob, the files named
    like WARC (:data:`WARC_EXTENSIONS`), the others skipped with a warning.

    Raises:
        FileNotFoundError: A URI that names no WARC file.
        prox_tasks.corpus.readers.UnreadableInput: A local WARC file that cannot be read (a
            link to nothing, a named pipe), all named at once before any is opened.
    """
    from prox_tasks.corpus.readers import check_readable, listed_inputs
    from prox_tasks.storage import to_uri

    files = []
    for uri in warc_uris:
        listed = listed_inputs(uri)
        named = [p for p in listed if p == to_uri(uri) or p.lower().endswith(WARC_EXTENSIONS)]
        for path in sorted(set(listed) - set(named)):
            log.warning("%s: skipping %s: not named like a WARC file (%s)",
                        warc_setting(caller), path, ", ".join(WARC_EXTENSIONS))
        if not named:
            raise FileNotFoundError(f"{given(uri, caller)}: no WARC file there (a file, or a folder or "
                                    f"glob of files named {', '.join(WARC_EXTENSIONS)})")
        files.extend(named)
    # as every input is checked: a named pipe was opened and waited on for ever, a link to
    # nothing failed the run with a bare 'No such file or directory'
    check_readable(files, given=f"the WARC files ({warc_setting(caller)})", noun="WARC")
    return files


def responses_read(files: list[str], responses: int, named: int = 3) -> str:
    """``the 9 HTML responses of the 1 WARC file read (…/x.warc.gz)``: what WARC files were
    read and held, for an error saying no document's response is among them (files of
    another crawl or segment): the files themselves, not only the ``--warc`` given (a
    folder, a glob)."""
    more = f" and {len(files) - named:,} more" if len(files) > named else ""
    held = count(responses, "HTML response")
    return (f"the {held} of the {count(len(files), 'WARC file')} read "
            f"({', '.join(files[:named])}{more})")


#: The end of an error whose WET records' responses none of the WARC files read hold.
OTHER_CRAWL = ("WARC files of another crawl or segment? (a WET record's WARC-Refers-To "
               "names its response): give those of the input's own segment")


def _html_responses(warc_uri: str, caller: str = "cli") -> Iterator[tuple[object, dict]]:
    """``(record, info)`` per HTML ``response`` record of a WARC file, its payload unread;
    ``info``: ``record_id`` (without ``<>``), ``url``, ``date``, ``charset`` (HTTP), ``offset``
    (where the record starts, for :func:`prox_tasks.corpus.wet.record_at`)."""
    from prox_tasks.corpus.document import RecordError
    from prox_tasks.corpus.wet import broken, records, runs_over

    for _number, record in records(warc_uri, "response"):
        if isinstance(record, RecordError):
            raise ValueError(f"{given(warc_uri, caller)}: {record.detail}; fetch the file again or "
                             "leave it out")
        info = _html_info(record)
        if info is not None:
            yield record, {**info, "offset": record.offset}
            continue
        # a PDF, an image: read to see whether it ran on over the responses after it, as an
        # HTML one is (with a Content-Length too long, in a plain file, they were lost unsaid)
        record_id = (record.rec_headers.get_header("WARC-Record-ID") or "").strip("<>")
        if record.rec_headers.get_header("Content-Length") is None:
            _payload(record, warc_uri, record_id, keep=False, caller=caller)
            continue
        try:
            ran_over = runs_over(record)
        except broken() as err:
            raise ValueError(f"{given(warc_uri, caller)}: response {record_id} cannot be read: "
                             f"{type(err).__name__}: {shortened(str(err))}") from None
        if ran_over is not None:
            after = ran_over.records_after
            kind = record.http_headers.get_header("Content-Type") if record.http_headers else None
            kind = shortened(kind or "no Content-Type", 60)
            raise ValueError(f"{given(warc_uri, caller)}: response {record_id} ({kind}): its "
                             f"Content-Length runs on past the record's end, over the {after:,} "
                             f"WARC {'record' if after == 1 else 'records'} after it (written "
                             "with a wrong length: their responses would be missed); fetch the "
                             "file again or leave it out")


def _html_info(record) -> dict | None:
    """``record_id``, ``url``, ``date``, ``charset`` of an HTML response (None: not HTML)."""
    if record.http_headers is None:
        return None
    content_type = record.http_headers.get_header("Content-Type") or ""
    if "html" not in content_type.lower():
        return None
    charset = None
    if "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
    headers = record.rec_headers
    return {"record_id": (headers.get_header("WARC-Record-ID") or "").strip("<>"),
            "url": headers.get_header("WARC-Target-URI"),
            "date": headers.get_header("WARC-Date"), "charset": charset}  # fmt: skip


def _payload(record, warc_uri: str, record_id: str, keep: bool = True, caller: str = "cli"
             ) -> bytes | int:
    """The response's HTTP body (``keep=False``: only its size, read in blocks and let go).

    Raises:
        ValueError: When the record cannot be read or is cut short (the file is cut), or,
            without a Content-Length header, runs on over the records after it.
    """
    from prox_tasks.corpus.wet import broken, records_within, records_within_blocks

    # without a Content-Length warcio reads the record on to the end of its gzip member or,
    # uncompressed, of the file: its body is read whole to look for the records it took in;
    # with one too long, in an uncompressed file, it reads on over the records after it too
    undelimited = record.rec_headers.get_header("Content-Length") is None
    try:
        stream = record.content_stream()
        if keep or undelimited:
            payload = stream.read()
            after = records_within(payload)
        else:
            sizes: list[int] = []
            after = records_within_blocks(sizes.append(len(block)) or block for block in
                                          iter(lambda: stream.read(1 << 16), b""))
            payload = sum(sizes)
        while record.raw_stream.read(1 << 16):  # the rest of the record's Content-Length
            pass
    except broken() as err:
        raise ValueError(f"{given(warc_uri, caller)}: response {record_id} cannot be read: "
                         f"{type(err).__name__}: {shortened(str(err))}") from None
    if getattr(record.raw_stream, "limit", 0):  # Content-Length not reached: cut short
        raise ValueError(f"{given(warc_uri, caller)}: response {record_id} is cut short "
                         f"({record.raw_stream.limit} of its {record.length} bytes "
                         "missing): the file is cut; fetch it again or leave it out")
    if not getattr(record, "delimited", lambda: True)():  # read by records(): its check
        raise ValueError(f"{given(warc_uri, caller)}: response {record_id}'s Content-Length ends "
                         "inside the record (written with a wrong length): its page would be "
                         "cut short; fetch the file again or leave it out")
    if after and undelimited:
        raise ValueError(f"{given(warc_uri, caller)}: response {record_id} has no "
                         f"Content-Length header, so its page runs on over the {after:,} WARC "
                         f"{'record' if after == 1 else 'records'} after it (their responses "
                         "would be missed); fetch the file again or leave it out")
    if after and record.plain:  # in a .gz its member ends it: headers there are the page's
        raise ValueError(f"{given(warc_uri, caller)}: response {record_id}'s Content-Length runs "
                         f"on past the record's end, over the {after:,} WARC "
                         f"{'record' if after == 1 else 'records'} after it (written with a "
                         "wrong length: their responses would be missed, its page labeled with "
                         "them); fetch the file again or leave it out")
    return payload if keep or not undelimited else len(payload)


def html_records(warc_uri: str, caller: str = "cli") -> Iterator[dict]:
    """Every HTML ``response`` record of a WARC file: ``record_id`` (without ``<>``), ``url``,
    ``date``, ``html``. Non-HTML responses and other record types are skipped.

    Raises:
        ValueError: When the file breaks off (cut inside a record or a gzip member, bytes
            that are not WARC): a page cut short is never labeled from, and the responses
            past the cut are not lost quietly.
    """
    for record, info in _html_responses(warc_uri, caller):
        payload = _payload(record, warc_uri, info["record_id"], caller=caller)
        yield {"record_id": info["record_id"], "url": info["url"], "date": info["date"],
               "html": decode_html(payload, info["charset"])}  # fmt: skip


class WarcResponses(Mapping):
    """``{response record id: html}`` over WARC files, read on demand: one pass indexes each
    HTML response's file, offset, body size and charset (no body is kept, so memory does not
    grow with the WARC), and a lookup seeks to the record and reads that one response (a
    local file, or ranged GETs on S3). Every response is read whole once while indexing, so
    a cut file is an error before anything is labeled. Close it (or use ``with``) to close
    the files.

    ``index``: an index saved before (:meth:`to_dict`, e.g. by the seed DAG's ``sample`` for
    the responses its sample refers to) instead of reading the files again."""

    def __init__(self, warc_uris: list[str], index: dict | None = None, caller: str = "cli"
                 ) -> None:
        #: Who gave the files, as the messages name them (:func:`given`).
        self.caller = caller
        self._index: dict[str, tuple[str, int, int, str | None]] = {}
        self._open: dict[str, object] = {}
        #: Responses whose WARC-Record-ID came before (the same file given twice, a copy of a
        #: segment): the first in ``warc_uris`` order is kept, so a retry joins the same one.
        self.duplicates: list[tuple[str, str]] = []
        if index is not None:
            if index.get("warc_uris") != list(warc_uris):
                raise ValueError(f"the WARC index was made for {index.get('warc_uris')}, not "
                                 f"{list(warc_uris)}")
            self._index = {rid: tuple(entry) for rid, entry in index["responses"].items()}
            self.duplicates = [tuple(d) for d in index["duplicates"]]
            self.total = index["html_responses"]
            self.files = list(index.get("files") or warc_uris)
            return
        #: The WARC files read (those the URIs name), as errors name them
        self.files = warc_files(warc_uris, caller)
        for uri in self.files:
            for record, info in _html_responses(uri, caller):
                size = _payload(record, uri, info["record_id"], keep=False, caller=caller)
                if info["record_id"] in self._index:
                    self.duplicates.append((info["record_id"], uri))
                    continue
                self._index[info["record_id"]] = (uri, info["offset"], size, info["charset"])
        #: HTML responses in the files (an index saved for some keeps this count)
        self.total = len(self._index)
        self.warc_uris = list(warc_uris)
        if self.duplicates:
            record_id, uri = self.duplicates[0]
            repeated = len(self.duplicates)
            log.warning("%s: %s repeat%s a WARC-Record-ID indexed before "
                        "(e.g. %s in %s, first in %s): the first is kept",
                        warc_setting(caller), count(repeated, "HTML response"),
                        "s" if repeated == 1 else "", record_id, uri,
                        self._index[record_id][0])

    def __len__(self) -> int:
        return len(self._index)

    def to_dict(self, record_ids=None) -> dict:
        """The index as JSON (for ``index=``), of ``record_ids`` only when given."""
        kept = self._index if record_ids is None else {
            rid: self._index[rid] for rid in set(record_ids) if rid in self._index}
        return {"warc_uris": self.warc_uris, "html_responses": self.total,
                "duplicates": [list(d) for d in self.duplicates],
                "responses": {rid: list(entry) for rid, entry in sorted(kept.items())}}  # fmt: skip

    def __iter__(self):
        return iter(self._index)

    def __contains__(self, record_id) -> bool:
        return record_id in self._index

    def size(self, record_id: str) -> int:
        """The response body's bytes (before decoding), without reading it again."""
        return self._index[record_id][2]

    def __getitem__(self, record_id: str) -> str:
        from prox_tasks.corpus.wet import broken, record_at
        from prox_tasks.storage import open_uri

        uri, offset, _size, charset = self._index[record_id]
        if uri not in self._open:
            self._open[uri] = open_uri(uri, "rb")
        try:
            record = record_at(self._open[uri], offset)
        except (StopIteration, *broken()) as err:
            raise ValueError(f"{given(uri, self.caller)}: response {record_id} cannot be read again at "
                             f"byte {offset}: {type(err).__name__}: {shortened(str(err))} (the "
                             "file changed while labeling?)") from None
        info = _html_info(record)
        if info is None or info["record_id"] != record_id:
            raise ValueError(f"{given(uri, self.caller)}: byte {offset} no longer holds response "
                             f"{record_id}: the file changed while labeling")
        return decode_html(_payload(record, uri, record_id, caller=self.caller), charset)

    def close(self) -> None:
        for stream in self._open.values():
            stream.close()
        self._open.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def holds_any(warc_uris: list[str], record_ids, caller: str = "cli") -> bool:
    """Whether the WARC files hold an HTML response with one of ``record_ids``, read until
    the first (a probe: a whole pass only when none is there)."""
    wanted = set(record_ids)
    return any(record_id in wanted for record_id in _record_ids(warc_uris, caller))


def html_record_ids(warc_uris: list[str], caller: str = "cli") -> frozenset[str]:
    """The record ids of the HTML responses of the WARC files (one pass, no body kept)."""
    return frozenset(_record_ids(warc_uris, caller))


def _record_ids(warc_uris: list[str], caller: str = "cli") -> Iterator[str]:
    return (info["record_id"] for uri in warc_files(warc_uris, caller)
            for _record, info in _html_responses(uri, caller))


def html_by_record_id(warc_uris: list[str], index_uri: str | None = None,
                      caller: str = "cli") -> WarcResponses:
    """``{response record id: html}`` over WARC files (a WET record's ``WARC-Refers-To``),
    indexed in one pass and read on demand (:class:`WarcResponses`); with ``index_uri``,
    the index :func:`write_index` saved there (the files are not read again)."""
    if index_uri is None:
        return WarcResponses(warc_uris, caller=caller)
    from prox_tasks.storage import read_json

    index = read_json(index_uri)
    if not isinstance(index, dict):
        raise ValueError(f"no WARC index at {index_uri} (the seed set's sample task writes it:"
                         " run the DAG again from sample)")
    return WarcResponses(warc_uris, index=index, caller=caller)


def write_index(warc_uris: list[str], record_ids, index_uri: str, caller: str = "cli") -> dict:
    """Index the WARC files once (:class:`WarcResponses`) and save, at ``index_uri``, the
    entries of the responses ``record_ids`` name: the seed DAG's ``sample`` writes it beside
    the sample, so each ``label_shard`` reads the responses it needs without indexing every
    WARC file again (~18 CPU-s per GB each). Written atomically: a retry writes the same.

    Returns:
        ``{"html_responses": N, "indexed": entries saved}``.
    """
    import json

    from prox_tasks.storage import put_atomic

    with WarcResponses(list(warc_uris), caller=caller) as responses:
        index = responses.to_dict(record_ids)
    put_atomic(index_uri, json.dumps(index, sort_keys=True) + "\n")
    return {"html_responses": index["html_responses"], "indexed": len(index["responses"])}


def html_by_capture(warc_uris: list[str], caller: str = "cli"
                    ) -> dict[tuple[str, str], list[str]]:
    """``{(url, date): [html, ...]}`` in file order (a URL captured twice in one second keeps
    both, matched to rows in the same order)."""
    out: dict[tuple[str, str], list[str]] = {}
    for uri in warc_files(warc_uris, caller):
        for r in html_records(uri, caller):
            out.setdefault((r["url"], r["date"]), []).append(r["html"])
    return out
