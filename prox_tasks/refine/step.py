"""The refine step for one shard — the function the Airflow task and ``prox refine`` call.

Read the shard's documents (bad records to its quarantine), refine them in batches of
``checkpoint_every`` documents (:func:`~prox_tasks.refine.batch.refine_batch`), checkpoint
each batch (:mod:`~prox_tasks.refine.checkpoint`), then publish the refined shard with the
storage writer (atomic; ``read = written + quarantined`` or nothing is published). A retry
after a crash resumes from the last checkpoint and publishes the same rows an uninterrupted
run would; a retry after success finds the shard's status record and does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict

from prox_tasks.corpus import Quarantine, load_manifest, read_shard, read_status
from prox_tasks.corpus.duplicates import shard_duplicates
from prox_tasks.corpus.manifest import refuse_if_released
from prox_tasks.corpus.writer import read_statuses, write_refined_shard
from prox_tasks.inference.base import Refiner, shard_clock
from prox_tasks.inference.loading import version_serves
from prox_tasks.models.resolver import (
    same_model,
    shipped_elsewhere,
    shipped_version,
    shipped_version_of,
)
from prox_tasks.programs import Policy
from prox_tasks.refine.batch import refine_batch, rows_again
from prox_tasks.refine.checkpoint import CheckpointStore
from prox_tasks.refine.limits import Limits, admitted, batches
from prox_tasks.refine.memory import bound_heap, release_free_memory
from prox_tasks.refine.progress import ProgressLog
from prox_tasks.refine.stats import PHASES, ShardStats
from prox_tasks.storage.uri import same_uri

log = logging.getLogger(__name__)
DEFAULT_CHECKPOINT_EVERY = 512


class SettingsConflict(RuntimeError):
    """A published shard was refined with other settings than a rerun asks for.

    Attributes:
        differences: ``"<setting> <recorded> -> <asked for>"``, one per setting.
        recorded: The request recorded (:meth:`between`; None otherwise, and where the
            conflict was raised in another process).
    """

    recorded: dict | None = None

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences

    @classmethod
    def between(cls, old: dict, new: dict, message: str,
                versions: tuple[str, str] | None = None) -> SettingsConflict:
        """The conflict of request ``new`` with ``old``: ``message``, then each difference;
        ``versions`` (the model version refined with, the one a rerun would refine with)
        is one too where the requests name one model folder whose model changed."""
        changed = differences(old, new) + (
            [f"model_version {versions[0]!r} -> {versions[1]!r}"] if versions else [])
        hint = ""
        dropped = names_added(new, old)  # named when refined, named by nothing now
        if dropped:
            # the rerun takes that name only from a pool serving that one model
            # (refine.claim.claim_for_options): this one serves another, several, or none
            given = " and ".join(f"--{level}-served-model {name} (PROX_OPENAI_"
                                 f"{level.upper()}_MODEL={name})" for level, name in dropped.items())
            hint = (f" (the snapshot was refined naming its served models: give {given} "
                    "as then, on every worker; with no name a run takes it only from a pool "
                    "that lists that one model)")
        elif any(c.startswith("served_models") for c in changed):
            # on a DAG's workers the names come from variables: a worker without them (or
            # with others) is a deployment to fix, not a snapshot to refine again
            hint = (" (the served models come from prox refine --doc-served-model/"
                    "--chunk-served-model, else PROX_OPENAI_DOC_MODEL/"
                    "PROX_OPENAI_CHUNK_MODEL: set those alike on every worker)")
        conflict = cls(f"{message}: " + ", ".join(changed) + hint, changed)
        conflict.recorded = old
        return conflict

    def __reduce__(self):
        # rebuilt with both arguments where a worker process's error is unpickled (the
        # default passes only the message: the pool breaks instead of reporting the refusal)
        return type(self), (str(self), self.differences)


#: Backend options that decide how requests travel and how fast, not what a model answers:
#: a rerun may add servers, rotate a key or change batch sizes and still reuse its shards.
TRANSPORT_OPTIONS = frozenset({
    "servers", "doc_servers", "chunk_servers", "api_key", "concurrency", "max_retries", "backoff", "max_backoff", "timeout",
    "shard_budget",
    "batch_size", "batch_tokens", "threads", "device", "tensor_parallel_size",
    "gpu_memory_utilization", "kv_cache_memory_bytes",
})


def shard_request(model: str | None, backend: str | None, backend_options: dict | None,
                  policy: dict | None, limits: dict | None, quality: str = "off") -> dict:
    """What decides a shard's refined rows, as a rerun asks for it (JSON-ready): the model
    as resolved (its URI), the backend, on openai the model each level asks its pool for
    (``served_models``, however it was named: :func:`_served_models`), a digest of the
    other options (they may hold endpoints), the keep threshold, the executor policy, the
    limits that decide what is quarantined, and the quality filter. Batch sizes, workers
    and :data:`TRANSPORT_OPTIONS` decide nothing and are left out."""
    options = {k: v for k, v in (backend_options or {}).items()
               if v is not None and k not in TRANSPORT_OPTIONS}
    threshold = options.pop("line_threshold", None)
    before_served = _options_digest(options)  # as a prox before served_models recorded it
    served = _served_models(backend, options)
    chosen = Limits.resolve(limits).to_dict()
    request = ShardRequest({"model": model, "backend": backend, **served,
            "keep_threshold": threshold,
            "options": _options_digest(options),
            "policy": dict(sorted((policy or {}).items())),
            "limits": {k: v for k, v in chosen.items() if not k.startswith("max_batch_")},
            "quality": quality})  # fmt: skip
    if served:
        request.before_served = {k: v for k, v in request.items() if k != "served_models"}
        request.before_served["options"] = before_served
    request.options_as_typed = _options_as_typed(options)
    return request


def calibrated_threshold(model: str | None) -> float | None:
    """The keep threshold the line tagger at ``model`` runs with when none is given (its
    ``refiner.json``'s ``tagger.line_threshold``); None for a generative model, no model, a
    tagger whose settings name none, or settings that cannot be read here (checked, with
    their error, where the model loads)."""
    if not model:
        return None
    from prox_tasks.models.artifact import REFINER_FILE, refiner_settings
    from prox_tasks.storage import exists, join_uri, read_bytes

    settings_uri = join_uri(model, REFINER_FILE)
    try:
        if not exists(settings_uri):
            return None
        settings = refiner_settings(read_bytes(settings_uri), settings_uri)
        tagger = settings.get("tagger") if settings.get("kind") == "line_tagger" else None
        # not the tagger's default when none is named: that imports torch, ~1 s a rerun
        threshold = tagger.get("line_threshold") if isinstance(tagger, dict) else None
        return float(threshold) if threshold is not None else None
    except Exception:  # noqa: BLE001 — unreadable here (storage, credentials): the two stay
        return None    # apart, as before, and the model's own load says what is wrong


class ShardRequest(dict):
    """A :func:`shard_request` (a JSON-ready dict, recorded as is) that also knows how a
    prox before ``served_models`` recorded the same request (``before_served``: the names
    given by option inside the options digest, by variable not at all), and how one before
    the levels' model folders were located spelled its options (``options_as_typed``), so
    the shards and claims of a snapshot refined before are still this request
    (:func:`same_request`)."""

    before_served: dict | None = None
    #: The ``options`` digests a prox before the levels' model folders were recorded
    #: absolute (:func:`~prox_tasks.models.resolver.located_levels`) recorded for these
    #: options: ``--doc-model``/``--chunk-model`` as typed (:func:`_options_as_typed`).
    options_as_typed: frozenset = frozenset()

    def calibrated_threshold(self) -> float | None:
        """The model's own keep threshold (:func:`calibrated_threshold`), read once and only
        when asked: a keep threshold given as that value and none given are the same
        request (the same rows)."""
        if not hasattr(self, "_calibrated"):
            self._calibrated = calibrated_threshold(self.get("model"))
        return self._calibrated


def same_request(recorded: dict | None, request: dict | None,
                 model_version: str | None = None) -> bool:
    """Whether ``recorded`` (a status record's or a claim's request) is ``request``: equal,
    or recorded by a prox before ``served_models`` for the same request (an openai snapshot
    refined before, rerun after the upgrade with nothing changed), or recorded with no name
    for a level ``request`` names (:func:`names_added`) — for a shard's record, whose
    ``model_version`` says its pool served that name; the model folder may be spelled
    another way (:func:`_spelled_as`)."""
    recorded = _spelled_as(recorded, request, model_version)
    if isinstance(recorded, dict) and isinstance(request, dict) \
            and not same_model(recorded.get("model"), request.get("model"), model_version):
        return False  # the shipped line tagger's folder, holding another version since
    if recorded == request:
        return True
    before = getattr(request, "before_served", None)
    if (before is not None and isinstance(recorded, dict)
            and "served_models" not in recorded and recorded == before):
        return True
    added = names_added(recorded, request)
    return bool(added) and (model_version is None or all(
        version_serves(model_version, level, name) for level, name in added.items()))


def names_added(recorded: dict | None, request: dict | None) -> dict[str, str]:
    """The served names ``request`` gives levels that ``recorded`` names none for — the
    level took the one model its pool listed (known only once loaded, after the settings
    are claimed) — when the two requests are otherwise the same; else {}. A rerun naming
    that model (``--doc-served-model``, ``PROX_OPENAI_DOC_MODEL``) is the same request when
    the shards' ``model_version`` says their pools served it (:func:`same_request`)."""
    if not isinstance(recorded, dict) or not isinstance(request, dict) \
            or request.get("backend") != "openai":  # fmt: skip
        return {}
    recorded = _spelled_as(recorded, request)
    had, asked = recorded.get("served_models") or {}, request.get("served_models") or {}
    if any(had.get(level) not in (None, name) for level, name in asked.items()) \
            or {k: v for k, v in recorded.items() if k != "served_models"} \
            != {k: v for k, v in request.items() if k != "served_models"}:  # fmt: skip
        return {}
    return {level: name for level, name in asked.items() if name and had.get(level) is None}


def _spelled_as(recorded: dict | None, request: dict | None,
                model_version: str | None = None) -> dict | None:
    """``recorded`` with its model spelled as ``request`` spells it when the two name one
    folder (:func:`~prox_tasks.storage.uri.same_uri`): a prox before models were recorded
    absolute (:func:`~prox_tasks.models.resolver.located`) recorded ``--model`` as typed
    (``tiny``, ``tiny/``), and a rerun naming it so again, from the same folder, is the same
    request; so did it ``--doc-model``/``--chunk-model``, inside the options digest (one of
    the request's ``options_as_typed``). Its model as ``request`` names it when the two are
    one model (:func:`~prox_tasks.models.resolver.same_model`): another prox installation's
    shipped line tagger of this one's version (``model_version``, a shard record's, when it
    says), as that installation recorded it. Its keep threshold as ``request`` gives it
    when one of the two gives none and the other the model's own
    (``calibrated_threshold``). Anything else as it is."""
    if not isinstance(recorded, dict) or not isinstance(request, dict):
        return recorded
    had, asked = recorded.get("model"), request.get("model")
    if isinstance(had, str) and isinstance(asked, str) and had != asked \
            and (same_uri(had, asked) or same_model(had, asked, model_version)):  # fmt: skip
        recorded = {**recorded, "model": asked}
    if recorded.get("options") != request.get("options") \
            and recorded.get("options") in getattr(request, "options_as_typed", ()):  # fmt: skip
        recorded = {**recorded, "options": request["options"]}
    # --keep-threshold 0.85 for a tagger calibrated at 0.85 refines what none given does
    had, asked = recorded.get("keep_threshold"), request.get("keep_threshold")
    if had != asked and None in (had, asked) and isinstance(request, ShardRequest) \
            and request.calibrated_threshold() in {had, asked} - {None}:  # fmt: skip
        recorded = {**recorded, "keep_threshold": asked}
    return recorded


def _options_as_typed(options: dict) -> frozenset:
    """The digests of ``options`` with each level's model folder (``doc_model``,
    ``chunk_model``, located) spelled as a prox before recorded it, typed from this folder
    (:func:`~prox_tasks.models.resolver.spellings_as_typed`); empty without one."""
    import itertools

    from prox_tasks.models.resolver import LEVEL_MODEL_OPTIONS, spellings_as_typed

    levels = [k for k in LEVEL_MODEL_OPTIONS if isinstance(options.get(k), str) and options[k]]
    if not levels:
        return frozenset()
    spelled = itertools.product(*(spellings_as_typed(options[k]) for k in levels))
    return frozenset(_options_digest({**options, **dict(zip(levels, names, strict=True))})
                     for names in spelled)  # fmt: skip


def _options_digest(options: dict) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str)
                          .encode()).hexdigest()[:16]


def _served_models(backend: str | None, options: dict) -> dict:
    """On openai, ``{"served_models": {level: name}}`` — the model each level asks its
    pool for, taken out of ``options``, whether an option or ``PROX_OPENAI_DOC_MODEL`` /
    ``PROX_OPENAI_CHUNK_MODEL`` named it (:func:`~prox_tasks.inference.openai_engine.
    served_model_names`); {} when none is named (the pool's one model: its weights are in
    the version the rows and checkpoints carry)."""
    if backend != "openai":
        return {}
    from prox_tasks.inference.openai_engine import SERVED_MODEL_OPTIONS, served_model_names

    names = served_model_names(options)
    for name in SERVED_MODEL_OPTIONS:
        options.pop(name, None)
    return {"served_models": names} if any(names.values()) else {}


def _check_request(output_uri: str, shard_index: int, done: dict, request: dict | None) -> None:
    recorded = done.get("request")
    if request is None or recorded is None or same_request(recorded, request,
                                                           done.get("model_version")):
        return
    # a level recorded with no name: the model its pool served is in the version
    served = f" (served {done.get('model_version')})" if names_added(recorded, request) else ""
    version, versions = done.get("model_version"), None
    # another installation's shipped model of another version: another release's
    if shipped_elsewhere(recorded.get("model")) and version != shipped_version():
        served = (f" (the shipped line tagger of another prox installation, version "
                  f"{version}; this one ships {shipped_version()})")
    elif shipped_version_of(request.get("model")) not in (None, version) and version:
        # this installation's folder, upgraded in place since: another release's model
        versions = (version, shipped_version())
        served = (f" (the shipped line tagger, version {version}; this prox, upgraded since, "
                  f"ships {shipped_version()} in the same folder)")
    raise SettingsConflict.between(
        recorded, request, f"shard {shard_index} of {output_uri} was refined with other "
        f"settings{served}; refine into a new output folder, or refine it again with --force "
        "(the DAG's reprocess Param)", versions)


def check_published_requests(output_uri: str, manifest, request: dict) -> None:
    """What every shard of a rerun without ``force`` would meet, checked once up front.

    Raises:
        SettingsConflict: A published shard of ``output_uri`` was refined with other
            settings than ``request`` (:func:`shard_request`).
    """
    # the records listed once, only those read: a new folder's first claim (the DAG's plan,
    # for every shard) asked for each record, 100,000 GETs on S3 at 100,000 shards
    for index, status in read_statuses(output_uri, (s.index for s in manifest.shards),
                                       manifest.id, verify=False, listed_above=0):
        if status is not None:
            _check_request(output_uri, index, status, request)


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``"<setting> <old> -> <new>"`` for each setting of two requests that differs (nested
    ones dotted: ``limits.max_doc_lines``)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a!r} -> {b!r}")
    return out


def refine_shard(output_uri: str, shard_index: int, *, model: str | None = None,
                 backend: str | None = None, backend_options: dict | None = None,
                 policy: dict | None = None,
                 checkpoint_every: int | None = None, force: bool = False,
                 refiner: Refiner | None = None,
                 progress: Callable[[int], None] | None = None,
                 limits: dict | None = None, quality: str = "off",
                 request: dict | None = None, manifest=None) -> dict:
    """Refine shard ``shard_index`` of the snapshot planned at ``output_uri``.

    Args:
        output_uri: The output folder holding ``manifest.json`` (see
            :func:`prox_tasks.corpus.plan_shards`); the refined shard is written there.
        shard_index: Which shard.
        model: Model URI for :func:`prox_tasks.inference.load_backend` (None: embedded).
        backend: Backend name (None: chosen from the model).
        backend_options: Options for the backend (JSON-ready).
        policy: Executor :class:`~prox_tasks.programs.Policy` fields (over the caps that
            ``limits`` set).
        checkpoint_every: Documents per batch and checkpoint (0: no checkpoints; None:
            ``limits``' ``max_batch_docs``). Batches also close at the byte and line limits.
        force: Refine again even when the shard is already published.
        refiner: An already loaded backend (the whole-corpus driver shares one); overrides
            ``model``/``backend``/``backend_options``.
        progress: Called with the number of documents done after each batch.
        limits: :class:`~prox_tasks.refine.limits.Limits` fields (JSON-ready; unset ones
            from ``PROX_<FIELD>`` environment variables, else the defaults).
        quality: The document-quality decision: ``off``, ``report`` (score and count) or
            ``drop`` (also drop low-quality documents; :mod:`prox_tasks.labeling.doc_quality`).
        request: What this refine asks for (:func:`shard_request`), recorded in the shard's
            status. A published shard refined with another request raises
            :class:`SettingsConflict` (unless ``force``) instead of being reused, and so
            does a refined shard, unpublished, when the folder's settings claim names
            another request by then (:func:`~prox_tasks.refine.claim.check_claim`).
        manifest: The plan at ``output_uri``, already loaded by a caller that refines many
            shards of it (:func:`~prox_tasks.refine.workers.refine_shards`); None: loaded
            here. A manifest's size grows with its shards, so reading it once per shard
            would read O(shards²) bytes over a snapshot.

    Returns:
        JSON-ready: ``shard``, ``status`` (``"refined"`` or ``"skipped"``), ``accounting``
        (the writer's), ``stats`` (:class:`~prox_tasks.refine.stats.ShardStats`),
        ``model_version``, ``backend``.

    Raises:
        SettingInvalid: A deployment variable the refine reads
            (:func:`~prox_tasks.pipeline.settings.check_refine_settings`), before the shard
            or its model is touched.
    """
    from prox_tasks.pipeline.settings import check_refine_settings

    started = time.perf_counter()
    # the variables read deep inside (as the shard starts, as a model loads): refused before
    # anything is touched — a --force refine had unpublished the shard and loaded the model
    check_refine_settings()
    if manifest is None:
        manifest = load_manifest(output_uri)
    plan = manifest.shard(shard_index)
    done = read_status(output_uri, shard_index, manifest.id)
    if done is not None and force:
        refuse_if_released(output_uri, f"refining shard {shard_index} again")
        _unpublish(output_uri, manifest.id, shard_index, request)
    if not force and done is not None:
        return reuse_published(output_uri, shard_index, done, plan.docs, request, progress)
    Limits.resolve(limits)  # bad limits fail before a model is loaded
    bound_heap()
    owned = refiner is None
    if owned:
        from prox_tasks.inference import load_backend

        refiner = load_backend(backend, model, **(backend_options or {}))
    try:
        values = dict(limits or {})
        if checkpoint_every:
            values["max_batch_docs"] = checkpoint_every
        chosen = Limits.resolve(values)
        checkpoint_every = chosen.max_batch_docs if checkpoint_every is None else checkpoint_every
        with shard_clock(str(shard_index)):  # an engine's per-shard budget counts from here
            return _refine(manifest, output_uri, shard_index, plan.docs, refiner,
                           Policy.from_kwargs(**{**chosen.policy_caps(), **(policy or {})}),
                           checkpoint_every, progress, started, chosen, quality, request)
    finally:
        if owned:
            refiner.close()


def reuse_published(output_uri: str, shard_index: int, done: dict, docs: int,
                    request: dict | None = None,
                    progress: Callable[[int], None] | None = None) -> dict:
    """:func:`refine_shard`'s result for shard ``shard_index``, published as its status
    record ``done`` says (:func:`~prox_tasks.corpus.writer.read_status`, already read by
    the caller): nothing is refined; ``progress`` hears of its ``docs`` planned documents.

    Raises:
        SettingsConflict: ``done`` was refined with other settings than ``request``.
    """
    _check_request(output_uri, shard_index, done, request)
    log.info("shard %d already published (%s); nothing to do", shard_index, done.get("uri"))
    if progress:
        progress(docs)
    return {"shard": shard_index, "status": "skipped", "accounting": done,
            "stats": None, "model_version": done.get("model_version"), "backend": None}


def _unpublish(output_uri: str, manifest_id: str, shard_index: int,
               request: dict | None) -> None:
    """Remove the status record of a published shard this run refines again (``force``),
    once the folder's claim still holds this run's settings: the shard is "not done" while
    it is rewritten, so a gate or a release in the meantime does not pass on files about to
    be replaced; a run whose claim was taken over (or whose folder was gated since) removes
    nothing (:func:`~prox_tasks.refine.claim.check_claim`)."""
    from prox_tasks.corpus import status_uri
    from prox_tasks.refine.claim import check_claim  # imports this module
    from prox_tasks.storage import remove

    check_claim(output_uri, manifest_id, request, shard_index)
    remove(status_uri(output_uri, shard_index))


def _fingerprint(manifest, shard_index: int, refiner: Refiner, policy: Policy,
                 checkpoint_every: int, limits: Limits, quality: str = "off") -> dict:
    settings = getattr(refiner, "settings", None)
    settings = settings.to_dict() if hasattr(settings, "to_dict") else None
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    # the context the prompts are fitted to decides how documents are cut and chunked: an
    # openai pool restarted with a shorter --max-model-len (ServedModelChanged) made the
    # retry reuse batches refined under the longer one, so a shard's rows depended on when
    # the restart came
    contexts = getattr(refiner, "prompt_contexts", None)
    return {"manifest": manifest.id, "shard": shard_index, "model": refiner.version,
            "policy": asdict(policy), "batch": checkpoint_every, "limits": limits.to_dict(),
            "settings": digest.hexdigest()[:16],
            # rows saved without their texts: parts of earlier versions (texts inside) are
            # not reused, and earlier versions never reuse these
            "rows": "without_texts",
            **({"quality": quality} if quality != "off" else {}),
            **({"contexts": contexts} if contexts else {})}  # fmt: skip


def _refine(manifest, output_uri: str, shard_index: int, expected: int, refiner: Refiner,
            policy: Policy, checkpoint_every: int, progress, started: float,
            limits: Limits, quality: str = "off", request: dict | None = None) -> dict:
    store = CheckpointStore(output_uri, shard_index, _fingerprint(
        manifest, shard_index, refiner, policy, checkpoint_every, limits, quality))
    quarantine = Quarantine()
    stats = ShardStats()
    docs = admitted(read_shard(manifest, shard_index, quarantine), limits, quarantine,
                    shard_duplicates(manifest, shard_index),
                    manifest.settings.get("text_field", "text"),
                    manifest.settings.get("id_field", "id"))
    reporter = ProgressLog(f"shard {shard_index}", expected, refiner.version, stats)

    def report(n: int) -> None:
        reporter(n)
        if progress:
            progress(n)

    rows = _rows(batches(docs, limits), store, refiner, policy, checkpoint_every > 0, stats,
                 shard_index, report, quality)
    # rows stream into the writer batch by batch: memory holds one batch and one row group
    def inside() -> float:  # the phases that run inside the writer's loop (not sub-phases)
        return sum(stats.seconds[p] for p in PHASES if p != "write")

    def still_claimed() -> dict | None:  # a --force run may have taken the folder over
        from prox_tasks.refine.claim import check_claim  # imports this module

        # recorded in the claim's form: one request for every shard of a snapshot
        return check_claim(output_uri, manifest.id, request, shard_index)

    start, before = time.perf_counter(), inside()
    accounting = write_refined_shard(output_uri, shard_index, rows, quarantine=quarantine,
                                     expected_docs=expected, model_version=refiner.version,
                                     request=request, manifest_id=manifest.id,
                                     before_publish=still_claimed)
    stats.seconds["write"] += max(0.0, time.perf_counter() - start - (inside() - before))
    store.clear()
    stats.docs_in = accounting.docs_read
    stats.docs_quarantined = accounting.docs_quarantined
    stats.duplicate_ids = accounting.quarantine_reasons.get("duplicate_id", 0)
    stats.seconds["total"] = time.perf_counter() - started
    reporter.total = reporter.done  # the quarantined records were never refined
    log.info("%s; %d records quarantined", reporter.line(), stats.docs_quarantined)
    # the openai servers its pool left out at load (they refuse it): said in the run's summary
    left_out = getattr(refiner, "servers_left_out", None)
    return {"shard": shard_index, "status": "refined", "accounting": accounting.to_dict(),
            "stats": stats.to_dict(), "model_version": refiner.version,
            "backend": refiner.backend,
            **({"servers_left_out": left_out} if left_out else {})}  # fmt: skip


def _timed(items: Iterator, seconds: Counter, key: str) -> Iterator:
    """``items``, with the time spent producing them added to ``seconds[key]``."""
    items = iter(items)
    while True:
        start = time.perf_counter()
        item = next(items, None)
        seconds[key] += time.perf_counter() - start
        if item is None:
            return
        yield item


def _rows(batches_in: Iterator[list], store: CheckpointStore, refiner: Refiner,
          policy: Policy, checkpointing: bool, stats: ShardStats, shard_index: int,
          progress, quality: str = "off") -> Iterator[dict]:
    """Output rows in input order: first those of reusable checkpoints (checked against the
    documents read again), then each new batch refined and checkpointed."""
    batches_in = _timed(batches_in, stats.seconds, "read")
    part = 0
    if checkpointing:
        for header, saved in store.load():
            batch = next(batches_in, None)
            if batch is None or [[batch[0].source, batch[0].offset],
                                 [batch[-1].source, batch[-1].offset]] != \
                    [header["first"], header["last"]] or len(batch) != len(saved):  # fmt: skip
                raise RuntimeError(f"shard {shard_index}: checkpoint {part} does not match the "
                                   "documents read; delete its _checkpoints folder to restart")
            # earlier tries' counts carry over; their timings do not (this try's wall time)
            stats.add({k: v for k, v in header["stats"].items() if k != "seconds"})
            try:
                saved = rows_again(saved, batch, policy)
            except ValueError as err:
                raise RuntimeError(f"shard {shard_index}: checkpoint {part}: {err}; delete its "
                                   "_checkpoints folder to restart") from None
            stats.docs_resumed += len(saved)
            part += 1
            if progress:
                progress(len(saved))
            yield from saved
    if part:
        log.info("shard %d: resumed %d documents from %d checkpoints",
                 shard_index, stats.docs_resumed, part)
    for batch in batches_in:
        batch_rows, batch_stats = refine_batch(refiner, batch, policy, refiner.version, quality)
        if checkpointing:
            start = time.perf_counter()
            store.save(part, batch_rows, batch_stats.to_dict())
            batch_stats.seconds["checkpoint"] += time.perf_counter() - start
        stats.add(batch_stats)
        part += 1
        if progress:
            progress(len(batch_rows))
        release_free_memory()  # the batch's temporaries are gone: give their pages back
        yield from batch_rows
