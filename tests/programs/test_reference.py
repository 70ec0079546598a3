"""Differential test: prox's executor against the ProX paper's algorithm on real pages.

Where the two semantics coincide — programs both parsers read alike (keyword arguments,
strings without commas, quotes, ``=`` or parentheses), normalizations over the whole
document, lines emptied by a normalization kept, documents of more than 10 words — they must
give the same text, character for character.
"""

import gzip
import json
import random
import re
from pathlib import Path

import pytest

from prox_tasks.labeling.emit import write_chunk_program
from prox_tasks.programs import execute
from prox_tasks.programs.reference import paper_execute

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"
_PLAIN = re.compile(r"[^\"',=()\\]+")


def _lines_not_in_gold(text: str, gold: str) -> list[int]:
    gold = " ".join(gold.split())
    return [i for i, line in enumerate(text.split("\n")) if " ".join(line.split()) not in gold]


@pytest.fixture(scope="module")
def gold_programs() -> list[tuple[str, str]]:
    """Real pages of the bundled sample with chunk programs (``# chunk A-B`` markers, as
    production writes them) removing every line whose text is not in the human gold."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [
        (r["text"], write_chunk_program(r["text"], _lines_not_in_gold(r["text"], r["gold_text"])))
        for r in rows
        if r.get("gold_text") and len(r["text"].split()) > 10
    ]


def _as_paper_output(result) -> str:
    return "" if result.dropped else result.text


def test_removal_programs_give_the_papers_text(gold_programs):
    changed = dropped = 0
    for text, program in gold_programs:
        ours = execute(text, None, program)
        assert _as_paper_output(ours) == paper_execute(text, program)
        changed += not ours.dropped and ours.text != text
        dropped += ours.dropped
    assert len(gold_programs) > 100 and changed > len(gold_programs) // 2 and dropped >= 1


def _normalizations(text: str, rng: random.Random) -> list[str]:
    words = sorted(w for w in set(text.split()) if _PLAIN.fullmatch(w))
    calls = []
    for word in rng.sample(words, min(4, len(words))):
        source = word[: rng.randint(1, len(word))]
        target = rng.choice(["", "X", source.upper(), source + source])
        if source != target:
            calls.append(f'normalize(source_str="{source}", target_str="{target}")')
    return list(dict.fromkeys(calls))  # prox runs an identical call once, the paper each time


def test_programs_with_normalizations_give_the_papers_text(gold_programs):
    rng = random.Random(20261203)
    applied = 0
    for text, program in gold_programs:
        program = "\n".join([*_normalizations(text, rng), program])
        ours = execute(text, None, program, normalize_scope="document",
                       drop_emptied_lines=False, max_normalize_growth=10.0)  # fmt: skip
        assert _as_paper_output(ours) == paper_execute(text, program), program[:200]
        applied += ours.stats.normalizations_applied
    assert applied > len(gold_programs)
