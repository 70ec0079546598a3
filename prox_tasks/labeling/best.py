"""The ``best`` teacher: per document, the best label it can have.

A seed set drawn from a real corpus mixes documents with different evidence: some have a
clean version (a human's gold text, a reference extraction), some come with their HTML (a
Common Crawl WARC response), most have only their text. Each gets the strongest teacher its
evidence allows, in this order:

1. a clean text (``gold``) -> the ``diff`` teacher (minimal deletions to reach it);
2. the page's HTML (``html``) -> the ``html`` teacher (an HTML extractor aligned to the text),
   unless the extractor finds no main content;
3. otherwise the fallback teacher: ``rules`` (offline) or ``llm`` when configured.

``label.meta["teacher"]`` records which teacher labeled each document; ``prox label`` writes
it per row and the seed-set manifest counts them (``label_distribution.by_teacher``).
"""

from __future__ import annotations

from collections.abc import Sequence

from prox_tasks.labeling.base import Label, Teacher
from prox_tasks.labeling.html import DEFAULT_EXTRACT_TIMEOUT_S


class BestTeacher(Teacher):
    """Label each document with diff (gold), else html (HTML), else the fallback teacher.

    Args:
        fallback: Teacher for documents with neither (default: ``RulesTeacher``): a teacher,
            or a teacher's name (``"rules"``, ``"llm"``) built with ``fallback_options`` —
            the form a DAG's ``teacher_options`` Param can hold, e.g. ``{"fallback":
            "llm", "fallback_options": {"base_url": ..., "model": ...}}``.
        fallback_options: Constructor options of the ``fallback`` named.
        diff, html: The diff and html teachers (defaults built on first use, so the html
            teacher's extractor is imported only when a document has HTML).
        extractor: The default html teacher's extractor (``trafilatura``, ``resiliparse``).
        extract_timeout: The default html teacher's seconds per page (a page over it is
            labeled by the next teacher).
        use_html: Use the page HTML at all (``False``: HTML is ignored).
        chunked: Passed to the default teachers.
    """

    name = "best"

    def __init__(
        self,
        fallback: Teacher | str | None = None,
        diff: Teacher | None = None,
        html: Teacher | None = None,
        use_html: bool = True,
        chunked: bool = True,
        fallback_options: dict | None = None,
        extractor: str = "trafilatura",
        extract_timeout: float | None = DEFAULT_EXTRACT_TIMEOUT_S,
    ) -> None:
        from prox_tasks.labeling.diff import DiffTeacher
        from prox_tasks.labeling.rules import RulesTeacher

        if isinstance(fallback, str):
            from prox_tasks.labeling import get_teacher

            if fallback == self.name:
                raise ValueError("the best teacher cannot fall back to itself")
            options = dict(fallback_options or {})
            if fallback in ("rules", "diff"):
                options.setdefault("chunked", chunked)
            fallback = get_teacher(fallback, **options)
        elif fallback_options:
            raise ValueError("fallback_options go with a fallback teacher's name")
        if getattr(fallback, "reads", None):  # it labels the rows without a gold text or HTML
            raise ValueError(f"the best teacher's fallback labels the rows with neither a gold "
                             f"text nor HTML: {fallback.name!r} needs its "
                             f"{fallback.reads}; choose rules or llm")
        self.fallback = fallback or RulesTeacher(chunked=chunked)
        self.diff = diff or DiffTeacher(chunked=chunked)
        self.extractor = extractor
        self.extract_timeout = extract_timeout
        self._html = html
        self.use_html = use_html
        self.chunked = chunked

    @property
    def html(self) -> Teacher:
        if self._html is None:
            from prox_tasks.labeling.html import HtmlTeacher

            self._html = HtmlTeacher(chunked=self.chunked, extractor=self.extractor,
                                     extract_timeout=self.extract_timeout)  # fmt: skip
        return self._html

    def close(self) -> None:
        """Close the teachers that hold resources (an HTML extractor's worker, an llm
        teacher's HTTP client)."""
        for teacher in (self._html, self.fallback):
            getattr(teacher, "close", lambda: None)()

    @property
    def usage(self):
        """The fallback's usage report (the llm teacher's requests and cost), if it has one."""
        return getattr(self.fallback, "usage", None)

    def describe(self) -> dict:
        out = {"name": self.name, "diff": self.diff.describe(),
               "fallback": self.fallback.describe(), "use_html": self.use_html}  # fmt: skip
        if self.use_html:
            try:
                out["html"] = self.html.describe()
            except ImportError as err:  # extractor not installed: HTML rows use the fallback
                out["html"] = {"unavailable": str(err)}
        return out

    def label(self, text: str, gold: str | None = None) -> Label:
        """Label one document; ``gold`` is its clean text, when it has one."""
        return self.label_rows([text], [{"gold": gold}])[0]

    def label_rows(self, texts: Sequence[str], extras: Sequence[dict]) -> list[Label]:
        """Pick a teacher per row (see the module docs); each keeps its batching."""
        out: list[Label | None] = [None] * len(texts)
        by_gold = [i for i, e in enumerate(extras) if isinstance(e.get("gold"), str)]
        for i, label in zip(by_gold, self.diff.label_many([texts[i] for i in by_gold],
                                                          [extras[i]["gold"] for i in by_gold])):  # fmt: skip
            out[i] = self._tag(label, "diff")
        if self.use_html:
            by_html = [i for i, e in enumerate(extras)
                       if out[i] is None and isinstance(e.get("html"), str)]  # fmt: skip
            if by_html:
                try:
                    labels = self.html.label_many([texts[i] for i in by_html],
                                                  [extras[i]["html"] for i in by_html])  # fmt: skip
                except ImportError:  # no extractor installed: the fallback labels these rows
                    labels = [None] * len(by_html)
                for i, label in zip(by_html, labels):
                    if label is not None and not label.meta.get("empty_extraction"):
                        out[i] = self._tag(label, "html")
        rest = [i for i, label in enumerate(out) if label is None]
        for i, label in zip(rest, self.fallback.label_many([texts[i] for i in rest])):
            out[i] = self._tag(label, self.fallback.name)
        return out

    @staticmethod
    def _tag(label: Label, teacher: str) -> Label:
        label.meta = {**(label.meta or {}), "teacher": teacher}
        return label
