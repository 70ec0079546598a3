"""One labeling run per seed-set folder at a time: a claim naming the run that labels it.

Two ``prox label --seed-set`` runs into one folder with the same settings both passed the
settings claim (``params.json``: :func:`prox_tasks.pipeline.seeding.claim_seed_set`, which
refuses only other settings) and both labeled every part: a paid teacher (an llm endpoint)
was paid twice for the same labels. :func:`labeling_claim` writes ``_labeling.json`` in the
folder naming its runner (:func:`prox_tasks.refine.runner.current`: host, process and its
start time) through :func:`~prox_tasks.storage.swap.replace_if` (a file lock locally, a
conditional PUT on S3), as the refine settings claim is written, so of two runs starting
together exactly one claims it; the other is refused (:class:`SeedSetBusy`) before it
samples or labels anything. Run again once the first has ended, it reuses that run's labels.

The DAG's tasks (:mod:`prox_tasks.pipeline.seeding`: ``sample``, each mapped ``label_shard``,
``split``) hold the same claim, each for as long as it writes into the folder, naming its
Airflow task try: the claim is its DAG run's (:func:`~prox_tasks.refine.runner.run_key`), so
the tasks of one run share it (``holders``, each added and removed in one step), and another
run's tasks or a ``prox label`` are refused while any of them labels.

The claim is removed when the run ends (its last holder ends), failed, stopped (SIGTERM)
or not (on S3 it is left released, ``holders`` empty: a conditional write, where a DELETE
could not be). A run killed outright cannot remove it; the claim is taken over (recording whose it was, why and
when: ``taken_over``) once its run is known to have ended:

- a holder known dead (:func:`prox_tasks.refine.runner.why_dead`, the refine claims' rule: a
  process of this machine that no longer runs, one from before this host restarted, an
  earlier Airflow try of the same task);
- a holder's Airflow DAG run that Airflow says has ended, success or failed
  (:func:`prox_tasks.refine.runner.why_run_ended`; asked from inside a seed DAG task);
- a lease run out: each holder rewrites the claim (its ``renewed`` time) every quarter of
  its lease (``lease_s``, ``PROX_LABEL_CLAIM_LEASE_S``, default 900 s) while it labels, so
  a claim not rewritten for a lease (its holder killed on another machine, S3 or local) has
  no live holder. How long since it was rewritten is the storage's clock, not a time in the
  claim (:func:`~prox_tasks.storage.swap.replace_if_aged`: S3's ``LastModified`` against
  the ``Date`` of the same response, a local file's mtime), so a writer whose clock is
  skewed neither keeps a dead claim for ever nor loses a live one. A claim of a prox
  before leases (no ``renewed``, no ``lease_s``) lapses the same way, a lease of this
  process's after it was last written;
- ``take_over`` (``prox label --take-over``): an operator's word that the holder is gone.

A holder publishes a part inside :meth:`HeldClaim.publishing` (:func:`publish_staged`: its
labels and quarantine, written under staged names while it labeled, moved into place, then
its done record), and a seed set's splits and manifest the same way: the claim read
immediately before, locally under the claim's lock (a takeover waits until the part
is published, so it lands before the check or after the publish), on S3 read again right
after (no conditional PUT compares another object) and the publish undone when the claim
was taken over meanwhile: its record removed while it is still this run's, its files left
(:func:`publish_staged`).

Staged files a run killed before its publish left are removed by the claim's holder
(:func:`sweep_staged`): as it takes the claim with no other holder, and before it stages a
part, that part's of other writers; never while a live writer may own them.

Not one concept with :mod:`prox_tasks.refine.claim`: that claim pins the settings a
snapshot is refined with and is shared by every run of those settings (its shards are
idempotent), never leased; this one is one exclusive run at a time, leased. Their shared
mechanics (one conditional step per write, a storage-clock age) are
:mod:`prox_tasks.storage.swap`'s.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prox_tasks.refine import runner as runners
from prox_tasks.storage import (
    join_uri,
    list_uri,
    move,
    parse_uri,
    put_atomic,
    read_bytes,
    remove,
    remove_all,
)
from prox_tasks.storage.swap import pinned, remove_if, replace_if, replace_if_aged

log = logging.getLogger(__name__)

#: The claim's file in the seed-set folder ("_": a marker, not part of the seed set).
CLAIM_NAME = "_labeling.json"


class SeedSetBusy(RuntimeError):
    """Another run is labeling the seed-set folder now: running this one beside it would
    label (and pay for) the same parts twice."""


class ClaimTakenOver(SeedSetBusy):
    """This run's labeling claim was taken over while it labeled (cut off for longer than
    its lease, or an operator's ``--take-over``): another run labels the folder now, so
    this one stops before it publishes anything more (a part, the splits)."""


class HeldClaim:
    """The labeling claim a ``with labeling_claim(...)`` block holds: :meth:`check` before
    each thing published into the folder.

    Attributes:
        lost: How the claim was lost, as the heartbeat last found it (None: held).
    """

    def __init__(self, output_uri: str, uri: str, me: dict) -> None:
        self.output_uri, self.uri, self.me = output_uri, uri, me
        self.lost: str | None = None

    def check(self) -> None:
        """Raise unless this run still holds the claim: the heartbeat's finding, else the
        claim read now (the heartbeat finds a takeover up to a quarter lease late).

        Raises:
            ClaimTakenOver: Naming the run that took it over, when and why.
        """
        if self.lost is None:
            replace_if(self.uri, self._read)  # decides nothing: a read, under the lock
        if self.lost is not None:
            raise ClaimTakenOver(
                f"seed set folder {self.output_uri}: this run's labeling claim was "
                f"{self.lost}; this run stopped, publishing nothing more (the other run "
                "labels the folder; a run once it has ended reuses the labels of both)"
            )

    def _read(self, current: bytes | None) -> None:
        self.lost = _lost(_claim_of(current), self.me)

    @contextmanager
    def publishing(self, what: str, undo=None) -> Iterator[None]:
        """Publish ``what`` (a part's done record) in the block only while this run holds
        the claim: read immediately before (not the heartbeat's finding, up to a quarter
        lease old), and kept so locally for the block (under the claim's lock: a takeover
        waits until the block ends). On S3 the claim is read again as the block ends: taken
        over meanwhile, ``undo`` (takes back what the block published) is called.

        Raises:
            ClaimTakenOver: Before the block (nothing published), or after it on S3 (what
                it published undone), also when the block failed meanwhile (the taker
                removed this run's staged files: :func:`sweep_staged`), chained to that
                failure.
            Exception: The block's own failure also when the claim could not be read again
                after it (an S3 outage): that read's error is its context, and nothing is
                undone, as whether the claim was taken over is not known.
        """
        failed: Exception | None = None
        unread: Exception | None = None  # the claim's read after a failed block, failed too
        try:
            with pinned(self.uri) as pin:
                self._read(pin.current)
                if self.lost is not None:
                    self.check()  # raises: the finding is set: it reads nothing (no 2nd lock)
                try:
                    yield
                except Exception as err:  # noqa: BLE001 (raised below; on S3 after the claim's read)
                    failed = err
            if pin.changed:  # S3: rewritten meanwhile: a renewal of this run's, or a takeover
                replace_if(self.uri, self._read)
        except Exception as err:  # noqa: BLE001 (the claim's read after the block)
            if failed is None:
                raise  # published (or failed before the block): the read's error is the news
            unread = err
        if unread is not None:  # raised out here: see _keep_failure
            self._keep_failure(what, failed, unread)
        if pin.changed:
            if self.lost is not None:
                log.error("%s: this run's labeling claim was %s while it published %s: "
                          "undone", self.uri, self.lost, what)  # fmt: skip
                if undo is not None:
                    undo()
                try:
                    self.check()
                except ClaimTakenOver as lost:
                    raise lost from failed
        if failed is not None:
            raise failed

    def _keep_failure(self, what: str, failed: Exception, unread: Exception) -> None:
        """Raise ``failed`` (the publish of ``what`` failed), the claim's read after it
        having failed too (``unread``: S3 down): the user is to see what failed, not the
        outage's second symptom, and nothing is undone on a guess."""
        log.error("%s: the labeling claim could not be read again after publishing %s "
                  "failed (%s: %s): whether it was taken over meanwhile is not known, so "
                  "nothing was undone; the publish's failure follows", self.uri, what,
                  type(unread).__name__, unread)  # fmt: skip
        if failed.__context__ is None and failed.__cause__ is None:
            # raised here, not in the except clause that caught the read: that would make
            # the read its context in place of the one it has (S3UploadFailedError's
            # ClientError, which says which request failed)
            failed.__context__ = unread
        raise failed


@contextmanager
def _unguarded(_what: str, undo=None) -> Iterator[None]:
    """What is published by a caller holding no claim (a caller of its own): as it is."""
    yield


#: How a staged file's name (:func:`staged_uri`) begins: hidden, so listings leave it out.
STAGED_PREFIX = "_staged-"
#: A staged file's name: its writer's token, then the final file's name.
_STAGED_NAME = re.compile(re.escape(STAGED_PREFIX) + r"([0-9a-f]+)-(.+)")


def staged_uri(final_uri: str, token: str) -> str:
    """Where ``final_uri`` is written before :func:`publish_staged` moves it into place:
    beside it, hidden (``_staged-<token>-<name>``: listings leave it out, and its name ends
    as the final one's, so its compression is the same), ``token`` one writer's."""
    folder, _, name = final_uri.rstrip("/").rpartition("/")
    staged = f"{STAGED_PREFIX}{token}-{name}"
    return f"{folder}/{staged}" if folder else staged


def sweep_staged(folders: list[str], names: set[str] | None = None,
                 but: str | None = None) -> int:  # fmt: skip
    """Remove the staged files (:func:`staged_uri`) directly in ``folders`` — of the final
    files ``names`` only (None: of any), and not ``but``'s (a token: the sweeper's own) —,
    which a run killed between staging and publishing left: hidden, they were never read,
    counted or resumed, and never removed either. Returns how many were removed; a
    failure to list or remove (a key that may not delete) is said as a warning, not raised.

    Only the holder of the folder's labeling claim sweeps, where no live writer can own
    them: as it takes the claim with no other holder (:func:`labeling_claim`: every holder
    of any other run is gone or taken over, and a run taken over publishes nothing more,
    so its staged files are dead), and before it stages a part
    (:func:`~prox_tasks.labeling.parts.label_part`, ``names``, ``but``: the claim's run
    labels each part in one task at a time, so another token's staged file of that part is
    a killed try's). A holder that joins its run's claim never sweeps the
    folder: the run's other tasks stage their own parts meanwhile.
    """
    found = []
    try:
        for folder in folders:
            for uri in list_uri(join_uri(folder, STAGED_PREFIX + "*"), include_hidden=True):
                named = _STAGED_NAME.fullmatch(uri.rpartition("/")[2])
                if named and (names is None or named[2] in names) and named[1] != but:
                    found.append(uri)
        if found:
            log.warning("removing %d staged file(s) a killed labeling run left (never "
                        "published): %s", len(found), ", ".join(found))  # fmt: skip
            remove_all(found)
    except Exception as err:  # noqa: BLE001 (housekeeping: the labeling does not depend on it)
        # said, not raised: the files stay hidden and harmless, and the next sweep (the next
        # holder taking the claim, or labeling the part) tries again
        log.warning("could not remove the staged files a killed labeling run left in %s "
                    "(%s); they are hidden and harmless, the next run taking the claim tries "
                    "again", ", ".join(folders), err)  # fmt: skip
        return 0
    return len(found)


def staging_token() -> str:
    """A token of :func:`staged_uri` of its own: two runs (one cut off, one that took its
    claim over) never write the same staged file."""
    import uuid

    return uuid.uuid4().hex[:12]


#: The field of a done record (or seed-set manifest) :func:`publish_staged` wrote naming
#: that publish: a token of its own, so the record's bytes (and its S3 ETag) are that
#: publish's alone, whatever else it holds.
PUBLISH_TOKEN = "publish_token"


def without_token(record: dict) -> dict:
    """``record`` (a done record, a seed-set manifest) as compared with what it was made
    from: without its :data:`PUBLISH_TOKEN`, which differs for every publish."""
    return {k: v for k, v in record.items() if k != PUBLISH_TOKEN}


def _token_of(raw: bytes) -> str | None:
    """The :data:`PUBLISH_TOKEN` of the record ``raw`` (None: none, or no JSON object)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record.get(PUBLISH_TOKEN) if isinstance(record, dict) else None


def publish_staged(publishing, staged: dict[str, str], record: str | None = None,
                   data: dict | None = None, indent: int | None = None) -> None:  # fmt: skip
    """Publish files written under staged names (``staged``: final URI -> staged URI,
    :func:`staged_uri`) by moving each into place, then ``record`` (``data``, a JSON object
    written with ``indent``: what makes them visible, a part's done record, a seed set's
    manifest) last, with a :data:`PUBLISH_TOKEN` of this publish's own, all inside
    ``publishing`` (:meth:`HeldClaim.publishing`; None: no claim).

    A run whose claim was taken over meanwhile publishes none of them locally (the move is
    a rename under the claim's lock). On S3 it removes again its record — only while the
    record there is still this publish's (its token: :func:`_unpublish`); one the run that
    took over wrote meanwhile is left. The moved files stay, never deleted: without this
    run's record they are no part (no seed set), the next publish replaces them, and a
    taker's file byte for byte the same as this run's (labels are gzip with mtime 0, and a
    taker is usually a retry with the same settings) has the same ETag, so no delete could
    tell them apart. A run holding the claim throughout that found another run's record
    there when it wrote its own (a cut-off run's, written between this one's removal of the
    old record and its write) replaces it with its own, so that run's undo leaves it. The
    staged files are removed in any case.

    Raises:
        ClaimTakenOver: As :meth:`HeldClaim.publishing` raises it.
    """
    token = _kept_token(record, data) or staging_token()
    raw = b""
    if record:
        raw = (json.dumps({**(data or {}), PUBLISH_TOKEN: token}, indent=indent,
                          sort_keys=True) + "\n").encode()  # fmt: skip
    # None: this run wrote no record; False: another run's was there when it tried
    record_written: bool | None = None

    def undo() -> None:
        if record_written:  # else no record of this run's is there to remove
            _unpublish(record, token)

    try:
        with (publishing or _unguarded)(record or next(iter(staged)), undo=undo):
            if record:  # a stop between the moves must not leave new files beside the old
                remove(record)  # record, which would make them a part (or a seed set)
            for final, staging in staged.items():
                move(staging, final)
            if record:
                record_written = _put_record(record, raw)
        if record_written is False and publishing is not None:
            # held throughout (else ClaimTakenOver above): the record found is a cut-off
            # run's, which its own undo would remove from beside this run's files
            _replace_record(record, raw, token)
    except BaseException:
        _remove_staged(staged, raising=False)  # what failed is the news, not its cleanup
        raise
    _remove_staged(staged)


def _kept_token(record: str | None, data: dict | None) -> str | None:
    """Locally, the token of the record already at ``record`` when it says what this
    publish's would (``data``): a rerun keeps it, so it writes the same bytes (a rerun's
    seed-set manifest is byte for byte the last one). None when there is none of that
    content, and always on S3: there a cut-off run undoes the record of its token
    (:func:`_unpublish`), and a token kept from one record by two runs would let one undo
    the other's (locally no undo runs: the claim's lock holds a takeover off)."""
    if not record or parse_uri(record).scheme == "s3":
        return None
    try:
        found = json.loads(read_bytes(record))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(found, dict) or without_token(found) != json.loads(json.dumps(data or {})):
        return None
    return found.get(PUBLISH_TOKEN) if isinstance(found.get(PUBLISH_TOKEN), str) else None


def _remove_staged(staged: dict[str, str], raising: bool = True) -> None:
    """Remove the staged files of ``staged`` (moved ones are gone: no error); with
    ``raising`` False a failure to (S3 down, as what failed before) is said as a warning:
    they are hidden, never read, and removed by the next holder (:func:`sweep_staged`)."""
    try:
        remove_all(list(staged.values()))
    except Exception as err:  # noqa: BLE001 (raised unless a failure is on its way out)
        if raising:
            raise
        log.warning("could not remove the staged files %s (%s): they are hidden and never "
                    "read; the next run taking the claim removes them",
                    ", ".join(staged.values()), err)  # fmt: skip


def _unpublish(record: str, token: str) -> None:
    """Remove again the record :func:`publish_staged` wrote on S3 (``token``: its publish's)
    once its claim was found taken over — only while it is still that record (read, then
    a DeleteObject If-Match the ETag read: :func:`~prox_tasks.storage.swap.remove_if`). The
    run that took the claim over may have published the same part (or seed set) in those
    milliseconds, byte for byte the same but for its own token: its record is left, and so
    are the moved files (see :func:`publish_staged`)."""
    if not remove_if(record, lambda current: _token_of(current) == token):
        log.warning("left %s as found: another run published it meanwhile (the run that "
                    "took the claim over)", record)  # fmt: skip
    log.warning("the files this run moved in beside %s stay: without its record they are no "
                "part or seed set, and the next publish replaces them", record)  # fmt: skip


def _put_record(record: str, raw: bytes) -> bool:
    """Write ``record`` (:func:`publish_staged` removed it first) unless one is there again:
    False when another run published its own meanwhile. On S3 nothing holds that run off
    while this one publishes, so the write is conditional (``If-None-Match: *``,
    :func:`~prox_tasks.storage.swap.replace_if`); locally the claim's lock does, and the
    record is written as it is."""
    if parse_uri(record).scheme != "s3":
        put_atomic(record, raw)
        return True
    return replace_if(record, lambda current: raw if current is None else None)


def _replace_record(record: str, raw: bytes, token: str) -> None:
    """Write ``record`` over another publish's (one of another ``token``) or none: the
    claim's holder making the record beside its files its own (:func:`publish_staged`)."""
    replace_if(record, lambda current: None if current and _token_of(current) == token else raw)


def _lost(claim: dict | None, me: dict) -> str | None:
    """How ``me`` lost ``claim`` (the claim's file now), or None while ``me`` holds it."""
    if claim is None:
        return "removed (by hand, or taken over and released)"
    if me in _holders(claim) and runners.run_key(claim["runner"]) == runners.run_key(me):
        return None
    taken = claim.get("taken_over") if isinstance(claim.get("taken_over"), dict) else {}
    at = taken.get("at", claim.get("since"))
    when = f" at {_utc(at)}" if _number(at) else ""
    why = f" ({taken['why']})" if taken.get("why") else ""
    return f"taken over by {_who(claim['runner'])}{when}{why}"


def claim_uri(output_uri: str) -> str:
    """The labeling claim of seed-set folder ``output_uri``."""
    return join_uri(output_uri, CLAIM_NAME)


def _claim_of(raw: bytes | None) -> dict | None:
    """The claim in ``raw`` (its ``runner`` a dict); None for none, or bytes that are no
    claim (a file cut short by a crash: nothing to respect)."""
    if not raw:
        return None
    try:
        claim = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("runner"), dict):
        return None
    if claim.get("holders") == []:  # released on S3 by its last holder (:func:`_give_up`)
        return None
    return claim


#: What a refused ``prox label`` is told to do once the other run has ended.
RUN_AGAIN = "run this command again"
#: What a refused ``prox label`` is told to do when the other run is gone for good.
TAKE_OVER = (
    "if that run is gone and cannot be waited for, run prox label --seed-set with --take-over "
    "(it takes the claim over)"
)


def _holders(claim: dict) -> list[dict]:
    """The runners holding ``claim`` (one written before ``holders``: its ``runner``)."""
    holders = claim.get("holders")
    if not isinstance(holders, list):
        return [claim["runner"]]
    return [h for h in holders if isinstance(h, dict)]


def _live(claim: dict | None, me: dict) -> list[dict]:
    """The holders of ``claim`` but ``me`` that may still run."""
    if claim is None:
        return []
    return [h for h in _holders(claim) if h != me and runners.why_dead(h, me) is None]


def _encode(claim: dict) -> bytes:
    return json.dumps(claim, sort_keys=True).encode()


@contextmanager
def labeling_claim(
    output_uri: str,
    runner: dict | None = None,
    again: str = RUN_AGAIN,
    take_over: bool = False,
    by_hand: str = TAKE_OVER,
) -> Iterator[HeldClaim]:
    """Hold the labeling claim of seed-set folder ``output_uri`` for the ``with`` block,
    renewing its lease from a thread meanwhile. The block gets the :class:`HeldClaim`: a
    claim taken over meanwhile (this run cut off for longer than its lease) lets another
    run label the same parts, so the block calls :meth:`HeldClaim.check` before each part
    it labels and each thing it publishes, and stops there.

    Args:
        output_uri: The seed-set folder.
        runner: Who holds it (:func:`~prox_tasks.refine.runner.current`; default this
            process): holders of one run (an Airflow DAG run's tasks) share the claim.
        again: What the refusal tells the user to do once the other run has ended.
        take_over: Take the claim over from another run whatever it may be doing (an
            operator's ``--take-over``: that run is gone).
        by_hand: What the refusal tells the user to do when that run is gone for good
            (``{uri}``: the claim's file).

    Raises:
        SeedSetBusy: another run that may still be running holds it, naming that run, when
            it started, when its lease runs out and what to do.
        SettingInvalid: ``PROX_LABEL_CLAIM_LEASE_S`` is not a number of seconds of at least 10.
    """
    from prox_tasks.pipeline.settings import label_claim_lease

    lease = label_claim_lease()  # a setting to fix: before anything is claimed
    uri, me = claim_uri(output_uri), runner or runners.current()
    holder: dict = {}
    alone = [False]  # whether the claim written is this holder's alone (no one joined)

    def decide(current: bytes | None, age: float | None) -> bytes | None:
        alone[0] = False  # on S3 decided again after a lost race
        claim, now = _well_formed(_claim_of(current), uri), time.time()
        live = _live(claim, me)
        taken = None
        if claim and runners.run_key(claim["runner"]) != runners.run_key(me):
            why = _why_gone(claim, live, me, age or 0.0, _lease_of(claim, lease), take_over)
            if why is None:
                holder.update(
                    claim, runner=live[0], _age=age or 0.0, _lease=_lease_of(claim, lease)
                )
                return None
            log.warning(
                "seed set %s: taking over the labeling claim of %s: %s",
                output_uri,
                _who(claim["runner"]),
                why,
            )
            taken = {"from": _who(claim["runner"]), "why": why, "at": now}
            claim, live = None, []
        holder.clear()
        if claim and live:  # another task of this run holds it: join it
            return _encode(
                {
                    **claim,
                    "holders": [*live, me],
                    "renewed": now,
                    "lease_s": max(lease, claim.get("lease_s", 0)),
                }
            )
        alone[0] = True
        new = {"runner": me, "since": now, "renewed": now, "lease_s": lease, "holders": [me]}
        return _encode({**new, "taken_over": taken} if taken else new)

    if not replace_if_aged(uri, decide):
        raise SeedSetBusy(
            f"seed set folder {output_uri} is being labeled by another run "
            f"({_who(holder['runner'])}, {_since(holder)}): wait for it to end, then {again} "
            f"(it reuses that run's labels, nothing is labeled twice); "
            f"{_lapses(holder, by_hand.format(uri=uri))}"
        )
    stop, held = threading.Event(), HeldClaim(output_uri, uri, me)
    beat = threading.Thread(
        target=_heartbeat, args=(held, lease / 4, stop), name="prox-labeling-claim", daemon=True
    )
    beat.start()
    failed = False
    try:
        if alone[0]:  # no other holder: every staged file in the folder is a dead run's
            from prox_tasks.labeling.parts import labels_uri

            sweep_staged([output_uri, labels_uri(output_uri)])
        yield held
    except BaseException:
        failed = True
        raise
    finally:
        stop.set()
        try:
            beat.join()  # a renewal under way (an S3 round trip) ends first
        finally:
            # a stop (SIGTERM raised in this thread) landing in that wait skipped the
            # release: the claim refused every other run until its lease ran out. A renewal
            # still under way then writes nothing (stop is set), whichever of the two
            # conditional writes comes first
            _release(uri, me, lease, raising=not failed)


def _lease_of(claim: dict, lease: float) -> float:
    """The lease ``claim`` holds for: its ``lease_s``; ``lease`` (this process's) for a
    claim of a prox before leases, which lapsed never."""
    return claim["lease_s"] if _number(claim.get("lease_s")) else lease


def _why_gone(claim: dict, live: list[dict], me: dict, age: float, lease: float,
              take_over: bool) -> str | None:  # fmt: skip
    """Why ``claim`` (another run's; last written ``age`` seconds ago by the storage's
    clock, holding for ``lease`` seconds) may be taken over, or None while its run may
    label."""
    if not live:
        return runners.why_dead(claim["runner"], me) or "none of its holders runs any more"
    if take_over:
        return "taken over by hand (--take-over)"
    ended = runners.why_run_ended(claim["runner"])
    if ended:
        return ended
    if age > lease:
        return (
            f"its lease ran out: not renewed for {age:.0f} s (lease {lease:g} s, "
            "PROX_LABEL_CLAIM_LEASE_S), its holders killed or cut off"
        )
    return None


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: The claim's times, in seconds: each a finite number of at least 0 when there.
_TIMES = ("since", "renewed", "lease_s")


def _well_formed(claim: dict | None, uri: str) -> dict | None:
    """``claim`` less the times that are no finite number of seconds (a claim edited by
    hand, or written by something else: ``"lease_s": "15m"`` made joining it raise
    TypeError), each said in a warning: a time that is not there is one the claim does not
    tell (a claim before leases holds until its holders are known gone)."""
    if claim is None:
        return None
    bad = {k: claim[k] for k in _TIMES if k in claim and not _seconds(claim[k])}
    for key, value in bad.items():
        log.warning("%s: the labeling claim's %s %r is no number of seconds: taken as absent",
                    uri, key, value)  # fmt: skip
    return {k: v for k, v in claim.items() if k not in bad}


def _seconds(value) -> bool:
    return _number(value) and math.isfinite(value) and value >= 0


def _lapses(claim: dict, by_hand: str) -> str:
    """What the refusal of ``claim`` says of when it lapses, and the way out if it won't
    (``by_hand``)."""
    if (claim["runner"].get("airflow") or {}).get("run_id"):
        # a seed DAG task asks Airflow: a run marked failed is taken over at its next try
        by_hand = (
            "if that DAG run is stuck, mark it failed in Airflow (a seed DAG task then takes "
            f"its claim over); {by_hand}"
        )
    lease = claim["_lease"]  # by the storage's clock: a lease less the claim's age, from now
    lapse = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() + lease - claim["_age"]))
    return (
        f"if that run was killed, its claim lapses at {lapse} ({lease:g} s after its last "
        f"renewal, PROX_LABEL_CLAIM_LEASE_S) and is taken over then; {by_hand}"
    )


def _heartbeat(held: HeldClaim, every: float, stop: threading.Event) -> None:
    """Renew ``held``'s claim every ``every`` seconds until ``stop``: its ``renewed`` time,
    unless another holder of this run renewed it within ``every``. A claim found taken over
    (this run was thought gone) is recorded in ``held.lost`` (its next
    :meth:`~HeldClaim.check` stops the run) and said once; it is never renewed again."""
    uri, me = held.uri, held.me
    while not stop.wait(every):

        def decide(current: bytes | None, age: float | None) -> bytes | None:
            if stop.is_set():  # released meanwhile, or about to be: nothing to renew
                return None
            claim, now = _claim_of(current), time.time()
            lost = _lost(claim, me)
            if lost is not None:
                if held.lost is None:
                    log.error("%s: this run's labeling claim was %s: it stops before its "
                              "next part", uri, lost)  # fmt: skip
                held.lost = lost
                return None
            if age is not None and age < every / 2:  # the storage's clock, not a writer's
                return None  # another task of this run renewed it just now
            return _encode({**claim, "renewed": now})

        try:
            replace_if_aged(uri, decide)
        except Exception as err:  # noqa: BLE001 (the next beat tries again; the lease says how long)
            log.warning("%s: could not renew the labeling claim: %s", uri, err)
        if held.lost is not None:  # another run's claim now: never renewed by this one
            return


def _who(runner: dict) -> str:
    """The holder ``runner`` in words: its Airflow task, else its process."""
    airflow = runner.get("airflow") or {}
    where = f"process {runner.get('pid')} on {runner.get('host')}"
    if not airflow.get("run_id"):
        return where
    return (
        f"Airflow DAG run {airflow.get('dag_id')}/{airflow['run_id']}, task "
        f"{airflow.get('task_id')} (map index {airflow.get('map_index')}), {where}"
    )


def _since(claim: dict) -> str:
    since = claim.get("since")
    if not isinstance(since, int | float):
        return "since an unknown time"
    return "since " + _utc(since)


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _release(uri: str, me: dict, lease: float, raising: bool) -> None:
    """:func:`_give_up` as a holder leaves; with ``raising`` False (the block failed, and
    that failure is on its way out) a failure to (S3 down) is said as a warning, not raised
    in its stead: the claim then lapses a lease after its last renewal."""
    try:
        _give_up(uri, me)
    except Exception as err:  # noqa: BLE001 (raised unless a failure is on its way out)
        if raising:
            raise
        log.warning("%s: could not release the labeling claim (%s): the next run takes it "
                    "over once this process has ended, from another host once its lease "
                    "(%g s, PROX_LABEL_CLAIM_LEASE_S) has run out", uri, err, lease)  # fmt: skip


def _give_up(uri: str, me: dict) -> None:
    """Leave the claim at ``uri``: take ``me`` off its holders, in the same step removing
    the claim when no other holder of this run may still run (a run that took it over from
    this one, thought dead, keeps its own)."""

    def decide(current: bytes | None) -> bytes | None:
        claim = _claim_of(current)
        if claim is None or runners.run_key(claim["runner"]) != runners.run_key(me):
            return None
        live = _live(claim, me)
        if live:
            return _encode({**claim, "holders": live})
        if parse_uri(uri).scheme == "s3":
            # released by a conditional write, not a DELETE: S3 deletes unconditionally, so
            # a task of this run joining between this read and the DELETE (its conditional
            # PUT won) lost the claim it had joined, and another run labeled beside it. A
            # join meanwhile makes this write lose its race; it is decided again.
            return _encode({**claim, "holders": []})
        remove(uri)  # under the claim's file lock: no holder can join meanwhile
        return None

    try:
        replace_if(uri, decide)
    except FileNotFoundError:
        return
