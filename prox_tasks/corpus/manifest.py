"""The shard manifest: which records of which input files make up each shard.

Stored as ``<output>/manifest.json`` (see docs/storage.md). Its ``id`` is the SHA-256 of its
canonical JSON without the id, so the same input and settings always give the same id.
"""

from __future__ import annotations

import errno
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import ClassVar

from prox_tasks.storage import (
    Opened,
    holds,
    identities_in,
    join_uri,
    put_atomic,
    read_json,
    version_of,
)

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
#: The folder of the plan's parts (:class:`ManifestPart`), one subfolder per plan id.
PARTS_FOLDER = "_manifest_parts"
#: What a plan records of its input but does not read: not part of its id.
NOT_PLANNED = ("skipped_files", "markers_left_out")


@dataclass(slots=True)  # no __dict__ each: a plan holds one per shard and file
class Segment:
    """Records ``[start, end)`` (record offsets) of one input file; ``docs`` of them are
    records (blank JSONL lines in the range are not). ``byte_offset``: where record
    ``start`` begins in the file (a plain JSONL line, a WET record's gzip member), so its
    read starts there instead of passing over the records before it; None where the file
    cannot be read from an offset (compressed JSONL, Parquet) and in plans made before it
    was recorded. It follows from the file's bytes and ``start``, both already in the
    plan's id, so it is left out of the id (:meth:`Manifest.compute_id`)."""

    file: str
    format: str
    start: int
    end: int
    docs: int
    bytes: int
    byte_offset: int | None = None


@dataclass(slots=True)  # no __dict__ each: a plan holds one per shard and file
class ShardPlan:
    index: int
    docs: int = 0
    bytes: int = 0
    segments: list[Segment] = field(default_factory=list)


@dataclass(slots=True)  # no __dict__ each: a plan holds one per shard and file
class InputFile:
    """One planned input file. ``fingerprint`` (:func:`~prox_tasks.storage.content_fingerprint`)
    identifies its bytes and is part of the plan's id, so a file rewritten in place — even
    to the same size — makes a new plan instead of reusing shards refined from its old
    content; ``version`` (:func:`~prox_tasks.storage.version_of`, a cheap stat or HEAD)
    tells a read whether to check the fingerprint again. Manifests written before these
    were recorded have None and are checked by size only."""

    uri: str
    format: str
    size: int
    records: int
    bytes: int
    fingerprint: str | None = None
    version: str | None = None


@dataclass
class Manifest:
    """A snapshot's shard plan.

    Attributes:
        input_uri: What was planned (file, folder, prefix or glob).
        output_uri: The folder refined shards go to.
        settings: Targets and read options (text_field, id_field, max_doc_bytes, format).
        files: Every input file with its size and record count.
        shards: The shards, in order.
        id: Content hash of all the above.
        partition_root: The folder whose ``column=value`` sub-folders give the documents'
            ``meta`` (:mod:`~prox_tasks.corpus.partitions`); None in a plan made before
            prox read them, whose shards are read as planned, without them, and in one of
            files with no partition below it (the same plan as before: part of the id only
            when set, so only a replan of a partitioned input's old plan is another plan).
        skipped_files: The files the input lists that were not read for their format, each
            ``{"uri", "reason"}`` (:func:`~prox_tasks.corpus.readers.input_listing`): their
            documents are in no shard. ``markers_left_out``: names starting with ``.`` or
            ``_`` (``_SUCCESS``, ``.crc``: Hadoop's markers) left out; None in a plan made
            before they were recorded, until it is re-opened
            (:func:`~prox_tasks.corpus.planner.unchanged_plan` counts them then). Neither is
            part of the id (nothing of them is read): a plan made before they were recorded
            keeps its id.
        reused: True on the plan :func:`~prox_tasks.corpus.planner.plan_shards` returns when
            the folder already held it (a rerun: ``prox plan`` says ``plan reused``); not
            part of the plan, nor written.
    """

    #: a class default, not a field: neither in the id nor in manifest.json
    reused: ClassVar[bool] = False
    input_uri: str
    output_uri: str
    settings: dict
    files: list[InputFile]
    shards: list[ShardPlan]
    version: int = MANIFEST_VERSION
    id: str = ""
    partition_root: str | None = None
    skipped_files: list[dict] = field(default_factory=list)
    markers_left_out: int | None = 0

    def __post_init__(self):
        if not self.id:
            self.id = self.compute_id()

    def compute_id(self) -> str:
        """SHA-256 of the plan's canonical JSON (sorted keys, no spaces), hashed as it is
        made, a shard at a time: the whole plan as one dict and one string (``asdict``,
        then ``json.dumps``) added ~100 MB to a 100,000-shard plan's ~70 MB at each load.
        The same bytes, so the same id, as one string would give."""
        digest = hashlib.sha256()
        for piece in self._canonical_pieces():
            digest.update(piece.encode())
        return digest.hexdigest()

    def _canonical_pieces(self) -> Iterator[str]:
        def dumps(value) -> str:
            return json.dumps(value, sort_keys=True, separators=(",", ":"))

        body = {f.name: getattr(self, f.name) for f in fields(Manifest)
                if f.name not in ("id", *NOT_PLANNED)}
        if body["partition_root"] is None:
            del body["partition_root"]
        yield "{"
        for n, key in enumerate(sorted(body)):
            yield ("," if n else "") + dumps(key) + ":"
            if key == "files":
                # a file's version (its modification time) is not what was planned, its
                # bytes are; no fingerprint: a manifest from before they were recorded
                # keeps its id
                yield "[" + ",".join(dumps({k: v for k, v in asdict(f).items()
                                            if k != "version"
                                            and not (k == "fingerprint" and v is None)})
                                     for f in body["files"]) + "]"  # fmt: skip
            elif key == "shards":
                yield "["
                for i, shard in enumerate(body["shards"]):
                    plain = asdict(shard)
                    # where a segment starts in its file is derived from what is planned
                    # (the file's bytes, the segment's first record): the same plan with or
                    # without it (one made before offsets were recorded) has one id, and
                    # reruns of it are the same plan
                    for segment in plain["segments"]:
                        segment.pop("byte_offset", None)
                    yield ("," if i else "") + dumps(plain)
                yield "]"
            else:
                yield dumps(body[key])
        yield "}"

    @property
    def total_docs(self) -> int:
        return sum(s.docs for s in self.shards)

    @property
    def uri(self) -> str:
        return join_uri(self.output_uri, MANIFEST_NAME)

    def to_json(self) -> str:
        """The plan as ``manifest.json`` holds it: ``json.dumps(_plain(asdict(self)),
        indent=1, sort_keys=True)``, byte for byte, made a file and a shard at a time. That
        call's encoder (pure Python, with ``indent``) held every token of the whole plan as
        its own string before joining them, beside the plan's copy as dicts (69 MB for the
        9 MB plan of 20,000 one-line files, now 24 MB): ``prox plan``'s peak was ~5 KB an
        input file, now ~2.7 KB (bench/plan_memory.py)."""
        marks = {key: f"\x00{key}\x00" for key in ("files", "shards")}
        top = {f.name: getattr(self, f.name) for f in fields(Manifest)} | {"shards": []}
        text = json.dumps(_plain(top) | marks, indent=1, sort_keys=True)  # lists: below
        if any(text.count(json.dumps(mark)) != 1 for mark in marks.values()):
            # a value or settings key spelled as a mark (an S3 key may hold NUL): the split
            # below would put a list in its place, so the plan is written in one dumps
            return json.dumps(_plain(asdict(self)), indent=1, sort_keys=True) + "\n"
        items = {"files": (asdict(f) for f in self.files),
                 "shards": (_plain_shard(asdict(s)) for s in self.shards)}
        pieces, rest = [], text
        for key, mark in marks.items():  # in the order sorted keys write them
            before, _, rest = rest.partition(json.dumps(mark))
            pieces.append(before)
            opened = len(pieces)
            for item in items[key]:
                # an item of a list at depth 1: its lines two spaces in, as one dumps of the
                # whole plan indents them (a JSON string holds no raw line feed to shift)
                pieces.append(("[\n  " if len(pieces) == opened else ",\n  ")
                              + json.dumps(item, indent=1, sort_keys=True).replace("\n", "\n  "))
            pieces.append("\n ]" if len(pieces) > opened else "[]")
        pieces.append(rest + "\n")
        return "".join(pieces)  # one join: the text is held once beside its pieces

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        if data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest version {data.get('version')}")
        files = [InputFile(**{**f, "uri": sys.intern(f["uri"])}) for f in data["files"]]
        raw, shards = data["shards"], []
        for i, s in enumerate(raw):
            raw[i] = None  # each shard's dicts go as its objects come: not both plans held
            # a segment names its file by the file's own string, not a copy of it each
            shards.append(ShardPlan(s["index"], s["docs"], s["bytes"], [
                Segment(**{**g, "file": sys.intern(g["file"]), "format": sys.intern(g["format"])})
                for g in s["segments"]]))
        manifest = cls(data["input_uri"], data["output_uri"], data["settings"], files, shards,
                       data["version"], data["id"], data.get("partition_root"),
                       data.get("skipped_files") or [], data.get("markers_left_out"))
        if manifest.compute_id() != manifest.id:
            raise ValueError("manifest id does not match its content (edited or corrupt)")
        return manifest

    def write(self) -> str:
        put_atomic(self.uri, self.to_json())
        return self.uri

    def shard(self, index: int) -> ShardPlan:
        if not 0 <= index < len(self.shards):
            raise IndexError(f"shard {index} not in 0..{len(self.shards) - 1}")
        return self.shards[index]

    @property
    def planned(self) -> int | None:
        """How many shards the whole plan has (what its folders hold at most): a rerun
        lists them where that is fewer requests than checking each shard's files
        (:func:`~prox_tasks.corpus.writer.read_statuses`)."""
        return len(self.shards)

    def part(self, indices: list[int]) -> ManifestPart:
        """Shards ``indices`` of this plan with the input files they read, under this id."""
        shards = [self.shard(i) for i in indices]
        position = self._file_positions
        used = sorted({position[g.file] for s in shards for g in s.segments})
        return ManifestPart(self.input_uri, self.output_uri, self.settings,
                            [self.files[p] for p in used], shards, self.version, self.id,
                            self.partition_root, plan_shards=self.planned)

    @cached_property
    def _file_positions(self) -> dict[str, int]:
        # built once: a part per shard (prox refine --workers) would otherwise scan every
        # input file per shard, O(shards x files) for a plan
        return {f.uri: p for p, f in enumerate(self.files)}

    def write_part(self, indices: list[int], written: dict[str, Opened] | None = None) -> str:
        """Write :meth:`part` ``indices`` (atomically; the same bytes on every rerun) where
        :func:`load_part` reads it; returns its URI. With ``written`` (the identities of the
        parts folder's files, :func:`~prox_tasks.storage.identities_in`) a part already
        holding those bytes is left as it is, and one holding other bytes is replaced."""
        uri = part_uri(self.output_uri, self.id, indices)
        body = _plain(asdict(self.part(indices)))
        data = (json.dumps({**body, "digest": _digest(body)}, sort_keys=True) + "\n").encode()
        if written is None or not holds(uri, data, written.get(uri)):
            put_atomic(uri, data)
        return uri

    def write_parts(self, batches: list[list[int]], threads: int = 16) -> list[str]:
        """:meth:`write_part` of each of ``batches``, ``threads`` at a time: on S3 each is a
        PUT, and a plan of ``max_map_length`` (1,024) work items writes that many. A retry
        of the plan (or a rerun of an unchanged one) lists the plan's parts once and writes
        only those missing or not holding their bytes."""
        from concurrent.futures import ThreadPoolExecutor

        written = identities_in(join_uri(self.output_uri, PARTS_FOLDER, self.id))
        with ThreadPoolExecutor(max(1, min(threads, len(batches)))) as pool:
            return list(pool.map(lambda batch: self.write_part(batch, written), batches))


@dataclass
class ManifestPart(Manifest):
    """Some shards of a plan, as one refine task needs them: their segments, the input
    files they read, the plan's settings and the whole plan's ``id``. A refine task of a
    snapshot of S shards reads its part, not the whole manifest: the tasks of a run read
    the plan's bytes about once in all, not once each (S × tasks)."""

    #: The whole plan's shard count (:meth:`Manifest.part` sets it, its part file records
    #: it); None in a part file written before it was recorded.
    plan_shards: int | None = None

    def __post_init__(self):
        if not self.id:
            raise ValueError("a manifest part needs the id of its plan")
        self._by_index = {s.index: s for s in self.shards}

    @property
    def planned(self) -> int | None:
        """The whole plan's shard count, not this part's (None: not known)."""
        return self.plan_shards

    def shard(self, index: int) -> ShardPlan:
        if index not in self._by_index:
            raise IndexError(f"shard {index} is not in this part of plan {self.id[:12]} "
                             f"(shards {sorted(self._by_index)})")
        return self._by_index[index]

    def whole(self) -> Manifest:
        """The whole plan, read from ``manifest.json`` (what needs every shard: building
        the duplicate-id list, whether any shard of the plan was published).

        Raises:
            PlanReplaced: The folder holds another plan now.
        """
        manifest = load_manifest(self.output_uri)
        if manifest.id != self.id:
            raise PlanReplaced(self.output_uri, self.id, manifest.id)
        return manifest


class PlanReplaced(RuntimeError):
    """The snapshot folder was planned again since a work item was made from its plan."""

    def __init__(self, output_uri: str, planned: str, current: str):
        super().__init__(
            f"{output_uri} was planned again (plan {current[:12]}, not {planned[:12]}) since "
            "this task's work item was made: its shards belong to a plan no longer there; "
            "nothing was refined. Run the plan again (in Airflow: a new run, or clear the "
            "plan task) to refine the folder's current plan")
        self.planned, self.current = planned, current


def _plain(body: dict) -> dict:
    """``body`` (a plan as a dict) without the segments' ``byte_offset`` where there is
    none: a plan without offsets is written as before they were recorded (an older prox
    reads it); so too without a ``partition_root`` or files skipped, and without markers
    counted (None: a plan made before they were recorded; 0 is written, or a re-opening
    would count them again each time)."""
    if body.get("partition_root", "") is None:
        del body["partition_root"]
    if body.get("skipped_files") == []:  # none: written as before they were recorded
        del body["skipped_files"]
    if body.get("markers_left_out", 0) is None:
        del body["markers_left_out"]
    for shard in body["shards"]:
        _plain_shard(shard)
    return body


def _plain_shard(shard: dict) -> dict:
    """``shard`` (one of a plan's as a dict) without its segments' ``byte_offset`` where
    there is none (:func:`_plain`)."""
    for segment in shard["segments"]:
        if segment.get("byte_offset", 0) is None:
            del segment["byte_offset"]
    return shard


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def part_uri(output_uri: str, manifest_id: str, indices: list[int]) -> str:
    """Where :meth:`Manifest.write_part` writes shards ``indices`` of plan ``manifest_id``."""
    return join_uri(output_uri, PARTS_FOLDER, manifest_id,
                    f"shards-{indices[0]:05d}-{indices[-1]:05d}-{len(indices)}.json")


def load_part(output_uri: str, manifest_id: str, indices: list[int]) -> ManifestPart | None:
    """Part ``indices`` of plan ``manifest_id`` (:meth:`Manifest.write_part`), or None when
    it was not written (a plan from before parts).

    Raises:
        ValueError: The part is edited or corrupt, or holds other shards or another plan.
    """
    uri = part_uri(output_uri, manifest_id, indices)
    data = read_json(uri)
    if data is None:
        return None
    digest = data.pop("digest", None) if isinstance(data, dict) else None
    if digest is None or _digest(data) != digest:
        raise ValueError(f"{uri} does not match its digest (edited or corrupt); delete it to "
                         "read the whole manifest instead")
    if data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"{uri}: unsupported manifest version {data.get('version')}")
    part = ManifestPart(
        data["input_uri"], data["output_uri"], data["settings"],
        [InputFile(**f) for f in data["files"]],
        [ShardPlan(s["index"], s["docs"], s["bytes"], [Segment(**g) for g in s["segments"]])
         for s in data["shards"]], data["version"], data["id"], data.get("partition_root"),
        plan_shards=data.get("plan_shards") if isinstance(data.get("plan_shards"), int) else None)
    if part.id != manifest_id or [s.index for s in part.shards] != list(indices):
        raise ValueError(f"{uri} holds shards {[s.index for s in part.shards]} of plan "
                         f"{part.id[:12]}, not shards {list(indices)} of {manifest_id[:12]}")
    return part


def load_plan(output_uri: str, indices: list[int], manifest_id: str | None = None,
              manifest_version: str | None = None) -> Manifest:
    """What a refine task of shards ``indices`` needs of the plan at ``output_uri``.

    With the ``manifest_id`` and ``manifest_version`` (:func:`version_of`) its work item was
    made with, and ``manifest.json`` not rewritten since (one stat, or HEAD on S3), that is
    the part :meth:`Manifest.write_part` wrote: the task reads its own shards, not the
    whole plan. Otherwise (a rewritten manifest, a missing part, a work item from before
    parts) the whole manifest is read and its id compared.

    Raises:
        PlanReplaced: The folder holds another plan than ``manifest_id``.
        FileNotFoundError: No manifest.
        ValueError: A manifest or part edited or corrupt.
    """
    if manifest_id is None:
        return load_manifest(output_uri)
    if manifest_version is None or version_of(join_uri(output_uri, MANIFEST_NAME)) != \
            manifest_version:  # rewritten since: only its id tells whether it is that plan
        manifest = load_manifest(output_uri)
    else:
        manifest = load_part(output_uri, manifest_id, indices)
        if manifest is None:
            manifest = load_manifest(output_uri)
    if manifest.id != manifest_id:
        raise PlanReplaced(output_uri, manifest_id, manifest.id)
    return manifest


#: What reading a ``manifest.json`` that holds no plan raises (edited by hand, cut short,
#: another prox's version): :func:`load_manifest` of it.
UNREADABLE_PLAN = (ValueError, KeyError, TypeError, AttributeError)


class UnreadablePlan(ValueError):
    """A snapshot's ``manifest.json`` that holds no plan (:func:`load_manifest`): the gate
    and the release said only ``JSONDecodeError: Expecting value …`` or ``AttributeError:
    'list' object has no attribute 'get'``, naming neither the file nor a way out.

    Attributes:
        uri: The manifest file.
        reason: What reading it met (its parse error), without the way out.
    """

    def __init__(self, uri: str, err: BaseException) -> None:
        self.uri = uri
        self.reason = f"{type(err).__name__}: {err}" if type(err) is not ValueError else str(err)
        super().__init__(
            f"{uri} holds no readable plan ({self.reason}): edited by hand, cut short or "
            "written by another prox version, it no longer says what the snapshot holds; "
            "plan and refine the snapshot again (prox refine --replan, or into a new folder), "
            "then gate it again")


class OutputNotAFolder(ValueError):
    """A snapshot's output named as a file (``…/refined/dartifact.json``): prox writes a
    folder there, and reads a ``.json`` name as the plan's manifest file itself
    (:func:`load_manifest`), so the run ended in a bare 'no manifest (plan the snapshot
    first)' after writing the folder. A setting to fix (exit code 2)."""


def check_output_folder(uri: str, option: str = "--output") -> None:
    """Refuse, before anything is read or written, a snapshot output ``uri`` named as a
    ``.json`` file; its message says what the output is and what to give instead (the
    folder of a ``…/manifest.json`` named, the name without ``.json`` otherwise).

    A name ending in ``/`` (``…/snap.json/``) is a folder as given: :func:`load_manifest`
    reads ``manifest.json`` in it, and such a snapshot refined before this check was added.

    Raises:
        OutputNotAFolder: ``uri`` ends in ``.json``.
    """
    text = str(uri)
    if text.endswith("/") or not text.lower().endswith(".json"):
        return
    folder, _, name = text.rpartition("/")
    instead = folder if name.lower() == MANIFEST_NAME else text[: -len(".json")]
    raise OutputNotAFolder(
        f"{option} {uri} is named as a .json file, but it is the folder of the refined "
        f"snapshot (its {MANIFEST_NAME}, shards/ and quarantine/ are written into it; a "
        f".json name is read as a plan's {MANIFEST_NAME} file): give a folder, e.g. "
        f"{option} {instead or '.'}")


def load_manifest(uri: str) -> Manifest:
    """Read a manifest from its file, or from the output folder holding ``manifest.json``.

    Raises:
        FileNotFoundError: there is none.
        UnreadablePlan: it holds no plan (edited by hand, cut short, another version's).
    """
    target = uri if uri.endswith(".json") else join_uri(uri, MANIFEST_NAME)
    try:  # one GET on S3: the refine tasks of a snapshot each read it
        data = read_json(target)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:  # the file's, not the URI's
        raise UnreadablePlan(target, err) from err
    if data is None:
        raise FileNotFoundError(errno.ENOENT, "no manifest (plan the snapshot first)", target)
    try:
        return Manifest.from_dict(data)
    except UNREADABLE_PLAN as err:  # a bare AttributeError or ValueError named no file
        raise UnreadablePlan(target, err) from err


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def shard_folder(output_uri: str) -> str:
    """The folder of the snapshot's shard files (:func:`shard_uri`)."""
    return join_uri(output_uri, "shards")


def shard_uri(output_uri: str, index: int) -> str:
    return join_uri(shard_folder(output_uri), shard_name(index) + ".parquet")


def quarantine_folder(output_uri: str) -> str:
    """The folder of the snapshot's quarantine files (:func:`quarantine_uri`)."""
    return join_uri(output_uri, "quarantine")


def quarantine_uri(output_uri: str, index: int) -> str:
    return join_uri(quarantine_folder(output_uri), shard_name(index) + ".jsonl.gz")


def status_uri(output_uri: str, index: int) -> str:
    return join_uri(output_uri, "_status", shard_name(index) + ".json")


#: Written into a snapshot's output folder when it is released (``prox release``, the DAG's
#: release task): a released snapshot is never refined again in place.
RELEASED_NAME = "_released.json"


class ReleasedSnapshot(RuntimeError):
    """Refining (or planning) again into a folder whose snapshot was released."""


def mark_released(output_uri: str, release: dict, completed: bool = False) -> None:
    """Record in the output folder that its snapshot is released as ``release["name"]``:
    first before the release is published (its files must not change from then on), then
    ``completed`` once every step of the release is done. Read and written in one step
    (:func:`~prox_tasks.storage.swap.replace_if`): two releases of one folder at the same
    moment both keep their marks."""
    from prox_tasks.storage.swap import replace_if

    def decide(current: bytes | None) -> bytes | None:
        marks = json.loads(current) if current else []
        mark = next((m for m in marks if m["name"] == release["name"]), None)
        if mark is None:
            mark = {"name": release["name"], "record_uri": release.get("record_uri"),
                    "manifest_id": release.get("manifest_id"), "completed": False}
            marks.append(mark)
        elif mark.get("completed", True):
            return None
        elif mark.get("record_uri") == release.get("record_uri") and not completed:
            return None
        # a release that failed (its root not writable, mistyped) then done into another
        # root: the mark names the record this release writes, not the one never written
        mark["record_uri"] = release.get("record_uri")
        mark["completed"] = completed
        return (json.dumps(marks, indent=1) + "\n").encode()

    replace_if(join_uri(output_uri, RELEASED_NAME), decide)


def unmark_released(output_uri: str, name: str, manifest_id: str) -> None:
    """Take back the mark :func:`mark_released` wrote for a release ``name`` of plan
    ``manifest_id`` that did not happen (the name was released from another plan since):
    the folder may be refined again unless another release marks it. A completed mark, or
    one of another plan, stays. One step, as :func:`mark_released`; a folder with no mark
    left holds an empty list (released under no name)."""
    from prox_tasks.storage.swap import replace_if

    def decide(current: bytes | None) -> bytes | None:
        marks = json.loads(current) if current else []
        kept = [m for m in marks if not (m["name"] == name and not m.get("completed", True)
                                         and m.get("manifest_id") == manifest_id)]
        return None if kept == marks else (json.dumps(kept, indent=1) + "\n").encode()

    replace_if(join_uri(output_uri, RELEASED_NAME), decide)


def release_completed(output_uri: str, name: str) -> bool:
    """Whether the release ``name`` of the snapshot at ``output_uri`` finished every step (a
    mark written before marks were completed counts as finished)."""
    mark = next((m for m in released_as(output_uri) or [] if m["name"] == name), None)
    return mark is not None and mark.get("completed", True)


def released_as(output_uri: str) -> list[dict] | None:
    """The releases made of the snapshot at ``output_uri`` (None: never released)."""
    return read_json(join_uri(output_uri, RELEASED_NAME))


def replan_way_out(output_uri: str, replan: str, refused: str = "--replan") -> str:
    """How to get past a plan that no longer holds: ``replan`` (planning the folder again),
    unless the snapshot at ``output_uri`` was released — its plan is not replaced
    (``--replan`` is refused): then a new output folder. The one wording of a released
    snapshot's way out: ``refused`` names the option the usual way out takes there (the
    settings claim's ``--force``)."""
    if released_as(output_uri):
        return ("refine into a new output folder (another snapshot name): this snapshot was "
                f"released, so {refused} is refused")
    return replan


def refuse_if_released(output_uri: str, what: str) -> None:
    """Raise :class:`ReleasedSnapshot` when the snapshot at ``output_uri`` was released:
    its shards are what the release's checksums and ``latest.json`` point at."""
    marks = released_as(output_uri)
    if marks:
        names = ", ".join(m["name"] for m in marks)
        # a release stopped midway (marked, record or latest.json not yet written) is
        # finished by running it again, not undone
        unfinished = [m["name"] for m in marks if not m.get("completed", True)]
        finish = (f" (the release of {', '.join(unfinished)} did not complete: run the same "
                  "prox release again, or clear the DAG's release task, to finish it)"
                  if unfinished else "")
        raise ReleasedSnapshot(
            f"{output_uri} was released as {names}{finish}; {what} would change released "
            "files. Refine into a new output folder (another snapshot name) and release that")
