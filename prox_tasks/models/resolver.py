"""Which model to refine with: the one rule every caller (CLI, DAG task, bench) follows.

:func:`resolve_model` turns what the user asked for into a model URI and its version:

- an explicit URI or path (local, ``file://``, ``s3://``): that model (a local path made
  absolute: a snapshot records where its model is, whatever folder a rerun starts in);
- ``"default"``: the shipped default (``$PROX_DEFAULT_MODEL``, else the line tagger shipped
  in ``prox_tasks/models/line-tagger``);
- ``"promoted"``: the promoted model, which must exist (:class:`NoModelError` otherwise);
- ``None`` (nothing asked): the promoted model, else the shipped default.

"The promoted model" is the model registry's (``$PROX_MODEL_REGISTRY``, a local folder or
``s3://`` prefix, default ``$PROX_HOME/registry``), else the catalog's promoted row that was
promoted last (a registry elsewhere that registered its models in the catalog).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
PROMOTED_MODEL = "promoted"
#: The model names that are choices, not locations (``--model``, ``--base``, their Params).
MODEL_CHOICES = (DEFAULT_MODEL, PROMOTED_MODEL)
DEFAULT_NAME = "refiner"
DEFAULT_MODEL_ENV = "PROX_DEFAULT_MODEL"
#: The shipped default checkpoint: package data (``pip install .`` ships it), the one place
#: its path is named.
SHIPPED_MODEL = Path(__file__).resolve().parent / "line-tagger"


class NoModelError(LookupError):
    """``"promoted"`` was asked for and no model is promoted.

    Its message (``str``) is ``prox``'s, naming the command's option; :meth:`worded` gives it
    as the DAG's user reads it, naming the Param (a DAG task's
    :func:`~prox_tasks.pipeline.errors.fail_fast` says it so).

    Attributes:
        name: The model name asked for.
        registry: The registry looked in.
        setting: The setting that asked for ``promoted`` (``model``: ``prox refine --model``,
            the refine DAG's Param; ``base``: ``prox train --base``, the train DAG's).
        from_environment: ``registry`` is ``$PROX_MODEL_REGISTRY`` (or its default), not one
            the caller named.
        catalog: A catalog was looked in too (False: ``prox train --base promoted`` without
            ``--catalog``, which consults none).
        origin: Where ``registry`` came from, as the message says it: ``PROX_MODEL_REGISTRY``
            when that is set, else the default under PROX_HOME; None for one the caller named.
    """

    def __init__(self, name: str, registry: str, setting: str = "model",
                 from_environment: bool = True, catalog: bool = True) -> None:
        self.name, self.registry, self.setting = name, registry, setting
        self.from_environment, self.catalog = from_environment, catalog
        # read when raised: the message must not blame a variable that is not set
        self.origin = (None if not from_environment else "PROX_MODEL_REGISTRY"
                       if os.environ.get("PROX_MODEL_REGISTRY") else
                       "the default under PROX_HOME: PROX_MODEL_REGISTRY is unset")
        super().__init__(self.worded("cli"))

    def worded(self, caller: str) -> str:
        """The message for ``caller`` (``cli`` or ``dag``,
        :func:`~prox_tasks.setting_names.setting_name`): how to get a promoted model, and
        the setting to name another one with, as that user runs and sets them."""
        from prox_tasks.setting_names import setting_name

        where = self.registry + (f" ({self.origin})" if self.origin else "")
        if caller == "dag":
            get_one = ("run prox_seed_label (seed programs), then prox_train_refiner (it "
                       "promotes the trained model when it passes the gold gate, into its "
                       "registry Param's registry: the one PROX_MODEL_REGISTRY must name)")
            pass_one = f"name a model in {setting_name(self.setting, caller)}"
        else:
            get_one = ("run `prox label` (seed programs), then `prox train --seed SEED --output "
                       "REGISTRY` (promotes the trained model when it passes the gold gate; "
                       "point PROX_MODEL_REGISTRY at that REGISTRY)")
            pass_one = f"name a model with {setting_name(self.setting, caller)}"
        return (f"no promoted model {self.name!r} in the model registry {where}"
                + (" or the catalog" if self.catalog else " (no catalog consulted)")
                + f". To get one, {get_one}; or {pass_one}: a refiner artifact "
                "folder, a Hugging Face model folder (e.g. a local copy of a ProX refining "
                "model), or 'default' ($PROX_DEFAULT_MODEL, else the shipped line tagger)"
                + ("; or none, to train from scratch." if self.setting == "base" else "."))


@dataclass(frozen=True)
class ResolvedModel:
    """The model a run uses.

    Attributes:
        uri: Where it lives (local path, ``file://`` or ``s3://``).
        source: ``explicit``, ``registry``, ``catalog`` or ``default`` (``snapshot``: the
            model an existing snapshot was refined with, see
            :func:`prox_tasks.refine.options.snapshot_model`).
        version: Its version when the registry or catalog knows it (None otherwise: the
            loaded model reports it, see :func:`prox_tasks.models.artifact.artifact_version`).
        recorded_as: Where a snapshot's records name it (source ``snapshot``) when that is
            another installation's folder of the shipped line tagger that :attr:`uri`, this
            installation's, stands for (:func:`installed_here`); None otherwise.
    """

    uri: str
    source: str
    version: str | None = None
    recorded_as: str | None = None


def shipped_version() -> str:
    """The version of this installation's shipped line tagger (its ``artifact.json``'s,
    :func:`~prox_tasks.models.artifact.artifact_version`): the same for every installation
    of one prox release, wherever its package lives. Read once a process."""
    global _SHIPPED_VERSION
    if _SHIPPED_VERSION is None:
        from prox_tasks.models.artifact import artifact_version

        _SHIPPED_VERSION = artifact_version(SHIPPED_MODEL)
    return _SHIPPED_VERSION


_SHIPPED_VERSION: str | None = None


def shipped_elsewhere(model: str | os.PathLike | None) -> bool:
    """Whether ``model`` (a local path or ``file://`` URI, as a snapshot, a claim or a DAG
    work item records it) is where another prox installation keeps its shipped line tagger
    (``…/prox_tasks/models/line-tagger``, not this installation's folder)."""
    path = _local_path(model)
    tail = os.path.join(*SHIPPED_MODEL.parts[-3:])  # prox_tasks/models/line-tagger
    return path is not None and path.endswith(os.sep + tail) and path != str(SHIPPED_MODEL)


def _local_path(model: str | os.PathLike | None) -> str | None:
    """``model`` (a local path or ``file://`` URI) as a normalized path; None for none, or
    for another scheme's URI."""
    if not model:
        return None
    from prox_tasks.storage import parse_uri

    text = os.fspath(model)
    if "://" in text:
        location = parse_uri(text)
        if location.scheme != "file":
            return None
        text = location.path
    return os.path.normpath(text)


def typed_here(typed: ResolvedModel, recorded: ResolvedModel | None = None) -> ResolvedModel:
    """``typed``, a model named by its folder (``--model``, the refine DAG's ``model``
    Param: source ``explicit``), as this installation finds it. Another installation's
    folder of the shipped line tagger that is gone (a virtual environment since removed)
    is this installation's when its version is known to be this one's: a snapshot's records
    (``recorded``, :func:`~prox_tasks.refine.options.snapshot_refined`) name that folder and
    its shards were refined with :func:`shipped_version`. The folder gone and its version
    not known (a new output folder, another release's shards), it is refused: taken for
    this one's, it could refine with another release's model under that one's name. Any
    other model (one still there included: its own files say what it is) is ``typed``.

    Raises:
        prox_tasks.refine.options.ModelNotFound: The folder is gone and its version not
            known, saying to name ``default`` (this installation's).
    """
    path = _local_path(typed.uri) if typed.source == "explicit" else None
    if path is None or not shipped_elsewhere(path) or os.path.exists(path):
        return typed
    version = recorded.version if recorded is not None else None
    if recorded is not None and _local_path(recorded.recorded_as) == path \
            and version is not None and version == shipped_version():  # fmt: skip
        log.info("%s: the shipped line tagger of a prox installed elsewhere, version %s as "
                 "the snapshot's shards record it: this installation's, %s", typed.uri,
                 version, SHIPPED_MODEL)
        return ResolvedModel(str(SHIPPED_MODEL), "explicit", version)
    from prox_tasks.refine.options import ModelNotFound

    tail = os.path.join(*SHIPPED_MODEL.parts[-3:])
    raise ModelNotFound(
        f"no model at {typed.uri} (the line tagger shipped with a prox installed at "
        f"{path[:-len(tail) - 1]}, gone from there; which version it was is not known here: "
        "no snapshot refined with it in this output folder records it). To refine with "
        f"this prox's own shipped line tagger ({SHIPPED_MODEL}, version {shipped_version()}), "
        "give --model default (the DAG's model Param: default)")


def shipped_here(model: str | os.PathLike | None, version: str | None = None) -> bool:
    """Whether ``model`` is another installation's shipped line tagger that is this
    installation's (:data:`SHIPPED_MODEL`) by its version identity: ``version`` (what the
    snapshot's shards record they were refined with, ``model_version``), else the folder's
    own when it is still there, is :func:`shipped_version`. Neither known (the folder gone
    and nothing published with it: a claim alone) counts as this one's: no row of another
    model is there to keep, and every published shard is checked against its own recorded
    version where it is reused (:func:`~prox_tasks.refine.step.same_request`)."""
    if not shipped_elsewhere(model):
        return False
    if version is None:
        folder = Path(os.fspath(model).removeprefix("file://"))
        if (folder / "refiner.json").exists():
            from prox_tasks.models.artifact import artifact_version

            try:
                version = artifact_version(folder)
            except (OSError, ValueError):  # changed files: not the release's model
                return False
    return version is None or version == shipped_version()


def installed_here(model: str | None, version: str | None = None) -> str | None:
    """``model`` as this installation finds it: this installation's shipped folder for
    another installation's shipped line tagger of the same version (:func:`shipped_here`:
    a snapshot refined by a prox since moved, upgraded into a new environment, or living at
    another path on the plan's machine than on this worker), else ``model`` itself."""
    return str(SHIPPED_MODEL) if shipped_here(model, version) else model


def shipped_version_of(model: str | os.PathLike | None) -> str | None:
    """:func:`shipped_version` when ``model`` (as a request records it) is this
    installation's folder of the shipped line tagger; None for any other model. The folder
    stays where it is when prox is upgraded in place while the model in it changes, so its
    path alone does not say which version a shard or a claim naming it was refined with."""
    return shipped_version() if _local_path(model) == str(SHIPPED_MODEL) else None


def same_model(recorded: str | None, asked: str | None, version: str | None = None) -> bool:
    """Whether the model ``recorded`` (a snapshot's claim or a shard's status, refined with
    ``version`` when it says) is the model ``asked`` by a rerun: the same URI — for this
    installation's shipped line tagger also of its version (:func:`shipped_version_of`: a
    prox upgraded in place ships another model in the same folder) — or another
    installation's shipped line tagger of this installation's version where ``asked`` is
    this one's (:func:`shipped_here`)."""
    if recorded == asked:
        return version is None or shipped_version_of(asked) in (None, version)
    return asked == str(SHIPPED_MODEL) and shipped_here(recorded, version)


def shipped_elsewhere_hint(missing: str | os.PathLike) -> str:
    """``" (...)"`` for a local model path that does not exist and is where another prox
    installation keeps its shipped line tagger (``…/prox_tasks/models/line-tagger``: a
    checkout since replaced by an installed package, a virtual environment since removed, a
    worker whose prox lives elsewhere): a snapshot that installation refined without
    ``--model`` records that folder, and a rerun of it from here looks for it there when
    its shards were refined with another version than this installation's shipped one
    (another prox release; the same version is this one's: :func:`installed_here`). Says
    where this installation's is, its version, and the ways on; empty for any other path.
    It ends a :class:`~prox_tasks.refine.options.ModelNotFound`, whose line a command does
    not cut."""
    if not shipped_elsewhere(missing):
        return ""
    path = os.path.normpath(os.fspath(missing))
    tail = os.path.join(*SHIPPED_MODEL.parts[-3:])  # prox_tasks/models/line-tagger
    return (f" (the line tagger shipped with a prox installed at {path[:-len(tail) - 1]}, "
            f"gone from there: this prox ships its own at {SHIPPED_MODEL}, version "
            f"{shipped_version()}, and the snapshot's shards were refined with another "
            "version (another prox release). To refine that snapshot, put that installation "
            "back; or refine the snapshot again with --force (the DAG's reprocess Param) or "
            "into a new output folder; docs/deploy.md, \"Moving to another installation\")")


#: A model version's name (``prox train`` and ``prox models`` print them): the last part of
#: a missing model path that is one gets :func:`version_hint`.
VERSION_NAME = re.compile(r"(line_tagger|causal_lm)-[0-9a-f]{12}")


def version_hint(missing: str | os.PathLike, name: str = DEFAULT_NAME) -> str:
    """``" (...)"`` for a local model path that does not exist and ends in a version's name
    (``--model line_tagger-d5b40dbfc73c``, as ``prox train`` printed it): the version's
    folder in the registry refining reads when it is published there, else where such a
    folder is (also when the registry cannot be read: the hint must not replace the error
    it ends); empty for any other path. Short: it ends a FileNotFoundError, whose line a
    command cuts at 400 characters."""
    version = os.path.basename(os.fspath(missing).rstrip("/"))
    if not VERSION_NAME.fullmatch(version):
        return ""
    from prox_tasks.models.artifact import ARTIFACT
    from prox_tasks.pipeline import settings
    from prox_tasks.registry import ModelRegistry
    from prox_tasks.storage import exists, parse_uri

    anywhere = f" (a model version: give its folder, REGISTRY/{name}/{version})"
    try:
        folder = ModelRegistry(settings.registry_root()).uri(name, version)
        published = exists(f"{folder.rstrip('/')}/{ARTIFACT}")
    except Exception:  # noqa: BLE001 - a hint: the registry's fault (S3 down) must not
        return anywhere  # replace the error it ends, the model path the user gave missing
    if not published:
        return anywhere
    where = parse_uri(folder)  # short: a command's line cuts another library's error
    shown = where.path if where.scheme == "file" else folder
    return f" (a version of {name}: give its folder, {shown})"


def shipped_default() -> ResolvedModel:
    """``$PROX_DEFAULT_MODEL``, else the line tagger shipped with prox.

    Raises:
        prox_tasks.refine.options.ModelNotFound: ``$PROX_DEFAULT_MODEL`` names a local path
            (or ``file://`` URI) that does not exist (the message names the variable, not only the path): a
            setting to fix, as ``--model`` naming nothing is (``prox`` exits 2, a DAG task
            fails without retries); a FileNotFoundError still.
    """
    from prox_tasks.storage import parse_uri

    configured = os.environ.get(DEFAULT_MODEL_ENV)
    # a file:// URI too: it was refused later as "no model at file:///…", the variable unnamed
    local = parse_uri(configured) if configured else None
    if local is not None and local.scheme == "file" and not os.path.exists(local.path):
        from prox_tasks.refine.options import ModelNotFound

        raise ModelNotFound(f"no model at {configured} ({DEFAULT_MODEL_ENV}): fix or "
                            "unset the variable (unset: the shipped line tagger)")
    return ResolvedModel(located(configured) if configured else str(SHIPPED_MODEL), "default")


def located(model: str) -> str:
    """``model`` as a snapshot records it: a local path made absolute (``tiny``, ``./tiny/``
    and ``/work/tiny`` are one folder, and a rerun started in another folder — no
    ``--model``: the snapshot's — finds the same one, not another folder of that name);
    ``file://`` and ``s3://`` URIs as given."""
    return model if "://" in model else os.path.abspath(model)


#: The backend options that name a model folder per level (``--doc-model``,
#: ``--chunk-model``): located as ``--model`` is (:func:`located_levels`).
LEVEL_MODEL_OPTIONS = ("doc_model", "chunk_model")


def located_levels(options: dict | None) -> dict | None:
    """``options`` (a refine's backend options) with the folder each level's model is named
    by (:data:`LEVEL_MODEL_OPTIONS`) :func:`located`, as ``--model`` is: ``--doc-model tiny``,
    ``tiny/`` and its absolute path are one folder, and the snapshot records where it is."""
    if not options or not any(isinstance(options.get(k), str) for k in LEVEL_MODEL_OPTIONS):
        return options
    return {k: located(v) if k in LEVEL_MODEL_OPTIONS and isinstance(v, str) and v else v
            for k, v in options.items()}  # fmt: skip


def spellings_as_typed(model: str) -> list[str]:
    """The ways a prox before :func:`located` could have recorded the local folder
    ``model`` (absolute) as typed from this folder: relative (``tiny``, ``./tiny``) or
    absolute, with or without a trailing slash — what a snapshot refined then holds, read
    against a rerun's request (:func:`~prox_tasks.refine.step.same_request`). A URI: itself."""
    if "://" in model:
        return [model]
    relative = os.path.relpath(model)
    bases = [model, relative] + ([] if relative.startswith("..") or relative == "."
                                 else [f"./{relative}"])  # fmt: skip
    return [spelled for base in bases for spelled in (base, base.rstrip("/") + "/")]


def promoted(name: str = DEFAULT_NAME, registry: str | None = None,
             catalog_url: str | None = None, *, catalog: bool = True) -> ResolvedModel | None:
    """The promoted model ``name``: the registry's, else the catalog's, else None.

    Args:
        name: Model name.
        registry: Registry root (default ``$PROX_MODEL_REGISTRY``, else
            ``$PROX_HOME/registry``).
        catalog_url: Catalog URL (default ``$PROX_CATALOG_URL``, else SQLite in PROX_HOME).
        catalog: Consult a catalog at all (False: the registry's promoted model or None,
            for a registry that registers its models in no catalog).

    Raises:
        prox_tasks.registry.PromotedVersionGone: the registry's ``promoted.json`` names a
            version that is not published there.
    """
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import settings
    from prox_tasks.registry import ModelRegistry

    # one removed by hand is an error: falling back on the catalog or the shipped default
    # would serve another model than the one the registry promoted
    record = ModelRegistry(registry or settings.registry_root()).promoted_published(name)
    if record is not None:
        return ResolvedModel(record["uri"], "registry", record.get("version"))
    if not catalog:
        return None
    with Catalog(settings.catalog_url(catalog_url)) as opened:
        row = opened.promoted_model(name)
    if row is not None and row.get("uri"):
        return ResolvedModel(row["uri"], "catalog", row.get("version"))
    return None


def resolve_model(model: str | os.PathLike | None = None, *, name: str = DEFAULT_NAME,
                  registry: str | None = None, catalog_url: str | None = None,
                  catalog: bool = True, setting: str = "model") -> ResolvedModel:
    """The model to use for ``model`` (see the module docs for the rule).

    Args:
        model: A URI or path, ``"default"``, ``"promoted"`` or None (``""`` is None: an
            empty Param).
        name: Model name in the registry and catalog.
        registry: Registry root (see :func:`promoted`).
        catalog_url: Catalog URL (see :func:`promoted`).
        catalog: Consult a catalog at all (see :func:`promoted`).
        setting: The option or Param ``model`` was given as (``model``, ``base``): the one
            :class:`NoModelError` names.

    Raises:
        NoModelError: ``"promoted"`` and none is promoted (the message says how to get one).
    """
    text = os.fspath(model).strip() if model is not None else ""
    if text == DEFAULT_MODEL:
        return shipped_default()
    if text and text != PROMOTED_MODEL:
        return ResolvedModel(located(text), "explicit")
    found = promoted(name, registry, catalog_url, catalog=catalog)
    if found is not None:
        return found
    if text == PROMOTED_MODEL:
        from prox_tasks.pipeline import settings

        raise NoModelError(name, registry or settings.registry_root(), setting,
                           from_environment=registry is None, catalog=catalog)
    if name != DEFAULT_NAME:  # a name asked for (a typo?), nothing of it: say so plainly
        from prox_tasks.pipeline import settings

        log.warning("no promoted %r model in the model registry %s or the catalog: using the "
                    "shipped default (pass --model promoted to require one)", name,
                    registry or settings.registry_root())
    else:
        log.info("no promoted %r model: using the shipped default", name)
    return shipped_default()
