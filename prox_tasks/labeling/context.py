"""Context-sensitive decisions over the line classes (the jusText idea), and the page-level
passes: outlying blocks, the article's tail, pages without prose.

``NEAR`` and ``SHORT`` lines take a class from their context: the nearest ``GOOD`` or ``BAD``
line above and below (the document's edges count as ``BAD``). Between two good lines a short
line is a heading, a table cell or a list item and stays; between two bad lines it is part of
a menu or footer and goes. So a menu entry at the top of a page, in a run of short lines
before the first paragraph, is removed, while the same word inside the article stays.
"""

from __future__ import annotations

import re
from collections import Counter

from prox_tasks.labeling.lines import (
    BAD,
    GOOD,
    MUTED,
    NEAR,
    SHORT,
    LineRules,
    initial_classes,
    looks_like_title,
    units,
)
from prox_tasks.labeling.vocab import TAIL_MARKER

_DIGITS = re.compile(r"\d+")


def resolve_context(
    classes: list[int], rules: LineRules, reasons: list[str] | None = None
) -> list[bool]:
    """Keep flag per line: ``GOOD`` kept, ``BAD`` removed, the rest decided by neighbours.

    A lone boilerplate word inside the content ("< back to top", "Share" between two
    paragraphs: no other ``BAD`` line within ``rules.isolated_bad_window`` lines) is removed
    but does not count as a neighbour, so the list below it is not taken for a menu.
    """
    keep = [c == GOOD for c in classes]
    if reasons is not None and rules.isolated_bad_window > 0:
        classes = _mute_isolated_bad(classes, reasons, rules.isolated_bad_window)
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


def _mute_isolated_bad(classes: list[int], reasons: list[str], window: int) -> list[int]:
    """Lone boilerplate lines between the first and the last paragraph become ``MUTED``."""
    goods = [i for i, c in enumerate(classes) if c == GOOD]
    if not goods:
        return classes
    bad = [i for i, c in enumerate(classes) if c == BAD]
    muted = list(classes)
    for k, i in enumerate(bad):
        if reasons[i] != "boilerplate" or not goods[0] < i < goods[-1]:
            continue
        near_before = k > 0 and i - bad[k - 1] <= window
        near_after = k + 1 < len(bad) and bad[k + 1] - i <= window
        if not near_before and not near_after:
            muted[i] = MUTED
    return muted


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


def decide_lines(
    lines: list[str], rules: LineRules
) -> tuple[list[bool], list[int], list[str], str]:
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
        keep = resolve_context(classes, rules, reasons)
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
