"""One labeling run per seed-set folder: a second ``prox label --seed-set`` beside a running
one is refused before it samples or labels anything (real processes)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from prox_tasks.cli import main
from prox_tasks.labeling.run_claim import CLAIM_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLD = """
import sys, time
from prox_tasks.labeling.run_claim import labeling_claim
from prox_tasks.pipeline import settings
settings.MIN_LABEL_CLAIM_LEASE_S = 0.1  # a test's lease of a second, below a deployment's floor
with labeling_claim(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _holder(folder, **env_vars) -> subprocess.Popen:
    """A real process holding the folder's labeling claim until it is killed."""
    env = {
        **os.environ,
        **env_vars,
        "PYTHONPATH": os.pathsep.join(filter(None, (ROOT, os.environ.get("PYTHONPATH")))),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_seed_set_labeling_of_one_folder_is_refused_while_the_first_runs(tmp_path, capsys):
    """Two ``prox label --seed-set`` runs into one folder with the same settings both passed
    the settings claim (params.json) and both labeled every part: an llm teacher was paid
    twice. The run that finds the folder's labeling claim held by a live process is refused
    (exit 1) naming it, before it samples or labels anything; once that process is gone —
    killed outright, its claim left behind — the same command takes the claim over, labels,
    and leaves no claim behind."""
    rows = [
        {"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
        for i in range(12)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "seed"
    args = [
        "label",
        "--json",
        "--input",
        str(src),
        "--output",
        str(out),
        "--seed-set",
        "--sample-size",
        "12",
        "--no-register",
    ]
    holder = _holder(out)
    try:
        assert main(args) == 1
        err = capsys.readouterr().err
        assert (
            f"seed set folder {out} is being labeled by another run (process "
            f"{holder.pid} on " in err
        ), err
        assert "wait for it to end, then run this command again" in err, err
        assert not (out / "sample").exists() and not (out / "labels").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # no finally of its own runs: the claim stays
        holder.wait()
    assert (out / CLAIM_NAME).exists()
    assert main(args) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["sizes"]["sampled"] == 12
    assert sorted((out / "labels").glob("labels-*.jsonl.gz"))
    assert not (out / CLAIM_NAME).exists()


def test_an_s3_seed_set_folder_claimed_by_a_live_run_is_refused(moto_server, s3_bucket):
    """On S3 the claim is a conditional PUT (storage.swap.replace_if): a folder another live
    process claimed is refused, and its claim, left by a kill, is taken over and removed at
    the end (moto over HTTP)."""
    import pytest

    from prox_tasks.labeling.run_claim import SeedSetBusy, claim_uri, labeling_claim
    from prox_tasks.storage import exists, read_json

    folder = f"{s3_bucket}/seed"
    holder = _holder(folder, PROX_S3_ENDPOINT_URL=moto_server.endpoint_url)
    try:
        with pytest.raises(SeedSetBusy, match=f"process {holder.pid} on "), labeling_claim(folder):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert exists(claim_uri(folder))
    with labeling_claim(folder):
        assert exists(claim_uri(folder))
    assert read_json(claim_uri(folder))["holders"] == []  # released (S3: no conditional DELETE)


def test_an_s3_claim_released_by_its_run_is_taken_silently(moto_server, s3_bucket, caplog):
    """A claim left released on S3 (``holders`` empty, by the conditional PUT of its last
    holder) is no claim: the next run takes it without a "taking over" warning and writes
    no ``taken_over`` record (a reviewer's doubt, found not to hold; kept as a guard)."""
    import logging

    from prox_tasks.labeling.run_claim import claim_uri, labeling_claim
    from prox_tasks.storage import read_json

    folder = f"{s3_bucket}/seed"
    with labeling_claim(folder, _task("manual__1", "sample")):
        pass
    assert read_json(claim_uri(folder))["holders"] == []
    with caplog.at_level(logging.INFO), labeling_claim(folder):
        held = read_json(claim_uri(folder))
    assert "taken_over" not in held and held["runner"]["pid"] == os.getpid(), held
    assert "taking over" not in caplog.text, caplog.text


def _task(run_id: str, task_id: str, map_index: int = -1, try_number: int = 1) -> dict:
    from prox_tasks.refine import runner

    return runner.current(
        {
            "dag_id": "prox_seed_label",
            "run_id": run_id,
            "task_id": task_id,
            "map_index": map_index,
            "try_number": try_number,
        }
    )


def test_the_tasks_of_one_dag_run_share_the_claim_and_another_run_waits_for_the_last(tmp_path):
    """The seed DAG's tasks hold the claim, each while it writes: the mapped label tasks of
    one DAG run share it (one ending does not give it up under the others), and another DAG
    run (or ``prox label``) is refused, naming the task, until the last of them ends."""
    import pytest

    from prox_tasks.labeling.run_claim import SeedSetBusy, labeling_claim

    folder = str(tmp_path / "seed")
    first, second = _task("manual__1", "label_shard", 0), _task("manual__1", "label_shard", 1)
    with labeling_claim(folder, first):
        with labeling_claim(folder, second):
            pass
        with labeling_claim(folder, second):
            with (
                pytest.raises(
                    SeedSetBusy,
                    match="Airflow DAG run prox_seed_label/manual__1, "
                    r"task label_shard \(map index 0\), process",
                ),
                labeling_claim(folder, _task("manual__2", "sample")),
            ):
                pass
        with pytest.raises(SeedSetBusy), labeling_claim(folder):  # prox label
            pass
        # an earlier try of a task of this run, ended without giving its place up: not
        # waited for
        with labeling_claim(folder, _task("manual__1", "label_shard", 1, try_number=2)):
            pass
    assert not (tmp_path / "seed" / CLAIM_NAME).exists()
    with labeling_claim(folder, _task("manual__2", "sample")):
        pass


def test_an_s3_claim_left_by_one_task_while_another_of_its_run_joins_stays_held(
    moto_server, s3_bucket, monkeypatch
):
    """On S3 the last holder leaving read the claim, then deleted it unconditionally: a task
    of the same DAG run joining between that read and the DELETE (its conditional PUT won:
    the ETag had not moved) lost the claim it had just joined, and another run then claimed
    the folder and labeled it beside that task (a paid teacher paid twice). The interleaving
    of the two real writers on moto is forced by running the joiner's claim inside the
    leaver's read-decide step (a race cannot be hit on cue otherwise); the leaver now
    releases by a conditional write, which loses to the join and is retried."""
    import pytest

    from prox_tasks.labeling import run_claim
    from prox_tasks.labeling.run_claim import SeedSetBusy, labeling_claim

    folder = f"{s3_bucket}/seed"
    leaver, joiner = _task("manual__1", "label_shard", 0), _task("manual__1", "label_shard", 1)
    real_replace_if, joined = run_claim.replace_if, []

    def joining_meanwhile(uri, decide):
        def decide_after_the_join(current):
            if not joined:  # once: the joiner claims between the leaver's read and write
                joined.append(labeling_claim(folder, joiner))
                joined[0].__enter__()
            return decide(current)

        return real_replace_if(uri, decide_after_the_join)

    with labeling_claim(folder, leaver):
        monkeypatch.setattr(run_claim, "replace_if", joining_meanwhile)
    monkeypatch.setattr(run_claim, "replace_if", real_replace_if)
    assert joined, "the leaver did not go through replace_if"
    try:
        with pytest.raises(SeedSetBusy, match=r"task label_shard \(map index 1\)"):
            with labeling_claim(folder, _task("manual__2", "sample")):
                pass
    finally:
        joined[0].__exit__(None, None, None)  # the joiner ends: the folder is free
    with labeling_claim(folder, _task("manual__2", "sample")):
        pass


def _other_host_claim(renewed_ago: float, lease: float = 60.0, **airflow) -> bytes:
    """A labeling claim written by a ``prox label`` (or, with ``airflow``, a seed DAG task)
    on another machine: its process cannot be checked from here, only its lease."""
    import time

    runner = {"host": "worker-7.example", "machine": "another-boot", "pid": 4242,
              "started": 1.0e9}  # fmt: skip
    if airflow:
        runner["airflow"] = {"dag_id": "prox_seed_label", "task_id": "sample",
                             "map_index": -1, "try_number": 1, **airflow}  # fmt: skip
    now = time.time()
    claim = {"runner": runner, "holders": [runner], "since": now - renewed_ago - 5,
             "renewed": now - renewed_ago, "lease_s": lease}  # fmt: skip
    return json.dumps(claim).encode()


def test_an_s3_claim_of_another_host_is_taken_over_once_its_lease_runs_out(moto_server, s3_bucket):
    """A claim on S3 left by a ``prox label`` killed on another machine (its process cannot
    be checked from here) held the folder until someone deleted it by hand: every later run
    was refused. Its holder renews a lease while it labels; once not renewed for its lease,
    the claim is taken over, recording whose it was. A claim renewed within its lease is
    refused, saying when it lapses and how to take it over by hand (moto over HTTP)."""
    import time

    import pytest

    from prox_tasks.labeling.run_claim import SeedSetBusy, claim_uri, labeling_claim
    from prox_tasks.storage import put_atomic, read_json

    folder = f"{s3_bucket}/seed"
    put_atomic(claim_uri(folder), _other_host_claim(renewed_ago=5))  # alive: renewed 5 s ago
    with pytest.raises(SeedSetBusy) as refused, labeling_claim(folder):
        pass
    said = str(refused.value)
    assert "process 4242 on worker-7.example" in said, said
    assert "its claim lapses at " in said and "PROX_LABEL_CLAIM_LEASE_S" in said, said
    assert "run prox label --seed-set with --take-over" in said, said

    # a lease (1 s) run out by the server's clock: the object not rewritten for 2 s or more
    put_atomic(claim_uri(folder), _other_host_claim(renewed_ago=0, lease=1))
    time.sleep(2.2)
    with labeling_claim(folder):
        held = read_json(claim_uri(folder))
        assert held["taken_over"]["from"] == "process 4242 on worker-7.example", held
        why = held["taken_over"]["why"]  # the server's Date and LastModified: to the second
        assert re.search(r"its lease ran out: not renewed for [2-9]\d* s \(lease 1 s", why), why
        assert held["runner"]["pid"] == os.getpid() and held["lease_s"] == 900
    assert read_json(claim_uri(folder))["holders"] == []  # released at its end

    put_atomic(claim_uri(folder), _other_host_claim(renewed_ago=5))
    with labeling_claim(folder, take_over=True):  # an operator's --take-over
        assert "--take-over" in read_json(claim_uri(folder))["taken_over"]["why"]


def test_a_holder_renews_its_claim_while_it_labels(tmp_path):
    """The lease is renewed by the holder while it runs (a real process, lease 2 s, renewed
    every 0.5 s): a live ``prox label`` is never taken over for labeling longer than a lease."""
    import time

    from prox_tasks.labeling.run_claim import labeling_claim

    folder = tmp_path / "seed"
    holder = _holder(folder, PROX_LABEL_CLAIM_LEASE_S="2")
    try:
        first = json.loads((folder / CLAIM_NAME).read_text())
        deadline = time.monotonic() + 15  # a loaded CI machine may starve the holder a while
        while True:
            time.sleep(0.2)
            later = json.loads((folder / CLAIM_NAME).read_text())
            if later["renewed"] > first["renewed"] + 0.4 or time.monotonic() > deadline:
                break
        assert later["lease_s"] == 2 and later["renewed"] > first["renewed"] + 0.4, later
        assert later["since"] == first["since"]
        # renewed within its lease: another run on this host is refused (it is alive anyway)
        import pytest

        from prox_tasks.labeling.run_claim import SeedSetBusy

        with pytest.raises(SeedSetBusy), labeling_claim(str(folder)):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / CLAIM_NAME).exists()  # killed: left behind


def test_prox_label_takes_over_a_claim_of_another_host_with_take_over(
    tmp_path, capsys, monkeypatch
):
    """A claim of a run on another machine, renewed within its lease, refuses ``prox label``
    (exit 1) saying how to take it over; ``--take-over`` does (an operator knows that run is
    gone), and a PROX_LABEL_CLAIM_LEASE_S prox cannot use is a setting to fix (exit 2)
    before anything is written."""
    rows = [
        {"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
        for i in range(12)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "seed"
    args = ["label", "--json", "--input", str(src), "--output", str(out), "--seed-set",
            "--sample-size", "12", "--no-register"]  # fmt: skip
    for lease in ("0", "0.001", "9.9"):  # 0.001: renewed (S3: GET + PUT) every 0.25 ms
        monkeypatch.setenv("PROX_LABEL_CLAIM_LEASE_S", lease)
        assert main(args) == 2
        assert f"PROX_LABEL_CLAIM_LEASE_S='{lease}' is not a number of seconds of at least " \
            f"10 ({lease} is not " in capsys.readouterr().err  # fmt: skip
        assert not out.exists()
    monkeypatch.delenv("PROX_LABEL_CLAIM_LEASE_S")
    out.mkdir()
    (out / CLAIM_NAME).write_bytes(_other_host_claim(renewed_ago=5))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "process 4242 on worker-7.example" in err and "--take-over" in err, err
    assert not (out / "labels").exists()
    assert main([*args, "--take-over"]) == 0, capsys.readouterr().err
    assert sorted((out / "labels").glob("labels-*.jsonl.gz"))
    assert not (out / CLAIM_NAME).exists()


def test_a_claim_with_a_malformed_lease_is_joined_as_one_without_it(tmp_path, caplog):
    """A claim whose ``lease_s`` is no number (edited by hand, or written by something
    else) made a task of the same run joining it raise TypeError in ``max()``: its label
    task failed, though the claim is its own run's. A time that is no number of seconds is
    taken as absent, said in a warning; the join writes this holder's lease."""
    import logging
    import time

    from prox_tasks.labeling.run_claim import labeling_claim

    folder = tmp_path / "seed"
    folder.mkdir()
    first = _task("manual__1", "label_shard", 0)
    (folder / CLAIM_NAME).write_text(json.dumps({"runner": first, "holders": [first],
        "since": time.time(), "renewed": time.time(), "lease_s": "15 minutes"}))  # fmt: skip
    with (
        caplog.at_level(logging.WARNING),
        labeling_claim(str(folder), _task("manual__1", "label_shard", 1)),
    ):
        held = json.loads((folder / CLAIM_NAME).read_text())
        assert held["lease_s"] == 900 and len(held["holders"]) == 2, held
    assert "the labeling claim's lease_s '15 minutes' is no number of seconds: taken as " \
        "absent" in caplog.text, caplog.text  # fmt: skip


#: A label task stopped by Airflow (SIGTERM raised in the main thread, as label_shard's
#: raise_on_sigterm does) just as its labeling ends, while the claim's heartbeat is in a
#: renewal: the stand-in for a slow S3 round trip (one cannot be timed on cue) is a renewal
#: that sleeps, so the stop lands in the wait for that heartbeat.
STOPPED_IN_JOIN = """
import sys, threading, time
from prox_tasks.labeling import run_claim
from prox_tasks.pipeline import settings
from prox_tasks.termination import raise_on_sigterm
settings.MIN_LABEL_CLAIM_LEASE_S = 0.1
real_replace_if, renewing = run_claim.replace_if_aged, threading.Event()

def slow_renewal(uri, decide):
    if threading.current_thread().name == "prox-labeling-claim":
        renewing.set()
        time.sleep(60)
    return real_replace_if(uri, decide)

run_claim.replace_if_aged = slow_renewal
real_join = threading.Thread.join

def announced_join(thread, *args, **kwargs):  # the parent signals once the wait has begun
    if thread.name == "prox-labeling-claim":
        print("joining", flush=True)
    return real_join(thread, *args, **kwargs)

threading.Thread.join = announced_join
with raise_on_sigterm(), run_claim.labeling_claim(sys.argv[1]):
    renewing.wait()
    print("leaving", flush=True)
"""


def test_a_stop_while_the_heartbeat_is_waited_for_still_releases_the_claim(tmp_path):
    """SIGTERM (Airflow stopping a label task; raised in the main thread) that landed while
    the claim's end waited for its heartbeat thread skipped the release: the claim stayed
    until its lease ran out, refusing every other run meanwhile. The release now runs
    whatever ends that wait (a real process stopped by a real SIGTERM)."""
    folder = tmp_path / "seed"
    env = {**os.environ, "PROX_LABEL_CLAIM_LEASE_S": "0.4",
           "PYTHONPATH": os.pathsep.join(filter(None, (ROOT, os.environ.get("PYTHONPATH"))))}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", STOPPED_IN_JOIN, str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "leaving"
        # in the wait for the heartbeat (asleep for 60 s), said by the child: a fixed sleep
        # here let a loaded machine's SIGTERM land before it, in the with block, whose end
        # then waited 60 s for the heartbeat (past this test's 30 s)
        assert proc.stdout.readline().strip() == "joining"
        assert (folder / CLAIM_NAME).exists()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "Terminated: terminated (SIGTERM)" in err, err
    assert not (folder / CLAIM_NAME).exists(), err  # released: the next run need not wait


def _two_shards(tmp_path) -> list[str]:
    """Two sample shards of real text, as the seed DAG's ``sample`` writes them."""
    from prox_tasks.labeling.sampling import sample_documents

    rows = [
        {"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
        for i in range(8)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return sample_documents(str(src), str(tmp_path / "sample"), 8, 0, shards=2)["files"]


def test_a_holder_whose_claim_was_taken_over_stops_before_its_next_part(tmp_path, monkeypatch):
    """A holder cut off for longer than its lease (its claim taken over by another run) only
    logged an error and labeled on: two runs labeled, paid for and published the same parts.
    It now stops before it labels or publishes its next part, naming the run that took the
    claim over, when and why; nothing more of it is published. Found by a fresh read of the
    claim (its lease run out: ``renewed`` edited into the past), and by the heartbeat (an
    operator's ``--take-over``, a lease of 0.4 s renewed every 0.1 s)."""
    import time

    import pytest

    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.parts import label_part, part_uris
    from prox_tasks.labeling.run_claim import ClaimTakenOver, labeling_claim
    from prox_tasks.pipeline import settings
    from prox_tasks.storage import exists

    shards, folder = _two_shards(tmp_path), str(tmp_path / "seed")
    claim_file = tmp_path / "seed" / CLAIM_NAME
    first, second = _task("manual__1", "label_shard", 0), _task("manual__2", "label_shard", 0)
    with labeling_claim(folder, first) as held:
        assert not label_part(shards[0], folder, 0, get_teacher("rules"), check=held.check)[
            "reused"
        ]
        # not renewed for longer than its lease (900 s): cut off (the file's mtime tells)
        os.utime(claim_file, (time.time() - 1000, time.time() - 1000))
        with labeling_claim(folder, second):  # the lease ran out: taken over
            with pytest.raises(ClaimTakenOver) as stopped:
                label_part(shards[1], folder, 1, get_teacher("rules"), check=held.check)
            said = str(stopped.value)
            assert "this run's labeling claim was taken over by Airflow DAG run " \
                "prox_seed_label/manual__2, task label_shard (map index 0)" in said, said  # fmt: skip
            assert " UTC (its lease ran out: not renewed for 10" in said, said
            assert "publishing nothing more" in said, said
            assert not any(exists(uri) for uri in part_uris(folder, 1))
    assert exists(part_uris(folder, 0)[2])  # part 0, done before: kept

    monkeypatch.setattr(settings, "MIN_LABEL_CLAIM_LEASE_S", 0.1)
    monkeypatch.setenv("PROX_LABEL_CLAIM_LEASE_S", "0.4")
    with labeling_claim(folder, first) as held:
        with labeling_claim(folder, second, take_over=True):  # an operator's --take-over
            deadline = time.monotonic() + 10
            while held.lost is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "(taken over by hand (--take-over))" in (held.lost or ""), held.lost
            with pytest.raises(ClaimTakenOver):
                label_part(shards[1], folder, 1, get_teacher("rules"), check=held.check)
            assert not any(exists(uri) for uri in part_uris(folder, 1))


#: A run that takes the folder's labeling claim over (``--take-over``) and holds it.
TAKE = HOLD.replace("labeling_claim(sys.argv[1])", "labeling_claim(sys.argv[1], take_over=True)")


def _taker(folder, **env_vars) -> subprocess.Popen:
    """A real process that takes the folder's claim over and holds it (``held`` once it has:
    read it with :func:`_took`)."""
    env = {**os.environ, **env_vars,
           "PYTHONPATH": os.pathsep.join(filter(None, (ROOT, os.environ.get("PYTHONPATH"))))}  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", TAKE, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip


def _took(proc: subprocess.Popen, within: float) -> bool:
    """Whether ``proc`` (:func:`_taker`) said it holds the claim within ``within`` seconds."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=within):
            return False
    return proc.stdout.readline().strip() == "held"


def _publish_hook(monkeypatch, done_uri: str, during) -> list:
    """Call ``during()`` as the done record ``done_uri`` is put, then put it: the stand-in
    for a takeover landing between the holder's last check and its publish (a window of
    one PUT that cannot be hit on cue otherwise); the takeover itself is real."""
    from prox_tasks.labeling import run_claim

    real, seen = run_claim._put_record, []

    def put_record(uri, data):
        if str(uri) == done_uri:
            seen.append(during())
        return real(uri, data)

    monkeypatch.setattr(run_claim, "_put_record", put_record)
    return seen


def test_a_local_takeover_waits_for_a_part_being_published(tmp_path, monkeypatch):
    """A holder checked its claim, then wrote its part's done record: a takeover landing
    between the two let a run that had lost the claim publish a part beside the run that
    took it over. The check and the publish now happen under the claim's file lock: a real
    takeover (another process) started in that window waits until the part is published,
    then takes the claim; the part is the holder's, published while the claim was its."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.parts import label_part, part_uris
    from prox_tasks.labeling.run_claim import labeling_claim
    from prox_tasks.storage import exists

    shards, folder = _two_shards(tmp_path), str(tmp_path / "seed")
    takers = []

    def take_over():
        takers.append(_taker(folder))
        return _took(takers[-1], within=1.5)  # True: it took the claim while not yet published

    seen = _publish_hook(monkeypatch, part_uris(folder, 0)[2], take_over)
    try:
        with labeling_claim(folder, _task("manual__1", "label_shard", 0)) as held:
            label_part(shards[0], folder, 0, get_teacher("rules"), check=held.check,
                       publishing=held.publishing)  # fmt: skip
            assert seen == [False], "taken over between the claim's check and the publish"
            assert _took(takers[0], within=30)  # after the publish: taken over then
            assert held.lost is None or "taken over" in held.lost
        assert exists(part_uris(folder, 0)[2])
        claim = json.loads((tmp_path / "seed" / CLAIM_NAME).read_text())
        assert claim["runner"]["pid"] == takers[0].pid, claim
    finally:
        for proc in takers:
            proc.kill()
            proc.wait()


def test_an_s3_takeover_while_a_part_is_published_undoes_the_publish(
    moto_server, s3_bucket, monkeypatch, tmp_path
):
    """On S3 no lock holds a takeover off, and a conditional PUT compares only the object it
    writes: the claim is read again right after the part's done record is put, and a claim
    taken over meanwhile (a real takeover, by a process, in that window) removes the record
    again and stops the holder, naming the run that took it over (moto over HTTP)."""
    import pytest

    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.parts import label_part, part_uris
    from prox_tasks.labeling.run_claim import ClaimTakenOver, labeling_claim
    from prox_tasks.storage import exists

    shards, folder = _two_shards(tmp_path), f"{s3_bucket}/seed"
    takers = []

    def take_over():
        takers.append(_taker(folder, PROX_S3_ENDPOINT_URL=moto_server.endpoint_url))
        return _took(takers[-1], within=30)

    seen = _publish_hook(monkeypatch, part_uris(folder, 0)[2], take_over)
    try:
        with labeling_claim(folder, _task("manual__1", "label_shard", 0)) as held:
            with pytest.raises(ClaimTakenOver, match="while it published|taken over by process"):
                label_part(shards[0], folder, 0, get_teacher("rules"), check=held.check,
                           publishing=held.publishing)  # fmt: skip
            assert seen == [True]
            assert f"process {takers[0].pid} on " in held.lost, held.lost
        assert not exists(part_uris(folder, 0)[2])  # undone: the part is not this run's
    finally:
        for proc in takers:
            proc.kill()
            proc.wait()


def _claim_written(folder, claim: dict, aged: float) -> None:
    """``claim`` as the folder's local claim file, last written ``aged`` seconds ago."""
    import time

    path = folder / CLAIM_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(claim))
    os.utime(path, (time.time() - aged, time.time() - aged))


def test_a_claim_of_the_release_before_leases_lapses_a_lease_after_it_was_written(tmp_path):
    """A claim written by the previous release (no ``renewed``, no ``lease_s``) of a holder
    on another machine was never stale: it refused every run until removed by hand. It now
    lapses a lease (this process's, 900 s) after it was last written (its file's mtime);
    written more recently, it is still refused."""
    import pytest

    from prox_tasks.labeling.run_claim import SeedSetBusy, labeling_claim

    folder = tmp_path / "seed"
    old = json.loads(_other_host_claim(renewed_ago=0))
    old = {"runner": old["runner"], "since": old["since"] - 5000}  # the old format
    _claim_written(folder, old, aged=60)
    with pytest.raises(SeedSetBusy, match="lapses at "), labeling_claim(str(folder)):
        pass
    _claim_written(folder, old, aged=1000)
    with labeling_claim(str(folder)):
        held = json.loads((folder / CLAIM_NAME).read_text())
        assert "its lease ran out: not renewed for 1000 s (lease 900 s" in \
            held["taken_over"]["why"], held  # fmt: skip


def test_a_claims_age_is_the_storages_clock_not_its_writers(moto_server, s3_bucket, tmp_path):
    """A holder judged by the ``renewed`` time its writer put in the claim depends on every
    host's clock: a writer whose clock runs ahead kept a dead claim for ever, one whose
    clock runs behind lost a live one. The claim's age is the storage's clock: S3's
    LastModified against the server's Date (moto over HTTP), a local file's mtime."""
    import time

    import pytest

    from prox_tasks.labeling.run_claim import SeedSetBusy, claim_uri, labeling_claim
    from prox_tasks.storage import put_atomic, read_json

    ahead = _other_host_claim(renewed_ago=-10_000, lease=1)  # its writer's clock: hours ahead
    behind = _other_host_claim(renewed_ago=10_000, lease=60)  # hours behind, written just now
    for folder in (f"{s3_bucket}/seed", str(tmp_path / "seed")):
        put_atomic(claim_uri(folder), behind)
        with pytest.raises(SeedSetBusy, match="process 4242 on worker-7.example"):
            with labeling_claim(folder):
                pass
        put_atomic(claim_uri(folder), ahead)
        time.sleep(2.2)  # not rewritten for longer than its lease (1 s)
        with labeling_claim(folder):
            why = read_json(claim_uri(folder))["taken_over"]["why"]
            assert re.search(r"its lease ran out: not renewed for [2-9]\d* s \(lease 1 s", why), why


#: ``prox label --seed-set`` of :func:`_cut_off_run`'s input.
def _label_args(src: str, folder: str) -> list[str]:
    return ["label", "--json", "--no-progress", "--input", src, "--output", folder,
            "--seed-set", "--sample-size", "12", "--no-register"]  # fmt: skip


def _published(folder: str) -> dict[str, str | None]:
    """The version (a rewrite changes it) of each file a seed-set run publishes in
    ``folder``: part 0, the splits, the manifest."""
    from prox_tasks.labeling.parts import part_uris
    from prox_tasks.storage import join_uri, version_of

    names = ("train.jsonl.gz", "validation.jsonl.gz", "rejected.jsonl.gz", "manifest.json")
    uris = [*part_uris(folder, 0), *(join_uri(folder, name) for name in names)]
    return {uri: version_of(uri) for uri in uris}


def _cut_off_run(tmp_path, folder: str, monkeypatch, window, **env_vars) -> tuple[int, str]:
    """A ``prox label --seed-set`` (this process) cut off in ``window`` (an ``(owner,
    name)`` it calls there: a module's function, a class's method): a real ``prox label
    --seed-set --take-over`` (another process) takes its claim over and labels the folder
    to the end right then. Returns this run's exit status, its stderr's end and the
    versions of the files the taker published (:func:`_published`)."""
    import io
    import time
    from contextlib import redirect_stderr

    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(12)]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, **env_vars,
           "PYTHONPATH": os.pathsep.join(filter(None, (ROOT, os.environ.get("PYTHONPATH"))))}  # fmt: skip
    owner, name = window
    real, took = getattr(owner, name), {}

    def in_the_window(*args, **kwargs):
        if not took:  # the takeover, once: it labels and publishes the whole seed set
            taker = subprocess.run(
                [sys.executable, "-m", "prox_tasks.cli", *_label_args(str(src), folder),
                 "--take-over"], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
            assert taker.returncode == 0, taker.stderr
            took.update(_published(folder))
            time.sleep(1.1)  # a rewrite now has another S3 LastModified (whole seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, in_the_window)
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(_label_args(str(src), folder))
    assert took, f"{window} was never called"
    assert all(took.values()), took  # the taker published every one
    return code, err.getvalue()[-2000:], took


def _left_as_published(folder: str, took: dict) -> None:
    """The folder's part 0 and seed set are the files the taker published: none replaced
    by the run it cut off, and nothing staged left behind."""
    from prox_tasks.storage import list_uri

    assert _published(folder) == took
    assert not [u for u in list_uri(folder, include_hidden=True) if "_staged-" in u]


def _s3_env(moto_server) -> dict:
    return {"PROX_S3_ENDPOINT_URL": moto_server.endpoint_url}


def test_a_run_cut_off_while_it_labels_never_replaces_the_takers_part(tmp_path, monkeypatch):
    """A run cut off after its last claim check, while its part's labels file was being
    written, wrote that file (and its quarantine) over the ones a real ``--take-over`` run
    had published meanwhile. They are now written under staged names and moved into place
    under the claim's lock: the cut-off run stops, the taker's part stands (local)."""
    from prox_tasks.refine.checkpoint import CheckpointStore

    folder = str(tmp_path / "seed")
    code, err, took = _cut_off_run(tmp_path, folder, monkeypatch, (CheckpointStore, "save"))
    assert code != 0 and "labeling claim was" in err, err
    _left_as_published(folder, took)


def test_an_s3_run_cut_off_while_it_labels_never_replaces_the_takers_part(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """As on local disk, on S3 (moto over HTTP): the cut-off run's staged labels are never
    copied into place (the claim read before the publish is the taker's)."""
    from prox_tasks.refine.checkpoint import CheckpointStore

    folder = f"{s3_bucket}/seed"
    code, err, took = _cut_off_run(tmp_path, folder, monkeypatch, (CheckpointStore, "save"),
                                   **_s3_env(moto_server))  # fmt: skip
    assert code != 0 and "labeling claim was" in err, err
    _left_as_published(folder, took)


def test_a_run_cut_off_before_its_seed_set_is_written_never_publishes_it(tmp_path, monkeypatch):
    """A run that checked its claim before writing its seed set (splits, manifest: no
    rollback) and was cut off right after wrote them over the seed set a real
    ``--take-over`` run had published meanwhile. Its splits are now staged and the manifest
    published under the claim (:meth:`HeldClaim.publishing`): it publishes nothing."""
    from prox_tasks.labeling import seedset

    folder = str(tmp_path / "seed")
    code, err, took = _cut_off_run(tmp_path, folder, monkeypatch, (seedset, "write_jsonl"))
    assert code != 0 and "labeling claim was" in err, err
    _left_as_published(folder, took)


def test_an_s3_run_cut_off_before_its_seed_set_is_written_never_publishes_it(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """The seed set's publish under the claim, on S3 (moto over HTTP)."""
    from prox_tasks.labeling import seedset

    folder = f"{s3_bucket}/seed"
    code, err, took = _cut_off_run(tmp_path, folder, monkeypatch, (seedset, "write_jsonl"),
                                   **_s3_env(moto_server))  # fmt: skip
    assert code != 0 and "labeling claim was" in err, err
    _left_as_published(folder, took)


def test_a_publish_stopped_between_its_moves_leaves_no_old_record_beside_new_files(tmp_path):
    """A part published again (its labels staged, then moved into place, its done record
    last) that stopped between the moves — here the second staged file is not there, a real
    fault — left the new labels beside the old quarantine and the old done record, which
    still made them a part. The old record goes first: files without it are no part."""
    import pytest

    from prox_tasks.labeling.run_claim import publish_staged, staged_uri
    from prox_tasks.storage import exists, put_atomic, read_bytes

    folder = tmp_path / "labels"
    labels, quarantine = str(folder / "labels-00000.jsonl"), str(folder / "quarantine-00000.jsonl")
    record = str(folder / "_done-00000.json")
    for uri, data in ((labels, b"old labels"), (quarantine, b"old quarantine"),
                      (record, b'{"old": true}')):  # fmt: skip
        put_atomic(uri, data)
    staged = {labels: staged_uri(labels, "t1"), quarantine: staged_uri(quarantine, "t1")}
    put_atomic(staged[labels], b"new labels")  # the quarantine's staged file is missing
    with pytest.raises(FileNotFoundError):
        publish_staged(None, staged, record, {"new": True})
    assert read_bytes(labels) == b"new labels"
    assert not exists(record)


def test_an_s3_run_cut_off_while_it_publishes_a_part_never_removes_the_takers(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """On S3 a run whose claim was taken over while it published a part (between its moves:
    nothing holds a takeover off there) undid its publish, removing the part's done record,
    labels and quarantine as it found them: by then the files of the run that took over,
    which had labeled that part (this run had removed its old record first) and published
    it and the seed set. The taker's part 0 was gone (its next run labels it again) and a
    taker still assembling read a part that no longer was. The done record is now written
    only while none is there (a conditional PUT): one there is another run's, and nothing
    is undone (a real ``--take-over`` run, moto over HTTP)."""
    from prox_tasks.labeling import run_claim
    from prox_tasks.labeling.parts import part_uris
    from prox_tasks.labeling.sampling import iter_jsonl
    from prox_tasks.storage import exists, join_uri, read_json

    folder = f"{s3_bucket}/seed"
    code, err, took = _cut_off_run(tmp_path, folder, monkeypatch, (run_claim, "move"),
                                   **_s3_env(moto_server))  # fmt: skip
    assert code != 0 and "labeling claim was" in err, err
    labels, quarantine, done = part_uris(folder, 0)
    assert all(exists(uri) for uri in (labels, quarantine, done))  # part 0 still complete
    assert _published(folder)[done] == took[done]  # the taker's record, not replaced
    sample = read_json(join_uri(folder, "manifest.json"))["sizes"]["sampled"]
    assert sample == 12 and list(iter_jsonl(labels))  # labels for the part's documents
    for name in ("train.jsonl.gz", "validation.jsonl.gz", "rejected.jsonl.gz", "manifest.json"):
        assert _published(folder)[join_uri(folder, name)] == took[join_uri(folder, name)]


@pytest.mark.parametrize("read", ["as the block ends", "after a takeover"])
def test_an_s3_outage_reading_the_claim_after_a_failed_publish_keeps_that_failure(
    moto_server, s3_bucket, tmp_path, read
):
    """S3 went down while a part was published under the claim (moto answers 503 from then
    on, for real over HTTP): the publish failed, and so did the claim's read after it,
    whose error was raised in place of the publish's — the user saw a failed read of the
    claim's file, not what failed. The claim's read as the block ends, or the one after a
    real takeover process rewrote the claim meanwhile (the read as the block ends passed
    here), failing: the publish's own error is raised, the read's error chained to it as
    its context, and nothing is undone (whether the claim was taken over is not known)."""
    from prox_tasks.labeling.run_claim import claim_uri, labeling_claim
    from prox_tasks.storage import move, put_atomic

    folder, undone, takers = f"{s3_bucket}/seed", [], []
    staged = f"{folder}/labels/_staged-0000-labels-00000.jsonl.gz"
    claim_key = claim_uri(folder).split("/", 3)[3]
    claim_reads = []  # each GET of the claim once S3 is down (retries too)

    def down(environ) -> bool:  # every request fails, but the block's own claim read
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"].endswith(claim_key):
            claim_reads.append(environ["PATH_INFO"])
            return not (read == "after a takeover" and len(claim_reads) == 1)
        return True

    try:
        with labeling_claim(folder, _task("manual__1", "label_shard", 0)) as held:
            put_atomic(staged, b"labels\n")
            with pytest.raises(Exception) as raised:
                with held.publishing(f"{folder}/labels/labels-00000.done.json",
                                     undo=lambda: undone.append(True)):  # fmt: skip
                    if read == "after a takeover":
                        takers.append(_taker(folder, **_s3_env(moto_server)))
                        assert _took(takers[0], within=30)
                    moto_server.faults.arm(fail_requests=None, status=503, match=down)
                    move(staged, f"{folder}/labels/labels-00000.jsonl.gz")
            moto_server.faults.disarm()
    finally:
        moto_server.faults.disarm()
        for proc in takers:
            proc.kill()
            proc.wait()
    assert staged in getattr(raised.value, "__notes__", ()), repr(raised.value)  # the move's
    context = raised.value.__context__
    assert context is not None and "SlowDown" in str(context), repr(context)
    assert claim_uri(folder) in getattr(context, "__notes__", ()), repr(context)
    assert undone == []


def test_prox_label_on_s3_going_down_while_it_publishes_says_what_failed(
    moto_server, s3_bucket, tmp_path, monkeypatch
):
    """S3 went down as ``prox label --seed-set`` began to publish its first part (moto
    answers 503 from then on, for real over HTTP; armed as the part's first move starts:
    the stand-in for the moment only). The part's copy failed, then the claim's read after
    it, the staged files' removal and the claim's release failed too, each raised in place
    of the one before: the command said ``S3 GetObject failed … (…/_labeling.json)``, not
    what failed. It now says the copy's failure, naming the staged file; the later
    failures are warnings, and nothing is undone on a guess."""
    import io
    from contextlib import redirect_stderr

    from prox_tasks.labeling import run_claim

    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(12)]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    real = run_claim.move

    def down_then_move(*args, **kwargs):
        moto_server.faults.arm(fail_requests=None, status=503)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_claim, "move", down_then_move)
    err = io.StringIO()
    try:
        with redirect_stderr(err):
            code = main(_label_args(str(src), f"{s3_bucket}/seed"))
    finally:
        moto_server.faults.disarm()
    said = err.getvalue().strip().splitlines()[-1]
    assert code == 1, said
    assert said.startswith("prox label: S3 HeadObject failed: 503"), said
    assert "/seed/labels/_staged-" in said and "_labeling.json" not in said, said
