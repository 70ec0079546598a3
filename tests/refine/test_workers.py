"""`prox refine --workers N`: shards refined in parallel processes, one model each, never two
writers on a shard, output identical to one worker."""

import json
import os
import time

import pyarrow.parquet as pq
import pytest

from prox_tasks.cli import main
from prox_tasks.corpus import load_manifest
from prox_tasks.refine import refine_corpus
from prox_tasks.refine.workers import refine_shards
from tests.inference.helpers import short_docs, write_jsonl


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    docs = short_docs(40, lines=30, width=200)
    write_jsonl(folder / "a.jsonl", docs[:25])
    write_jsonl(folder / "b.jsonl", docs[25:])
    return folder


def shard_rows(out) -> list[list[dict]]:
    manifest = load_manifest(str(out))
    return [pq.read_table(out / "shards" / f"shard-{s.index:05d}.parquet").to_pylist()
            for s in manifest.shards]  # fmt: skip


def test_two_workers_write_what_one_writes(corpus, tmp_path, tagger_model):
    one = refine_corpus(str(corpus), str(tmp_path / "one"), model=str(tagger_model), shards=4,
                        checkpoint_every=8)  # fmt: skip
    two = refine_corpus(str(corpus), str(tmp_path / "two"), model=str(tagger_model), shards=4,
                        checkpoint_every=8, workers=2)  # fmt: skip
    assert two["workers"] == 2 and two["shards_refined"] == 4
    for key in ("docs_read", "docs_written", "docs_kept", "docs_dropped", "docs_refined"):
        assert one[key] == two[key], key
    assert shard_rows(tmp_path / "one") == shard_rows(tmp_path / "two")
    # each shard was refined by exactly one worker process, never by this process. Which
    # worker takes which shard is a race: a worker takes the next shard when it is free, so
    # one that loads its model first may refine all four small shards before the other is
    # ready, on a loaded machine: the split is not asserted.
    pids = [r["pid"] for r in two["results"]]
    assert len(pids) == 4 and 1 <= len(set(pids)) <= 2 and os.getpid() not in pids
    assert [r["shard"] for r in two["results"]] == [0, 1, 2, 3]
    assert all(0 < r["started_at"] <= time.time() for r in two["results"])
    assert sum(r["accounting"]["docs_read"] for r in two["results"]) == 40


def test_published_shards_are_skipped_without_starting_workers(corpus, tmp_path,
                                                                tagger_model):
    out = tmp_path / "out"
    refine_corpus(str(corpus), str(out), model=str(tagger_model), shards=3)
    again = refine_shards(str(out), [0, 1, 2], workers=2, model=str(tagger_model))
    assert [r["status"] for r in again] == ["skipped"] * 3
    assert all("pid" not in r for r in again)


@pytest.mark.slow
def test_prox_refine_workers_option(corpus, tmp_path, tagger_model, capsys):
    out = tmp_path / "cli"
    assert main(["refine", "--json", "--input", str(corpus), "--output", str(out), "--model",
                 str(tagger_model), "--shards", "2", "--workers", "2", "--threads", "1",
                 "--no-progress"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["workers"] == 2 and summary["docs_written"] == 40
    with pytest.raises(SystemExit) as usage:
        main(["refine", "--json", "--input", str(corpus), "--output", str(tmp_path / "bad"),
              "--model", str(tagger_model), "--workers", "0", "--no-progress"])
    assert usage.value.code == 2
    assert "--workers: must be at least 1" in capsys.readouterr().err


def test_a_started_pool_refines_and_reports_every_document(corpus, tmp_path, tagger_model):
    """prox refine starts its workers before planning and hands them to refine_shards."""
    from prox_tasks.refine.corpus import plan
    from prox_tasks.refine.workers import WorkerPool

    out = tmp_path / "pool"
    done = []
    with WorkerPool(2, 1, str(tagger_model)) as pool:
        manifest = plan(str(corpus), str(out), 3, None)
        results = refine_shards(str(out), [s.index for s in manifest.shards],
                                model=str(tagger_model), progress=done.append, pool=pool)
    assert [r["shard"] for r in results] == [0, 1, 2]
    assert sum(r["accounting"]["docs_written"] for r in results) == 40
    assert sum(done) == 40  # the last progress is forwarded when the pool closes
    refine_corpus(str(corpus), str(tmp_path / "one"), model=str(tagger_model), shards=3)
    assert shard_rows(out) == shard_rows(tmp_path / "one")


def test_a_published_shard_clears_only_its_own_checkpoint_folder(tmp_path):
    """Workers publish shards at the same time: clearing one shard's checkpoints must not
    remove the shared _checkpoints folder another worker is creating its folder in (that
    race failed a shard with "No such file or directory")."""
    from prox_tasks.refine.checkpoint import CHECKPOINT_DIR, CheckpointStore

    row = {"id": "a", "source": "s", "offset": 0, "text": "t"}
    done, running = (CheckpointStore(str(tmp_path), i, {"k": 1}) for i in (0, 1))
    done.save(0, [row], {})
    done.clear()
    assert not (tmp_path / CHECKPOINT_DIR / "shard-00000").exists()
    assert (tmp_path / CHECKPOINT_DIR).is_dir()
    running.save(0, [row], {})  # the other worker's first checkpoint still lands
    assert [h["index"] for h, _ in running.load()] == [0]


def test_workers_take_the_environment_of_the_process_that_starts_them(monkeypatch,
                                                                      tagger_model):
    """Workers are forked from a fork server started once per process (with torch imported):
    an environment set or removed after it started (PROX_TAGGER_PRECISION in a test, say)
    must reach the workers as it would reach spawned ones."""
    from prox_tasks.refine.fork_server import worker_context
    from prox_tasks.refine.workers import WorkerPool

    monkeypatch.setenv("PROX_TEST_REMOVED_LATER", "1")
    monkeypatch.delenv("PROX_TEST_SET_LATER", raising=False)
    with WorkerPool(1, 1, str(tagger_model)) as pool:  # starts the fork server (or reuses it)
        first = pool.pool.submit(os.getenv, "PROX_TEST_REMOVED_LATER").result()
    monkeypatch.setenv("PROX_TEST_SET_LATER", "set later")
    monkeypatch.delenv("PROX_TEST_REMOVED_LATER")
    with WorkerPool(1, 1, str(tagger_model)) as pool:
        later = [pool.pool.submit(os.getenv, name).result()
                 for name in ("PROX_TEST_SET_LATER", "PROX_TEST_REMOVED_LATER")]
        server = pool.pool.submit(os.getppid).result()
    assert first == "1" and later == ["set later", None]
    if worker_context().get_start_method() == "forkserver":
        assert server != os.getpid()  # forked by the server, not by this process


def test_workers_start_early_only_for_a_new_snapshot(corpus, tmp_path):
    """prox refine starts the workers' fork server before its own set-up only when
    refine_corpus will start workers before planning: a new snapshot, more than one worker
    (a resumed one may have one shard left, refined in-process)."""
    from prox_tasks.refine.corpus import plan, starts_workers_early

    out = str(tmp_path / "early")
    assert starts_workers_early(out, 2) and not starts_workers_early(out, 1)
    plan(str(corpus), out, 2, None)
    assert not starts_workers_early(out, 2)


MAIN_THAT_CANNOT_RUN_TWICE = """
import sys
if __name__ != "__main__":  # what the airflow command's main module does: initialize Airflow
    raise SystemExit("the starting program's main module ran again in a worker")
from prox_tasks.refine.workers import WorkerPool
if __name__ == "__main__":
    with WorkerPool(2, 1, sys.argv[1]) as pool:
        print(sorted({pool.pool.submit(__import__("os").getpid).result() for _ in range(4)}))
"""


def test_workers_do_not_run_the_starting_program_s_main_module(tmp_path, tagger_model):
    """Airflow's task runner starts the pool from the `airflow` command, whose main module
    initializes Airflow at import: a worker that ran it again died (BrokenProcessPool)."""
    import subprocess
    import sys

    from prox_tasks.refine.fork_server import worker_context

    if worker_context().get_start_method() != "forkserver":
        pytest.skip("spawned workers run the main module again (no fork server here)")
    script = tmp_path / "program"  # a script by path, as the airflow command is
    script.write_text(MAIN_THAT_CANNOT_RUN_TWICE)
    done = subprocess.run([sys.executable, str(script), str(tagger_model)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("[") and "ran again" not in done.stderr


STARTER_IN_A_DAEMONIC_PROCESS = """
import multiprocessing, os, sys, time

def start_pool(model, pids):
    from prox_tasks.refine.workers import WorkerPool
    with WorkerPool(2, 1, model) as pool:
        pids.put(sorted({pool.pool.submit(os.getpid).result() for _ in range(4)}))
        pids.put(os.getpid())
        if sys.argv[2] == "hold":  # wait to be killed with the workers running
            time.sleep(600)

if __name__ == "__main__":
    pids = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=start_pool, args=(sys.argv[1], pids), daemon=True)  # as Celery's pool process
    child.start()
    print(pids.get(timeout=240), pids.get(timeout=60), flush=True)
    child.join()  # "hold": until the test kills the child
"""


def _start_in_a_daemonic_process(tmp_path, model, mode):
    import subprocess
    import sys

    script = tmp_path / "starter.py"
    script.write_text(STARTER_IN_A_DAEMONIC_PROCESS)
    return subprocess.Popen([sys.executable, str(script), str(model), mode],
                            stdout=subprocess.PIPE, stderr=(tmp_path / "stderr").open("w"),
                            text=True, cwd=tmp_path)  # fmt: skip


def test_a_daemonic_process_starts_workers(tmp_path, tagger_model):
    """An Airflow task on a Celery worker runs in a fork of Celery's pool process, which
    multiprocessing takes for daemonic ("daemonic processes are not allowed to have
    children"): such a process starts its workers all the same."""
    proc = _start_in_a_daemonic_process(tmp_path, tagger_model, "end")
    out, _ = proc.communicate(timeout=300)
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 0, err[-3000:]
    assert out.startswith("[") and "not allowed to have children" not in err


def test_workers_die_with_the_process_that_started_them(tmp_path, tagger_model):
    """A killed starter (SIGKILL: an Airflow task killed on timeout, a lost worker) leaves no
    worker running on: they die with their fork server, which exits with the starter."""
    import signal

    proc = _start_in_a_daemonic_process(tmp_path, tagger_model, "hold")
    try:
        line = proc.stdout.readline()
        assert line, (tmp_path / "stderr").read_text()[-3000:]
        workers, starter = json.loads(line.split("] ")[0] + "]"), int(line.split("] ")[1])
        assert all(_alive(pid) for pid in workers)
        os.kill(starter, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "workers outlived their starter"
    finally:  # not communicate(): a worker left alive would hold its output open
        proc.kill()
        proc.wait()
        proc.stdout.close()


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_rerun_with_shards_counts_from_its_plan_not_the_input(corpus, tmp_path, monkeypatch):
    """prox refine --shards N run again: the documents are counted from the plan when the
    input did not change (no scan at all), and the plan is the same."""
    from prox_tasks.corpus import planner
    from prox_tasks.refine.corpus import plan

    first = plan(str(corpus), str(tmp_path / "out"), 3, None)
    scanned = []
    real = planner.FORMATS["jsonl"].scan  # a spy: counts the files scanned, reads them as is
    monkeypatch.setattr(planner.FORMATS["jsonl"], "scan",
                        lambda path, *a: scanned.append(path) or real(path, *a))
    assert plan(str(corpus), str(tmp_path / "out"), 3, None).to_json() == first.to_json()
    assert scanned == []
    assert len(plan(str(corpus), str(tmp_path / "out2"), 3, None).shards) == 3
    assert scanned  # a new snapshot: counted, then planned


def _sleep_in_the_call(mark: str) -> None:
    """In a worker: say the call has started (create ``mark``), then block in it."""
    open(mark, "x").close()
    time.sleep(600)


def test_a_stopped_pool_kills_a_worker_that_does_not_stop_within_the_grace(tmp_path,
                                                                           tagger_model):
    """A stopped run's workers end their shard at its next batch; one blocked in a model
    call that does not return (a server that never answers) would hold the run for ever.
    WorkerPool.stop kills a worker still alive after the grace, so the stop is bounded.
    The worker is real and really blocked: it runs time.sleep(600), standing in for the
    model call (a call that never returns cannot be had on cue)."""
    from concurrent.futures.process import BrokenProcessPool

    from prox_tasks.refine.workers import WorkerPool

    with WorkerPool(2, 1, str(tagger_model)) as pool:
        pids = {pool.submit(os.getpid).result(), pool.submit(os.getpid).result()}
        marks = [tmp_path / f"in-call-{i}" for i in range(2)]
        blocked = [pool.submit(_sleep_in_the_call, str(mark)) for mark in marks]
        queued = pool.submit(time.sleep, 600)  # taken by no worker: cancelled
        # both workers are in their call: each said so (a fixed wait, late under load, let
        # the stop come before a worker had taken its call)
        deadline = time.monotonic() + 120
        while not all(mark.exists() for mark in marks):
            assert time.monotonic() < deadline, "the workers never entered their call"
            time.sleep(0.01)
        started = time.monotonic()
        pool.stop([*blocked, queued], grace=2)
        took = time.monotonic() - started
    assert took < 20, took
    assert all(isinstance(f.exception(0), BrokenProcessPool) for f in blocked)
    assert queued.cancelled() or isinstance(queued.exception(0), BrokenProcessPool)
    for pid in pids:  # no worker left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_pool_stopped_as_it_starts_starts_no_shard(tagger_model):
    """A stop as the pool starts (its workers' start waits for the fork server: seconds)
    reaches the workers started after it: they take no shard, and say so."""
    from prox_tasks.refine.workers import NOT_STARTED, WorkerPool, _refine_in_worker

    with WorkerPool(2, 1, str(tagger_model)) as pool:
        futures = [pool.submit(_refine_in_worker, "/nonexistent", i, {}) for i in range(3)]
        pool.stop(futures, grace=60)
    assert all(f.cancelled() or f.result(0) == {"shard": i, "status": NOT_STARTED}
               for i, f in enumerate(futures))


def _block_holding_the_progress_lock() -> None:
    """In a worker: take the progress queue's write lock and block, as a worker killed inside
    its progress put holds it (the lock is shared by every process writing to the queue)."""
    from prox_tasks.refine.workers import _WORKER

    _WORKER["progress"]._wlock.acquire()
    time.sleep(600)


def test_a_process_whose_stop_killed_a_worker_holding_the_progress_lock_exits(tagger_model):
    """A worker killed by WorkerPool.stop (alive past the grace) inside its progress put
    leaves the queue's write lock held for good. The pool's close put its end-of-progress
    mark on that queue: its feeder thread waited for the lock, and the process, which joins
    that thread at its exit, never ended (a stopped `prox refine` alive for ever, the kill
    meant to bound the stop notwithstanding). A real pool in a real process; the worker
    takes the real lock and blocks, standing in for a kill landing inside the put (which
    cannot be had on cue)."""
    import subprocess
    import sys

    script = f"""
import time
from prox_tasks.refine.workers import WorkerPool
from tests.refine.test_workers import _block_holding_the_progress_lock

with WorkerPool(1, 1, {str(tagger_model)!r}) as pool:
    pool.submit(time.sleep, 0).result()  # the worker is up
    blocked = pool.submit(_block_holding_the_progress_lock)
    lock = pool._queue._wlock  # the same lock as the worker's
    while lock.acquire(block=False):
        lock.release()
        time.sleep(0.05)
    pool.stop([blocked], grace=1)
print("closed", flush=True)
"""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, 9)
        output, _ = run.communicate(timeout=30)
        pytest.fail(f"still running 120 s after its pool was stopped: {output[-3000:]}")
    assert run.returncode == 0 and "closed" in output, output[-3000:]
