"""The settings a snapshot folder is refined with, claimed once before any shard is refined.

Every published shard records the request it was refined with (its status record's
``request``, :func:`~prox_tasks.refine.step.shard_request`), but two runs started together
into one folder with other settings (another keep threshold, another model) would both
refine before either publishes, and the folder would end up with shards of both. So a run
first claims the folder's settings in ``<output>/_refine_settings.json`` — its request and
the plan's id — through :func:`prox_tasks.storage.swap.replace_if` (a file lock locally, a
conditional PUT on S3), the way the planner writes ``manifest.json``:

- no claim yet (a new folder, or one written before claims): the published shards' requests
  are checked as before (:func:`~prox_tasks.refine.step.check_published_requests`), then the
  claim is written; of two runs racing for it exactly one writes it, the other then reads it;
- the same request (a rerun, an Airflow retry, the DAG's other shard tasks): nothing to do;
- another request: :class:`~prox_tasks.refine.step.SettingsConflict` naming the differences,
  before any model is loaded — unless ``take_over`` (``--force``, the DAG's ``reprocess``),
  which replaces the claim, or the claim names its runner (``prox refine``'s process) and
  that runner is known dead with nothing of the plan published (killed outright, it could
  not give its claim up: :func:`give_up_claim`). A run still refining with the old settings then stops before
  it publishes its next shard (:func:`check_claim`).

A claim of another plan (the folder was planned again) counts as absent. Planning a folder
again over another plan (``prox plan --overwrite``, ``--force`` or ``reprocess`` with a
changed input) writes a claim of the new plan naming no settings
(:func:`claim_for_new_plan`), so a run still refining the old plan stops before it
publishes its next shard, whether or not a run of the new plan has started.

A gate over the folder (:func:`mark_gated`: the DAG's ``quality_gate``, ``prox gate`` with
or without ``--name``) freezes it: the claim records the gated snapshot, and a run still
refining that plan — with the same settings too: a sampling backend writes other bytes —
publishes no more shards (:class:`GatedSnapshot`) over the files the gate judged. A run
that starts into the folder then (not ``take_over``) and would refine a shard the gate
judged (its files gone or damaged since) is refused when it claims, before any model work;
one that only reuses published shards, or refines those the gate found unwritten, goes on.
``take_over`` (``--force``, ``reprocess``) clears the mark: the folder is refined again and
needs the gate again.

Not one concept with :mod:`prox_tasks.labeling.run_claim`: that claim lets one run at a
time label a seed set (exclusive, leased, taken over once its holder is gone); this one
pins a snapshot's settings, shared by every run of them (shards are idempotent) and never
leased. What they share, one conditional read-decide-write step, is
:func:`prox_tasks.storage.swap.replace_if`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection

from prox_tasks.models.resolver import shipped_elsewhere, shipped_version_of
from prox_tasks.refine.step import (
    SettingsConflict,
    check_published_requests,
    differences,
    names_added,
    same_request,
)
from prox_tasks.storage import join_uri, names_in, read_json
from prox_tasks.storage.swap import replace_if

log = logging.getLogger(__name__)

#: The claim's file in the snapshot folder ("_": a marker, not data, for listings).
SETTINGS_CLAIM_NAME = "_refine_settings.json"


class GatedSnapshot(RuntimeError):
    """A shard was refined for a snapshot folder whose snapshot was gated meanwhile: its
    files are what the gate judged (and what a release checks), so it is not published."""


def claim_uri(output_uri: str) -> str:
    """Where the settings claim of the snapshot folder ``output_uri`` lives."""
    return join_uri(output_uri, SETTINGS_CLAIM_NAME)


def claim_settings(output_uri: str, manifest, request: dict, take_over: bool = False,
                   runner: dict | None = None, for_others: bool = False) -> None:
    """Claim ``output_uri`` for refining plan ``manifest`` with ``request``, or check that
    it is claimed for it already. Call it before refining any shard.

    Args:
        output_uri: The planned snapshot folder.
        manifest: Its plan (:class:`~prox_tasks.corpus.manifest.Manifest`).
        request: What this run refines with (:func:`~prox_tasks.refine.step.shard_request`).
        take_over: Replace a claim of other settings instead of refusing (``--force``, the
            DAG's ``reprocess``); published shards are not checked either.
        runner: The process that claims and refines (:func:`~prox_tasks.refine.runner.current`;
            ``prox refine``), recorded in the claim. A claim of other settings whose
            recorded runner is known dead (killed outright: it could not give its claim
            up) and under which nothing was published counts as given up (whoever claims:
            a dead runner is judged from this process). None (the DAG's plan task, claiming
            for other processes): none recorded, and the claim holds until given up or
            taken over. A claim of the same settings naming another
            runner that may still run is shared: it then names none, and holds so.
        for_others: This call claims for other processes (the DAG's plan task, for its
            refine tasks), not re-checks a claim its caller made already: a claim naming a
            runner then names none (it must not lapse when that runner dies).

    Raises:
        SettingsConflict: The folder is claimed for other settings, or (no claim yet) a
            published shard was refined with other settings; unless ``take_over``.
        GatedSnapshot: The folder was gated (:func:`mark_gated`) and a shard of ``manifest``
            the gate judged is not published now: this run would refine it and then be
            refused at its publish; unless ``take_over``.
    """
    from prox_tasks.refine.runner import current as current_runner
    from prox_tasks.refine.runner import why_dead

    me = runner or current_runner()  # whoever records no runner (the DAG's plan) still judges one

    def decide(current: bytes | None) -> bytes | None:
        claim = _claim_of(current, output_uri)
        ours = claim.get("manifest_id") == manifest.id
        claimed = claim.get("request") if ours else None
        gated = claim.get("gated") if ours else None
        # the shipped line tagger's version this run refines with (None: another model)
        shipped = shipped_version_of(request.get("model"))
        if gated and take_over:  # refined again: the gate must judge it again
            log.warning("%s: refining gated snapshot %s again (--force, reprocess): it needs "
                        "the gate again", output_uri, gated.get("snapshot"))
            return _claim_bytes(manifest.id, request, runner, shipped=shipped)
        if gated:  # refused now, not after a shard's model work at its publish
            _refuse_frozen_shards(output_uri, manifest, gated)
        wanted = _claim_bytes(manifest.id, request, runner, gated, shipped)  # a gate mark stays
        holder = claim.get("runner") if claimed is not None else None
        dead = bool(holder) and why_dead(holder, me)
        if same_request(claimed, request):
            if not take_over and ((claimed != request and (
                    names_added(claimed, request) or shipped_elsewhere(claimed.get("model"))))
                    or claim.get("shipped_version") != shipped):  # fmt: skip
                # claimed naming no model where this run names one, naming another prox
                # installation's shipped model (a claim records no version), or the
                # shipped model of another version than this prox's (upgraded in place: the
                # same folder) or of none recorded (a prox before claims recorded it): the
                # same request only if every shard published was refined with that model
                # (the version each records)
                check_published_requests(output_uri, manifest, request)
            # kept in the form it was claimed in (one by a prox before served_models, one
            # naming no model): the shards of one snapshot record one request
            # (check_claim), which the gate compares
            if dead:  # a rerun of a killed run's settings holds the claim from now on
                return _claim_bytes(manifest.id, claimed, runner, gated, shipped)
            if holder and holder != runner and (runner or for_others):
                # shared with a run that may still run (the DAG's plan, claiming for its
                # refine tasks; another prox refine): the claim names no process from now
                # on, so it does not lapse when the one it named dies
                return _claim_bytes(manifest.id, claimed, gated=gated, shipped=shipped)
            if claim.get("shipped_version") != shipped:  # checked above: recorded from now on
                return _claim_bytes(manifest.id, claimed, holder, gated, shipped)
            return None
        if take_over:
            if claimed is not None:
                log.warning("%s: taking over the settings claim (%s)", output_uri,
                            ", ".join(differences(claimed, request)))
            return wanted
        if claimed is not None:
            if dead and not _published_any(output_uri, manifest):
                log.warning("%s: the run that claimed it for other settings (%s) was killed "
                            "before it published a shard (%s): its claim is given up",
                            output_uri, ", ".join(differences(claimed, request)), dead)
                return wanted
            raise _claimed_conflict(output_uri, claimed, request, holder, dead)
        # a folder written before claims: its published shards say what it was refined with
        check_published_requests(output_uri, manifest, request)
        return wanted

    replace_if(claim_uri(output_uri), decide)


def claim_for_options(output_uri: str, manifest, backend: str | None,
                      backend_options: dict | None, build: Callable[[dict | None], dict],
                      **claiming) -> tuple[dict | None, dict]:
    """:func:`claim_settings` for the request ``build`` makes of ``backend_options``
    (:func:`~prox_tasks.refine.step.shard_request` with the run's other settings), taking
    the served models the snapshot's settings name where the run names none.

    An openai run naming no served model for a level (it takes the one model the level's
    pool lists) into a snapshot refined naming one (``--doc-served-model NAME``,
    ``PROX_OPENAI_DOC_MODEL``) is refused by the claim; where that is the one difference
    and the level's pool lists that one model, it is the snapshot's request: the run
    claims again naming it, and asks its pool for it. A pool serving another model, several,
    or none that answers is still refused (saying which name to give). Nothing more is read
    unless the claim refuses.

    Args:
        claiming: :func:`claim_settings`'s keyword arguments.

    Returns:
        The backend options and the request the run refines with.
    """
    request = build(backend_options)
    try:
        claim_settings(output_uri, manifest, request, **claiming)
        return backend_options, request
    except SettingsConflict as err:
        named = _named_as_refined(err.recorded, request, backend, backend_options)
        if named is None:
            raise
    log.info("%s: asking the pools for %s, as the snapshot's settings name them (the one "
             "model each lists)", output_uri, named)
    options = {**(backend_options or {}),
               **{f"{level}_served_model": name for level, name in named.items()}}
    request = build(options)
    claim_settings(output_uri, manifest, request, **claiming)
    return options, request


def _named_as_refined(recorded: dict | None, request: dict, backend: str | None,
                      options: dict | None) -> dict[str, str] | None:
    """The served names ``recorded`` (the request a snapshot was claimed or refined for)
    gives levels ``request`` names none for, the one difference, when each such level's
    pool lists that one model; else None."""
    from prox_tasks.inference.loading import only_served_model

    dropped = names_added(request, recorded) if backend == "openai" else {}
    if not dropped or any(only_served_model(options or {}, level) != name
                          for level, name in dropped.items()):  # fmt: skip
        return None
    return dropped


def _refuse_frozen_shards(output_uri: str, manifest, gated: dict) -> None:
    """Refuse a run (not ``take_over``) into a gated folder that would refine a shard the
    gate judged: one of ``manifest``'s shards (a DAG task's part: its own) that is not
    published now (gone or damaged since) and not one the gate found unwritten. Its
    publish would be refused (:func:`check_claim`) after its model work.

    A shard counts as published when its status record and its file are listed: two
    listings, whatever the number of shards (the DAG's plan claims for all of a 100,000-shard
    snapshot; reading each record would be a request or three a shard). A file damaged but
    present is refused at its publish, as before."""
    from prox_tasks.corpus.manifest import shard_name

    records = names_in(join_uri(output_uri, "_status"))
    files = names_in(join_uri(output_uri, "shards"))
    unwritten = set(gated.get("unwritten", ()))
    frozen = [s.index for s in manifest.shards if s.index not in unwritten
              and (f"{shard_name(s.index)}.json" not in records
                   or f"{shard_name(s.index)}.parquet" not in files)]  # fmt: skip
    if frozen:
        shown = ", ".join(map(str, frozen[:10])) + \
            (f" and {len(frozen) - 10} more" if len(frozen) > 10 else "")  # fmt: skip
        raise _gated(output_uri, f"shard {shown} of {output_uri} is not published and was not refined"
                     if len(frozen) == 1 else f"shards {shown} of {output_uri} are not "
                     "published and were not refined", gated)


def _gated(output_uri: str, what: str, gated: dict, when: str = "") -> GatedSnapshot:
    """The refusal ``what`` (which shards, not refined or not published) in folder
    ``output_uri`` gated as ``gated`` (``when``: " meanwhile" at publish), with the way out."""
    name = gated.get("snapshot")  # none: `prox gate` without --name
    return GatedSnapshot(
        f"{what}: {f'snapshot {name}' if name else 'the snapshot'} there was gated "
        f"({gated.get('verdict')}){when}, and its files are what the gate judged; "
        + way_out(output_uri, " and gate it again"))


def way_out(output_uri: str, then: str = "") -> str:
    """How to refine ``output_uri`` otherwise than it is claimed or gated: a new output
    folder, or ``--force`` (``then``: what follows it) — not for a released snapshot, whose
    files are what its release points at (``--force`` is refused there: advised, it led to
    that refusal)."""
    from prox_tasks.corpus.manifest import replan_way_out

    return replan_way_out(output_uri, "refine into a new output folder (another snapshot "
                          f"name), or refine it again with --force (the DAG's reprocess "
                          f"Param){then}", "--force")


def give_up_claim(output_uri: str, manifest, request: dict) -> bool:
    """Give up this run's claim when it failed before any shard of its plan was published.

    A claim cannot tell a run that died from one still refining, so a run that fails (not
    one refused) says so itself: with nothing of its plan published, the folder holds no
    settings yet, and the next run chooses its own again — the promoted model, not the
    broken one that failed to load, a corrected keep threshold — without ``--force``. A
    claim another run holds (other settings, another plan), or one under which a shard was
    published, stays.

    Returns:
        Whether the claim was given up.
    """
    if _published_any(output_uri, manifest):
        return False

    def decide(current: bytes | None) -> bytes | None:
        if not same_request(_request_of(current, manifest.id, output_uri), request):
            return None  # not this run's claim (any more)
        gated = _claim_of(current, output_uri).get("gated")  # a gate's mark stays
        return _claim_bytes(manifest.id, None, gated=gated)  # a claim of no request: no claim

    return replace_if(claim_uri(output_uri), decide)


def claim_for_new_plan(output_uri: str, manifest_id: str) -> None:
    """The folder was planned again (plan ``manifest_id`` replaces another): claim it for
    that plan with no settings yet — a run of the old plan then publishes no more shards
    (:func:`check_claim`), and the new plan's first run claims its settings. A claim of
    that plan already written (a run of it claimed first) stays."""

    def decide(current: bytes | None) -> bytes | None:
        claim = _claim_of(current, output_uri)
        return None if claim.get("manifest_id") == manifest_id else \
            _claim_bytes(manifest_id, None)  # fmt: skip

    replace_if(claim_uri(output_uri), decide)


def _published_any(output_uri: str, manifest) -> bool:
    """Whether a shard of plan ``manifest`` has a status record in ``output_uri``: the
    ``_status`` folder listed once, and only the records listed read (until one is of this
    plan), not a read a shard — a run that failed with nothing published asked for each of
    a 100,000-shard snapshot's records (100,000 GETs on S3) to give its claim up."""
    from prox_tasks.corpus.writer import read_statuses

    # listed whatever the plan's size: a DAG task's part of a hundred shards, read a
    # record each, would be a hundred GETs where one LIST finds none published
    statuses = read_statuses(output_uri, (s.index for s in manifest.shards), manifest.id,
                             verify=False, listed_above=0)
    return any(status is not None for _index, status in statuses)


def mark_gated(output_uri: str, manifest_id: str, snapshot: str | None, verdict: str,
               unwritten: Collection[int] = ()) -> None:
    """The gate judged plan ``manifest_id`` in ``output_uri`` as snapshot ``snapshot``
    (None: ``prox gate`` without ``--name``; ``verdict``: ``gated`` or ``quarantined``):
    record it in the folder's claim, so a run still refining that plan publishes no more
    shards there (:func:`check_claim`). A claim of another plan (planned again since) is
    left alone: the gate judged no file of it.

    ``unwritten``: the shards the gate found without a published file (it failed
    ``complete``: a shard task failed, then ``prox gate`` ran). They are recorded and may
    still be published — no verdict rests on a file of theirs, and publishing them is how
    the snapshot is finished (then gated again) — while every shard the gate judged stays
    frozen. Recorded here, not tested at publish time: a run refining a shard again
    (``--force``) removes its status record before it refines, and a crash mid-publish leaves
    none, so the folder cannot tell afterwards what was judged."""

    def decide(current: bytes | None) -> bytes | None:
        claim = _claim_of(current, output_uri)
        if claim.get("manifest_id") not in (None, manifest_id):
            log.warning("%s: not marked gated: the folder holds plan %s now, not %s",
                        output_uri, claim.get("manifest_id"), manifest_id)
            return None
        gated = {"snapshot": snapshot, "verdict": verdict}
        if unwritten:
            gated["unwritten"] = sorted(unwritten)
        if claim.get("manifest_id") == manifest_id and claim.get("gated") == gated:
            return None  # a retry of the gate
        return _claim_bytes(manifest_id, claim.get("request"), claim.get("runner"), gated,
                            claim.get("shipped_version"))

    replace_if(claim_uri(output_uri), decide)


def _claim_bytes(manifest_id: str, request: dict | None, runner: dict | None = None,
                 gated: dict | None = None, shipped: str | None = None) -> bytes:
    """A claim's bytes; ``shipped``: the version of the shipped line tagger its request
    names (:func:`~prox_tasks.models.resolver.shipped_version_of`), which the folder's path
    does not say (a prox upgraded in place ships another model there)."""
    claim = {"manifest_id": manifest_id, "request": request}
    if runner:
        claim["runner"] = runner
    if gated:
        claim["gated"] = gated
    if shipped:
        claim["shipped_version"] = shipped
    return (json.dumps(claim, indent=1, sort_keys=True, default=str) + "\n").encode()


def check_claim(output_uri: str, manifest_id: str, request: dict | None,
                shard_index: int) -> dict | None:
    """Refuse to publish shard ``shard_index`` when the folder's claim names other settings
    than ``request`` (a run with ``--force`` took the claim over while this one refined), or
    its snapshot was gated meanwhile (:func:`mark_gated`), whatever the settings — unless
    the gate found this shard unwritten.

    Returns:
        The request to record in the shard's status: the claim's when it is ``request`` in
        another form (an openai snapshot claimed by a prox before ``served_models``, or
        naming no served model where ``request`` names one:
        :func:`~prox_tasks.refine.step.same_request`), so every shard of a snapshot records
        one request (the gate's ``refine_settings``); else ``request``. Read from the claim
        this check reads anyway: no request more per shard.

    Raises:
        SettingsConflict: Naming the differences; nothing of the shard is published.
        GatedSnapshot: Naming the gated snapshot and the way out; nothing is published.
    """
    if request is None:
        return None
    claim = _read_claim(output_uri)
    if claim is not None and claim.get("manifest_id") != manifest_id:
        # this run claimed the folder for its plan before refining: the folder was planned
        # again since (reprocess or --force with a changed input, prox plan --overwrite),
        # which claimed it for that plan; this shard's rows are of a plan no longer there
        raise SettingsConflict(
            f"shard {shard_index} of {output_uri} was not published: the folder was planned "
            f"again meanwhile (plan {claim.get('manifest_id')}, not {manifest_id}); refine "
            "it with that plan", ["manifest_id"])
    gated = (claim or {}).get("gated")
    if gated and shard_index not in gated.get("unwritten", ()):
        raise _gated(output_uri, f"shard {shard_index} of {output_uri} was not published", gated,
                     " meanwhile")
    claimed = None if claim is None else claim.get("request")
    if claimed is None:
        return request
    had, shipped = claim.get("shipped_version"), shipped_version_of(request.get("model"))
    if same_request(claimed, request) and had not in (None, shipped) and shipped:
        # a run of this prox upgraded in place beside runs of the release that claimed it
        raise SettingsConflict(
            f"shard {shard_index} of {output_uri} was not published: the folder is claimed "
            f"for the shipped line tagger version {had}, and this prox, upgraded since, ships "
            f"{shipped} in the same folder; refine into a new output folder, or refine it "
            "again with --force (the DAG's reprocess Param): model_version "
            f"{had!r} -> {shipped!r}", [f"model_version {had!r} -> {shipped!r}"])
    if same_request(claimed, request):
        return claimed
    raise SettingsConflict.between(
        claimed, request, f"shard {shard_index} of {output_uri} was not published: another "
        "run (--force, the DAG's reprocess Param) claimed the folder for other settings "
        "meanwhile")


def claimed_request(output_uri: str, manifest_id: str) -> dict | None:
    """The request the folder is claimed for under plan ``manifest_id`` (None: no claim)."""
    claim = _read_claim(output_uri) or {}
    return claim.get("request") if claim.get("manifest_id") == manifest_id else None


def _read_claim(output_uri: str) -> dict | None:
    """The folder's claim (:func:`_as_claim`); one GET on S3."""
    uri = claim_uri(output_uri)
    try:
        return _as_claim(read_json(uri), uri)
    except ValueError:
        return _as_claim(ValueError, uri)


def _as_claim(value, uri: str) -> dict | None:
    """A claim read, or None: no file, or not a JSON object (edited or cut short by hand:
    it holds nobody back, and claiming afresh replaces it)."""
    if value is None or isinstance(value, dict):
        return value
    log.warning("%s is not a claim (a JSON object): it holds nobody back", uri)
    return None


def _request_of(raw: bytes | None, manifest_id: str, output_uri: str) -> dict | None:
    """The request a claim's bytes hold for plan ``manifest_id`` (None: no claim of it)."""
    claim = _claim_of(raw, output_uri)
    return claim.get("request") if claim.get("manifest_id") == manifest_id else None


def _claim_of(raw: bytes | None, output_uri: str) -> dict:
    """A claim's bytes read (:func:`_as_claim`; empty: none)."""
    uri = claim_uri(output_uri)
    try:
        return _as_claim(None if raw is None else json.loads(raw), uri) or {}
    except ValueError:
        return _as_claim(ValueError, uri) or {}


def _claimed_conflict(output_uri: str, claimed: dict, request: dict,
                      holder: dict | None = None, dead: str | None = None) -> SettingsConflict:
    """The refusal of a run whose settings differ from the claim's, naming who claimed it:
    the ``prox refine`` process the claim names (``holder``; ``dead``: why it is known to
    have ended), else the DAG's plan or runs that shared it (a claim names no process then).
    """
    if holder and dead:
        who = (f"by prox refine process {holder.get('pid')} on {holder.get('host')}, which "
               f"ended ({dead}) after publishing shards of it")
    elif holder:
        who = (f"by prox refine process {holder.get('pid')} on {holder.get('host')}, "
               "which may still be refining it")
    else:
        who = "by a refine DAG run's plan, or by runs that shared it"
    return SettingsConflict.between(
        claimed, request, f"{output_uri} is claimed for refining with other settings "
        f"({SETTINGS_CLAIM_NAME}: {who}); {way_out(output_uri)}")
