"""Per-line signals and their context-sensitive classification (the jusText idea).

Each line first gets a class from its own features:

- ``BAD``: boilerplate vocabulary on a short line, a consent/legal/affiliate sentence of any
  length, code or markup gibberish, or a long line repeated elsewhere in the page;
- ``GOOD``: running text, long and full of function words (stop words) or ending a sentence;
- ``NEAR``: medium-length text that looks like a sentence;
- ``SHORT``: everything else (menu entries, headings, table cells, list items).

Then ``NEAR`` and ``SHORT`` lines take a class from their context: the nearest ``GOOD`` or
``BAD`` line above and below (the document's edges count as ``BAD``). Between two good lines
a short line is a heading, a table cell or a list item and stays; between two bad lines it is
part of a menu or footer and goes. So "Home" at the top of a page, in a run of short lines
before the first paragraph, is removed, while the same word inside the article stays.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from prox_tasks.labeling.vocab import (
    LONG_BOILERPLATE,
    LONG_TRIGGERS,
    SHORT_BOILERPLATE,
    STOP_WORDS,
    TAIL_MARKER,
)

BAD, SHORT, NEAR, GOOD = -1, 0, 1, 2

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SYMBOLS = re.compile(r"[{}\[\]<>|\\=;$#@^~`*_]")
_STRIP = ".,;:!?\"'()[]«»“”‘’-–—"
_DIGITS = re.compile(r"\d+")
_TERMINAL = tuple('.!?。！？:;"”’)»…؟।')


@dataclass(frozen=True)
class LineRules:
    """Thresholds of the line classifier (defaults tuned on half of one benchmark, checked on
    the other half and on a second, multilingual one).

    Attributes:
        good_min_units: A line this long (words; CJK characters count half) can be ``GOOD``.
        good_min_stop_density: ...if this share of its words are stop words, or it ends a
            sentence.
        long_good_units: A line this long is ``GOOD`` whatever its stop words.
        near_min_units: A sentence-like line this long is ``NEAR``.
        near_min_stop_density: Stop-word share that makes a medium line sentence-like.
        boilerplate_max_units: Boilerplate vocabulary marks lines up to this long as ``BAD``.
        repeated_min_units: A line repeated in the page and this long is ``BAD``.
        near_keep_distance: A ``NEAR`` line between a good and a bad neighbour stays when the
            good one is at most this many lines away.
        short_keep_distance: Likewise for a ``SHORT`` line (a heading right above a paragraph).
    """

    good_min_units: int = 15
    good_min_stop_density: float = 0.15
    long_good_units: int = 35
    near_min_units: int = 6
    near_min_stop_density: float = 0.25
    boilerplate_max_units: int = 10
    repeated_min_units: int = 10
    near_keep_distance: int = 3
    near_keep_distance_inside: int = 50
    short_keep_distance: int = 1
    near_is_anchor_for_short: bool = True
    block_gap_lines: int = 8
    outlier_block_ratio: float = 0.1
    fill_blocks: bool = True
    tail_cut_min_units: int = 100
    min_prose_fraction: float = 0.1
    min_kept_units: int = 20
    drop_title_line: bool = True


def units(line: str) -> int:
    """Words, with CJK characters counted as half a word each (they are not space-separated)."""
    cjk = len(_CJK.findall(line)) if not line.isascii() else 0
    return len(line.split()) + cjk // 2


def is_gibberish(line: str, rules_symbol_ratio: float = 0.25) -> bool:
    """Code, markup or encoded data rather than text."""
    n = len(line)
    if n < 20:
        return False
    if "lorem ipsum" in line:
        return True
    # a line of code is content on a documentation page; a minified blob is not
    if n >= 200 and len(_SYMBOLS.findall(line)) > rules_symbol_ratio * n:
        return True
    longest = max((len(t) for t in line.split()), default=0)
    return longest > 80 and not line.startswith(("http://", "https://"))


@lru_cache(maxsize=262144)
def classify_line(key: str, rules: LineRules) -> tuple[int, str, int]:
    """Context-free ``(class, reason, units)`` of a stripped, lower-cased line.

    Cached: menus, footers and banners repeat across the pages of a site, so in a large
    corpus most lines have been seen before.
    """
    n = units(key)
    if any(t in key for t in LONG_TRIGGERS) and LONG_BOILERPLATE.search(key):
        return BAD, "boilerplate_sentence", n
    if n <= rules.boilerplate_max_units and SHORT_BOILERPLATE.search(key):
        return BAD, "boilerplate", n
    if is_gibberish(key):
        return BAD, "gibberish", n
    toks = key.split()
    stops = sum(1 for t in toks if t.strip(_STRIP) in STOP_WORDS)
    density = stops / len(toks)
    terminal = key.endswith(_TERMINAL)
    cjk_prose = n > len(toks) and n >= rules.good_min_units
    if n >= rules.long_good_units or (
        n >= rules.good_min_units
        and (density >= rules.good_min_stop_density or terminal or cjk_prose)
    ):
        return GOOD, "", n
    if n >= rules.near_min_units and (terminal or density >= rules.near_min_stop_density):
        return NEAR, "", n
    return SHORT, "", n


def initial_classes(lines: list[str], rules: LineRules) -> tuple[list[int], list[str]]:
    """Context-free class and reason of each line (a later copy of a long line is ``BAD``)."""
    seen: set[str] = set()
    classes, reasons = [], []
    for line in lines:
        key = line.strip().lower()
        if not key:
            classes.append(SHORT)
            reasons.append("")
            continue
        cls, reason, n = classify_line(key, rules)
        if cls != BAD and key in seen and n >= rules.repeated_min_units:
            # teasers, taglines, repeated banners; the first copy is judged on its own
            cls, reason = BAD, "repeated"
        classes.append(cls)
        reasons.append(reason)
        seen.add(key)
    return classes, reasons


def resolve_context(classes: list[int], rules: LineRules) -> list[bool]:
    """Keep flag per line: ``GOOD`` kept, ``BAD`` removed, the rest decided by neighbours."""
    keep = [c == GOOD for c in classes]
    goods = [i for i, c in enumerate(classes) if c == GOOD]
    inside = (goods[0], goods[-1]) if goods else (0, -1)
    _resolve(
        classes, keep, NEAR, (GOOD, BAD), rules.near_keep_distance,
        rules.near_keep_distance_inside, inside,
    )  # fmt: skip
    # short lines read sentence-like neighbours (as resolved above) as anchors too
    if rules.near_is_anchor_for_short:
        anchors = [c if c != NEAR else (GOOD if keep[i] else BAD) for i, c in enumerate(classes)]
    else:
        anchors = classes
    _resolve(anchors, keep, SHORT, (GOOD, BAD), rules.short_keep_distance)
    return keep


def _resolve(
    classes: list[int],
    keep: list[bool],
    target: int,
    anchor_classes,
    limit: int,
    inside_limit: int | None = None,
    inside: tuple[int, int] = (0, -1),
):
    """Set ``keep`` of lines of class ``target`` from the nearest anchors above and below.

    Between a good and a bad anchor a line stays when the good one is at most ``limit``
    lines away (``inside_limit`` for lines within the ``inside`` span).
    """
    n = len(classes)
    prev_anchor = [BAD] * n  # nearest anchor above, and its distance
    prev_dist = [n + 1] * n
    anchor, dist = BAD, n + 1
    for i, c in enumerate(classes):
        if c in anchor_classes:
            anchor, dist = c, 0
        else:
            dist += 1
        prev_anchor[i], prev_dist[i] = anchor, dist
    anchor, dist = BAD, n + 1
    for i in range(n - 1, -1, -1):
        c = classes[i]
        if c in anchor_classes:
            anchor, dist = c, 0
            continue
        dist += 1
        if c != target:
            continue
        above, below = prev_anchor[i], anchor
        if above == GOOD and below == GOOD:
            keep[i] = True
        elif above == BAD and below == BAD:
            keep[i] = False
        else:
            to_good = prev_dist[i] if above == GOOD else dist
            within = inside_limit is not None and inside[0] <= i <= inside[1]
            keep[i] = to_good <= (inside_limit if within else limit)


def trim_outlying_blocks(
    lines: list[str], keep: list[bool], rules: LineRules, fill: list[bool] | None = None
) -> list[bool]:
    """Remove kept blocks that lie apart from the main content and are much smaller.

    Kept lines form blocks separated by runs of at least ``rules.block_gap_lines`` removed
    lines. The block with the most words is the main content; another block is kept only
    when it has at least ``rules.outlier_block_ratio`` of the main block's words (a second
    article part, a long comment thread) — teaser lists, author boxes and footers after a
    menu are small and go.
    """
    if rules.block_gap_lines <= 0:
        return keep
    blocks: list[list[int]] = []  # [first, last, words]
    gap = rules.block_gap_lines
    for i, (line, k) in enumerate(zip(lines, keep)):
        if not k:
            if line.strip():
                gap += 1
            continue
        if gap >= rules.block_gap_lines or not blocks:
            blocks.append([i, i, 0])
        blocks[-1][1] = i
        blocks[-1][2] += units(line)
        gap = 0
    if not blocks:
        return keep
    main = max(b[2] for b in blocks)
    keep = list(keep)
    for first, last, words in blocks:
        if words < rules.outlier_block_ratio * main:
            for i in range(first, last + 1):
                keep[i] = False
        elif fill is not None:
            # inside a block, a short removed run is a heading, a caption, a table row
            for i in range(first, last + 1):
                keep[i] = keep[i] or fill[i]
    return keep


def cut_tail(lines: list[str], keep: list[bool], rules: LineRules) -> list[bool]:
    """Remove everything after a heading that ends the article ("12 Comments", "Related posts",
    "Leave a reply", in many languages), once at least ``rules.tail_cut_min_units`` words of
    content were kept above it. A forum thread has no such heading before its replies.
    """
    if rules.tail_cut_min_units <= 0:
        return keep
    markers = {
        i: _DIGITS.sub("#", line.strip().lower())
        for i, line in enumerate(lines)
        if len(line) < 80 and TAIL_MARKER.match(line.strip().lower())
    }
    if not markers:
        return keep
    # "3 comments" under every item of a listing, "Add a comment" under every answer: not an end
    repeated = Counter(markers.values())
    kept_units = 0
    for i, (line, k) in enumerate(zip(lines, keep)):
        key = line.strip()
        if kept_units >= rules.tail_cut_min_units and i in markers and repeated[markers[i]] == 1:
            return keep[:i] + [False] * (len(keep) - i)
        if k:
            kept_units += units(key)
    return keep


_TITLE_SEPARATOR = re.compile(r"\s[|\-–—:·•»]{1,2}\s|\s::\s")


def looks_like_title(lines: list[str]) -> bool:
    """The first line is the page's ``<title>`` (as in Common Crawl WET text): short, no
    sentence end, and either carrying a site-name separator ("Story | Site") or repeated
    below (as the heading)."""
    first = lines[0].strip()
    if not first or units(first) > 25 or first.endswith((".", "!", "?", "。")):
        return False
    if _TITLE_SEPARATOR.search(first):
        return True
    key = first.lower()
    return any(ln.strip().lower() == key for ln in lines[1:200])


def decide_lines(lines: list[str], rules: LineRules) -> tuple[list[bool], list[int], list[str], str]:
    """Keep flag of every line: classes, context, outlying blocks, the article's tail.

    A page with little running text (a listing, a product grid, a table: under
    ``rules.min_prose_fraction`` of its words in ``GOOD`` lines, or under
    ``rules.min_kept_units`` words kept) is judged leniently: every line that is not
    boilerplate by itself stays, since its content is made of short lines too.

    Returns:
        ``(keep, classes, reasons, mode)`` with mode ``"prose"`` or ``"lenient"``.
    """
    classes, reasons = initial_classes(lines, rules)
    if rules.drop_title_line and lines and looks_like_title(lines):
        classes[0], reasons[0] = BAD, "page_title"
    total = good = 0
    for line, c in zip(lines, classes):
        n = len(line.split())
        total += n
        if c == GOOD:
            good += n
    mode = "prose"
    if total and good < rules.min_prose_fraction * total:
        mode = "lenient"
    else:
        keep = resolve_context(classes, rules)
        fill = [c != BAD for c in classes] if rules.fill_blocks else None
        keep = trim_outlying_blocks(lines, keep, rules, fill)
        keep = cut_tail(lines, keep, rules)
        if sum(units(ln) for ln, k in zip(lines, keep) if k) < rules.min_kept_units:
            mode = "lenient"
    if mode == "lenient":
        keep = [c != BAD for c in classes]
        keep = trim_outlying_blocks(lines, keep, rules)
        keep = cut_tail(lines, keep, rules)
    return keep, classes, reasons, mode
