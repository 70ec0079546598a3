"""Staged files of the labeling claim's publish (:func:`prox_tasks.labeling.run_claim.
publish_staged`): what a killed run left is swept by the claim's next holder, never a live
writer's; on S3 a cut-off run's undo removes only the objects its own copies wrote (local
folders and moto's ThreadedMotoServer over HTTP, real processes holding the claim)."""

from __future__ import annotations

import signal

import pytest

from tests.labeling.test_run_claim import _holder, _task, _two_shards

#: Staged files of the seed-set folder a run killed in its publish window left behind.
DEAD = ("labels/_staged-dead00000000-labels-00000.jsonl.gz",
        "labels/_staged-dead00000000-quarantine-00000.jsonl",
        "_staged-dead00000001-train.jsonl.gz")  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def seed(request, tmp_path) -> tuple[str, dict]:
    """A seed-set folder, local or on moto over HTTP, and the environment a process that
    holds its claim needs."""
    if request.param == "local":
        return str(tmp_path / "seed"), {}
    bucket, moto = request.getfixturevalue("s3_bucket"), request.getfixturevalue("moto_server")
    return f"{bucket}/seed", {"PROX_S3_ENDPOINT_URL": moto.endpoint_url}


def _staged_left(folder: str) -> list[str]:
    from prox_tasks.storage import list_uri

    return sorted(u.split("/seed/", 1)[1] for u in list_uri(folder, include_hidden=True)
                  if "/_staged-" in u)  # fmt: skip


def _write(folder: str, names) -> None:
    from prox_tasks.storage import join_uri, put_atomic

    for name in names:
        put_atomic(join_uri(folder, name), b"staged bytes never published\n")


def test_staged_files_of_a_killed_run_are_swept_when_its_claim_is_taken(seed):
    """A run killed between staging its files and publishing them (SIGKILL: no finally of
    its own runs) left ``_staged-*`` files, hidden — never read, counted or resumed — and
    never removed. The next run that takes the folder's claim with no other holder removes
    them, in the folder and in labels/; while the killed run was alive (its claim held) the
    same attempt was refused and its staged files stood."""
    from prox_tasks.labeling.run_claim import SeedSetBusy, labeling_claim

    folder, env = seed
    holder = _holder(folder, **env)  # a real process: the run that stages
    try:
        _write(folder, DEAD)
        with pytest.raises(SeedSetBusy), labeling_claim(folder):
            pass
        assert _staged_left(folder) == sorted(DEAD)  # its writer is live: left alone
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with labeling_claim(folder):  # taken over from the dead process
        assert _staged_left(folder) == []


def test_a_task_joining_its_runs_claim_leaves_the_other_tasks_staged_files(seed):
    """The seed DAG's mapped tasks of one run share the claim and stage their parts at the
    same time: a task that joins the claim sweeps nothing (a live task's staged file
    stands); the next run to take the claim alone, once they ended, finds no writer."""
    from prox_tasks.labeling.run_claim import labeling_claim

    folder = seed[0]
    live = ("labels/_staged-a11e00000000-labels-00000.jsonl.gz",)
    with labeling_claim(folder, _task("manual__1", "label_shard", 0)):
        _write(folder, live)  # task 0 labels its part meanwhile
        with labeling_claim(folder, _task("manual__1", "label_shard", 1)):
            assert _staged_left(folder) == list(live)
    with labeling_claim(folder, _task("manual__2", "sample")):
        assert _staged_left(folder) == []


def test_a_retried_part_removes_the_staged_files_of_its_killed_try(seed, tmp_path):
    """A task killed in its publish window while other tasks of its DAG run held the claim
    (the claim stayed held: no one took it alone again) left its part's staged files for
    good. Its retry, labeling that part under the claim, removes that part's staged files
    of other tokens before it stages its own; another part's (a live task's) stand."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.parts import label_part, part_uris
    from prox_tasks.labeling.run_claim import labeling_claim
    from prox_tasks.storage import exists

    folder, shards = seed[0], _two_shards(tmp_path)
    other = "labels/_staged-0be700000000-labels-00001.jsonl.gz"  # task 1's, live
    with labeling_claim(folder, _task("manual__1", "label_shard", 1)):  # task 1 labels on
        with labeling_claim(folder, _task("manual__1", "label_shard", 0, try_number=2)) as held:
            _write(folder, [*DEAD[:2], other])
            label_part(shards[0], folder, 0, get_teacher("rules"), check=held.check,
                       publishing=held.publishing)  # fmt: skip
            assert _staged_left(folder) == [other]
            assert all(exists(uri) for uri in part_uris(folder, 0))


def test_an_s3_undo_leaves_the_part_the_taker_published_meanwhile(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """A run whose claim was taken over while it published (S3: found as the claim is read
    again after the publish) removed its part's files unconditionally: the run that took
    the claim over, publishing the same part in those milliseconds, lost its labels and
    quarantine. The undo now deletes each file only while it is the object this run's copy
    wrote (DeleteObject If-Match the ETag the copy answered), and leaves the done record
    when any is another's. The window is hit by a hook right after this run's record PUT (a stand-in
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

    real_put, seen = run_claim._put_record, []

    def put_record_hooked(uri, data):  # this run's record PUT: the window, hit once
        written = real_put(uri, data)
        if str(uri) == record and not seen:  # after it (a taker publishing before it
            seen.append(False)  # finds no record of this run's to keep: test_run_claim)
            seen[0] = take_over_and_publish()  # the taker's own record PUT passes through
        return written

    monkeypatch.setattr(run_claim, "_put_record", put_record_hooked)
    with labeling_claim(folder, _task("manual__1", "label_shard", 0)) as held:
        with pytest.raises(ClaimTakenOver):
            label_part(shards[0], folder, 0, get_teacher("rules"), check=held.check,
                       publishing=held.publishing)  # fmt: skip
    assert seen == [True]
    assert {uri: read_bytes(uri) for uri in taker_bytes} == taker_bytes
    assert _staged_left(folder) == []
