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

The claim is removed when the run ends, failed or not. A run killed outright cannot remove
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
from prox_tasks.storage import join_uri, read_bytes, remove
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
    return claim


@contextmanager
def labeling_claim(output_uri: str) -> Iterator[None]:
    """Hold the labeling claim of seed-set folder ``output_uri`` for the ``with`` block.

    Raises:
        SeedSetBusy: another run that may still be running holds it, naming that run, when
            it started and the claim's file.
    """
    uri, me = claim_uri(output_uri), runners.current()
    holder: dict = {}

    def decide(current: bytes | None) -> bytes | None:
        claim = _claim_of(current)
        theirs = claim and claim["runner"]
        if theirs and runners.run_key(theirs) != runners.run_key(me):
            dead = runners.why_dead(theirs, me)
            if dead is None:
                holder.update(claim)
                return None
            log.warning(
                "seed set %s: taking over the labeling claim of a run that ended "
                "without giving it up (%s)",
                output_uri,
                dead,
            )
        holder.clear()
        return json.dumps({"runner": me, "since": time.time()}, sort_keys=True).encode()

    if not replace_if(uri, decide):
        theirs = holder["runner"]
        raise SeedSetBusy(
            f"seed set folder {output_uri} is being labeled by another run (process "
            f"{theirs.get('pid')} on {theirs.get('host')}, {_since(holder)}): wait for it to "
            "end, then run this command again (it reuses that run's labels, nothing is "
            f"labeled twice); if that run is gone (another machine), remove {uri}"
        )
    try:
        yield
    finally:
        _give_up(uri, me)


def _since(claim: dict) -> str:
    since = claim.get("since")
    if not isinstance(since, int | float):
        return "since an unknown time"
    return "since " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))


def _give_up(uri: str, me: dict) -> None:
    """Remove the claim at ``uri`` if it still names ``me`` (a run that took it over from
    this one, thought dead, keeps its own)."""
    try:
        current = read_bytes(uri)
    except FileNotFoundError:
        return
    claim = _claim_of(current)
    if claim is not None and runners.run_key(claim["runner"]) == runners.run_key(me):
        remove(uri)
