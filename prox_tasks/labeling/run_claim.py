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

The claim is removed when the run ends (its last holder ends), failed or not (on S3 it is
left released, ``holders`` empty: a conditional write, where a DELETE could not be). A run killed outright cannot remove
it: a claim whose runner is known dead (:func:`prox_tasks.refine.runner.why_dead`: a process
of this machine that no longer runs, one from before this host restarted) is taken over; one
of another machine cannot be checked from here, and the refusal says to remove the file
once that run is gone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prox_tasks.refine import runner as runners
from prox_tasks.storage import join_uri, parse_uri, remove
from prox_tasks.storage.swap import replace_if

log = logging.getLogger(__name__)

#: The claim's file in the seed-set folder ("_": a marker, not part of the seed set).
CLAIM_NAME = "_labeling.json"


class SeedSetBusy(RuntimeError):
    """Another run is labeling the seed-set folder now: running this one beside it would
    label (and pay for) the same parts twice."""


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
    output_uri: str, runner: dict | None = None, again: str = RUN_AGAIN
) -> Iterator[None]:
    """Hold the labeling claim of seed-set folder ``output_uri`` for the ``with`` block.

    Args:
        output_uri: The seed-set folder.
        runner: Who holds it (:func:`~prox_tasks.refine.runner.current`; default this
            process): holders of one run (an Airflow DAG run's tasks) share the claim.
        again: What the refusal tells the user to do once the other run has ended.

    Raises:
        SeedSetBusy: another run that may still be running holds it, naming that run, when
            it started and the claim's file.
    """
    uri, me = claim_uri(output_uri), runner or runners.current()
    holder: dict = {}

    def decide(current: bytes | None) -> bytes | None:
        claim = _claim_of(current)
        live = _live(claim, me)
        if claim and runners.run_key(claim["runner"]) != runners.run_key(me):
            if live:
                holder.update(claim, runner=live[0])
                return None
            log.warning(
                "seed set %s: taking over the labeling claim of a run that ended "
                "without giving it up (%s)",
                output_uri,
                runners.why_dead(claim["runner"], me),
            )
            claim, live = None, []
        holder.clear()
        if claim and live:  # another task of this run holds it: join it
            return _encode({**claim, "holders": [*live, me]})
        return _encode({"runner": me, "since": time.time(), "holders": [me]})

    if not replace_if(uri, decide):
        theirs = holder["runner"]
        raise SeedSetBusy(
            f"seed set folder {output_uri} is being labeled by another run ({_who(theirs)}, "
            f"{_since(holder)}): wait for it to end, then {again} (it reuses that run's "
            f"labels, nothing is labeled twice); if that run is gone (another machine), "
            f"remove {uri}"
        )
    try:
        yield
    finally:
        _give_up(uri, me)


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
    return "since " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))


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
