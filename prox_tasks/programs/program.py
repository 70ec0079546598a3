"""The values of the program language: calls, errors and whole programs.

A program is a sequence of calls, one per source line. Parsing never raises: a line that
cannot be understood becomes a :class:`ProgramError` kept beside the calls, so the executor
can count and classify it and apply the error-tolerance policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class ErrorKind(StrEnum):
    """Classes of program errors, counted in execution statistics."""

    SYNTAX = "syntax"  # not a well-formed call (unbalanced quotes, missing parenthesis, ...)
    UNKNOWN_FUNCTION = "unknown_function"  # a call to a name outside the language
    BAD_ARGUMENTS = "bad_arguments"  # wrong number, names or types of arguments
    WRONG_LEVEL = "wrong_level"  # a document-level call in a chunk program or vice versa
    OUT_OF_RANGE = "out_of_range"  # line numbers past the document or the chunk (clipped)
    EMPTY_PROGRAM = "empty_program"  # a program with no call at all
    DEGENERATE = "degenerate"  # repeated or contradictory output (a model stuck in a loop)
    OVER_LIMIT = "over_limit"  # a program or a normalization past a size cap (not run)
    INTERNAL = "internal"  # a bug in prox, never the program's fault (the text is kept)


# Caps that bound what one program can cost (settable per run through the executor Policy).
MAX_PROGRAM_CHARS = 1 << 20  # a program longer than this (1 MiB of characters) is not parsed
MAX_PROGRAM_CALLS = 50_000  # nor one with more call lines, well-formed or not
# No document has 10**18 lines; longer integer literals are out of range, not converted
# (Python refuses int() of more than 4,300 digits, and converting is quadratic in them).
MAX_LINE_DIGITS = 18


@dataclass(frozen=True, slots=True)
class ProgramError:
    """One classified problem found while parsing or executing a program.

    Attributes:
        kind: The error class.
        line: 0-based line of the program source where it was found (-1 when not tied to one).
        message: A short human-readable explanation.
        scope: Index of the chunk scope the line belongs to (0: the whole document).
    """

    kind: ErrorKind
    line: int
    message: str
    scope: int = 0

    def to_dict(self) -> dict:
        return {"kind": str(self.kind), "line": self.line, "message": self.message,
                "scope": self.scope}  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeepDoc:
    """Document level: keep the document."""

    name = "keep_doc"

    def to_text(self) -> str:
        return "keep_doc()"


@dataclass(frozen=True, slots=True)
class DropDoc:
    """Document level: drop the document."""

    name = "drop_doc"

    def to_text(self) -> str:
        return "drop_doc()"


@dataclass(frozen=True, slots=True)
class KeepChunk:
    """Chunk level: change nothing (aliases ``skip_chunk``, ``untouch_doc``)."""

    name = "keep_chunk"

    def to_text(self) -> str:
        return "keep_chunk()"


# The two calls with arguments are NamedTuples: hashing and comparing them is C-level, which
# matters on the executor's hot path (tens of calls per document, thousands of documents/s).
class RemoveLines(NamedTuple):
    """Chunk level: remove lines ``line_start..line_end`` inclusive (0-based, document-wide)."""

    line_start: int
    line_end: int
    name = "remove_lines"

    def to_text(self) -> str:
        return f"remove_lines(line_start={self.line_start}, line_end={self.line_end})"


class Normalize(NamedTuple):
    """Chunk level: replace ``source_str`` by ``target_str``."""

    source_str: str
    target_str: str = ""
    name = "normalize"

    def to_text(self) -> str:
        return (
            f"normalize(source_str={quote(self.source_str)}, "
            f"target_str={quote(self.target_str)})"
        )


Call = KeepDoc | DropDoc | KeepChunk | RemoveLines | Normalize

DOC_LEVEL_CALLS = (KeepDoc, DropDoc)
CHUNK_LEVEL_CALLS = (KeepChunk, RemoveLines, Normalize)


@dataclass(frozen=True, slots=True)
class Scope:
    """Lines ``first..last`` (inclusive) a group of chunk-level calls applies to.

    A joined chunk program marks each chunk's calls with a ``# chunk A-B`` comment; calls
    before any marker (or in a program without markers) apply to the whole document.
    """

    first: int
    last: int | None  # None: to the end of the document

    def to_text(self) -> str:
        return f"# chunk {self.first}-{'' if self.last is None else self.last}"


@dataclass(frozen=True, slots=True)
class Program:
    """A parsed program: calls in source order, the errors met, and chunk scopes.

    Attributes:
        calls: The well-formed calls, in source order.
        errors: Parse errors, in source order.
        scopes: For each call, the index into ``scope_table`` it belongs to.
        scope_table: Chunk scopes declared by ``# chunk A-B`` markers; index 0 is the
            whole document.
    """

    calls: tuple[Call, ...] = ()
    errors: tuple[ProgramError, ...] = ()
    scopes: tuple[int, ...] = ()
    scope_table: tuple[Scope, ...] = field(default=(Scope(0, None),))

    def to_text(self) -> str:
        """Render the calls as canonical source (errors are not rendered)."""
        out: list[str] = []
        current = 0
        for call, scope in zip(self.calls, self.scopes, strict=True):
            if scope != current:
                out.append(self.scope_table[scope].to_text())
                current = scope
            out.append(call.to_text())
        return "\n".join(out)

    def to_json(self) -> str:
        """Serialize calls and scopes as JSON (errors are kept for inspection)."""
        return json.dumps(
            {
                "calls": [_call_to_dict(c) for c in self.calls],
                "scopes": list(self.scopes),
                "scope_table": [[s.first, s.last] for s in self.scope_table],
                "errors": [e.to_dict() for e in self.errors],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: str | dict) -> Program:
        """Rebuild a program serialized by :meth:`to_json`."""
        obj = json.loads(data) if isinstance(data, str) else data
        calls = tuple(_call_from_dict(c) for c in obj.get("calls", []))
        scopes = tuple(obj.get("scopes", [0] * len(calls)))
        table = tuple(Scope(a, b) for a, b in obj.get("scope_table", [[0, None]]))
        errors = tuple(
            ProgramError(ErrorKind(e["kind"]), e["line"], e["message"], e.get("scope", 0))
            for e in obj.get("errors", [])
        )
        return cls(calls, errors, scopes, table)


def _call_to_dict(call: Call) -> dict:
    out: dict = {"fn": call.name}
    if isinstance(call, RemoveLines):
        out.update(line_start=call.line_start, line_end=call.line_end)
    elif isinstance(call, Normalize):
        out.update(source_str=call.source_str, target_str=call.target_str)
    return out


def _call_from_dict(obj: dict) -> Call:
    fn = obj["fn"]
    if fn == "remove_lines":
        return RemoveLines(int(obj["line_start"]), int(obj["line_end"]))
    if fn == "normalize":
        return Normalize(str(obj["source_str"]), str(obj.get("target_str", "")))
    simple = {"keep_doc": KeepDoc, "drop_doc": DropDoc, "keep_chunk": KeepChunk}
    if fn in simple:
        return simple[fn]()
    raise ValueError(f"unknown call in JSON program: {fn!r}")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """Quote a string as a canonical double-quoted literal the parser reads back exactly."""
    out = []
    for ch in value:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # lone surrogates cannot be encoded to UTF-8
            # \U: two \u escapes of a high and a low surrogate read back as one character
            out.append(f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
