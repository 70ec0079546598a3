"""Staged files of the labeling claim's publish (:func:`prox_tasks.labeling.run_claim.
publish_staged`): what a killed run left is swept by the claim's next holder, never a live
writer's; on S3 a cut-off run's undo removes only the objects its own copies wrote (local
folders and moto's ThreadedMotoServer over HTTP, real processes holding the claim)."""

from __future__ import annotations

import pytest

from tests.labeling.test_run_claim import _task, _two_shards


def _staged_left(folder: str) -> list[str]:
    from prox_tasks.storage import list_uri

    return sorted(u.split("/seed/", 1)[1] for u in list_uri(folder, include_hidden=True)
                  if "/_staged-" in u)  # fmt: skip


def test_an_s3_undo_leaves_the_part_the_taker_published_meanwhile(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """A run whose claim was taken over while it published (S3: found as the claim is read
    again after the publish) removed its part's files unconditionally: the run that took
    the claim over, publishing the same part in those milliseconds, lost its labels and
    quarantine. The undo now deletes each file only while it is the object this run's copy
    wrote (DeleteObject If-Match the ETag the copy answered), and leaves the done record
    when any is another's. The window is hit by a hook at this run's record PUT (a stand-in
    for a race that cannot be hit on cue): the takeover and the taker's publish in it are
    real (moto over HTTP)."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.parts import label_part, part_uris
    from prox_tasks.labeling.run_claim import (
        ClaimTakenOver,
        labeling_claim,
        publish_staged,
        staged_uri,
    )
    from prox_tasks.storage import put_atomic, read_bytes

    shards, folder = _two_shards(tmp_path), f"{s3_bucket}/seed"
    labels, quarantine, record = part_uris(folder, 0)
    taker_bytes = {labels: b"the taker's labels\n", quarantine: b"the taker's quarantine\n"}

    def take_over_and_publish():  # the taker: takes the claim over, publishes the part
        with labeling_claim(folder, _task("manual__2", "label_shard", 0), take_over=True) as taker:
            staged = {uri: staged_uri(uri, "7a4e00000000") for uri in taker_bytes}
            for uri, data in taker_bytes.items():
                put_atomic(staged[uri], data)
            publish_staged(taker.publishing, staged, record, b'{"taker": true}\n')
        return True

    from prox_tasks.labeling import run_claim

    real_put, seen = run_claim.put_atomic, []

    def put_atomic_hooked(uri, data):  # this run's record PUT: the window, hit once
        if str(uri) == record and not seen:
            seen.append(False)  # the taker's own record PUT passes straight through
            seen[0] = take_over_and_publish()
        return real_put(uri, data)

    monkeypatch.setattr(run_claim, "put_atomic", put_atomic_hooked)
    with labeling_claim(folder, _task("manual__1", "label_shard", 0)) as held:
        with pytest.raises(ClaimTakenOver):
            label_part(shards[0], folder, 0, get_teacher("rules"), check=held.check,
                       publishing=held.publishing)  # fmt: skip
    assert seen == [True]
    assert {uri: read_bytes(uri) for uri in taker_bytes} == taker_bytes
    assert _staged_left(folder) == []
