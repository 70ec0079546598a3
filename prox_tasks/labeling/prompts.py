"""Prompts of the ``llm`` teacher and the parsers of its answers.

Document level follows the ProX paper: the teacher gives an educational score (FineWeb-Edu's
additive 0-5 scale) and a format score (0-5); the document is kept when edu >= 3, or edu = 2
and format >= 4. Chunk level: the teacher sees one numbered chunk (the refining model's own
rendering, :func:`prox_tasks.programs.render_chunks`) and writes a program in a code block.

Changing any prompt text changes :data:`PROMPT_VERSION`, which is part of the cache key.
"""

from __future__ import annotations

import re

from prox_tasks.programs import parse

PROMPT_VERSION = "prox-teacher-v1"

DOC_SYSTEM = "You are a careful annotator of web documents for language-model pre-training data."

DOC_PROMPT = """Below is an extract from a web page. Rate it on two scales.

Educational score (additive, 0 to 5):
- Add 1 point if the extract provides some basic information relevant to educational topics, even if it includes some irrelevant or non-academic content like advertisements.
- Add another point if it addresses certain elements pertinent to education but does not align closely with educational standards, or is superficial.
- Award a third point if it is appropriate for educational use and introduces key concepts relevant to school curricula; it is coherent, though it may not be comprehensive.
- Grant a fourth point if it is highly relevant and beneficial for educational purposes, with a clear and consistent writing style, similar to a chapter from a textbook or a tutorial.
- Bestow a fifth point if it is outstanding in its educational value, perfectly suited for teaching, with detailed reasoning and no distracting content.

Format score (0 to 5): how clean and readable the text is as running text. 5: clean, well structured prose; 3: readable but with some menus, links, ads or broken lines; 0: mostly navigation, boilerplate, gibberish or spam.

The extract:
<document>
{text}
</document>

Answer with exactly two lines and nothing else:
Educational score: <0-5>
Format score: <0-5>"""

CHUNK_SYSTEM = "You are an expert at cleaning web text for language-model pre-training."

CHUNK_PROMPT = """Below is one chunk of a web document. Each line starts with its number in brackets.

{chunk}

Write a program that cleans this chunk. Use only these functions, one call per line:
- remove_lines(line_start=A, line_end=B): remove lines A to B inclusive (the numbers shown), for navigation bars, menus, breadcrumbs, lists of links, share/login/subscribe buttons, cookie and legal notices, advertisements, footers, bare URLs, reference lists and repeated boilerplate;
- normalize(source_str="...", target_str="..."): replace a stray fragment inside an otherwise good line (copy the fragment exactly; target_str="" deletes it);
- keep_chunk(): when nothing needs to change.

Keep the main content: the article, the post, the product description, the documentation. Answer with a single Python code block and nothing else."""

_SCORE = re.compile(r"(educational|format)\s*score\s*[:=]?\s*\**\s*([0-5])\b", re.IGNORECASE)
_CODE_BLOCK = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n(.*?)```", re.DOTALL)


def doc_messages(text: str) -> list[dict]:
    return [
        {"role": "system", "content": DOC_SYSTEM},
        {"role": "user", "content": DOC_PROMPT.format(text=text)},
    ]


def chunk_messages(chunk_prompt: str) -> list[dict]:
    return [
        {"role": "system", "content": CHUNK_SYSTEM},
        {"role": "user", "content": CHUNK_PROMPT.format(chunk=chunk_prompt)},
    ]


def parse_scores(answer: str) -> tuple[int, int] | None:
    """``(edu, format)`` from the answer, or None when either score is missing."""
    scores = {}
    for name, value in _SCORE.findall(answer or ""):
        scores.setdefault(name.lower(), int(value))
    if "educational" in scores and "format" in scores:
        return scores["educational"], scores["format"]
    return None


def keep_by_scores(edu: int, fmt: int) -> bool:
    """The paper's rule: keep when edu >= 3, or edu = 2 and format >= 4."""
    return edu >= 3 or (edu == 2 and fmt >= 4)


def extract_program(answer: str) -> tuple[str | None, str | None]:
    """The program in the answer's (last) code block: ``(source, None)`` or ``(None, reason)``.

    Without a code block, an answer made only of calls and comments is accepted as is.
    """
    blocks = _CODE_BLOCK.findall(answer or "")
    if blocks:
        source = blocks[-1].strip()
    else:
        stripped = (answer or "").strip()
        if stripped and not parse(stripped, level="chunk").errors:
            source = stripped
        else:
            return None, "no_code_block"
    if not source:
        return None, "empty_code_block"
    return source, None


def check_chunk_program(source: str, first: int, last: int) -> list[str]:
    """Errors of a chunk program for chunk ``first..last``: parse errors and line numbers
    outside the chunk."""
    program = parse(source, level="chunk")
    reasons = [str(e.kind) for e in program.errors]
    if not program.calls and not program.errors:
        reasons.append("empty_program")
    for call in program.calls:
        start, end = getattr(call, "line_start", None), getattr(call, "line_end", None)
        if start is not None and (start < first or end > last or start > end):
            reasons.append("out_of_range")
    return sorted(set(reasons))
