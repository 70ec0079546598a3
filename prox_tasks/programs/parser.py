"""A strict parser for the program language; nothing is ever evaluated.

Grammar (one call per line; blank lines, ``#`` comments and Markdown code fences ignored)::

    program  := { line NEWLINE }
    line     := call [ "#" comment ] | "#" comment | "```" [lang] | ""
    call     := NAME "(" [ arg { "," arg } [","] ] ")"
    arg      := [ NAME "=" ] ( INT | STRING )
    STRING   := '"' { char | escape } '"' | "'" { char | escape } "'"
    escape   := "\\" ( "\\" | "'" | '"' | "n" | "r" | "t" | "0" | "a" | "b" | "f" | "v"
                     | "x" hh | "u" hhhh | "U" hhhhhhhh | NEWLINE )
    NEWLINE  := "\n" | "\r\n"

Escapes read as in Python, but for a surrogate pair written as two ``\\u`` escapes
(``"\\ud83d\\ude00"``, JSON's way), which is the one character it encodes. A ``normalize()``
whose ``target_str`` still holds a lone surrogate is a ``bad_arguments`` error: it would put
into the text a character no UTF-8 text can hold.

A call may span several lines while its parenthesis is open, and a string may go on to the
next line after a backslash ending a line (an escaped newline, dropped from the string's value
as in Python), until a line starts a new call. A carriage return before a line feed is
whitespace, so CRLF line endings read as LF ones, an escaped one included.
Comments of the form ``# chunk A-B`` are scope markers written by :func:`join_chunk_programs`:
the calls after one belong to the chunk of lines ``A..B`` (ASCII digits: a marker with another
digit or space is a syntax error, and the calls after it belong to no chunk of the document).

The common call shapes have a single-regex fast path; everything else goes through a small
tokenizer. Errors never raise: they are returned in :attr:`Program.errors`.

Parsing takes time linear in the source, whatever it holds: no pattern here has two
quantifiers that can match the same characters next to each other (the backtracking that makes
a regular expression quadratic), a call spans at most ``max_call_lines`` lines, integer literals
longer than :data:`MAX_LINE_DIGITS` digits are never converted, and a source past
:data:`MAX_PROGRAM_CHARS` characters or :data:`MAX_PROGRAM_CALLS` call lines is refused whole
(an ``over_limit`` error).
"""

from __future__ import annotations

import re

from prox_tasks.programs.program import (
    CHUNK_LEVEL_CALLS,
    DOC_LEVEL_CALLS,
    MAX_LINE_DIGITS,
    MAX_PROGRAM_CALLS,
    MAX_PROGRAM_CHARS,
    Call,
    DropDoc,
    ErrorKind,
    KeepChunk,
    KeepDoc,
    Normalize,
    Program,
    ProgramError,
    RemoveLines,
    Scope,
)

NO_ARG_CALLS: dict[str, type] = {
    "keep_doc": KeepDoc,
    "drop_doc": DropDoc,
    "keep_chunk": KeepChunk,
    "skip_chunk": KeepChunk,
    "untouch_doc": KeepChunk,
}
KNOWN_FUNCTIONS = frozenset(NO_ARG_CALLS) | {"remove_lines", "normalize"}

# Whitespace is the tokenizer's (_WS), digits and names are ASCII: every pattern here is
# compiled with re.ASCII, or \s, \d and \w would also match Unicode spaces and digits (NBSP,
# "١", "１"), so that a call's meaning depended on which path read it (int("١") is 1).
_WS = " \t\r\f\v"

# Line numbers are at most MAX_LINE_DIGITS digits on the fast paths; longer ones take the
# tokenizer path, which classifies them.
_FAST_REMOVE = re.compile(
    r"\s*remove_lines\(\s*(?:line_start\s*=\s*)?(\d{1,18})\s*,\s*"
    r"(?:line_end\s*=\s*)?(\d{1,18})\s*(?:,\s*)?\)\s*",
    re.ASCII,
)
# The shapes programs are written in (prox's teachers, the tagger, a trained model): canonical
# remove_lines() calls, keep_chunk() and its aliases, and "# chunk A-B" markers.
_ALL_SIMPLE = re.compile(
    r"^(?:[ \t]*remove_lines\([ \t]*(?:line_start[ \t]*=[ \t]*)?(\d{1,18})[ \t]*,[ \t]*"
    r"(?:line_end[ \t]*=[ \t]*)?(\d{1,18})[ \t]*\)"
    r"|# chunk (\d{1,18})-(\d{0,18})"
    r"|[ \t]*(?:keep_chunk|skip_chunk|untouch_doc)(\()\))[ \t]*$",
    re.MULTILINE | re.ASCII,
)
_KEEP_CHUNK = KeepChunk()
_FAST_NO_ARG = re.compile(
    r"\s*(keep_doc|drop_doc|keep_chunk|skip_chunk|untouch_doc)\(\s*\)\s*", re.ASCII
)
_CALL_START = re.compile(r"\s*(?:[A-Za-z_]\w*\s*\(|#|```)", re.ASCII)
_SCOPE = re.compile(r"#\s*chunk\s+(\d+)\s*-(?:\s*(\d+))?\s*", re.ASCII)
# The one pattern without re.ASCII: the shape of a scope marker with Unicode digits or spaces
# (Arabic-Indic "# chunk \u0661-\u0662"), which _SCOPE refuses. Taken for a comment, it would
# lose its chunk boundary, and the calls after it would run in the chunk before.
_SCOPE_UNICODE = re.compile(_SCOPE.pattern)

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<string>"(?:[^"\\\n]|\\(?:\r\n|[\s\S]))*"|'(?:[^'\\\n]|\\(?:\r\n|[\s\S]))*')
  | (?P<int>[+-]?\d+)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<punct>[(),=])
  | (?P<comment>\#[^\n]*)
  | (?P<newline>\n)
  | (?P<bad>["']|.)
    """,
    re.VERBOSE | re.ASCII,
)

# A surrogate pair written as two \u escapes (JSON's way to write "\U0001f600") is the one
# character it encodes, not two lone surrogates that no UTF-8 text can hold.
_ESCAPE = re.compile(
    r"\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|\r\n|[\s\S])"
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SIMPLE_ESCAPES = {
    "\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t",
    "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
    "\n": "",  # an escaped newline continues the string on the next line, as in Python
    "\r\n": "",  # ... a CRLF one too: Python reads CRLF source as LF
}  # fmt: skip


def _unescape_one(match: re.Match) -> str:
    body = match.group(1)
    if body in _SIMPLE_ESCAPES:  # before the length test: an escaped CRLF is two characters
        return _SIMPLE_ESCAPES[body]
    if len(body) == 11:  # a surrogate pair: \udXXX\udYYY
        high, low = int(body[1:5], 16), int(body[7:], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if len(body) > 1:  # \xhh, \uhhhh, \Uhhhhhhhh
        code = int(body[1:], 16)
        return chr(code) if code <= 0x10FFFF else match.group(0)
    return match.group(0)  # unknown escapes stay literal


def unquote(token: str) -> str:
    """Decode a quoted string literal exactly as written (Python escape rules)."""
    inner = token[1:-1]
    return _ESCAPE.sub(_unescape_one, inner) if "\\" in inner else inner


class _Syntax(Exception):
    """Internal: a syntax problem on the current call (never escapes the parser)."""


class _LongInt:
    """An integer literal too long to be a line number; kept as its text, never converted."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _integer(text: str) -> int | _LongInt:
    digits = len(text) - (text[0] in "+-")
    return int(text) if digits <= MAX_LINE_DIGITS else _LongInt(text)


def _tokenize(source: str) -> list[tuple[str, str]]:
    tokens = []
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup
        if kind in ("ws", "comment", "newline"):
            continue
        if kind == "bad":
            char = m.group()
            what = "unterminated string" if char in "\"'" else f"unexpected character {char!r}"
            raise _Syntax(what)
        tokens.append((kind, m.group()))
    return tokens


def _parse_tokens(tokens: list[tuple[str, str]]) -> tuple[str, list, list[tuple[str, object]]]:
    """Parse ``NAME ( args )`` into (name, positional args, keyword args)."""
    if len(tokens) < 3 or tokens[0][0] != "name" or tokens[1] != ("punct", "("):
        raise _Syntax("expected NAME(...)")
    if tokens[-1] != ("punct", ")"):
        raise _Syntax("missing closing parenthesis")
    name = tokens[0][1]
    args: list = []
    kwargs: list[tuple[str, object]] = []
    body = tokens[2:-1]
    i = 0
    while i < len(body):
        key = None
        if body[i][0] == "name" and i + 1 < len(body) and body[i + 1] == ("punct", "="):
            key = body[i][1]
            i += 2
        if i >= len(body):
            raise _Syntax("missing argument value")
        kind, text = body[i]
        if kind == "int":
            value: object = _integer(text)
        elif kind == "string":
            value = unquote(text)
        elif kind == "name" and text in ("None", "True", "False"):
            value = {"None": None, "True": True, "False": False}[text]
        else:
            raise _Syntax(f"unexpected token {text!r} in arguments")
        if key is None:
            if kwargs:
                raise _Syntax("positional argument after keyword argument")
            args.append(value)
        else:
            kwargs.append((key, value))
        i += 1
        if i < len(body):
            if body[i] != ("punct", ","):
                raise _Syntax(f"expected ',' between arguments, got {body[i][1]!r}")
            i += 1
    return name, args, kwargs


def _bind(name: str, args: list, kwargs: list[tuple[str, object]]) -> Call | str | ProgramError:
    """Bind arguments to a call; returns the call, or an error (a message: bad arguments)."""
    if name in NO_ARG_CALLS:
        if args or kwargs:
            return f"{name}() takes no arguments"
        return NO_ARG_CALLS[name]()
    params = ("line_start", "line_end") if name == "remove_lines" else ("source_str", "target_str")
    if len(args) > len(params):
        return f"{name}() takes at most {len(params)} arguments"
    bound = dict(zip(params, args))
    for key, value in kwargs:
        if key not in params:
            return f"{name}() got an unexpected argument {key!r}"
        if key in bound:
            return f"{name}() got multiple values for {key!r}"
        bound[key] = value
    if name == "remove_lines":
        start, end = bound.get("line_start"), bound.get("line_end")
        for value in (start, end):
            if isinstance(value, _LongInt) and value.text.startswith("-"):
                return "remove_lines() line numbers must not be negative"
            if isinstance(value, _LongInt):
                digits = len(value.text.lstrip("+"))
                msg = f"remove_lines() line number of {digits} digits is past any document"
                return ProgramError(ErrorKind.OUT_OF_RANGE, -1, msg)
        if not (type(start) is int and type(end) is int):
            return "remove_lines() needs two integer line numbers"
        if start < 0 or end < 0:
            return "remove_lines() line numbers must not be negative"
        if start > end:
            return f"remove_lines() line_start {start} is after line_end {end}"
        return RemoveLines(start, end)
    source, target = bound.get("source_str"), bound.get("target_str", "")
    if target is None:
        target = ""
    if not isinstance(source, str) or not isinstance(target, str):
        return "normalize() needs string arguments"
    if not source:
        return "normalize() source_str must not be empty"
    if source == target:
        return "normalize() source_str equals target_str"
    if _SURROGATE.search(target) is not None:
        # it would put into the text a character UTF-8 cannot hold (written as its escape)
        return "normalize() target_str holds a lone surrogate (\\ud800-\\udfff), not text"
    return Normalize(source, target)


def _paren_depth(source: str) -> int | None:
    """Parenthesis depth at the end of ``source`` outside string literals; None when it
    does not tokenize (an unterminated string, a stray character)."""
    try:
        tokens = _tokenize(source)
    except _Syntax:
        return None
    return sum((text == "(") - (text == ")") for kind, text in tokens if kind == "punct")


def _continued_call(lines: list[str], i: int, max_lines: int) -> int:
    """End (exclusive) of the call starting on ``lines[i]``: it goes on while its parenthesis
    is open or a string is open at an escaped newline (a line ending in a backslash), for at
    most ``max_lines`` lines, until a line starts a new call."""
    end = i + 1
    if end == len(lines) or max_lines < 2 or _CALL_START.match(lines[end]):
        return end  # nothing can continue it: no need to tokenize the line here
    depth = _paren_depth(lines[i])
    while end < len(lines) and end - i < max_lines and not _CALL_START.match(lines[end]):
        if depth is None:
            # Only a string's escaped newline lets a token cross a line break, so the lines
            # so far can be fixed by the next one only when the last ends in a backslash;
            # then the joined lines decide, tokenized together (at most max_lines times).
            if not lines[end - 1].endswith(("\\", "\\\r")):  # an escaped LF or CRLF
                break
            depth = _paren_depth("\n".join(lines[i : end + 1]))
        elif depth > 0:
            more = _paren_depth(lines[end])
            # no token crosses a line break when every line tokenizes alone: depths add up
            depth = None if more is None else depth + more
        else:
            break
        end += 1
    return end


def _parse_call(source: str) -> Call | ProgramError:
    try:
        name, args, kwargs = _parse_tokens(_tokenize(source))
    except _Syntax as err:
        head = source.strip().split("(", 1)[0].strip()
        if head.isidentifier() and head not in KNOWN_FUNCTIONS and "(" in source:
            return ProgramError(ErrorKind.UNKNOWN_FUNCTION, -1, f"unknown function {head!r}")
        return ProgramError(ErrorKind.SYNTAX, -1, str(err))
    if name not in KNOWN_FUNCTIONS:
        return ProgramError(ErrorKind.UNKNOWN_FUNCTION, -1, f"unknown function {name!r}")
    bound = _bind(name, args, kwargs)
    if isinstance(bound, str):
        return ProgramError(ErrorKind.BAD_ARGUMENTS, -1, bound)
    return bound


def _scope(marker: re.Match) -> tuple[Scope, ProgramError | None]:
    first, last = marker.group(1), marker.group(2) or ""
    if len(first) > MAX_LINE_DIGITS or len(last) > MAX_LINE_DIGITS:
        msg = "chunk marker line number is past any document"
        past = 10**MAX_LINE_DIGITS
        return Scope(past, past), ProgramError(ErrorKind.OUT_OF_RANGE, -1, msg)
    return Scope(int(first), int(last) if last else None), None


def _unicode_scope(comment: str) -> tuple[Scope, ProgramError] | None:
    """A comment that is a scope marker but for a non-ASCII digit or space: a scope past any
    document (its calls change nothing) and a syntax error; None for any other comment."""
    if _SCOPE_UNICODE.fullmatch(comment) is None:
        return None
    # ascii(): "\u0661" shows what a reader would take for "1"; a marker has no reason to be long
    msg = f"chunk marker {ascii(comment[:40])} has a non-ASCII digit or space"
    past = 10**MAX_LINE_DIGITS
    return Scope(past, past), ProgramError(ErrorKind.SYNTAX, -1, msg)


def _over_limit(what: str) -> Program:
    return Program(errors=(ProgramError(ErrorKind.OVER_LIMIT, -1, what),))


def _parse_simple(source: str, max_calls: int) -> Program | None:
    """The hot path: a chunk program made only of the shapes of :data:`_ALL_SIMPLE`, matched
    in one pass; None when any line is of another shape (the line-by-line parser decides)."""
    found = _ALL_SIMPLE.findall(source)
    if len(found) != source.count("\n") + 1:
        return None
    calls: list[Call] = []
    scopes: list[int] = []
    table = [Scope(0, None)]
    scope = 0
    add_call, add_scope, new = calls.append, scopes.append, tuple.__new__
    for start, end, first, last, keep in found:
        if start:
            line_start, line_end = int(start), int(end)
            if line_start > line_end:
                return None
            add_call(new(RemoveLines, (line_start, line_end)))  # RemoveLines(...) without a frame
            add_scope(scope)
        elif keep:
            add_call(_KEEP_CHUNK)
            add_scope(scope)
        else:
            table.append(Scope(int(first), int(last) if last else None))
            scope = len(table) - 1
    if len(calls) > max_calls:
        return None
    return Program(tuple(calls), (), tuple(scopes), tuple(table))


def parse(
    source: str | None,
    level: str | None = None,
    max_call_lines: int = 20,
    max_chars: int = MAX_PROGRAM_CHARS,
    max_calls: int = MAX_PROGRAM_CALLS,
) -> Program:
    """Parse program source into a :class:`Program`; never raises, linear time.

    Args:
        source: The program text (``None`` is an empty program).
        level: ``"doc"`` or ``"chunk"`` to reject calls of the other level as
            ``wrong_level`` errors; ``None`` accepts both.
        max_call_lines: How many source lines one call may span while its parenthesis is open.
        max_chars: A longer source is refused whole: no call, one ``over_limit`` error.
        max_calls: So is a source with more call lines (well-formed or not).

    Returns:
        The parsed program. An empty program has no calls and no errors; the executor
        decides whether that is an error.
    """
    if not source:
        return Program()
    if not isinstance(source, str):
        err = ProgramError(ErrorKind.SYNTAX, -1, f"program is {type(source).__name__}, not text")
        return Program(errors=(err,))
    if len(source) > max_chars:
        return _over_limit(f"program of {len(source):,} characters; the cap is {max_chars:,}")
    allowed = {"doc": DOC_LEVEL_CALLS, "chunk": CHUNK_LEVEL_CALLS}.get(level or "")
    removals_allowed = allowed is None or RemoveLines in allowed
    if removals_allowed and source.startswith(("r", "#", "k", "s", "u", " ", "\t")):
        simple = _parse_simple(source, max_calls)
        if simple is not None:
            return simple
    lines = source.split("\n")
    calls: list[Call] = []
    scopes: list[int] = []
    errors: list[ProgramError] = []
    table: list[Scope] = [Scope(0, None)]
    scope = 0
    i = 0
    while i < len(lines) and len(calls) + len(errors) <= max_calls:
        line = lines[i]
        lineno = i
        i += 1
        m = _FAST_REMOVE.fullmatch(line)
        if m is not None:
            start, end = int(m.group(1)), int(m.group(2))
            if start <= end and removals_allowed:  # the hot path: append and go on
                calls.append(RemoveLines(start, end))
                scopes.append(scope)
                continue
            if start <= end:
                result: Call | ProgramError = RemoveLines(start, end)
            else:
                msg = f"remove_lines() line_start {start} is after line_end {end}"
                result = ProgramError(ErrorKind.BAD_ARGUMENTS, lineno, msg)
        elif (m := _FAST_NO_ARG.fullmatch(line)) is not None:
            result = NO_ARG_CALLS[m.group(1)]()
        else:
            stripped = line.strip(_WS)  # str.strip() would also take Unicode spaces
            if not stripped or stripped.startswith("```"):
                continue
            if stripped.startswith("#"):
                sm = _SCOPE.fullmatch(stripped)
                found = _scope(sm) if sm is not None else _unicode_scope(stripped)
                if found is not None:
                    marker, error = found
                    table.append(marker)
                    scope = len(table) - 1
                    if error is not None:
                        errors.append(ProgramError(error.kind, lineno, error.message, scope))
                continue
            i = _continued_call(lines, lineno, max_call_lines)
            result = _parse_call("\n".join(lines[lineno:i]))
        if isinstance(result, ProgramError):
            errors.append(ProgramError(result.kind, lineno, result.message, scope))
        elif allowed is not None and not isinstance(result, allowed):
            msg = f"{result.name}() is not a {level}-level call"
            errors.append(ProgramError(ErrorKind.WRONG_LEVEL, lineno, msg, scope))
        else:
            calls.append(result)
            scopes.append(scope)
    if len(calls) + len(errors) > max_calls:
        return _over_limit(f"program of more than {max_calls:,} calls (the cap)")
    return Program(tuple(calls), tuple(errors), tuple(scopes), tuple(table))


def join_chunk_programs(chunk_programs: list[tuple[int, int, str]]) -> str:
    """Join per-chunk programs into one document program with ``# chunk A-B`` scope markers.

    Args:
        chunk_programs: ``(first_line, last_line, program_source)`` per chunk; line numbers
            in the sources are already global (document-wide).

    Returns:
        One program text whose normalizations stay scoped to the chunk that wrote them.
    """
    parts = []
    for first, last, source in chunk_programs:
        parts.append(Scope(first, last).to_text())
        body = (source or "").strip("\n")
        if body:
            parts.append(body)
    return "\n".join(parts)
