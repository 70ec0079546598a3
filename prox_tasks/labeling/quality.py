"""Document-level quality rules in the spirit of Gopher, C4 and FineWeb.

They judge the text that remains after the chunk-level edits (the main content), not the raw
page: menus and footers would otherwise trip the repetition and line-ending rules on every
web page. Thresholds are looser than the papers' because a dropped document keeps nothing:
only pages that are clearly not text (too short, symbols, no function words, mostly
repeated lines) are dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from prox_tasks.labeling.lines import units
from prox_tasks.labeling.vocab import STOP_WORDS

SAMPLE_CHARS = 20000
_ALPHA_WORD = re.compile(r"\S*[^\W\d_]\S*")  # a whitespace-separated word with a letter
_STRIP = ".,;:!?\"'()[]«»“”‘’-–—"


@dataclass(frozen=True)
class DocRules:
    """Thresholds of the document-level rules.

    Attributes:
        min_units: Fewer words (CJK characters count half) remaining: drop.
        max_symbol_ratio: ``#`` and ellipsis per word above this: drop (Gopher 0.1).
        min_alpha_word_fraction: Share of words with a letter below this: drop (Gopher 0.8).
        min_stop_words: Fewer stop words (many languages) in a non-CJK text: drop (Gopher 2).
        max_duplicate_line_fraction: Share of lines that repeat another line: drop (Gopher 0.3).
        max_ellipsis_line_fraction: Share of lines ending in an ellipsis: drop (Gopher 0.3).
        min_mean_word_length, max_mean_word_length: Mean word length outside: drop (Gopher 3-10).
    """

    min_units: int = 20
    max_symbol_ratio: float = 0.2
    min_alpha_word_fraction: float = 0.5
    min_stop_words: int = 2
    max_duplicate_line_fraction: float = 0.8
    max_ellipsis_line_fraction: float = 0.5
    min_mean_word_length: float = 2.0
    max_mean_word_length: float = 15.0


def drop_reasons(text: str, rules: DocRules = DocRules()) -> list[str]:
    """Why ``text`` (the main content) should be dropped; empty when it is kept."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    n_units = units(text)
    # the ratios are statistics: the first few thousand words tell them
    sample = text[:SAMPLE_CHARS]
    words = sample.split()
    if n_units < rules.min_units:
        return ["too_short"]
    reasons = []
    cjk_heavy = n_units > 1.5 * len(words)
    if not cjk_heavy:
        symbols = text.count("#") + text.count("...") + text.count("…")
        if symbols > rules.max_symbol_ratio * len(words):
            reasons.append("symbol_ratio")
        alpha = len(_ALPHA_WORD.findall(sample))
        if alpha < rules.min_alpha_word_fraction * len(words):
            reasons.append("few_alphabetic_words")
        stops = 0
        for w in words:
            if w.lower().strip(_STRIP) in STOP_WORDS:
                stops += 1
                if stops >= rules.min_stop_words:
                    break
        if stops < rules.min_stop_words and _mostly_latin(text):
            reasons.append("no_stop_words")
        mean_len = sum(len(w) for w in words) / len(words)
        if not rules.min_mean_word_length <= mean_len <= rules.max_mean_word_length:
            reasons.append("mean_word_length")
    # repeated cells of a table are fine; repeated sentences are not
    sentences = [ln for ln in lines if len(ln.split()) >= 10]
    if len(sentences) >= 10:
        counts = Counter(sentences)
        duplicated = sum(n for n in counts.values() if n > 1)
        if duplicated > rules.max_duplicate_line_fraction * len(sentences):
            reasons.append("duplicate_lines")
    if len(lines) >= 5:
        ellipsis = sum(1 for ln in lines if ln.endswith(("...", "…")))
        if ellipsis > rules.max_ellipsis_line_fraction * len(lines):
            reasons.append("ellipsis_lines")
    return reasons


def _mostly_latin(text: str) -> bool:
    """Most letters are Latin: the stop-word rule only speaks for languages the list covers."""
    letters = [c for c in text[:5000] if c.isalpha()]
    return bool(letters) and sum(1 for c in letters if c < "\u0250") >= 0.8 * len(letters)
