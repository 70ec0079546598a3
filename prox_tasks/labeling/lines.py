"""Per-line signals: the context-free class of each line.

- ``BAD``: boilerplate vocabulary on a short line, a consent/legal/affiliate sentence of any
  length, code or markup gibberish, a photo credit, or a later copy of a long line;
- ``GOOD``: running text, long and full of function words (stop words) or ending a sentence;
- ``NEAR``: medium-length text that looks like a sentence;
- ``SHORT``: everything else (menu entries, headings, table cells, list items).

:mod:`prox_tasks.labeling.context` then decides each line from its neighbours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from prox_tasks.labeling.vocab import (
    CAPTION_CREDIT,
    LONG_BOILERPLATE,
    LONG_TRIGGERS,
    SHORT_BOILERPLATE,
    STOP_WORDS,
)

BAD, SHORT, NEAR, GOOD = -1, 0, 1, 2
MUTED = -2  # a removed line that is no neighbour (see context.resolve_context)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SYMBOLS = re.compile(r"[{}\[\]<>|\\=;$#@^~`*_]")
_STRIP = ".,;:!?\"'()[]«»“”‘’-–—"
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
        caption_max_units: A line up to this long carrying a photo credit ("Photo: ...",
            "Getty Images") is a caption: ``BAD``.
        repeated_min_units: A later copy of a line this long is ``BAD``.
        near_keep_distance: A ``NEAR`` line between a good and a bad neighbour stays when the
            good one is at most this many lines away.
        short_keep_distance: Likewise for a ``SHORT`` line (a heading right above a paragraph).
        isolated_bad_window: A boilerplate-vocabulary line with no other ``BAD`` line this
            close is removed but is no neighbour (0, the default: every ``BAD`` line is one;
            2 trades 2 points of precision for 1 of recall on WCXB).
    """

    good_min_units: int = 15
    good_min_stop_density: float = 0.15
    long_good_units: int = 35
    near_min_units: int = 6
    near_min_stop_density: float = 0.25
    boilerplate_max_units: int = 10
    caption_max_units: int = 40
    repeated_min_units: int = 10
    near_keep_distance: int = 3
    near_keep_distance_inside: int = 50
    short_keep_distance: int = 1
    isolated_bad_window: int = 0
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
    if n <= 80:  # no room for an 80-character token
        return False
    longest = max(map(len, line.split()), default=0)
    return longest > 80 and not line.startswith(("http://", "https://"))


@lru_cache(maxsize=65536)
def classify_line(key: str, rules: LineRules) -> tuple[int, str, int]:
    """Context-free ``(class, reason, units)`` of a stripped, lower-cased line.

    Cached: menus, footers and banners repeat across the pages of a site, so in a large
    corpus most lines have been seen before.
    """
    toks = key.split()
    n = len(toks) + (len(_CJK.findall(key)) // 2 if not key.isascii() else 0)
    if LONG_TRIGGERS.search(key) and LONG_BOILERPLATE.search(key):
        return BAD, "boilerplate_sentence", n
    if n <= rules.boilerplate_max_units and SHORT_BOILERPLATE.search(key):
        return BAD, "boilerplate", n
    if is_gibberish(key):
        return BAD, "gibberish", n
    if n <= rules.caption_max_units and CAPTION_CREDIT.search(key):
        return BAD, "caption_credit", n
    if n >= rules.long_good_units:
        return GOOD, "", n
    if n < rules.near_min_units:
        return SHORT, "", n
    stops = sum(1 for t in toks if t.strip(_STRIP) in STOP_WORDS)
    density = stops / len(toks)
    terminal = key.endswith(_TERMINAL)
    cjk_prose = n > len(toks) and n >= rules.good_min_units
    if n >= rules.good_min_units and (
        density >= rules.good_min_stop_density or terminal or cjk_prose
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
