"""Reading a labeled seed set and splitting it deterministically.

A seed set URI may name:

- a manifest JSON (or a folder holding ``manifest.json``) whose ``splits`` (or top-level
  ``train`` / ``validation`` keys) name the JSONL(.gz/.zst) files of each split, relative to
  the manifest or absolute; its ``version`` (or ``name``) is the seed-set version;
- a folder of JSONL files: files whose name contains ``valid`` form the validation split
  (a seed set's folder that lost its ``manifest.json`` is refused, not read as one:
  :data:`SEED_SET_WORK_FILES`);
- a single JSONL file.

Without an explicit validation split, documents are split by a hash of their ``id``
(``valid_percent`` of them to validation): the same document always lands on the same side,
whatever the order or the other documents. The version is then the SHA-256 of the files.
A validation split that is named but empty (or whose rows are all left out) stays empty —
``prox train`` refuses it — rather than being replaced by a split of the training rows.

``load_seed_set(uri, stream=True)`` (what ``prox train`` and the training DAG use) holds
neither split's rows: each split is a :class:`StreamedRows`, which keeps each kept row's file,
line and id and reads the rows from the files again, in the same order, on each pass — a seed
set of tens of thousands of pages (~50 KB a row with its labels) is not held in memory through
the training, nor is its validation split (thousands of pages, of which evaluation reads the
first ``--max-eval-docs``: :meth:`StreamedRows.first`). The training DAG's evaluate and
promote tasks, which need validation rows only, load with ``validation_only``: a manifest's
training files are then not read at all.

``leave_out`` (what ``prox train`` and the training DAG pass: the pages of the gold set
promotion scores on, :func:`prox_tasks.evaluation.goldset.gold_pages`) keeps those pages out
of both splits: a candidate trained or selected on them would pass the gold gate on pages it
learned from. They are left out like the rows that cannot train — counted in ``skipped`` as
``in the gold set`` and in ``describe()``'s ``gold_pages_left_out`` — before the split and
the repeated-id check, so the rest are the rows of the same seed set without them. The
version is the files', with or without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import NamedTuple

from prox_tasks.corpus.document import RecordError
from prox_tasks.storage import ReadDigests, exists, join_uri, list_uri, read_bytes, to_uri
from prox_tasks.wording import a_type, shortened

DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz")


class SeedSetChanged(ValueError):
    """A split file no longer holds what its manifest's checksum says."""


def _check_checksum(uri: str, expected: str, actual: str) -> None:
    """Raise :class:`SeedSetChanged` when the (decompressed) content of ``uri`` hashed to
    ``actual``, not ``expected``, the SHA-256 the seed-set builder recorded: a model must not
    be trained — and published as trained on this version — from files changed since."""
    if actual != expected:
        raise SeedSetChanged(f"{uri} changed after its seed set was written (SHA-256 "
                             f"{actual[:12]}, the manifest says {expected[:12]}); "
                             "build the seed set again")


@dataclass
class SeedSet:
    """Labeled documents split for training.

    Attributes:
        uri: Where it was read from.
        version: Seed-set version (manifest's, or a content hash).
        train: Training documents.
        validation: Validation documents.
        skipped: Rows left out, as ``(file, line, why)``: malformed lines, rows without
            text or program, labels that do not parse or were rejected, repeated ids, and
            training rows whose id is in validation, pages of the gold set
            (``leave_out``).
        gold_set: The version of the gold set whose pages were looked for and left out
            (:func:`load_seed_set`'s ``leave_out``; None: not looked for).
    """

    uri: str
    version: str
    train: list[dict] | StreamedRows
    validation: list[dict] | StreamedRows
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    #: Only the first ``sample_rows`` rows of some file were read (:func:`load_seed_set`):
    #: what the rows read lack (training or validation rows, gold) may be further on.
    partial: bool = False
    gold_set: str | None = None

    def train_teachers(self) -> set:
        """The ``teacher`` of each training row (None for a row without one)."""
        if isinstance(self.train, StreamedRows):
            return set(self.train.teachers)
        return {d.get("teacher") for d in self.train}

    def train_drops(self) -> int:
        """How many training rows are labeled ``drop_doc()`` (the page dropped whole)."""
        if isinstance(self.train, StreamedRows):
            return self.train.drops
        return sum(_drops(d) for d in self.train)

    def train_lines(self) -> tuple[int, int]:
        """``(rows removing a line, rows keeping a line)`` of the training rows whose page is
        kept (:func:`_lines`): what the labels teach of lines besides dropping pages."""
        if isinstance(self.train, StreamedRows):
            return self.train.lines
        found = [_lines(d) for d in self.train if not _drops(d)]
        return sum(r for r, _ in found), sum(k for _, k in found)

    def describe(self) -> dict:
        reasons: dict[str, int] = {}
        for _file, _line, why in self.skipped:
            if why.startswith("id "):  # "id 'x' repeated" -> "repeated id"
                kind = why.rsplit("'", 1)[-1].strip().replace("repeated", "repeated id")
            else:
                kind = why if why.startswith("bad line") else why.split(":")[0]
            reasons[kind] = reasons.get(kind, 0) + 1
        described = {"uri": self.uri, "version": self.version, "train_docs": len(self.train),
                     "validation_docs": len(self.validation), "skipped": len(self.skipped),
                     "skipped_reasons": dict(sorted(reasons.items()))}  # fmt: skip
        if self.gold_set is not None:
            described.update(gold_set=self.gold_set,
                             gold_pages_left_out=reasons.get(IN_THE_GOLD_SET, 0))
        return described


#: The ``skipped`` reason of a seed row that is a page of the gold set (``leave_out``).
IN_THE_GOLD_SET = "in the gold set"


def left_out(described: dict, row: str = "row") -> str:
    """``3 rows left out (2 no text, 1 repeated id)`` of a :meth:`SeedSet.describe` record
    (empty when none was): how ``prox train``'s summary and its refusals say it (``row``:
    what a row is called, ``seed row`` in the summary)."""
    from prox_tasks.wording import count

    if not described.get("skipped"):
        return ""
    reasons = ", ".join(f"{n:,} {why}" for why, n in described.get("skipped_reasons", {}).items())
    return f"{count(described['skipped'], row)} left out ({reasons})"


def id_bucket(doc_id: str, salt: str = "prox-split") -> int:
    """A stable bucket 0..99 of a document id."""
    return int(hashlib.sha256(f"{salt}:{doc_id}".encode()).hexdigest()[:8], 16) % 100


def split_by_id(docs: list[dict], valid_percent: int, salt: str = "prox-split"):
    """(train, validation): documents whose id bucket is below ``valid_percent`` validate."""
    train, valid = [], []
    for doc in docs:
        (valid if id_bucket(str(doc.get("id")), salt) < valid_percent else train).append(doc)
    return train, valid


def read_rows(uri: str, skipped: list) -> list[dict]:
    """Labeled rows of one JSONL file, read by the one rows reader
    (:func:`prox_tasks.corpus.read_rows`); the others are recorded in ``skipped`` with why
    (:func:`label_problem`, or a bad line). A row without an id (or with a null one) gets
    the hash of its text."""
    return [row for _line, row in _labeled_rows(uri, skipped)]


def _labeled_rows(uri: str, skipped: list, digests: ReadDigests | None = None,
                  limit: int | None = None, cut: list | None = None
                  ) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` of each usable row of one JSONL file (see :func:`read_rows`); the
    others go to ``skipped`` once the file is read, its bytes to ``digests``. With
    ``limit``, only its first ``limit`` lines are read: ``uri`` goes to ``cut`` when more
    follow."""
    from prox_tasks.corpus import Quarantine
    from prox_tasks.corpus import read_rows as read_jsonl_rows

    quarantine = Quarantine()
    left_out = []
    for _source, offset, row in read_jsonl_rows(uri, quarantine, digests=digests):
        if limit is not None and offset >= limit:  # the rest of the file is not read
            cut.append(uri)
            break
        why = label_problem(row)
        if why:
            left_out.append((uri, offset + 1, why))
            continue
        _fill_id(row)
        yield offset, row
    left_out += [(uri, q["offset"] + 1, f"bad line: {q['reason']}") for q in quarantine.records()]
    skipped.extend(sorted(left_out, key=lambda entry: entry[1]))


def _fill_id(row: dict) -> None:
    """The row's ``id`` as the refine readers make it (:func:`~prox_tasks.corpus.document.
    id_text`, the one rule: ``7`` and ``7.0`` are ``"7"``, a null or NaN id gets its text's
    :func:`~prox_tasks.corpus.content_id`): a labeled page keeps the id it has in the
    refined output, and the split its bucket."""
    from prox_tasks.corpus.document import content_id, id_text

    row["id"] = id_text(row.get("id")) or content_id(row["text"])


def _raw_rows(uri: str) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` of every JSON object of one JSONL file, unchecked: the rows a
    :class:`StreamedRows` reads again were checked when the seed set was loaded."""
    from prox_tasks.corpus import Quarantine
    from prox_tasks.corpus import read_rows as read_jsonl_rows

    for _source, offset, row in read_jsonl_rows(uri, Quarantine()):
        yield offset, row


class Indexed(NamedTuple):
    """What a :class:`StreamedRows` keeps of one row: where it is and what it must be."""

    file: int  #: index of its file in ``StreamedRows.files``
    line: int  #: 0-based line in that file
    id: str
    teacher: str | None
    digest: bytes | None  #: :func:`_row_digest` (None: not compared when read again)
    gold: bool = False  #: it has a ``gold_text``
    drop: bool = False  #: its ``doc_program`` drops the page (``drop_doc()``)
    removes: bool = False  #: its ``chunk_program`` removes a line (:func:`_lines`)
    keeps: bool = True  #: some line is left (:func:`_lines`)


class StreamedRows:
    """The rows of a seed-set split, read from its files on each pass instead of held.

    Only each kept row's file, line, id, teacher, whether it has gold and a digest of its
    content stay in memory (:class:`Indexed`: a few dozen bytes, not the ~50 KB of text and
    labels). Iterating reads the files again and yields the kept rows in the order
    :func:`load_seed_set` would have listed them. There is no indexing: a row would cost a
    read of its file up to it; :meth:`first` narrows the rows read instead.

    Raises:
        SeedSetChanged: while iterating, when a file no longer holds the row its index
            recorded (another id, or the same id with other content: it changed since the
            seed set was loaded and checked).
    """

    def __init__(self, files: list[str], kept: list[Indexed]) -> None:
        """Index the kept rows of ``files``.

        Args:
            files: The split files, in reading order.
            kept: Each kept row, in reading order.
        """
        self.files = files
        self._kept = kept

    @property
    def teachers(self) -> list:
        """Each kept row's ``teacher``, in order."""
        return [entry.teacher for entry in self._kept]

    @property
    def drops(self) -> int:
        """How many of the rows are labeled ``drop_doc()``."""
        return sum(entry.drop for entry in self._kept)

    @property
    def lines(self) -> tuple[int, int]:
        """``(rows removing a line, rows keeping a line)`` of the rows whose page is kept."""
        kept = [entry for entry in self._kept if not entry.drop]
        return sum(e.removes for e in kept), sum(e.keeps for e in kept)

    def first(self, n: int | None, *, gold: bool = False) -> StreamedRows:
        """The first ``n`` rows (None: all), or with ``gold`` the first ``n`` that have a
        ``gold_text``, still in their files (nothing is read here).

        ``prox train --max-eval-docs N`` evaluates on the first N validation pages, and
        calibrates the keep threshold (and, with ``--select-epoch gold``, chooses the epoch)
        on the first N *with gold*: only those are scored against gold, and a split's files
        group their sources, so the first N pages may hold none (the bench seed set's
        validation file has its 136 gold pages after its 244th page).
        """
        kept = [entry for entry in self._kept if entry.gold] if gold else self._kept
        return StreamedRows(self.files, kept[:n])

    def __len__(self) -> int:
        return len(self._kept)

    def __iter__(self) -> Iterator[dict]:
        # the kept rows are in reading order, so each file's are one run of them
        for index, kept in groupby(self._kept, key=lambda entry: entry.file):
            yield from self._read_file(self.files[index], list(kept))

    @staticmethod
    def _read_file(uri: str, kept: list[Indexed]) -> Iterator[dict]:
        """The ``kept`` rows of one file, read again, each checked to be the row indexed."""
        wanted = iter(kept)
        want = next(wanted, None)
        for line, row in _raw_rows(uri):
            if want is None:
                return
            if line != want.line:
                continue
            if isinstance(row.get("text"), str):
                with contextlib.suppress(RecordError):  # changed since: its id will differ
                    _fill_id(row)
            if row.get("id") != want.id:
                raise SeedSetChanged(f"{uri} changed after the seed set was loaded (line "
                                     f"{line + 1} holds id {row.get('id')!r}, not {want.id!r}); "
                                     "train again")
            if want.digest is not None and _row_digest(row) != want.digest:
                raise SeedSetChanged(f"{uri} changed after the seed set was loaded (line "
                                     f"{line + 1}, id {want.id!r}, holds other content); "
                                     "train again")
            yield row
            want = next(wanted, None)
        if want is not None:
            raise SeedSetChanged(f"{uri} changed after the seed set was loaded (line "
                                 f"{want.line + 1}, id {want.id!r}, is gone); train again")


def _drops(row: dict) -> bool:
    """Whether a labeled row's ``doc_program`` drops the page: its keep target is 0
    (:func:`prox_tasks.training.tagger.targets`)."""
    from prox_tasks.training.metrics import doc_decision

    return bool(row.get("doc_program")) and doc_decision(row["doc_program"]) == "drop"


def _lines(row: dict) -> tuple[bool, bool]:
    """Whether a labeled row's chunk program removes a line, and whether it leaves one (the
    line targets of :func:`prox_tasks.training.tagger.targets`)."""
    from prox_tasks.training.metrics import removed_lines

    n_lines = (row.get("text") or "").count("\n") + 1
    removed = len(removed_lines(row.get("chunk_program"), n_lines))
    return removed > 0, removed < n_lines


def _row_digest(row: dict) -> bytes:
    """8 bytes of a row's content (ids filled in): a row read again must be the one loaded
    and checked, not one rewritten since under the same id."""
    text = json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def label_problem(row: dict) -> str | None:
    """Why a labeled row cannot train a refiner (None: it can).

    No text (or an empty one), no program, a label its teacher's checks rejected (``valid``
    false), an ``id`` that the refine readers refuse (not a string or number, an infinity, a
    blank string), a ``teacher`` that is not a string, a
    ``gold_text`` that is not a string, a program that does not parse (or a ``doc_program``
    that is neither ``keep_doc()`` nor ``drop_doc()``), a chunk program whose removals or
    ``# chunk`` scopes start past the text. A label that does not parse, or was written for
    another text, would otherwise train as "keep every line" — or flip a drop.
    """
    from prox_tasks.programs import parse

    if not isinstance(row.get("text"), str):
        return "no text"
    if not row["text"].strip():
        return "empty text"
    if not row.get("doc_program") and not row.get("chunk_program"):
        return "no program"
    if row.get("valid") is False:
        return "label rejected by its teacher's checks"
    doc_id, teacher = row.get("id"), row.get("teacher")
    # ids key the split and the repeated-id check, teachers the loss weights: both hashed
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int, float, type(None))):
        return f"id is {a_type(doc_id)}, not a string or number"
    from prox_tasks.corpus.document import id_text

    try:
        id_text(doc_id)
    except RecordError as err:  # an infinity, a blank string: as the refine readers say
        return f"bad id: {err.detail}"
    if teacher is not None and not isinstance(teacher, str):
        return f"teacher is {a_type(teacher)}, not a name"
    gold = row.get("gold_text")
    if gold is not None and not isinstance(gold, str):  # it would fail the gold scoring
        return f"gold_text is {a_type(gold)}, not a text"
    for field_name, level in (("doc_program", "doc"), ("chunk_program", "chunk")):
        program = row.get(field_name)
        if program is None or program == "":
            continue
        if not isinstance(program, str):
            return f"{field_name} is {a_type(program)}, not a program"
        parsed = parse(program, level)
        if parsed.errors:
            return f"bad {field_name}: {parsed.errors[0].message}"
        if level == "doc" and not parsed.calls:
            return "bad doc_program: neither keep_doc() nor drop_doc()"
        if level == "chunk":
            why = _past_the_text(parsed, row["text"].count("\n") + 1)
            if why:
                return f"chunk_program past the text: {why}"
    return None


def _past_the_text(program, n_lines: int) -> str | None:
    """What of a chunk program starts past the text's ``n_lines`` lines (None: nothing): a
    label written for another text, which the targets would clip to "keep every line"."""
    from prox_tasks.programs import RemoveLines

    for scope in program.scope_table[1:]:
        if scope.first >= n_lines:
            return f"{scope.to_text()} starts after line {n_lines - 1}"
    for call in program.calls:
        if isinstance(call, RemoveLines) and call.line_start >= n_lines:
            return f"{call.to_text()} starts after line {n_lines - 1}"
    return None


def _unique(train: list[dict], valid: list[dict], skipped: list, where: str):
    """Each id once: a repeated id keeps its first row, and a validation document is kept
    out of training (validation decides the epoch and promotion)."""
    seen: set = set()
    kept_valid = []
    for row in valid:
        if row["id"] in seen:
            skipped.append((where, 0, f"id {row['id']!r} repeated in validation"))
        else:
            seen.add(row["id"])
            kept_valid.append(row)
    kept_train = []
    in_valid = set(seen)
    for row in train:
        if row["id"] in seen:
            why = "also in validation" if row["id"] in in_valid else "repeated"
            skipped.append((where, 0, f"id {row['id']!r} {why}"))
        else:
            seen.add(row["id"])
            kept_train.append(row)
    return kept_train, kept_valid


def _manifest_splits(manifest: dict, manifest_uri: str = "") -> dict[str, list[str]]:
    """``{"train": [file, …], "validation": [file, …]}`` as the manifest names them.

    Raises:
        ValueError: A split, or the manifest's ``sha256``, of another shape than a seed set's
            (a number for a file name: an edited or foreign manifest), which failed the read
            with a bare ``TypeError`` (``'int' object is not iterable``).
    """
    splits = manifest.get("splits", manifest)
    if not isinstance(splits, dict):
        raise _misshapen(manifest_uri, "splits", splits, "an object of splits")
    out: dict[str, list[str]] = {}
    for name, value in splits.items():
        kind = "validation" if "valid" in name else "train" if "train" in name else None
        if kind is None:
            continue
        if isinstance(value, dict):
            value = value.get("uri") or value.get("path") or value.get("files")
        names = [value] if isinstance(value, str) else value or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise _misshapen(manifest_uri, f"split {name!r}", value,
                             "a file name or a list of them")
        out.setdefault(kind, []).extend(names)
    checksums = manifest.get("sha256")
    if checksums is not None and not (isinstance(checksums, dict) and all(
            isinstance(v, str) for v in checksums.values())):  # fmt: skip
        raise _misshapen(manifest_uri, "sha256", checksums, "an object of checksums by split")
    return out


def _misshapen(manifest_uri: str, what: str, value, wanted: str) -> ValueError:
    return ValueError(f"seed-set manifest {manifest_uri}: its {what} is {shortened(repr(value))}, "
                      f"not {wanted}: edited by hand or written by another tool; write the seed "
                      "set again (prox label --seed-set)")


def load_seed_set(uri: str, valid_percent: int = 10, *, stream: bool = False,
                  validation_only: bool = False, sample_rows: int | None = None,
                  leave_out=None) -> SeedSet:
    """Read the seed set at ``uri`` (see module docs).

    Args:
        uri: Manifest, folder or JSONL file.
        valid_percent: Validation share by id hash when there is no validation split.
        stream: Leave the rows in their files: ``train`` and ``validation`` are
            :class:`StreamedRows` (the same rows, in the same order) instead of lists.
        validation_only: Only the validation rows are wanted (the training DAG's evaluate
            and promote tasks): a manifest that names validation files gets only those read
            (and checked against its checksum), ``train`` is then empty. The validation rows
            are the same either way (a repeated id keeps its first validation row, whatever
            the training files hold); without such a manifest every file is read, as the
            split or the version needs them all.
        sample_rows: Read only the first this many lines of each file (the train DAG's
            first task's look: the manifest, every file there and readable, the rows that
            start it): ``partial`` says whether a file held more; a cut file's checksum
            is not checked, and the version of a folder is not the whole files'.
        leave_out: The pages of a gold set
            (:class:`~prox_tasks.evaluation.goldset.GoldPages`) to keep out of both splits,
            counted (module docs); None: none.
    """
    skipped: list = []
    manifest_uri = uri if uri.endswith(".json") else join_uri(uri, "manifest.json")
    if exists(manifest_uri) and not uri.endswith(DATA_SUFFIXES):
        raw = read_bytes(manifest_uri)
        try:
            manifest = json.loads(raw)
        except ValueError as err:
            raise ValueError(f"seed-set manifest {manifest_uri} is not JSON: {err}") from None
        base = manifest_uri.rsplit("/", 1)[0]
        files = _manifest_splits(manifest, manifest_uri) if isinstance(manifest, dict) else {}
        if not files:  # another tool's manifest.json (a refined snapshot's, a shard plan's)
            keys = ", ".join(sorted(manifest)[:8]) if isinstance(manifest, dict) else ""
            raise ValueError(f"{manifest_uri} is not a seed-set manifest: it names no train "
                             f"or validation split ('splits'"
                             + (f"; its keys: {keys})" if keys else ")"))
        version = str(manifest.get("version") or manifest.get("name")
                      or hashlib.sha256(raw).hexdigest()[:12])

        def resolve(name: str) -> str:
            return name if "://" in name or name.startswith("/") else join_uri(base, name)

        if validation_only and "validation" in files:  # the training files are not read
            files = {"validation": files["validation"]}
        listed = [(resolve(f), False) for f in files.get("train", [])] \
            + [(resolve(f), True) for f in files.get("validation", [])]
        # the checksums prox label --seed-set records, taken in the read of the rows (a
        # split on S3 is not downloaded once more to be checked)
        checked = {resolve(names[0]): expected for kind, names in files.items()
                   if (expected := (manifest.get("sha256") or {}).get(kind)) and len(names) == 1}
        train, valid, paths, contents, cut = _read_split(
            listed, "validation" in files, valid_percent, skipped, stream, checked=checked,
            sample_rows=sample_rows, leave_out=leave_out)
        for file, expected in checked.items():
            if file not in cut:  # a file read in part has no checksum to compare
                _check_checksum(file, expected, contents[file])
        return _seed_set(uri, version, train, valid, skipped, paths, stream, bool(cut),
                         leave_out)
    listed_files = list_uri(uri)
    _refuse_a_seed_set_folder_without_manifest(uri, listed_files)
    files = [f for f in listed_files if f.endswith(DATA_SUFFIXES)]
    if not files:
        raise FileNotFoundError(f"no seed set (manifest or JSONL files) at {uri}")
    # the version: each file's name and bytes, hashed in the read of its rows
    digest = hashlib.sha256()
    listed = [(f, "valid" in f.rsplit("/", 1)[-1]) for f in files]
    train, valid, paths, _, cut = _read_split(listed, any(v for _, v in listed), valid_percent,
                                              skipped, stream, version=digest,
                                              sample_rows=sample_rows,
                                              leave_out=leave_out)  # fmt: skip
    return _seed_set(uri, digest.hexdigest()[:12], train, valid, skipped, paths, stream,
                     bool(cut), leave_out)


#: What a folder ``prox label --seed-set`` wrote holds beside its splits and ``manifest.json``
#: and a plain folder of seed rows does not: read as one, its sampled and labeled work files
#: would be taken for seed rows (and counted as left out) and its checksums never checked.
SEED_SET_WORK_FILES = ("params.json", "sample/", "labels/", "rejected.jsonl.gz")


def _refuse_a_seed_set_folder_without_manifest(uri: str, files: list[str]) -> None:
    """Raise ValueError when the folder ``uri`` (its ``files``, listed) is a seed set's —
    it holds :data:`SEED_SET_WORK_FILES` — whose ``manifest.json`` is gone (deleted, or a
    copy without it): its split files cannot be checked against the manifest's SHA-256, its
    version is not the one the seed set was registered with, and its work files would be
    read as seed rows. A plain folder of JSONL seed rows (module docs) is read as before."""
    prefix = to_uri(uri).rstrip("/") + "/"
    tops = {f[len(prefix):].split("/")[0] + ("/" if "/" in f[len(prefix):] else "")
            for f in map(to_uri, files) if f.startswith(prefix)}
    marks = [name for name in SEED_SET_WORK_FILES if name in tops]
    if not marks:
        return
    raise ValueError(
        f"{prefix}manifest.json is missing: {uri} is a seed-set folder (it holds "
        f"{', '.join(marks)}) without its manifest (deleted, or a copy that left it out), so "
        "its split files' checksums cannot be verified nor its version told, and read as a "
        "plain folder it would train on its sample/ and labels/ files too. Write the manifest "
        f"again by running the prox label --seed-set --output {uri} command that built it "
        "(the same options: its labels are reused, the teacher not asked again), or copy the "
        "seed set again with its manifest.json")


def _read_split(listed: list[tuple[str, bool]], has_validation: bool, valid_percent: int,
                skipped: list, stream: bool, *, checked=(), version=None,
                sample_rows: int | None = None, leave_out=None
                ) -> tuple[list[dict], list[dict], list[str], dict[str, str], list[str]]:
    """(training rows, validation rows, the files read, the SHA-256 of the decompressed
    content of those in ``checked``, the files read only in part: ``sample_rows``) of the
    files ``listed`` as ``(uri, is validation)``,
    training files first; without a validation split, rows go to validation by
    :func:`id_bucket`; a row ``leave_out`` matches goes to neither, but to ``skipped``.
    ``version``, a hash, is fed each file's name and stored bytes. With
    ``stream``, a row is kept as a stub (``id`` and its :class:`Indexed` entry, ``_at``) to
    be read again later."""
    train, valid, paths, contents, cut = [], [], [], {}, []
    for index, (uri, is_valid) in enumerate(listed):
        paths.append(uri)
        if version is not None:
            version.update(uri.rsplit("/", 1)[-1].encode())
        digests = ReadDigests(version, hashlib.sha256() if uri in checked else None)
        for line, row in _labeled_rows(uri, skipped, digests, sample_rows, cut):
            if leave_out is not None and (key := leave_out.match(row)):
                skipped.append((uri, line + 1, f"{IN_THE_GOLD_SET}: its {key} is a gold page's"))
                continue
            if has_validation:
                to_valid = is_valid
            else:  # as split_by_id splits, row by row
                to_valid = id_bucket(str(row.get("id"))) < valid_percent
            if stream:
                row = {"id": row["id"], "_at": Indexed(index, line, row["id"], row.get("teacher"),
                                                       _row_digest(row),
                                                       bool(row.get("gold_text")),
                                                       _drops(row), *_lines(row))}  # fmt: skip
            (valid if to_valid else train).append(row)
        if digests.content is not None:
            contents[uri] = digests.content.hexdigest()
    return train, valid, paths, contents, cut


def _seed_set(uri: str, version: str, train: list[dict], valid: list[dict], skipped: list,
              paths: list[str], stream: bool, partial: bool = False, leave_out=None) -> SeedSet:
    """The :class:`SeedSet` of the rows read, each id once (:func:`_unique`); ``leave_out``
    (the gold pages looked for) gives its ``gold_set``."""
    train, valid = _unique(train, valid, skipped, uri)
    if stream:
        train = StreamedRows(paths, [r["_at"] for r in train])
        valid = StreamedRows(paths, [r["_at"] for r in valid])
    # canonical (file:///abs, s3://): a model's artifact.json records it as its provenance
    return SeedSet(to_uri(uri), version, train, valid, skipped, partial,
                   leave_out.version if leave_out is not None else None)
