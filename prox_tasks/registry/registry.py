"""Versioned model artifacts under a local folder or an ``s3://`` prefix, and promotion.

Layout under the registry root::

    <name>/<version>/...files...          the artifact (weights, tokenizer, refiner.json)
    <name>/<version>/artifact.json        training config, seed-set version, metrics, files
    <name>/promoted.json                  the promoted version and its metrics
    <name>/decisions/<version>.json       each promotion decision, both sets of numbers
    <name>/trainings/<identity>.json      the version a training published (its seed set,
                                          settings and code: :meth:`ModelRegistry.trained`)

A version is content-addressed (``<kind>-<sha256 of the files, 12 hex>``, the one version
string of :mod:`prox_tasks.models.artifact`), so publishing the same model twice is a no-op and a retried task gives the same version. A candidate is
promoted only when it is at least as good as the incumbent on the shipped human-gold
evaluation set (word F1; word recall within ``GOLD_RECALL_TOLERANCE``) and beats it on the
same validation documents (:func:`beats`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prox_tasks.json_objects import NotAJSONObject, json_object
from prox_tasks.models.artifact import (
    ARTIFACT,
    ArtifactRecordDamaged,
    artifact_digest,
    artifact_record,
    file_not_folder,
    version_string,
)
from prox_tasks.storage import (
    exists,
    holds_file,
    identities_in,
    is_hidden,
    join_uri,
    list_uri,
    parse_uri,
    put_atomic,
    read_bytes,
    read_json,
    to_uri,
    version_of,
)
from prox_tasks.storage.local import TEMP_MARK, temp_folder
from prox_tasks.storage.swap import replace_if
from prox_tasks.storage.tempfiles import sweep_stale

log = logging.getLogger(__name__)

PROMOTED = "promoted.json"
#: ``<name>/trainings/<identity>.json``: which version a training of that identity published.
TRAININGS = "trainings"
MAX_FAILURE_RATE = 0.0036  # the ProX paper's chunk-level failure rate
#: A candidate's gold word recall may be at most this much below the incumbent's.
GOLD_RECALL_TOLERANCE = 0.005
#: ... and its gold word F1 at most this much below (0: at least as good).
GOLD_F1_TOLERANCE = 0.0
#: The reason's note when a candidate is decided with nothing promoted and the gold gate off.
NOT_COMPARED_WITH_DEFAULT = "gold gate off: not compared with the shipped default"
_COMPLETE = ".complete"
_UNSET = object()  # decide(): no incumbent_version given
#: How long an older copy of a model whose files changed at the same URI stays in the cache
#: after its last use: a process that fetched it a moment ago may still be loading it.
STALE_COPY_GRACE_SECONDS = 3600
#: The folder an older prox downloaded a model into before naming it with host and pid
#: (83438f9): ``mkdtemp(prefix=".<key>-")``, its key two 16-hex digests. Such a folder of a
#: URI never fetched again stayed for good; in the cache's root nothing else is named so.
LEGACY_DOWNLOAD = r"\.[0-9a-f]{16}-[0-9a-f]{16}-[a-z0-9_]{8}"


def score(metrics: dict) -> float:
    """The promotion score: the mean of document F1 and line F1 against the teacher."""
    return (float(metrics.get("doc_f1", 0.0)) + float(metrics.get("line_f1", 0.0))) / 2


def gold_verdict(candidate: dict | None, incumbent: dict | None) -> tuple[bool, str]:
    """Whether the candidate is at least as good as the incumbent on human gold, and why.

    Both are :func:`prox_tasks.evaluation.goldset.evaluate_on_gold` results on the same gold
    set (both ``None``: the gate is off, which passes). The candidate passes when its word F1
    is not below the incumbent's by more than ``GOLD_F1_TOLERANCE`` and its word recall not
    by more than ``GOLD_RECALL_TOLERANCE``; with the gate on, a side without a word F1 (no
    document with gold was scored) fails: nothing was compared.
    """
    if candidate is None and incumbent is None:
        return True, ""
    missing = [side for side, gold in (("candidate", candidate), ("incumbent", incumbent))
               if not gold or gold.get("f1") is None]  # fmt: skip
    if missing:
        where = (candidate or incumbent or {}).get("gold_set", "?")
        return False, (f"no gold word F1 for the {' and the '.join(missing)} on gold set "
                       f"{where} (no document with gold scored): the gold gate compared nothing")
    cf, inf = float(candidate["f1"]), float(incumbent["f1"])
    cr, inr = float(candidate["recall"]), float(incumbent["recall"])
    where = f"on gold set {candidate.get('gold_set', '?')}"
    if cf < inf - GOLD_F1_TOLERANCE:
        return False, f"gold word F1 {cf:.4f} < incumbent {inf:.4f} {where}"
    if cr < inr - GOLD_RECALL_TOLERANCE:
        return False, (f"gold word recall {cr:.4f} < incumbent {inr:.4f} - "
                       f"{GOLD_RECALL_TOLERANCE} {where}")  # fmt: skip
    return True, f"gold word F1 {cf:.4f} >= {inf:.4f}, recall {cr:.4f} vs {inr:.4f} {where}"


def beats(
    candidate: dict,
    incumbent: dict | None,
    candidate_gold: dict | None = None,
    incumbent_gold: dict | None = None,
) -> tuple[bool, str]:
    """Whether ``candidate`` metrics beat ``incumbent`` metrics, and why.

    First the human gold (:func:`gold_verdict`): a candidate worse on gold than the
    incumbent — the promoted model, or the shipped default when none is promoted — loses
    whatever its teacher agreement. Then teacher agreement on the same validation documents:
    it wins when its :func:`score` is strictly higher, or equal with a strictly higher gold
    word F1, and its chunk failure rate is no worse than the incumbent's (or within the
    paper's 0.36%). With no incumbent at all it wins when it writes valid programs; with the
    gold gate off too (both golds None) nothing compared it with the shipped default, and
    the reason says so.
    """
    fail = float(candidate.get("chunk_failure_rate", 0.0))
    gold_ok, gold_reason = gold_verdict(candidate_gold, incumbent_gold)
    if not gold_ok:
        return False, gold_reason
    if incumbent is None:
        won = fail < 1.0
        reason = "no promoted model" if won else "no valid programs"
        if won and candidate_gold is None and incumbent_gold is None:
            # the gold gate is the only comparison with the shipped default: say it was skipped
            reason += f"; {NOT_COMPARED_WITH_DEFAULT}"
        return won, f"{reason}; {gold_reason}" if gold_reason else reason
    c, i = score(candidate), score(incumbent)
    if fail > max(float(incumbent.get("chunk_failure_rate", 0.0)), MAX_FAILURE_RATE):
        return False, f"failure rate {fail:.4f} worse than the promoted model's"
    suffix = f"; {gold_reason}" if gold_reason else ""
    if c > i:
        return True, f"score {c:.4f} > {i:.4f}{suffix}"
    gold_better = bool(candidate_gold and incumbent_gold
                       and candidate_gold.get("f1") is not None and incumbent_gold.get("f1") is not None
                       and float(candidate_gold["f1"]) > float(incumbent_gold["f1"]))  # fmt: skip
    if c == i and gold_better:
        return True, f"score {c:.4f} = {i:.4f}{suffix}"
    return False, f"score {c:.4f} <= {i:.4f}{suffix}"


class UnknownVersion(FileNotFoundError):
    """A version asked for is not published in the registry."""


class PromotedVersionGone(UnknownVersion):
    """``promoted.json`` names a version that is not published in its registry (its folder
    removed by hand, or its ``artifact.json`` with it): the promoted model cannot be loaded,
    and refining with the shipped default instead would serve another model unasked.
    Promoting a published version (or ``default``) by hand repairs it."""


class PromotedRecordDamaged(PromotedVersionGone):
    """``promoted.json`` is there but no promotion record (not JSON, not an object, no
    ``version``: a bad write or a hand edit): which version is promoted cannot be told, and
    refining with the catalog's model or the shipped default instead would serve another
    model unasked. A promotion by hand (``prox models promote``) replaces it."""


class ModelNotBooked(RuntimeError):
    """A version was published in the registry, but booking it in the catalog failed (the
    cause is ``__cause__``: a database that cannot be reached). Publishing the same version
    again (a rerun of ``prox train`` finds it trained) books it.

    Attributes:
        record: The published version's ``artifact.json`` record.
        catalog: The catalog URL that could not be written (its password left out).
    """

    def __init__(self, record: dict, catalog: str, cause: BaseException) -> None:
        from prox_tasks.redaction import redact
        from prox_tasks.wording import quoted_error

        self.record, self.catalog = record, redact(catalog)
        # the cause said in the message too: a DAG task's one-line failure shows no traceback
        super().__init__(f"{record['name']} {record['version']} is published in the registry "
                         f"({record['uri']}) but not booked in the catalog {self.catalog} "
                         f"({quoted_error(cause)}): once the catalog can be written, "
                         "publishing it again books it")


def promote_command(version: str, registry: str | os.PathLike | None = None,
                    name: str | None = None, catalog: str | None = None,
                    corrected: bool = False) -> str:
    """The ``prox models promote`` command a message tells the user to run for ``version``
    of model ``name`` (None: the refiner) in ``registry``, booked in ``catalog``: the one
    wording of that advice. The bare command acts on the defaults — the default registry
    (the one ``prox refine`` serves), and no catalog for a registry elsewhere
    (:func:`~prox_tasks.pipeline.settings.registry_catalog`) — so, followed after a
    promotion elsewhere, it promoted another registry's version and booked nothing: each
    option that differs from its default is named. The catalog's URL is not repeated (its
    password): the message names it, redacted; ``corrected``: the catalog URL cannot work,
    and the command names the corrected one in its place."""
    import shlex

    from prox_tasks.pipeline import settings
    from prox_tasks.storage import same_uri

    root = os.fspath(registry) if registry is not None else settings.registry_root()
    words = ["prox", "models", "promote", version]
    if not same_uri(root, settings.registry_root()):
        words += ["--registry", root]
    if name and name != settings.REFINER_NAME:
        words += ["--name", name]
    command = shlex.join(words)
    if catalog and catalog != settings.registry_catalog(root):
        command += f" --catalog <the {'corrected' if corrected else 'same'} catalog URL>"
    return command + " --reason TEXT"


def rebook_advice(cause: BaseException, version: str, registry: str | os.PathLike | None,
                  name: str | None, catalog: str | None, retry: str | None = None) -> str:
    """How to book a promotion of ``version`` that booking in ``catalog`` failed on
    (``cause``): the one advice of every such message. An outage: once the catalog can be
    written, ``retry`` ("retry prox train …", what retries it as it is) or promote again
    (``retry`` None: the promote command is the retry: ``prox models promote``'s own). A
    URL that cannot work (:func:`~prox_tasks.catalog.engine.url_cannot_work`: not a
    database URL, a driver not installed, a file that is no catalog): retrying with it
    fails again, so correct it and promote again naming the corrected one."""
    from prox_tasks.catalog.engine import url_cannot_work

    if url_cannot_work(cause):
        again = promote_command(version, registry, name, catalog, corrected=True)
        return ("the catalog URL itself cannot work (it was not a database that is down), so "
                "anything retried with it fails the same way: correct it where it is given "
                "(--catalog, the training DAG's catalog_url Param, else PROX_CATALOG_URL), "
                f"then run {again}")
    again = promote_command(version, registry, name, catalog)
    if retry is None:
        return f"once the catalog can be written, run `{again}` again"
    return f"once the catalog can be written, {retry}, or run {again}"


class CatalogNotBooked(RuntimeError):
    """``promoted.json`` was replaced — the registry serves the version now — and the decision
    recorded, but booking the promotion in the catalog failed (the cause is ``__cause__``).
    Deciding or promoting the same version again books it (``already promoted``).

    Attributes:
        decision: The :class:`Decision` taken (its swap happened).
        catalog: The catalog URL that could not be written (its password left out).
    """

    def __init__(self, decision: Decision, catalog: str, registry: str | None = None,
                 cause: BaseException | None = None) -> None:
        from prox_tasks.redaction import redact

        self.decision, self.catalog = decision, redact(catalog)
        where = f" {registry}" if registry is not None else ""
        advice = rebook_advice(cause or RuntimeError(), decision.candidate, registry,
                               decision.name, catalog, "promoting it again books it — retry "
                               "prox train or the training DAG's promote task")  # fmt: skip
        super().__init__(f"{decision.name} {decision.candidate} is promoted in the registry"
                         f"{where} (refining uses it) but not booked in the catalog "
                         f"{self.catalog}: {advice}")


#: The reason of a decision that found its candidate promoted already: it changes nothing
#: and is not recorded (:meth:`ModelRegistry._settle`).
ALREADY_PROMOTED = "already promoted"


@dataclass
class Decision:
    """One promotion decision, as recorded."""

    name: str
    candidate: str
    incumbent: str | None
    promoted: bool
    reason: str
    candidate_metrics: dict
    incumbent_metrics: dict | None
    candidate_gold: dict | None = None
    incumbent_gold: dict | None = None
    incumbent_source: str | None = None
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    #: Promoted by hand (:meth:`ModelRegistry.promote`, ``prox models promote``), no comparison.
    manual: bool = False

    @property
    def already_promoted(self) -> bool:
        """It found its candidate promoted already (a retry, a rerun): nothing changed."""
        return self.reason == ALREADY_PROMOTED

    @property
    def left_promoted(self) -> bool:
        """Its candidate is the promoted model after it (promoted now, or already)."""
        return self.promoted or self.already_promoted

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class ModelRegistry:
    """Publish, promote and fetch refiner artifacts.

    Args:
        root: Registry root (local path, ``file://`` or ``s3://`` URI).
        catalog: Optional catalog URL; models are registered there too (see
            :meth:`_catalog_register`).
    """

    def __init__(self, root: str | os.PathLike, catalog: str | None = None) -> None:
        self.root = os.fspath(root)
        self.catalog = catalog

    def uri(self, name: str, *parts: str) -> str:
        """``<root>/<name>/<parts...>``.

        Raises:
            prox_tasks.storage.names.InvalidName: ``name`` is not one safe path component.
        """
        from prox_tasks.storage.names import check_name

        return join_uri(self.root, check_name(name, "model name"), *parts)

    def publish(self, folder, name: str, kind: str, training_config: dict,
                seed_set: dict, metrics: dict) -> dict:
        """Copy an artifact folder into the registry; returns its ``artifact.json`` record."""
        folder = Path(folder)
        digest, files = artifact_digest(folder)
        version = version_string(kind, digest)
        record_uri = self.uri(name, version, ARTIFACT)
        if exists(record_uri):  # its "uri" is where it was written: the registry may have moved
            try:
                record = artifact_record(read_bytes(record_uri), str(record_uri))
            except ArtifactRecordDamaged as err:  # the version is published anew, whole
                log.warning("%s; publishing %s %s anew over it", err, name, version)
            else:
                record = {**record, "uri": self.uri(name, version)}
                self._write_again(folder, name, version, files)
                self._book_new(record)  # a retry: the catalog failed
                return record
        for rel in files:
            with open(folder / rel, "rb") as fh:
                put_atomic(self.uri(name, version, rel), fh)
        record = {
            "name": name, "version": version, "kind": kind, "uri": self.uri(name, version),
            "sha256": digest, "files": files, "training_config": training_config,
            "seed_set": seed_set, "metrics": metrics,
            "created_at": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        put_atomic(record_uri, json.dumps(record, indent=2, sort_keys=True))
        self._book_new(record)
        return record

    def _book_new(self, record: dict) -> None:
        """Book the version just published (``record``) in the catalog, not promoted.

        Raises:
            ModelNotBooked: The booking failed: the version is published all the same.
                A setting to fix (a catalog URL prox cannot use) is raised as it is, so a
                DAG task fails on it at once (:func:`prox_tasks.pipeline.errors.
                cannot_succeed`).
        """
        try:
            self._catalog_register(record, promoted=False)
        except Exception as err:
            from prox_tasks.pipeline.errors import cannot_succeed

            if isinstance(err, cannot_succeed()):
                raise
            raise ModelNotBooked(record, self.catalog, err) from err

    def _write_again(self, folder: Path, name: str, version: str, files: list[str]) -> None:
        """Write again the files of ``version``, published already, that are not those of
        ``folder`` (missing, cut short, changed since): a retried publish repairs a damaged
        copy. ``folder``'s files are the version's (content-addressed), so each stored one is
        compared with its own: one listing gives the sizes, and on S3 the ETags, which vouch
        for the bytes without a download (:func:`prox_tasks.storage.holds_file`); only a
        file of the same size whose ETag says nothing is read to be compared. Files the
        version's ``artifact.json`` does not record (an operator's notes) are left alone."""
        listed = identities_in(self.uri(name, version), include_hidden=True)
        for rel in files:
            uri = self.uri(name, version, rel)
            if not holds_file(uri, folder / rel, listed.get(to_uri(uri))):
                with open(folder / rel, "rb") as fh:
                    put_atomic(uri, fh)

    def publish_artifact(self, folder, name: str) -> dict:
        """Publish a model folder that carries its own ``artifact.json`` (the line tagger
        shipped with prox: a registry's version copied out) under ``name``, with the kind,
        training config, seed set and metrics that record holds; its version is the one it
        had (content-addressed), and a retry is a no-op, as :meth:`publish`.

        Raises:
            ValueError: the folder holds no ``artifact.json`` (not a model prox published);
                :class:`~prox_tasks.models.artifact.ArtifactRecordDamaged`: one that is no
                record.
        """
        record_path = Path(folder) / ARTIFACT
        if not record_path.is_file():
            raise ValueError(f"{folder} holds no {ARTIFACT}: not a model prox published, so "
                             "it cannot be published into a registry as it is")
        record = artifact_record(record_path.read_bytes(), str(record_path))
        return self.publish(folder, name, record["kind"], record.get("training_config") or {},
                            record.get("seed_set") or {}, record.get("metrics") or {})

    def artifact(self, name: str, version: str) -> dict:
        where = self.uri(name, version, ARTIFACT)
        return artifact_record(read_bytes(where), str(where))

    def record_training(self, name: str, identity: str, version: str, train: dict) -> None:
        """Note that the training ``identity`` (a digest of its seed set, settings and code:
        :meth:`prox_tasks.training.run.TrainJob.identity`) published ``version`` of ``name``,
        with its ``train`` report, for :meth:`trained` to find."""
        put_atomic(self.uri(name, TRAININGS, f"{identity}.json"),
                   json.dumps({"identity": identity, "version": version, "train": train,
                               "recorded_at": datetime.now(UTC).isoformat()},
                              indent=2, sort_keys=True))  # fmt: skip

    def trained(self, name: str, identity: str) -> dict | None:
        """The version of ``name`` the training ``identity`` published here (its
        ``artifact.json`` record, ``uri`` where it is now, and ``train``: the report of the
        run that trained it), when its files are intact: their sha256 is the one its
        record holds. None when no such training was recorded (a version published before
        trainings were recorded is trained again, to the same version), or when the version
        is gone or damaged (a warning says which: training again publishes it anew)."""
        entry = read_json(self.uri(name, TRAININGS, f"{identity}.json"))
        if entry is None:
            return None
        version = entry["version"]
        try:
            record = self.artifact(name, version)
        except (OSError, ValueError) as err:  # removed by hand, unreadable
            log.warning("%s %s, which this training published before, cannot be read in %s "
                        "(%s): training it again", name, version, self.root, err)
            return None
        if (damage := self.damage(name, record)) is not None:
            log.warning("%s %s, which this training published before, %s: training it again "
                        "(publishing it writes its files anew)", name, version, damage)
            return None
        return {**record, "uri": self.uri(name, version), "train": entry.get("train") or {}}

    def book_published(self, record: dict) -> None:
        """Book the published version ``record`` (its ``artifact.json``, ``uri`` where it is
        now) in the catalog when one is configured, not promoted, as :meth:`publish` books
        it: for a version a rerun returns without publishing (:meth:`trained`), whose first
        run booked it in no catalog, or in one that could not be written then.

        Raises:
            ModelNotBooked: The booking failed (see :meth:`_book_new`).
        """
        self._book_new(record)

    def damage(self, name: str, record: dict) -> str | None:
        """What is wrong with the files of the published version ``record`` (its
        ``artifact.json``) in this registry: one missing or unreadable, or their sha256 not
        the one the record holds; None when they are intact. On S3 the files are fetched
        (into the model cache) to be hashed."""
        where = self.uri(name, record["version"])
        try:
            digest, _ = artifact_digest(fetch_folder(where))
        except OSError as err:
            return f"has files that cannot be read in {where} ({err})"
        if digest != record.get("sha256"):
            return (f"is damaged in {where}: its files' sha256 {digest[:12]}… is not the "
                    f"{str(record.get('sha256'))[:12]}… its {ARTIFACT} records")
        return None

    def promoted(self, name: str) -> dict | None:
        """The promoted record (``version``, ``uri``, ``metrics``) or None. ``uri`` is the
        version's folder in this registry, wherever the record was written: a registry
        copied or moved elsewhere serves its own copy, never the old location's."""
        where = self.uri(name, PROMOTED)
        try:
            record = read_json(where)  # one GET on S3, no HEAD first
        except ValueError as err:  # not JSON (UnicodeDecodeError is one too)
            raise self._promoted_damaged(name, f"not JSON: {err}") from None
        if record is None:
            return None
        return {**self._promoted_record(name, record), "uri": self.uri(name, record["version"])}

    def _promoted_record(self, name: str, record) -> dict:
        """``record``, the parsed ``promoted.json`` of ``name``, checked to be a promotion
        record: a JSON object naming its ``version``.

        Raises:
            PromotedRecordDamaged: it is not one (the message names the file).
        """
        if not isinstance(record, dict):
            raise self._promoted_damaged(name, f"a JSON {type(record).__name__}, not an object")
        if not isinstance(record.get("version"), str) or not record["version"]:
            raise self._promoted_damaged(name, "it names no version")
        return record

    def _parse_promoted(self, name: str, raw: bytes | None) -> dict | None:
        """The promotion record in ``raw`` (the bytes of ``promoted.json`` read by a swap;
        None: there is none), as :meth:`promoted` reads it."""
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError as err:
            raise self._promoted_damaged(name, f"not JSON: {err}") from None
        return self._promoted_record(name, record)

    def _promoted_damaged(self, name: str, detail: str) -> PromotedRecordDamaged:
        """The error for a ``promoted.json`` of ``name`` that is no promotion record."""
        _, published, _ = self._listing(name)
        return PromotedRecordDamaged(
            f"{self.uri(name, PROMOTED)} is damaged ({detail}): which {name} version is "
            f"promoted in {self.root} cannot be told, and no other model is used in its "
            f"place. Promote a published version by hand, which replaces it: "
            + self._promote_advice(name, published))

    def _promote_advice(self, name: str, published: list[str]) -> str:
        """How to promote a version of ``name`` by hand, as a message that cannot load the
        promoted one says it: :func:`promote_command` (the registry, name and catalog named
        where they are not the defaults), and the versions that can be promoted."""
        return (promote_command("VERSION", self.root, name, self.catalog) + " ("
                + (f"published: {', '.join(published)}" if published else "none is published")
                + "), or the same with default for VERSION: the model prox refine --model default "
                "uses")

    def promoted_published(self, name: str) -> dict | None:
        """:meth:`promoted`, checked to be published here: what refining, the gold gate and
        promotion load (one more request than :meth:`promoted`: its ``artifact.json``).

        Raises:
            PromotedVersionGone: ``promoted.json`` names a version without an
                ``artifact.json`` here, with the published ones and how to promote one.
        """
        record = self.promoted(name)
        if record is None or exists(self.uri(name, record["version"], ARTIFACT)):
            return record
        _, published, _ = self._listing(name)
        raise PromotedVersionGone(
            f"the promoted {name} {record['version']} (its promoted.json) is not published in "
            f"{self.root}: no {ARTIFACT} in its folder (removed by hand, or damaged). Promote "
            f"a published version by hand: {self._promote_advice(name, published)}")

    def decide(self, name: str, version: str, candidate_metrics: dict,
               incumbent_metrics: dict | None, candidate_gold: dict | None = None,
               incumbent_gold: dict | None = None, incumbent_source: str | None = None,
               incumbent_version: str | None | object = _UNSET) -> Decision:
        """Promote ``version`` when it beats the incumbent (:func:`beats`); record the decision.

        Args:
            name: Model name.
            version: The published candidate.
            candidate_metrics: The candidate's validation metrics.
            incumbent_metrics: The promoted model's metrics on the same validation documents
                (None when nothing is promoted yet).
            candidate_gold, incumbent_gold: Both models on the shipped human-gold set
                (:func:`prox_tasks.evaluation.goldset.evaluate_on_gold`); the incumbent is
                the promoted model, or the shipped default when none is promoted.
            incumbent_source: What the gold incumbent was (a version or ``shipped:<path>``).
            incumbent_version: The promoted version ``incumbent_metrics`` were measured on
                (None: nothing was promoted then). Unset: none when ``incumbent_metrics`` is
                None, else the one promoted when this is called.

        ``promoted.json`` is read, compared and replaced in one step
        (:func:`prox_tasks.storage.swap.replace_if`: a lock on a local registry, a
        conditional PUT on S3), so of two candidates decided at once against the same
        incumbent only one is promoted; the other is refused, its reason naming the version
        promoted meanwhile (evaluate it against that one again).

        A version an operator rolled back (:meth:`promote` of another version while it was
        promoted) is refused whatever its numbers, until it is promoted by hand again: a
        retried promote task or a retraining that gives the same version would otherwise
        undo the rollback, since it beat that other version once.
        """
        self.check_published(name, version)
        outcome: dict = {}

        def swap(raw: bytes | None) -> bytes | None:
            current = self._parse_promoted(name, raw)  # damaged: refused, never replaced
            now = current["version"] if current else None
            if incumbent_version is not _UNSET:
                outcome.setdefault("expected", incumbent_version)
            elif incumbent_metrics is None:  # measured against no promoted model
                outcome.setdefault("expected", None)
            expected = outcome.setdefault("expected", now)
            outcome.update(current=now, decided_at=datetime.now(UTC).isoformat())
            if now == version:
                outcome.update(won=False, reason=ALREADY_PROMOTED)
                return None
            rollback = self.rolled_back(name, version)  # read here: a rollback just taken
            if rollback is not None:
                outcome.update(won=False, reason=(
                    f"not compared: {version} was rolled back by hand "
                    f"({rollback['decided_at']}: {rollback['reason']}); it is promoted again "
                    f"only by hand: {promote_command(version, self.root, name, self.catalog)}"))
                return None
            if now != expected:  # another promotion since the incumbent was measured
                outcome.update(won=False, reason=(
                    f"not compared: {now or 'no model'} was promoted meanwhile (by another "
                    f"promotion running at the same time), not the incumbent "
                    f"{expected or 'none'} this candidate was evaluated against; evaluate "
                    "it against the promoted model again (retry `prox train`, or the "
                    "training DAG's promote task)"))
                return None
            won, reason = beats(candidate_metrics, incumbent_metrics if current else None,
                                candidate_gold, incumbent_gold)  # fmt: skip
            outcome.update(won=won, reason=reason)
            if not won:
                return None
            record = {"version": version, "uri": self.uri(name, version),
                      "metrics": candidate_metrics, "gold": candidate_gold,
                      "promoted_at": outcome["decided_at"]}
            return json.dumps(record, indent=2, sort_keys=True).encode()

        replace_if(self.uri(name, PROMOTED), swap)
        won, reason, current = outcome["won"], outcome["reason"], outcome["current"]
        decision = Decision(name, version, current, won, reason, candidate_metrics,
                            incumbent_metrics if current else None, candidate_gold,
                            incumbent_gold, incumbent_source,
                            decided_at=outcome["decided_at"])  # fmt: skip
        self._settle(decision)
        return decision

    def promote(self, name: str, version: str, reason: str) -> Decision:
        """Promote ``version`` by hand — a rollback to an earlier version, or a version an
        operator chose — without comparing it with anything.

        ``promoted.json`` is replaced in one step as :meth:`decide` replaces it
        (:func:`prox_tasks.storage.swap.replace_if`), so a training run's promotion deciding
        at the same time is refused as "promoted meanwhile" and measured again against this
        version. The decision is recorded beside the automatic ones (``manual``: true, the
        reason given, the version it replaced as ``incumbent``) and booked in the catalog
        as theirs are. Promoting the promoted version again changes nothing and records no
        decision (``prox models list`` keeps the reason it was promoted for); it books it in
        the catalog, which a failed booking may have left out.

        Args:
            name: Model name.
            version: A published version (:meth:`versions`).
            reason: Why, in words: kept in the decision record.

        Raises:
            ValueError: ``reason`` is empty.
            UnknownVersion: ``version`` is not published under ``name`` (the message lists
                the published ones).
        """
        reason = " ".join((reason or "").split())
        if not reason:
            raise ValueError("a manual promotion needs a reason (why this version, e.g. "
                             "'rollback: v42 drops tables on forum pages'): it is recorded "
                             "with the decision")
        self.check_published(name, version)
        record = self.artifact(name, version)
        gold = next((d.get("candidate_gold") for d in reversed(self.decisions(name))
                     if d.get("candidate") == version and d.get("candidate_gold")), None)
        outcome: dict = {}

        def swap(raw: bytes | None) -> bytes | None:
            try:
                current = self._parse_promoted(name, raw)
            except PromotedRecordDamaged as err:  # the way out it names: replace it
                log.warning("%s: replacing it with %s", err.args[0].partition(". ")[0], version)
                current = None
            outcome.update(current=current, decided_at=datetime.now(UTC).isoformat())
            if current and current["version"] == version:
                return None
            return json.dumps({"version": version, "uri": self.uri(name, version),
                               "metrics": record.get("metrics"), "gold": gold,
                               "promoted_at": outcome["decided_at"], "manual": True,
                               "reason": reason}, indent=2, sort_keys=True).encode()

        replace_if(self.uri(name, PROMOTED), swap)
        current = outcome["current"] or {}
        already = current.get("version") == version
        decision = Decision(name, version, current.get("version"), not already,
                            ALREADY_PROMOTED if already else f"promoted by hand: {reason}",
                            record.get("metrics") or {}, current.get("metrics"), gold,
                            current.get("gold"), current.get("version"),
                            decided_at=outcome["decided_at"], manual=True)  # fmt: skip
        self._settle(decision)
        return decision

    def _settle(self, decision: Decision) -> None:
        """Record ``decision`` (:meth:`_record`), unless it found its candidate promoted
        already — a retried promote task, a rerun of ``prox train`` returning its version,
        ``prox models promote`` again: nothing changed, and its record would be the last
        decision on the version, which ``prox models list`` shows instead of the reason it
        was promoted for (an operator's). That one is only booked (:meth:`_book`: a failed
        booking may have left it out of the catalog).

        Raises:
            CatalogNotBooked: the booking failed after the swap.
        """
        if decision.already_promoted or self._repeats_last_refusal(decision):
            self._book(decision)
        else:
            self._record(decision)

    #: What makes two decisions the same one (:meth:`_repeats_last_refusal`): not when they
    #: were taken, nor the metrics (the reason states the numbers that decided).
    _SAME_DECISION = ("candidate", "incumbent", "promoted", "reason", "manual")

    def _repeats_last_refusal(self, decision: Decision) -> bool:
        """Whether ``decision`` refuses its candidate as the last decision recorded on that
        version did: the same incumbent, the same reason (a ``prox train`` rerun refused by
        the gold gate again, a retried promote task). A refusal changes nothing, so its
        record would only repeat the last one in ``prox models show``; a decision that
        differs in any of :data:`_SAME_DECISION` is recorded. A promotion is always
        recorded: it changed ``promoted.json``, and :meth:`rolled_back` reads each."""
        if decision.promoted:
            return False
        decided = [uri for uri in list_uri(self.uri(decision.name, "decisions"))
                   if _decided_version(uri) == decision.candidate]
        if not decided:  # listed in name order: the last is the newest
            return False
        last = read_decision(decided[-1])
        now = decision.to_dict()
        return all(last.get(key) == now[key] for key in self._SAME_DECISION)

    def _record(self, decision: Decision) -> None:
        """Write ``decision`` under ``decisions/`` and, when it left its candidate promoted,
        book the promotion in the catalog (again after a retry: the catalog may have failed
        the first time).

        ``promoted.json`` is the truth and the catalog follows it: what is booked is the
        version it names when booking, read again here — a promotion that landed since this
        decision's swap (and booked its own version) is not undone in the catalog by this
        one booking last.

        Raises:
            CatalogNotBooked: the booking failed after the swap (the registry serves the
                version; the message says so, and how to book it).
        """
        name, version = decision.name, decision.candidate
        stamp = decision.decided_at.replace(":", "").replace("-", "")
        put_atomic(self.uri(name, "decisions", f"{stamp}-{version}.json"),
                   json.dumps(decision.to_dict(), indent=2, sort_keys=True))
        self._book(decision)

    def _book(self, decision: Decision) -> None:
        """Book in the catalog the promotion ``decision`` took or found (``already
        promoted``: a retry books what a failed booking left out); nothing for a refusal.

        Raises:
            CatalogNotBooked: the booking failed after the swap.
        """
        if not self.catalog or not decision.left_promoted:
            return
        try:
            self.book_promoted(decision.name, decision.candidate)
        except Exception as err:
            raise CatalogNotBooked(decision, self.catalog, self.root, err) from err

    def book_promoted(self, name: str, version: str | None = None) -> str | None:
        """Book in the catalog (when one is configured) the version ``promoted.json`` names
        now (``version`` when none is promoted); returns the version booked.

        The training DAG's ``book_catalog`` task books again what a promotion could not.
        """
        live = (self.promoted(name) or {}).get("version") or version
        if live is None:
            return None
        self._catalog_register({**self.artifact(name, live), "uri": self.uri(name, live)},
                               promoted=True)
        return live

    def check_published(self, name: str, version: str, promoting: bool = True) -> None:
        """Refuse a version whose ``artifact.json`` is missing: never published, or its
        upload was cut short (it is written last); promoted.json must never name it.
        ``promoting``: the message says to publish it first (False: it is only looked at,
        ``prox models show``)."""
        from prox_tasks.storage.names import check_name

        if not exists(self.uri(name, check_name(version, "model version"), ARTIFACT)):
            published = [v["version"] for v in self.versions(name)]
            first = ("publish it before promoting it ('default' promotes the model prox refine "
                     "--model default uses); ") if promoting else ""
            raise UnknownVersion(
                f"{name} {version} is not published in {self.root} (no {ARTIFACT}: never "
                f"published, or its upload was cut short): {first}"
                + (f"published: {', '.join(published)}" if published
                   else f"no version of {name} is published there{self.none_published(name)}"))

    def none_published(self, name: str) -> str:
        """What to check when ``name`` has no published version here: the model names that
        have one (a ``--name`` typo), or that the root holds none (a ``--registry`` typo, or
        not the ``--output`` prox train wrote to): ``" (...)"``."""
        prefix = to_uri(self.root).rstrip("/") + "/"  # not the keys of s3://b/reg-other
        listed = [u[len(prefix):] for u in list_uri(prefix)]
        names = sorted({rel.split("/")[0] for rel in listed
                        if rel.endswith("/" + ARTIFACT) and rel.count("/") == 2} - {name})
        if names:
            return f" (it holds {', '.join(names)}: --name picks the model)"
        return (" (no model is published in it: check --registry, the --output prox train "
                "published to)")

    def rolled_back(self, name: str, version: str) -> dict | None:
        """The manual decision (:meth:`promote`) that replaced ``version`` while it was
        promoted, unless ``version`` was promoted by hand again since; else None."""
        found = None
        for decision in self.decisions(name):  # oldest first: the last one says
            if decision.get("manual") and decision.get("promoted"):
                if decision.get("incumbent") == version:
                    found = decision
                elif decision.get("candidate") == version:
                    found = None
        return found

    def decisions(self, name: str) -> list[dict]:
        """Every decision on ``name``, oldest first."""
        return [read_decision(u) for u in list_uri(self.uri(name, "decisions"))]

    def versions(self, name: str) -> list[dict]:
        """The published versions of ``name``, oldest first: each one's ``artifact.json``
        record with ``promoted`` (whether ``promoted.json`` names it) and ``decision`` (the
        last decision on it, None when none was taken).

        One listing of ``<name>/`` finds the versions and their decision records (named
        ``<time>-<version>.json``: the last one of a version is known by its name), so only
        ``promoted.json``, each ``artifact.json`` and each version's last decision are read
        — a few at a time: on S3 each read is a request's round trip.
        """
        from concurrent.futures import ThreadPoolExecutor

        prefix, found, decided = self._listing(name)
        try:
            current = (self.promoted(name) or {}).get("version")
        except PromotedRecordDamaged:  # none is promoted: prox models list notes why
            current = None

        def read(version: str) -> dict:  # "uri": where it is now (the registry may have moved)
            record = {**self.artifact(name, version), "uri": self.uri(name, version)}
            decision = decided.get(version, [None])[-1]
            return {**record, "promoted": record["version"] == current,
                    "decision": decision and read_decision(prefix + decision)}

        with ThreadPoolExecutor(max_workers=min(16, len(found) or 1)) as pool:
            out = list(pool.map(read, found))
        return sorted(out, key=lambda r: (r.get("created_at") or "", r["version"]))

    def version(self, name: str, version: str) -> dict:
        """One published version of ``name`` (``prox models show``): its ``artifact.json``
        record with ``promoted`` and ``decisions``, every decision on it, oldest first.

        The one listing :meth:`versions` makes finds it and its decision records, so only
        ``promoted.json``, its ``artifact.json`` and its own decisions are read, together:
        not every version's record nor every decision ever taken on the model.

        Raises:
            UnknownVersion: ``version`` is not published (:meth:`check_published`).
        """
        from concurrent.futures import ThreadPoolExecutor

        from prox_tasks.storage.names import check_name

        prefix, found, decided = self._listing(name)
        if check_name(version, "model version") not in found:  # says what is published
            self.check_published(name, version, promoting=False)
        files = [f"{version}/{ARTIFACT}", *decided.get(version, [])]
        with ThreadPoolExecutor(max_workers=min(16, len(files) + 1)) as pool:
            current = pool.submit(self.promoted, name)
            artifact = pool.submit(self.artifact, name, version)
            decisions = list(pool.map(read_decision, [prefix + rel for rel in files[1:]]))
            artifact = artifact.result()
        return {**artifact, "uri": self.uri(name, version),
                "promoted": (current.result() or {}).get("version") == version,
                "decisions": decisions}

    def _listing(self, name: str) -> tuple[str, list[str], dict[str, list[str]]]:
        """``(prefix, versions, decisions)`` of one listing of ``<name>/``: the versions
        published (those with an ``artifact.json``) and each version's decision records,
        oldest first (named ``<time>-<version>.json``, listed in name order), as paths
        under ``prefix``."""
        prefix = to_uri(self.uri(name)).rstrip("/") + "/"
        listed = [u[len(prefix):] for u in list_uri(prefix)]
        found = [rel.split("/")[0] for rel in listed
                 if rel.endswith("/" + ARTIFACT) and rel.count("/") == 1]
        decided: dict[str, list[str]] = {}
        for rel in listed:
            folder, _, file = rel.partition("/")
            if folder == "decisions" and "/" not in file and file.endswith(".json"):
                decided.setdefault(_decided_version(file), []).append(rel)
        return prefix, found, decided

    def fetch(self, name: str, version: str | None = None, cache: str | None = None) -> Path:
        """A local folder holding the artifact (the promoted one when ``version`` is None)."""
        if version is None:
            current = self.promoted(name)
            if current is None:
                raise LookupError(f"no promoted {name!r} model in {self.root}")
            version = current["version"]
        return fetch_folder(self.uri(name, version), cache)

    def _catalog_register(self, record: dict, promoted: bool) -> None:
        """Register in the SQL catalog when one is configured (``Catalog.register_model``)."""
        if not self.catalog:
            return
        from prox_tasks.catalog import Catalog

        catalog = Catalog(self.catalog)
        try:
            # the seed set it was trained on, when the catalog knows it (lineage)
            seed = catalog.seed_set_by_version(str((record.get("seed_set") or {}).get("version")))
            catalog.register_model(
                record["name"], record["version"], record["uri"], metrics=record["metrics"],
                base=(record["training_config"].get("base_version")
                      or record["training_config"].get("base")), promoted=promoted,
                seed_set=seed["name"] if seed else None,
                registry=to_uri(self.root).rstrip("/"),
            )  # fmt: skip
        finally:
            catalog.close()


class DecisionRecordDamaged(ValueError):
    """A record under ``<name>/decisions/`` that is no decision (not JSON, not an object):
    the promotion history cannot be read whole — a rollback it records would go unseen."""


def read_decision(uri: str) -> dict:
    """The decision record at ``uri`` (``<name>/decisions/<stamp>-<version>.json``).

    Raises:
        DecisionRecordDamaged: not JSON or not an object; the message names the file.
    """
    try:
        return json_object(read_bytes(uri))
    except NotAJSONObject as err:
        raise DecisionRecordDamaged(
            f"{uri} is damaged ({err.problem}): the promotion history of the model cannot be "
            "read whole (a rollback it records would go unseen); put the record back from a "
            "copy, or remove it, losing that decision from the history") from None


def _decided_version(file: str) -> str:
    """The version a decision record is about, from its name (a path or URI ending in
    ``<stamp>-<version>.json``, :meth:`ModelRegistry._record`; the stamp holds no ``-``)."""
    return file.rsplit("/", 1)[-1].removesuffix(".json").partition("-")[2]


def not_a_root(root: str) -> str | None:
    """Why ``root`` is not a registry root but a folder inside one, or another tool's
    (None: it may be one, empty or not there yet): a model's folder (``<root>/<name>``:
    ``promoted.json``, ``decisions/``), a version's (``artifact.json``, ``refiner.json``), a
    seed set or a refined snapshot (``manifest.json``). A few look-ups, no listing."""
    parent = root.rstrip("/").rsplit("/", 1)[0]
    if exists(join_uri(root, PROMOTED)) or _holds_decisions(root):
        return (f"a model's folder inside a registry (it holds {PROMOTED} or decisions/), "
                f"not a registry root: the root is {parent}")
    if exists(join_uri(root, ARTIFACT)) or exists(join_uri(root, "refiner.json")):
        return f"a model version's folder ({ARTIFACT} or refiner.json), not a registry root"
    if exists(join_uri(root, "manifest.json")):
        return "a seed set or a refined snapshot (it holds manifest.json), not a registry"
    return None


def _holds_decisions(folder: str) -> bool:
    """Whether ``folder`` holds a model's ``decisions/`` (``<stamp>-<version>.json`` files
    alone), not the folder of a model named ``decisions`` (its versions' folders), which a
    registry root may hold beside the other models'. One listing (on S3 a prefix, which no
    HEAD finds)."""
    inside = join_uri(folder, "decisions").rstrip("/") + "/"
    try:
        held = [uri[len(inside):] for uri in list_uri(inside)]
    except (FileNotFoundError, NotADirectoryError):
        return False
    return bool(held) and not any("/" in rel for rel in held)


def fetch_folder(uri: str | os.PathLike, cache: str | os.PathLike | None = None) -> Path:
    """A local folder with the files under ``uri``.

    A local path or ``file://`` URI is returned as is (it must be a folder). An ``s3://``
    folder is downloaded once into ``cache`` (default ``$PROX_HOME/model-cache/<hash of the
    URI and of its files' versions>``): into a temporary sibling first, renamed when
    complete, so a killed download is never mistaken for a model (the sibling is named with
    the host and pid, as temporary files are: one a killed process left is removed by the
    next download into that folder, :func:`prox_tasks.storage.local.temp_folder`). The versions (ETag, time,
    size; one listing and a HEAD per file) are part of the default key, so files replaced
    at the same URI are downloaded again instead of served from a stale copy; the older
    copies of that URI, and downloads cut short, are removed once unused for
    :data:`STALE_COPY_GRACE_SECONDS`; so are the least recently used copies beyond
    ``$PROX_MODEL_CACHE_KEEP`` (default 4).

    Raises:
        FileNotFoundError: The folder does not exist, is a file or is empty.
    """
    text = os.fspath(uri)
    loc = parse_uri(text)
    if loc.scheme == "file":
        path = Path(loc.path)
        if path.is_file():
            raise file_not_folder(str(path))
        if not path.is_dir():
            from prox_tasks.models.resolver import version_hint

            raise FileNotFoundError(f"model folder {path} does not exist{version_hint(path)}")
        return path
    files = _model_files(text)
    if not files:
        raise FileNotFoundError(f"no model files under {text}")
    key = None
    if cache is None:
        from prox_tasks.pipeline.settings import model_cache_keep, prox_home

        keep = model_cache_keep()  # a bad setting refused before anything is downloaded

        versions = "\n".join(f"{f}\t{version_of(f)}" for f in files)
        key = (hashlib.sha256(text.encode()).hexdigest()[:16] + "-"
               + hashlib.sha256(versions.encode()).hexdigest()[:16])  # fmt: skip
        cache = Path(prox_home()) / "model-cache" / key
    target = Path(cache)
    if (target / _COMPLETE).exists():
        try:
            (target / _COMPLETE).touch()  # its last use, which keeps it from being pruned
        except OSError:
            pass  # a read-only cache: served as is, pruned by whoever owns it
        return target
    if key is not None:  # the cache's root: an older prox's downloads cut short too
        sweep_stale(str(target.parent), ".", TEMP_MARK, legacy=LEGACY_DOWNLOAD)
    # named with this host and pid: one a killed download left is swept by the next
    partial = Path(temp_folder(str(target)))
    try:
        prefix = text.rstrip("/") + "/"
        for file_uri in files:
            path = partial / file_uri[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(read_bytes(file_uri))
        (partial / _COMPLETE).write_text(text + "\n")
        if target.exists() and not (target / _COMPLETE).exists():  # a copy cut short
            shutil.rmtree(target)
        try:
            os.replace(partial, target)
        except OSError:
            if not (target / _COMPLETE).exists():
                raise
            shutil.rmtree(partial)  # another process finished the same download first
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if key is not None:
        _prune_older_copies(target, key.split("-")[0])
        _prune_least_used(target.parent, keep)
    return target


def _model_files(folder: str) -> list[str]:
    """The files of the S3 folder ``folder`` that :func:`fetch_folder` downloads, sorted, from
    one listing: all but hidden names (:func:`prox_tasks.storage.is_hidden`: temp files,
    markers, a copied repository's ``.git/``), except those its ``artifact.json`` records —
    a model's own file may be named ``_meta.json``; left out, the version was damaged."""
    prefix = folder.rstrip("/") + "/"
    hidden, shown = [], []
    for uri in list_uri(folder, include_hidden=True):
        (hidden if is_hidden(uri.removeprefix(prefix)) else shown).append(uri)
    if not hidden or prefix + ARTIFACT not in shown:
        return shown
    try:
        recorded = set(json.loads(read_bytes(prefix + ARTIFACT))["files"])
    except (ValueError, KeyError, TypeError):  # not a record: nothing hidden is the model's
        return shown
    return sorted(shown + [uri for uri in hidden if uri.removeprefix(prefix) in recorded])


def _prune_least_used(cache_root: Path, keep: int) -> None:
    """Remove the cache's complete copies beyond the ``keep`` most recently used (each
    nightly promotion is a new URI: without a bound, every version a worker ever ran would
    stay on its disk), sparing any used within :data:`STALE_COPY_GRACE_SECONDS`."""
    import time

    used = []
    for copy in cache_root.iterdir():
        try:
            used.append(((copy / _COMPLETE).stat().st_mtime, copy))
        except (FileNotFoundError, NotADirectoryError):
            continue  # a download under way, cut short (pruned with its URI's), or a file
    cutoff = time.time() - STALE_COPY_GRACE_SECONDS
    for last_use, copy in sorted(used, reverse=True)[keep:]:
        if last_use < cutoff:
            shutil.rmtree(copy, ignore_errors=True)


def _prune_older_copies(current: Path, uri_key: str) -> None:
    """Remove the cache's other copies of the same URI (``<uri_key>-*``, complete or cut
    short) unused for :data:`STALE_COPY_GRACE_SECONDS`: their files were replaced."""
    import time

    cutoff = time.time() - STALE_COPY_GRACE_SECONDS
    for copy in current.parent.glob(f"*{uri_key}-*"):
        if copy == current or not copy.name.lstrip(".").startswith(uri_key + "-"):
            continue
        marker = copy / _COMPLETE
        try:
            last_use = (marker if marker.exists() else copy).stat().st_mtime
        except FileNotFoundError:
            continue  # removed by another process meanwhile
        if last_use < cutoff:
            shutil.rmtree(copy, ignore_errors=True)

