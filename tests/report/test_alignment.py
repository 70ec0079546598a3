"""The linear line alignment against :class:`difflib.SequenceMatcher` on real pages."""

import gzip
import json
import random
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from prox_tasks.programs import execute
from prox_tasks.report.alignment import line_opcodes
from prox_tasks.report.documents import view_of

DATA = Path("/work/shared/data")


def _pages(limit: int) -> list[str]:
    pages = []
    for path in sorted(DATA.glob("*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            pages += [t for t in (json.loads(line).get("text") for line in f)
                      if isinstance(t, str) and t.strip()]
    return random.Random(7).sample(pages, min(limit, len(pages)))


def _program(rng: random.Random, text: str) -> str:
    """Random line removals and normalizations, as the tagger writes them."""
    lines = text.split("\n")
    calls = []
    for _ in range(rng.randint(0, 4)):
        start = rng.randrange(len(lines))
        calls.append(f"remove_lines(line_start={start}, line_end="
                     f"{min(len(lines) - 1, start + rng.randint(0, 5))})")
    for line in rng.sample(lines, min(2, len(lines))):
        if len(line) > 6:
            at = rng.randrange(len(line) - 3)
            calls.append(f"normalize(source_str={json.dumps(line[at:at + 4])}, "
                         f"target_str={json.dumps(rng.choice(['', 'X']))})")
    return "\n".join(calls)


@pytest.mark.skipif(not DATA.is_dir(), reason="no real pages here")
def test_the_alignment_is_difflibs_on_real_refined_pages():
    rng, same, compared = random.Random(11), 0, 0
    for text in _pages(600):
        out = execute(text, "keep_doc()", _program(rng, text)).text
        if out is None:
            continue
        a, b = text.split("\n"), out.split("\n")
        ours = view_of(a, b, line_opcodes(a, b))
        theirs = view_of(a, b, SequenceMatcher(None, a, b, autojunk=False).get_opcodes())
        compared += 1
        same += ours == theirs
        # every input line is shown once either way, in order
        assert [line.number for line in ours if line.before] == list(range(len(a)))
    # the rest differ in which of equal lines (blank lines, a repeated date) is removed, or
    # which input line a normalized line is paired with where difflib's choice is global
    assert compared > 500 and same >= 0.97 * compared, f"{same} of {compared} identical"
