"""Staged files of the labeling claim's publish (:func:`prox_tasks.labeling.run_claim.
publish_staged`): what a killed run left is swept by the claim's next holder, never a live
writer's; on S3 a cut-off run's undo removes only its own done record, never a taker's
record or files (local folders and moto's ThreadedMotoServer over HTTP, real processes
holding the claim)."""

from __future__ import annotations

import json
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
    quarantine. The undo now deletes no moved file, and the done record only while it is
    this run's (its publish token). The window is hit by a hook right after this run's record PUT (a stand-in
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
            publish_staged(taker.publishing, staged, record, {"taker": True})
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


#: A real ``--take-over`` run of part 0 (another process): it takes the folder's claim over
#: and labels the part as the cut-off run did (the same shard and teacher: the same bytes).
#: Its reuse check is set to find no part: the stand-in for having made it before the
#: cut-off run's done record landed (that timing cannot be hit on cue otherwise). With
#: ``pause`` it stops before its own done record is written, says ``at-record`` and goes on
#: at a line on stdin: the stand-in for the cut-off run's record PUT landing in that window.
TAKER = """
import sys
from prox_tasks.labeling import get_teacher, parts, run_claim
from prox_tasks.labeling.run_claim import labeling_claim

folder, shard, pause = sys.argv[1], sys.argv[2], sys.argv[3] == "pause"
parts.reusable = lambda *args: None
if pause:
    real = run_claim._put_record

    def put_record(uri, raw):
        print("at-record", flush=True)
        sys.stdin.readline()
        return real(uri, raw)

    run_claim._put_record = put_record
with labeling_claim(folder, take_over=True) as held:
    parts.label_part(shard, folder, 0, get_teacher("rules"), check=held.check,
                     publishing=held.publishing)
print("published", flush=True)
"""


def _identical_taker(folder: str, shard: str, env: dict, pause: bool):
    """Start :data:`TAKER` on ``folder``'s part 0 (``shard``)."""
    import os
    import subprocess
    import sys

    from tests.labeling.test_run_claim import ROOT

    env = {**os.environ, **env,
           "PYTHONPATH": os.pathsep.join(filter(None, (ROOT, os.environ.get("PYTHONPATH"))))}  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", TAKER, folder, shard,
                             "pause" if pause else "go"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip


def _cut_off_with_an_identical_taker(folder, shard, moto_server, monkeypatch, pause: bool):
    """Label part 0 of ``folder`` in this process (the run whose claim is taken over) with
    :data:`TAKER` landing in its publish: after its done record PUT, or (``pause``) between
    the taker's moves and the taker's record PUT, this run's PUT landing there. Returns the
    part's files' ETags this run's copies gave them and what the taker left (ETag, bytes)."""
    from prox_tasks.labeling import get_teacher, run_claim
    from prox_tasks.labeling.parts import label_part, part_uris
    from prox_tasks.labeling.run_claim import ClaimTakenOver, labeling_claim
    from prox_tasks.storage import content_fingerprint, read_bytes

    uris = part_uris(folder, 0)
    env = {"PROX_S3_ENDPOINT_URL": moto_server.endpoint_url}
    real_put, mine, took = run_claim._put_record, {}, {}

    def left() -> dict:
        return {uri: (content_fingerprint(uri), read_bytes(uri)) for uri in uris}

    def put_record_hooked(uri, raw):
        if str(uri) != uris[2] or mine:
            return real_put(uri, raw)
        mine.update({uri: content_fingerprint(uri) for uri in uris[:2]})
        taker = _identical_taker(folder, shard, env, pause)
        try:
            if pause:
                assert taker.stdout.readline().strip() == "at-record"
                written = real_put(uri, raw)  # lands between the taker's moves and its PUT
                taker.stdin.write("\n")
                taker.stdin.flush()
            else:
                written = real_put(uri, raw)
            assert taker.stdout.readline().strip() == "published"
            assert taker.wait(timeout=60) == 0
        finally:
            taker.kill()
            taker.wait()
        took.update(left())
        return written

    monkeypatch.setattr(run_claim, "_put_record", put_record_hooked)
    with labeling_claim(folder, _task("manual__1", "label_shard", 0)) as held:
        with pytest.raises(ClaimTakenOver, match="labeling claim was"):
            label_part(shard, folder, 0, get_teacher("rules"), check=held.check,
                       publishing=held.publishing)  # fmt: skip
    assert took, "the taker never ran"
    return mine, took, left


def test_an_s3_undo_leaves_a_part_the_taker_published_byte_for_byte_the_same(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """A run whose claim was taken over while it published part 0 (its done record put)
    undid its publish as its claim was read again: the record first — unless a moved file
    was another's by its ETag — then each file If-Match the ETag its copy answered. The
    run that took over (a real ``--take-over`` process) had meanwhile published the same
    part, byte for byte the same (the same shard, teacher and gzip mtime 0: the same
    ETags): its record and its files were all deleted. The record now carries a token of
    its publish's own and is removed only while it is this run's; the files are never
    deleted. The taker's part stands (moto over HTTP)."""
    folder, shard = f"{s3_bucket}/seed", _two_shards(tmp_path)[0]
    mine, took, left = _cut_off_with_an_identical_taker(folder, shard, moto_server, monkeypatch,
                                                        pause=False)  # fmt: skip
    assert all(took[uri][0] == etag for uri, etag in mine.items())  # the same ETags
    assert left() == took  # the taker's record and files, as it published them
    assert _staged_left(folder) == []


def test_an_s3_taker_replaces_the_record_a_cut_off_run_wrote_beside_its_part(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """The run that took over (a real ``--take-over`` process) moved its files of part 0
    into place, and the cut-off run's done record PUT landed before the taker's: the
    taker's conditional PUT found that record and left it as "another run's publish", and
    the cut-off run's undo then removed it with the taker's files (byte for byte its own).
    The taker, having held the claim throughout, now replaces that record with its own, and
    the cut-off run's undo, finding a record of another token, leaves it and the files
    (moto over HTTP)."""
    from prox_tasks.labeling.parts import part_uris

    folder, shard = f"{s3_bucket}/seed", _two_shards(tmp_path)[0]
    mine, took, left = _cut_off_with_an_identical_taker(folder, shard, moto_server, monkeypatch,
                                                        pause=True)  # fmt: skip
    assert all(took[uri][0] == etag for uri, etag in mine.items())
    assert left() == took
    from prox_tasks.labeling.run_claim import PUBLISH_TOKEN

    record = json.loads(took[part_uris(folder, 0)[2]][1])
    assert record.get(PUBLISH_TOKEN), record  # the taker's own, not the cut-off run's
    assert _staged_left(folder) == []
