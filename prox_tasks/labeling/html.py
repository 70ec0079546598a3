"""The ``html`` teacher: a main-content extractor on the page's HTML, aligned to its text.

Corpora built from Common Crawl often keep the HTML (the WARC response) beside the text the
corpus holds (the WET conversion). A well-kept HTML extractor sees the page structure that the
text lost (``<nav>``, ``<footer>``, link density, comment sections) and finds the main content
better than any text-only rule. Its output is not reproduced: it is aligned with the text the
corpus holds by the ``diff`` teacher (:class:`prox_tasks.labeling.diff.DiffTeacher`), which
writes the minimal *deletion* program — so the refined text stays a sub-multiset of the
corpus's own words, whatever the extractor reformatted.

Extractors (chosen by measurement, see docs/teachers.md): ``trafilatura`` (the default) and
``resiliparse``; both are optional dependencies imported when the teacher is built.

Example:
    >>> from prox_tasks.labeling import get_teacher
    >>> teacher = get_teacher("html")
    >>> label = teacher.label(wet_text, html)
"""

from __future__ import annotations

import contextlib
import re

from prox_tasks.labeling.base import Label, Teacher
from prox_tasks.labeling.diff import MAX_SEQUENCE_WORDS, DiffTeacher
from prox_tasks.labeling.emit import DROP_DOC, write_chunk_program
from prox_tasks.programs.render import CHUNK_TOKEN_BUDGET
from prox_tasks.wording import quoted_error

VERSION = "html-3"  # html-2: a field that is no markup is rejected (html:not_html);
# html-3: an extraction of which no word is in the text is rejected (html:unaligned)
EXTRACTORS = ("trafilatura", "resiliparse")
#: Seconds the extractor may take on one page (trafilatura takes ~0.07 s on a typical page,
#: ~1 s on 1.5 MB of markup); a page over it is rejected as ``html:extractor_timeout``.
DEFAULT_EXTRACT_TIMEOUT_S = 30.0


def _trafilatura(favor_recall: bool):
    import trafilatura

    def extract(html: str) -> str | None:
        return trafilatura.extract(html, include_comments=False, include_tables=True,
                                   favor_recall=favor_recall, deduplicate=False)  # fmt: skip

    return extract


def _resiliparse():
    try:
        from resiliparse.extract.html2text import extract_plain_text
    except ImportError:
        raise ImportError("the resiliparse extractor needs `pip install resiliparse` (an "
                          "optional dependency, not in requirements.txt or the images); "
                          "trafilatura is the default") from None

    def extract(html: str) -> str | None:
        return extract_plain_text(html, main_content=True, alt_texts=False, links=False)

    return extract


def repair_surrogates(html: str) -> tuple[str, int]:
    """``html`` with each lone surrogate (JSON ``"\\ud83d"``: half a pair, cut by a crawler
    or a converter) replaced by U+FFFD, and how many there were. trafilatura's parser stops
    at one: the content after it was lost and the page labeled near empty. A pair written
    as two escapes is joined into its character."""
    from prox_tasks.corpus.document import has_lone_surrogate

    if not has_lone_surrogate(html):
        return html, 0
    paired = html.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return paired, paired.count("\ufffd") - html.count("\ufffd")


#: A markup tag's start: ``<`` then a letter, ``!`` (a doctype, a comment), ``/`` or ``?``.
_TAG = re.compile(r"<[A-Za-z!/?]")
#: C0 control characters no page's text holds (all but tab, line feed, form feed, CR).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: The head of an ``html`` field looked at for control characters, and the share of them
#: that makes it binary (a PDF, an image, compressed bytes read as text): a page with a stray
#: NUL is still a page.
BINARY_HEAD_CHARS = 1 << 16
BINARY_CONTROL_SHARE = 0.01


def not_html(html: str) -> str | None:
    """Why ``html`` is no page's markup (a binary body read as text, or text without a
    single tag), or None when it may be. The extractor finds no main content in either,
    and its ``drop_doc()`` would teach the model to drop the text the row holds, which says
    nothing about that text."""
    head = html[:BINARY_HEAD_CHARS]
    controls = len(_CONTROL.findall(head))
    if controls > BINARY_CONTROL_SHARE * len(head):
        return (f"binary, not HTML: {controls:,} control characters in its first "
                f"{len(head):,}")
    if _TAG.search(html) is None:
        return f"no markup tag in its {len(html):,} characters: text, not HTML"
    return None


#: Element nesting at which libxml2 (lxml, trafilatura's parser) stops parsing a page
#: without XML_PARSE_HUGE: what follows is never seen.
PARSER_MAX_DEPTH = 256


def cut_by_depth(html: str) -> str | None:
    """Why trafilatura's parser (libxml2) saw only part of ``html`` — its elements nest
    :data:`PARSER_MAX_DEPTH` deep, where the parser stops — or None. Its extraction is then
    of the part before (of nothing, for a page nested 100,000 deep): a ``drop_doc()`` or the
    removal of the lines after it would be learned from the parser's limit, not the page.
    One more parse of the page, bounded as trafilatura's is (~4 ms a typical page)."""
    import lxml.etree

    parser = lxml.etree.HTMLParser(recover=True, no_network=True)
    try:
        lxml.etree.fromstring(html, parser)
    except ValueError:
        # a str declaring its encoding (an XHTML page's <?xml … encoding=…?>), which lxml
        # refuses: trafilatura then parses its UTF-8 bytes (its load_html), and so does this
        # check, which parsed nothing and passed such a page however deep it nested
        parser = lxml.etree.HTMLParser(recover=True, no_network=True, encoding="utf-8")
        with contextlib.suppress(lxml.etree.LxmlError, ValueError):
            lxml.etree.fromstring(html.encode("utf-8", "surrogatepass"), parser)
    except lxml.etree.LxmlError:
        pass  # what it read is in the error log
    for error in parser.error_log:
        if "Excessive depth" in error.message:
            return (f"its elements nest {PARSER_MAX_DEPTH} deep by line {error.line:,}, where "
                    "the HTML parser (libxml2) stops: the rest of the page is never read")
    return None


def get_extractor(name: str, favor_recall: bool = False):
    """A function ``html -> main-content text (or None)`` for extractor ``name``.

    Raises:
        ValueError: For an unknown extractor.
        ImportError: When its package is not installed (``pip install trafilatura``).
    """
    if name == "trafilatura":
        return _trafilatura(favor_recall)
    if name == "resiliparse":
        return _resiliparse()
    raise ValueError(f"unknown HTML extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")


class HtmlTeacher(Teacher):
    """Label a document from its HTML: extract the main content, keep what aligns with it.

    Args:
        extractor: ``trafilatura`` or ``resiliparse``.
        favor_recall: trafilatura's recall mode (measured worse on WCXB: off by default).
        keep_threshold: Share of a line's words that must align with the extraction for it
            to stay (the diff teacher's threshold).
        chunked, max_chunk_tokens: As for the other teachers.
        max_sequence_words: The alignment's bound for quadratic time (the diff teacher's).
        extract_timeout: Seconds the extractor may take on one page (it then runs in a
            worker process, :mod:`prox_tasks.labeling.extract_worker`); None: no limit, in
            this process.

    ``label(text, html)`` needs the HTML (``None`` is an error: ``prox label`` quarantines
    such rows as ``missing_html``). An extractor that finds no main content gives
    ``drop_doc()`` with ``meta["empty_extraction"] = True``; the ``best`` teacher falls back
    to its other teachers instead. An extractor that raises on a page gives the same label
    with ``meta["errors"] = ["html:extractor_failed"]`` (the error in ``error_details``): it is
    rejected with that reason, never a drop_doc to learn from; a page the extractor takes
    more than ``extract_timeout`` seconds on, the same with ``html:extractor_timeout``; an
    ``html`` field that is no markup (:func:`not_html`: binary, or text without a tag), the
    same with ``html:not_html``, never extracted. Lone surrogates in the HTML
    are replaced before extraction (:func:`repair_surrogates`), counted in
    ``meta["html_lone_surrogates"]``.
    """

    name = "html"
    reads = "html"

    def __init__(
        self,
        extractor: str = "trafilatura",
        favor_recall: bool = False,
        keep_threshold: float = 0.5,
        chunked: bool = True,
        max_chunk_tokens: int = CHUNK_TOKEN_BUDGET,
        max_sequence_words: int = MAX_SEQUENCE_WORDS,
        extract_timeout: float | None = DEFAULT_EXTRACT_TIMEOUT_S,
    ) -> None:
        self.extractor = extractor
        self.favor_recall = favor_recall
        self.extract_timeout = extract_timeout
        self._extract = get_extractor(extractor, favor_recall)  # not installed: fails here
        if extract_timeout is not None:
            from prox_tasks.labeling.extract_worker import ExtractorWorker
            from prox_tasks.labeling.options import check_teacher_options

            # built directly, not by get_teacher: its range is still the table's
            check_teacher_options(self.name, {"extract_timeout": extract_timeout})
            self._extract = ExtractorWorker(extractor, favor_recall, extract_timeout)
        self.chunked = chunked
        self.max_chunk_tokens = max_chunk_tokens
        self._diff = DiffTeacher(keep_threshold=keep_threshold, chunked=chunked,
                                 max_chunk_tokens=max_chunk_tokens,
                                 max_sequence_words=max_sequence_words)  # fmt: skip

    def describe(self) -> dict:
        return {"name": self.name, "version": VERSION, "extractor": self.extractor,
                "favor_recall": self.favor_recall, "extract_timeout": self.extract_timeout,
                "alignment": self._diff.describe()}  # fmt: skip

    def close(self) -> None:
        """Stop the extractor's worker process, if it has one."""
        getattr(self._extract, "close", lambda: None)()

    def extract(self, html: str) -> str:
        """The extractor's main content ('' when it finds none or fails on the page)."""
        return self._extract_or_error(html)[0]

    def _extract_or_error(self, html: str) -> tuple[str, str | None, str | None]:
        """``(main content, None, None)``, or ``("", reason, the error)`` when the extractor
        raised (``html:extractor_failed``) or ran out of time (``html:extractor_timeout``)."""
        from prox_tasks.labeling.extract_worker import ExtractorTimeout

        try:
            return self._extract(html) or "", None, None
        except ExtractorTimeout as err:
            return "", "html:extractor_timeout", f"extract_timeout: {err}"
        except Exception as err:  # noqa: BLE001 - any extractor bug: this page's, counted
            return "", "html:extractor_failed", quoted_error(err)

    def label(self, text: str, gold: str | None = None) -> Label:
        """Label ``text`` from ``gold`` — here the page's HTML.

        Raises:
            ValueError: When the HTML is ``None``.
        """
        if gold is None:
            raise ValueError("the html teacher needs the HTML of every document")
        gold, surrogates = repair_surrogates(gold)
        why = not_html(gold)
        deep = cut_by_depth(gold) if why is None and self.extractor == "trafilatura" else None
        if why is not None:  # rejected as the extractor's failure is: a drop learned from
            extracted, reason, error = "", "html:not_html", why  # it is no page's
        elif deep is not None:  # its extraction would be of the part the parser read
            extracted, reason, error = "", "html:too_deep", deep
        else:
            extracted, reason, error = self._extract_or_error(gold)
        if not extracted.strip():
            return self._no_extraction(text, reason, error, surrogates)
        label = self._diff.label(text, extracted)
        if label.meta.get("words_gold") and not label.meta.get("words_aligned"):
            # not one extracted word is in the text: the HTML was decoded by another charset
            # than the text (a Shift_JIS page served as iso-8859-1 read as mojibake) or is
            # another page's; its drop_doc() would teach dropping a page for it
            return self._no_extraction(text, "html:unaligned", (
                f"none of the {label.meta['words_gold']:,} words extracted from the HTML is "
                "in the text: the HTML is decoded by another charset than the text (a "
                "charset declared wrongly) or is another page's; check the record's charset "
                "and WARC-Refers-To"), surrogates)
        label.meta.update(teacher=self.name, version=VERSION, extractor=self.extractor,
                          alignment=label.meta.get("version"))  # fmt: skip
        if surrogates:  # counted per run (``html_repaired``): the page had a broken escape
            label.meta["html_lone_surrogates"] = surrogates
        return label

    def _no_extraction(self, text: str, reason: str | None, error: str | None,
                       surrogates: int) -> Label:
        """``drop_doc()`` with ``empty_extraction``: the extractor found no main content
        (``reason`` None), or ``reason`` says why there is none to label from (rejected with
        it, ``error`` its detail; the ``best`` teacher labels the row with its next)."""
        meta = {"teacher": self.name, "version": VERSION, "empty_extraction": True}
        if reason:  # not "no main content": a drop learned from it would be the failure's
            meta.update(errors=[reason], error_details=[error])
        if surrogates:
            meta["html_lone_surrogates"] = surrogates
        chunk = write_chunk_program(text, [], chunked=self.chunked,
                                    max_tokens=self.max_chunk_tokens)  # fmt: skip
        return Label(DROP_DOC, chunk, meta)
