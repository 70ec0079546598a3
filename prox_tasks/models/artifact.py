"""Model artifact folders: their files, their content digest and their version.

A model's version is one string everywhere — output rows, shard status files, the model
registry, the catalog: ``<kind>-<first 12 hex of the sha256 of the folder's files>``
(``kind`` from ``refiner.json``, ``causal_lm`` for a bare Hugging Face folder). The
registry records it in ``artifact.json``; a folder outside the registry gets the version
it will have once published.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from prox_tasks.json_objects import NotAJSONObject, json_object

ARTIFACT = "artifact.json"
REFINER_FILE = "refiner.json"
#: The kinds of refiner a ``refiner.json`` may name (none named: ``causal_lm``).
KINDS = ("line_tagger", "causal_lm")
#: A line tagger's weights, beside its ``refiner.json``.
TAGGER_WEIGHTS = "model.safetensors"
_BLOCK = 1 << 20


def artifact_files(folder: Path) -> list[str]:
    """The artifact's files, relative and sorted: those its ``artifact.json`` lists (a
    published copy may hold notes beside them), else every file but hidden ones."""
    folder = Path(folder)
    record = folder / ARTIFACT
    if record.exists():
        try:
            return sorted(json.loads(record.read_text())["files"])
        except (ValueError, KeyError, TypeError):
            pass
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return [n for n in names if n != ARTIFACT and not n.startswith(".")]


def artifact_digest(folder: Path) -> tuple[str, list[str]]:
    """(sha256 hex over every file's name and bytes, the files)."""
    folder = Path(folder)
    files = artifact_files(folder)
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0")
        with open(folder / name, "rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest(), files


class ModelDamaged(ValueError):
    """A model folder's own record of what it is — its ``refiner.json``
    (:class:`RefinerSettingsDamaged`) or its ``artifact.json``
    (:class:`ArtifactRecordDamaged`) — that cannot be read: the message names the file and
    what to do. No rerun gets past it with that model: a ``prox`` command exits 2
    (:func:`prox_tasks.cli.errors.setting_errors`), a DAG task fails without retries
    (:func:`prox_tasks.pipeline.errors.cannot_succeed`). A ValueError, as before, for the
    callers that catch one."""


class RefinerSettingsDamaged(ModelDamaged):
    """A ``refiner.json`` that is no refiner's settings: not JSON, not an object, or a kind
    no backend of this prox runs (:func:`refiner_settings`)."""


class ModelConfigDamaged(ModelDamaged):
    """A Hugging Face ``config.json`` whose values the model's configuration class refuses
    (a count written as a string: transformers' ``StrictDataclassFieldValidationError``),
    found as a backend loads the model: the shard failed naming the field alone, and the
    DAG retried it in vain."""


class TokenizerMissing(ModelDamaged):
    """A causal LM's folder holding no tokenizer file, found as a backend loads it."""


def refiner_settings(raw: bytes | str, where: str) -> dict:
    """The settings of a ``refiner.json`` read as ``raw`` (``where``: its location, named in
    the errors): a JSON object whose ``kind`` is one of :data:`KINDS` (none: ``causal_lm``).

    Every reader of a model's ``refiner.json`` — the refine checks, the loaders, versioning —
    parses it here, so a broken file is refused the same way wherever it is met, and a kind
    no backend knows is never run as another one.

    Raises:
        RefinerSettingsDamaged: Not JSON, not an object, or an unknown ``kind`` (the message
            names the file and says what to fix).
    """
    try:
        settings = json_object(raw)
    except NotAJSONObject as err:
        raise RefinerSettingsDamaged(f"{where} is {err.problem}: the model folder is damaged; "
                                     "fetch or publish the model again") from None
    kind = settings.get("kind") or "causal_lm"
    if kind not in KINDS:
        raise RefinerSettingsDamaged(f"{where}: kind {kind!r} is no refiner kind prox runs (one "
                                     f"of {', '.join(KINDS)}): fix its kind, or upgrade prox "
                                     "if a newer version wrote it")
    return settings


def check_model_files(settings: dict, names: set[str], where: str) -> None:
    """Refuse a model folder (its files ``names``, relative) that lacks a file a model of
    these ``refiner.json`` settings cannot load without: a line tagger's weights.

    Raises:
        FileNotFoundError: The message names the files, the folder and what to do.
    """
    needed = [TAGGER_WEIGHTS] if settings.get("kind") == "line_tagger" else []
    missing = [name for name in needed if name not in names]
    if missing:
        raise FileNotFoundError(f"no {', '.join(missing)} in {where}, which its {REFINER_FILE} "
                                f"(kind {settings['kind']}) needs: a copy cut short or a file "
                                "left out; fetch or publish the model again")


def read_refiner_settings(folder: Path) -> dict:
    """The folder's ``refiner.json`` (:func:`refiner_settings`), or {} without one (a bare
    Hugging Face folder)."""
    settings_file = Path(folder) / REFINER_FILE
    if not settings_file.exists():
        return {}
    return refiner_settings(settings_file.read_bytes(), str(settings_file))


def artifact_kind(folder: Path) -> str:
    """``refiner.json``'s kind, else ``causal_lm`` (a bare Hugging Face folder).

    Raises:
        FileNotFoundError: The folder holds neither ``refiner.json`` nor ``config.json``
            (it is no model of any kind).
        ValueError: ``refiner.json`` is broken (:func:`refiner_settings`).
    """
    if (Path(folder) / REFINER_FILE).exists():
        return str(read_refiner_settings(folder).get("kind") or "causal_lm")
    if not (Path(folder) / "config.json").exists():
        raise FileNotFoundError(f"no {REFINER_FILE} or config.json in {folder}")
    return "causal_lm"


def version_string(kind: str, digest: str) -> str:
    return f"{kind}-{digest[:12]}"


class ArtifactChanged(ModelDamaged):
    """An artifact's files no longer hash to the digest its ``artifact.json`` records: a
    :class:`ModelDamaged`, as no rerun changes them back (the refine DAG retried each shard's
    task on it, in vain, and ``prox refine`` said the same command would finish the run)."""


class ArtifactRecordDamaged(ArtifactChanged, ModelDamaged):
    """An ``artifact.json`` that is no artifact record (not JSON, not an object, no
    ``version`` or ``sha256``): the folder's files cannot be checked against what was
    published, so the model is not loaded under any version."""


def artifact_record(raw: bytes | str, where: str) -> dict:
    """The record in an ``artifact.json`` read as ``raw`` (``where``: its location, named in
    the error): a JSON object with its ``version`` and ``sha256``.

    Every reader of a published ``artifact.json`` — loading a model, the registry's
    listings — parses it here, so a damaged one is refused the same way wherever it is met
    and never skipped: a loader that ignored it would run the folder's files, changed or
    not, under the version their digest gives, not the one published.

    Raises:
        ArtifactRecordDamaged: the message names the file and what to do.
    """
    try:
        record = json_object(raw)
    except NotAJSONObject as err:
        problem = err.problem
    else:
        missing = [key for key in ("version", "sha256")
                   if not isinstance(record.get(key), str) or not record[key]]
        problem = f"no {' or '.join(missing)}" if missing else None
    if problem:
        raise ArtifactRecordDamaged(
            f"{where} is damaged ({problem}): the model's files cannot be checked against the "
            "version published, so it is not loaded; publish the model again, or put back "
            "its artifact.json")
    return record


#: Digests already computed, keyed by the folder and each file's (name, mtime, size): a
#: process that loads the same model again (a refiner per shard) hashes it once.
_DIGESTS: dict[tuple, str] = {}


def _current_digest(folder: Path) -> str:
    files = artifact_files(folder)
    stats = tuple((name, (st := (folder / name).stat()).st_mtime_ns, st.st_size) for name in files)
    key = (str(folder.resolve()), stats)
    if key not in _DIGESTS:
        _DIGESTS[key] = artifact_digest(folder)[0]
    return _DIGESTS[key]


def _cached_from(path: Path) -> str | None:
    """The URI a model cache copy was downloaded from (its ``.complete`` marker, written by
    :func:`prox_tasks.registry.fetch_folder`), or None for any other folder."""
    try:
        return (path / ".complete").read_text().strip() or None
    except OSError:
        return None


def artifact_version(path: Path, settings: dict | None = None) -> str:
    """The version of the artifact in ``path``: the registry's (``artifact.json``), else
    the one it gets when published (``<kind>-<digest>``).

    Every loader of a model (``prox refine --model``, the DAG, ``prox train --base``) asks
    for its version here, so this is where a published copy is checked: its files must
    still hash to the ``sha256`` its ``artifact.json`` records, else a changed model would
    refine and train under the original's version.

    Raises:
        ArtifactChanged: The files do not hash to the recorded digest (the message names
            ``artifact.json``).
        FileNotFoundError: A file ``artifact.json`` lists is missing.
    """
    path = Path(path)
    record = path / ARTIFACT
    if record.exists():
        source = _cached_from(path)
        where = f"{source.rstrip('/')}/{ARTIFACT}" if source else str(record)
        published = artifact_record(record.read_bytes(), where)
        version, expected = published["version"], published["sha256"]
        digest = _current_digest(path)
        if digest != expected:
            where = (f" (a copy of {source}, downloaded as it is there now: its files "
                     "were changed in place since; publish the model again, or put "
                     "back the published files)" if source else "")
            raise ArtifactChanged(
                f"{record}: the model's files ({', '.join(artifact_files(path))}) hash "
                f"to {digest[:12]}, not the {expected[:12]} recorded when "
                f"{version} was published; they changed since: fetch or publish it "
                f"again{where}")  # fmt: skip
        return version
    kind = (settings or {}).get("kind") or artifact_kind(path)
    return version_string(kind, artifact_digest(path)[0])


def file_not_folder(path: str) -> FileNotFoundError:
    """The error for a model location that names a file (a weights file given for its
    folder): every backend, and the registry's fetch, loads a folder."""
    import os

    return FileNotFoundError(f"{path} is a file, not a model folder: give the folder that "
                             f"holds the model ({os.path.dirname(os.fspath(path))}?)")
