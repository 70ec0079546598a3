"""The line tagger's features as first written, one line at a time in pure Python: the
reference :mod:`prox_tasks.models.line_features` must equal bit for bit (kept in the tests
only, as the definition).


Each line becomes a dense vector (length, shape, punctuation, position, repetition) and a
bag of hashed lexical features (lower-cased words and word pairs, first and last word),
from which the tagger *learns* which vocabulary marks boilerplate; no word list is built in.
Hashing uses CRC-32, so features are identical across processes and machines.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

from prox_tasks.labeling.lines import units
from prox_tasks.labeling.vocab import STOP_WORDS

WORD = re.compile(r"\w+", re.UNICODE)
WORD_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 17, 25, 50)
END_SENTENCE = set(".!?")
END_QUOTE = set("\"'”’»")
BULLETS = set("•-*|>»·–—►▸→#")
MAX_HASHED_WORDS = 48
_STRIP = ".,;:!?\"'()[]«»“”‘’-–—"
LINE_DIM = 38
DOC_DIM = 12
STAT_DIM = 10


def _bucket(n: int) -> int:
    for i in range(len(WORD_BUCKETS) - 1, -1, -1):
        if n >= WORD_BUCKETS[i]:
            return i
    return 0


def _hash(token: str, buckets: int) -> int:
    return zlib.crc32(token.encode("utf-8", "surrogatepass")) % buckets


def line_vector(line: str, index: int, n_lines: int, repeats: int) -> list[float]:
    """The dense features of one line (length :data:`LINE_DIM`)."""
    stripped = line.strip()
    words = stripped.split()
    n_words, n_chars = len(words), len(stripped)
    # map() over the str methods: the same counts as per-character loops, ~3x faster
    letters = sum(map(str.isalpha, stripped)) or 1
    upper = sum(map(str.isupper, stripped))
    digits = sum(map(str.isdigit, stripped))
    symbols = n_chars - sum(map(str.isalnum, stripped)) - sum(map(str.isspace, stripped))
    last = stripped[-1:] or " "
    first = stripped[:1] or " "
    titled = sum(w[:1].isupper() for w in words)
    wc = [0.0] * len(WORD_BUCKETS)
    wc[_bucket(n_words)] = 1.0
    lower = stripped.lower()
    return [
        math.log1p(n_words), math.log1p(n_chars), *wc,
        float(last in END_SENTENCE), float(last == ":"), float(last in END_QUOTE),
        float(last in ";,"), float(last.isdigit()), float(last.isalpha()),
        upper / letters, digits / max(1, n_chars), symbols / max(1, n_chars),
        titled / max(1, n_words), float(first in BULLETS), math.log1p(stripped.count("|")),
        float("©" in stripped or "(c)" in lower), float("http" in lower or "www." in lower),
        float("@" in stripped), index / max(1, n_lines - 1), float(index == 0),
        float(index == n_lines - 1), math.log1p(n_lines), math.log1p(repeats - 1),
        n_chars / max(1, n_words) / 10, float(first.isupper()),
    ]  # fmt: skip


def line_hashes(line: str, buckets: int) -> list[int]:
    """Hashed lexical features of one line (never empty: a length marker is always there)."""
    words = [w.lower() for w in WORD.findall(line)[:MAX_HASHED_WORDS]]
    feats = [f"n{_bucket(len(line.split()))}"]
    if words:
        feats += [f"f:{words[0]}", f"l:{words[-1]}"]
        feats += words
        feats += [f"{a} {b}" for a, b in zip(words, words[1:])]
    return [_hash(f, buckets) for f in feats]


def doc_vector(lines: list[str]) -> list[float]:
    """Document-level features (length :data:`DOC_DIM`)."""
    words = [w for line in lines for w in line.split()]
    n_words = len(words) or 1
    text_chars = sum(len(line) for line in lines) or 1
    joined = "".join(lines)
    non_empty = [line.strip() for line in lines if line.strip()] or [""]
    counts = Counter(non_empty)
    alpha_words = sum(any(map(str.isalpha, w)) for w in words)
    return [
        math.log1p(len(words)), math.log1p(len(lines)), math.log1p(n_words / len(non_empty)),
        sum(line[-1:] in END_SENTENCE for line in non_empty) / len(non_empty),
        sum(len(line.split()) < 5 for line in non_empty) / len(non_empty),
        alpha_words / n_words, sum(len(w) for w in words) / n_words / 10,
        sum(map(str.isdigit, joined)) / text_chars,
        sum(map(str.isupper, joined)) / text_chars,
        1 - len(counts) / len(non_empty),
        sum(line[:1] in BULLETS for line in non_empty) / len(non_empty),
        sum(w.endswith("...") or w.endswith("…") for w in words) / n_words,
    ]  # fmt: skip


def line_stats(line: str, repeats: int) -> list[float]:
    """Additive statistics of one line (length :data:`STAT_DIM`), summed by the model over
    the lines it keeps: units (CJK characters count half), words, words with a letter,
    stop words, ``#``/ellipsis symbols, word characters, non-empty, ends in an ellipsis,
    sentence-length (10+ words), repeated sentence-length."""
    stripped = line.strip()
    words = stripped.split()
    n_words = len(words)
    sentence = n_words >= 10
    return [
        float(units(stripped)), float(n_words), float(sum(any(map(str.isalpha, w)) for w in words)),
        float(sum(w.lower().strip(_STRIP) in STOP_WORDS for w in words)),
        float(stripped.count("#") + stripped.count("...") + stripped.count("…")),
        float(sum(map(len, words))), float(bool(stripped)),
        float(stripped.endswith(("...", "…"))), float(sentence), float(sentence and repeats > 1),
    ]  # fmt: skip


def featurize(text: str, buckets: int, stats: bool = True):
    """(dense per line, hashed per line, document vector, stats per line) of ``text`` split
    on ``\\n``; stats is empty unless ``stats`` (format 1 models do not read them)."""
    lines = text.split("\n")
    counts = Counter(line.strip() for line in lines)
    dense = [line_vector(line, i, len(lines), counts[line.strip()]) for i, line in enumerate(lines)]
    hashed = [line_hashes(line, buckets) for line in lines]
    per_line = [line_stats(line, counts[line.strip()]) for line in lines] if stats else []
    return dense, hashed, doc_vector(lines), per_line
