"""Document-level *quality*: is this page worth pre-training on, beside whether it is junk.

The document program's ``drop_doc()`` removes junk (no text left, symbols, no function
words); it keeps almost every page. People judging web pages for pre-training drop far more:
in DCLM's human annotations 227 of 499 documents are marked low quality (listings, link
lists, product pages, forum fragments, short chatty posts). This module is a separate,
reported decision for that: a logistic model over a few interpretable statistics of the text
(length, running-text share, line endings, repetition, stop words, digits and capitals, how
much the rules teacher keeps), whose weights ship in ``doc_quality.json`` (fitted by
``bench/doc_quality.py`` on one half of those annotations; its balanced accuracy on the other
half is in docs/teachers.md). Users choose how strict to be: the refine step can ``report``
the decision (count, keep everything) or ``drop`` low-quality documents, counted apart from
junk drops (``prox refine --quality-filter``, the refine DAG's ``quality_filter`` Param).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from prox_tasks.labeling.vocab import STOP_WORDS

WEIGHTS_FILE = Path(__file__).resolve().parent / "doc_quality.json"
MODES = ("off", "report", "drop")
SAMPLE_CHARS = 20000
_WORD = re.compile(r"\w+")
_END = (".", "!", "?", '"', "'", "”", ":", ")")
_STRIP = ".,;:!?\"'()[]«»“”‘’-–—"

FEATURES = (
    "log_words", "log_words_per_line", "long_line_word_share", "punct_end_line_share",
    "short_line_share", "duplicate_line_share", "stop_word_share", "digit_share",
    "capitalized_word_share", "mean_word_length", "rules_kept_share", "log_sentences",
    "first_person_share", "url_or_symbol_share",
)  # fmt: skip
_FIRST_PERSON = frozenset("i me my mine we us our ours".split())


def features(text: str) -> dict[str, float]:
    """The statistics the quality model reads (see :data:`FEATURES`)."""
    from prox_tasks.labeling.rules import RulesTeacher
    from prox_tasks.programs import execute

    sample = (text or "")[:SAMPLE_CHARS]
    lines = [ln.strip() for ln in sample.split("\n") if ln.strip()]
    words = sample.split()
    n_words = max(1, len(words))
    line_words = [len(ln.split()) for ln in lines] or [0]
    n_lines = max(1, len(lines))
    counts = Counter(lines)
    tokens = _WORD.findall(sample)
    n_tokens = max(1, len(tokens))
    label = RulesTeacher(chunked=False, normalize_fragments=False).label(sample)
    kept = execute(sample, "keep_doc()", label.chunk_program).text or ""
    sentences = sum(1 for ln in lines if ln.endswith(_END) and len(ln.split()) >= 8)
    return {
        "log_words": math.log1p(len(words)),
        "log_words_per_line": math.log1p(len(words) / n_lines),
        "long_line_word_share": sum(n for n in line_words if n >= 20) / n_words,
        "punct_end_line_share": sum(1 for ln in lines if ln.endswith(_END)) / n_lines,
        "short_line_share": sum(1 for ln in lines if len(ln) < 30) / n_lines,
        "duplicate_line_share": sum(n for n in counts.values() if n > 1) / n_lines,
        "stop_word_share": sum(1 for w in words if w.lower().strip(_STRIP) in STOP_WORDS) / n_words,
        "digit_share": sum(1 for t in tokens if any(c.isdigit() for c in t)) / n_tokens,
        "capitalized_word_share": sum(1 for t in tokens if t[:1].isupper()) / n_tokens,
        "mean_word_length": min(20.0, sum(len(t) for t in tokens) / n_tokens),
        "rules_kept_share": len(kept.split()) / n_words,
        "log_sentences": math.log1p(sentences),
        "first_person_share": sum(1 for t in tokens if t.lower() in _FIRST_PERSON) / n_tokens,
        "url_or_symbol_share": sum(1 for w in words if "http" in w or "@" in w or "|" in w
                                   or "©" in w) / n_words,  # fmt: skip
    }


@dataclass
class QualityModel:
    """A logistic model over :func:`features`: ``p(high quality)``.

    Attributes:
        weights: One weight per feature name.
        bias: The intercept.
        mean, scale: Standardization of each feature.
        threshold: ``p`` below this is low quality.
        meta: Where the weights came from (data, split, scores).
    """

    weights: dict
    bias: float
    mean: dict
    scale: dict
    threshold: float = 0.5
    meta: dict | None = None

    def probability(self, text: str) -> float:
        f = features(text)
        z = self.bias + sum(w * (f[k] - self.mean[k]) / self.scale[k] for k, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def is_low_quality(self, text: str) -> bool:
        return self.probability(text) < self.threshold

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "mean": self.mean,
                "scale": self.scale, "threshold": self.threshold, "meta": self.meta}  # fmt: skip


@lru_cache(maxsize=2)
def load_quality_model(path: str | None = None) -> QualityModel:
    """The shipped model (``doc_quality.json``) or the one at ``path``."""
    data = json.loads(Path(path or WEIGHTS_FILE).read_text())
    return QualityModel(**data)


def check_mode(mode: str | None) -> str:
    """``off``/``report``/``drop`` (None: ``off``).

    Raises:
        ValueError: For another value.
    """
    mode = mode or "off"
    if mode not in MODES:
        raise ValueError(f"quality filter must be one of {', '.join(MODES)}, not {mode!r}")
    return mode
