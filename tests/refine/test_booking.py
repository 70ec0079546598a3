"""The one catalog booking (ShardBooking around refine_shards): refined shards count an
attempt, reused and refused ones do not, failures are stored (a run that fails after planning
books its snapshot failed); `prox refine` books through it like the DAG task, in one process
or several."""

import json
import shutil

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main
from prox_tasks.corpus import plan_shards
from prox_tasks.models.artifact import artifact_version
from prox_tasks.refine.booking import ShardBooking, book_dead, register_plan
from prox_tasks.refine.workers import refine_shards
from tests.inference.helpers import short_docs, write_jsonl


@pytest.fixture
def booked(tmp_path):
    """Two shards of 12 documents (one bad record), planned and registered as 'snap'."""
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(11), ["{not json"])
    out = str(tmp_path / "out")
    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    register_plan(catalog, "snap", plan_shards(str(source), out, target_docs=6))
    yield catalog, out
    catalog.close()


def refine_and_book(catalog, snapshot, out, index, **options):
    booking = None if catalog is None else ShardBooking(catalog, snapshot)
    return refine_shards(out, [index], booking=booking, **options)[0]


def test_refined_shards_count_one_attempt_and_reused_ones_none(booked, tagger_model):
    catalog, out = booked
    for index in (0, 1):
        result = refine_and_book(catalog, "snap", out, index, model=str(tagger_model))
        assert result["status"] == "refined"
    shards = catalog.get_shards("snap")
    assert [(s["status"], s["attempts"]) for s in shards] == [("done", 1), ("done", 1)]
    assert sum(s["docs_read"] for s in shards) == 12
    assert sum(s["docs_quarantined"] for s in shards) == 1
    assert all(s["wall_seconds"] is not None and s["checksum"] for s in shards)
    again = refine_and_book(catalog, "snap", out, 0, model=str(tagger_model))
    assert again["status"] == "skipped"
    assert catalog.get_shard("snap", 0)["attempts"] == 1  # reuse is not an attempt
    forced = refine_and_book(catalog, "snap", out, 0, model=str(tagger_model), force=True)
    assert forced["status"] == "refined" and catalog.get_shard("snap", 0)["attempts"] == 2


def test_a_failed_attempt_is_stored_with_its_error(booked, tmp_path):
    catalog, out = booked
    with pytest.raises(FileNotFoundError):
        refine_and_book(catalog, "snap", out, 0, model=str(tmp_path / "no-such-model"))
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"]) == ("failed", 1)
    assert "FileNotFoundError" in shard["error"] and "no-such-model" in shard["error"]


def test_a_shard_published_without_a_catalog_is_booked_when_reused(booked, tagger_model):
    catalog, out = booked
    refine_and_book(None, "snap", out, 0, model=str(tagger_model))
    assert catalog.get_shard("snap", 0)["status"] == "planned"
    assert refine_and_book(catalog, "snap", out, 0, model=str(tagger_model))["status"] == "skipped"
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"], shard["docs_read"]) == ("done", 0, 6)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_prox_refine_books_the_snapshot_and_its_shards(tmp_path, tagger_model, capsys, workers):
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(10))
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["refine", "--json", "--input", str(source), "--output", str(tmp_path / "refined"),
            "--model", str(tagger_model), "--target-docs", "5", "--catalog", url,
            "--workers", workers, "--no-progress"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["shards_refined"] == 2
    assert main(args) == 0  # again: both shards reused
    with Catalog(url) as catalog:
        snapshot = catalog.get_snapshot("refined")
        assert snapshot["num_shards"] == 2
        assert snapshot["status"] == "refined"  # as the DAG's collect task books it
        assert snapshot["model_version"] == artifact_version(tagger_model)
        assert [(s["status"], s["attempts"]) for s in catalog.get_shards("refined")] == [
            ("done", 1), ("done", 1)]
        catalog.update_snapshot("refined", status="released")
    assert main(args) == 0  # a rerun of a released snapshot reuses it: still released
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("refined")["status"] == "released"


def test_prox_refine_refuses_a_bad_snapshot_name(tmp_path, tagger_model, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(3))
    assert main(["refine", "--input", str(source), "--output", str(tmp_path / "o"),
                 "--model", str(tagger_model), "--name", "../x", "--no-progress"]) == 2
    assert "invalid snapshot name" in capsys.readouterr().err


def test_a_rerun_that_reuses_every_shard_keeps_the_gate_verdict(tmp_path, tagger_model, capsys):
    """`prox refine` again over a gated snapshot changes no file the gate judged: the
    snapshot stays gated (or quarantined); a forced rerun rewrites shards and needs the gate
    again, so it is `refined`."""
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(10))
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = str(tmp_path / "refined")
    args = ["refine", "--input", str(source), "--output", out, "--model", str(tagger_model),
            "--target-docs", "5", "--catalog", url, "--no-progress"]
    assert main(args) == 0
    main(["gate", "--snapshot", out, "--catalog", url, "--name", "refined"])
    with Catalog(url) as catalog:
        verdict = catalog.get_snapshot("refined")["status"]
    assert verdict in ("gated", "quarantined")
    assert main(args) == 0
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("refined")["status"] == verdict
    assert main([*args, "--force"]) == 0
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("refined")["status"] == "refined"
    capsys.readouterr()


def test_a_refused_refine_of_a_released_shard_leaves_it_done(booked, tagger_model):
    """A ``--force`` run that reaches a shard after a release raced it (``refine_shards``
    as the DAG task calls it) is refused without writing: the catalog keeps the shard
    ``done`` with its published files, not ``failed`` beside a released snapshot."""
    from prox_tasks.corpus import read_status
    from prox_tasks.corpus.manifest import ReleasedSnapshot, mark_released

    catalog, out = booked
    refine_and_book(catalog, "snap", out, 0, model=str(tagger_model))
    mark_released(out, {"name": "snap", "manifest_id": catalog.get_snapshot("snap")["manifest_id"]})
    with pytest.raises(ReleasedSnapshot):
        refine_and_book(catalog, "snap", out, 0, model=str(tagger_model), force=True)
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["error"]) == ("done", None)
    assert shard["checksum"] == read_status(out, 0)["sha256"]
    assert shard["attempts"] == 1  # the refusal wrote nothing: not an attempt
    assert catalog.get_snapshot("snap")["status"] == "planned"  # nor a failed run


def test_a_shard_refused_for_other_settings_is_no_attempt(booked, tagger_model):
    """Another run published the shard with other settings after this one found it
    unpublished (the step refuses it): the attempt :meth:`start` counted is taken back."""
    from prox_tasks.refine.step import SettingsConflict

    catalog, out = booked
    refine_and_book(catalog, "snap", out, 0, model=str(tagger_model))
    booking = ShardBooking(catalog, "snap")
    booking.start(0, False)
    booking.fail(0, SettingsConflict("shard 0 was refined with other settings", ["model"]))
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"], shard["error"]) == ("done", 1, None)


def test_a_shard_that_never_ran_is_booked_pending_not_failed(booked, tagger_model):
    """A shard sent to a worker that never started it (cancelled when another shard failed,
    or the run was stopped) was booked ``failed`` with 0 attempts: `prox refine` then said
    it failed, and the catalog listed failures where nothing had run. It is ``planned``
    again, its error saying why it did not run; a shard that failed is booked as before,
    and a catalog row booked the old way reads the same."""
    catalog, out = booked
    booking = ShardBooking(catalog, "snap")
    booking.start(0, False)
    booking.not_run(0, "not run: shard refining stopped after OSError('disk full')")
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"], shard["finished_at"]) == ("planned", 0, None)
    assert shard["error"] == "not run: shard refining stopped after OSError('disk full')"
    booking.start(1, False)
    booking.fail(1, OSError("disk full"))
    shard = catalog.get_shard("snap", 1)
    assert (shard["status"], shard["attempts"], shard["error"]) == (
        "failed", 1, "OSError: disk full")
    # a row booked by the release before: failed, 0 attempts, read as it was written
    catalog.fail_shard("snap", 0, "not run: interrupted by KeyboardInterrupt()")
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"]) == ("failed", 0)
    # and a run that refines it books it as any other
    assert refine_and_book(catalog, "snap", out, 0, model=str(tagger_model))["status"] == \
        "refined"  # fmt: skip
    shard = catalog.get_shard("snap", 0)
    assert (shard["status"], shard["attempts"], shard["error"]) == ("done", 1, None)


def test_a_refine_that_fails_after_planning_books_the_snapshot_failed(tmp_path, tagger_model,
                                                                      capsys):
    """`prox refine` whose model cannot be loaded: the snapshot is listed `failed` with the
    error, not `planned`; a rerun that succeeds makes it `refined` and clears the error."""
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(10))
    broken = tmp_path / "broken"
    shutil.copytree(tagger_model, broken)
    # whole (a cut or garbage file is refused before planning), but holding no tensor
    (broken / "model.safetensors").write_bytes((2).to_bytes(8, "little") + b"{}")
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["refine", "--input", str(source), "--output", str(tmp_path / "refined"),
            "--target-docs", "5", "--catalog", url, "--no-progress"]
    assert main([*args, "--model", str(broken)]) == 1
    assert main(["catalog", "--url", url, "list", "snapshots", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert listed["status"] == "failed" and "TaggerFormatError" in listed["error"]
    with Catalog(url) as catalog:
        assert {s["status"] for s in catalog.get_shards("refined")} == {"failed"}
    # the failed run published nothing: it gave its settings claim up, so a rerun with a
    # model that loads goes on without --force
    claim = json.loads((tmp_path / "refined" / "_refine_settings.json").read_text())
    assert claim["request"] is None
    assert main([*args, "--model", str(tagger_model)]) == 0
    with Catalog(url) as catalog:
        snapshot = catalog.get_snapshot("refined")
        assert (snapshot["status"], snapshot["error"]) == ("refined", None)
    capsys.readouterr()


def _refining(tmp_path, tagger_model, url: str, *options: str):
    """A real `prox refine --workers 2` process of 6 shards of 2,000 long documents into
    ``tmp_path``/refined, booked in ``url``, returned once a worker is refining (it has
    checkpointed a batch of its shard)."""
    import os
    import subprocess
    import sys
    import time

    source = tmp_path / "in.jsonl"
    if not source.exists():
        pages = short_docs(300, lines=40, width=200)  # read once, not once per copy
        docs = [{"id": f"{d['id']}-{copy}", "text": d["text"]}
                for copy in range(40) for d in pages]
        write_jsonl(source, docs)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.Popen(
        [sys.executable, "-m", "prox_tasks.cli", "refine", "--input", str(source),
         "--output", str(tmp_path / "refined"), "--model", str(tagger_model),
         "--target-docs", "2000", "--workers", "2", "--threads", "1", "--catalog", url,
         "--no-progress", *options], env=env, start_new_session=True,
        stderr=subprocess.PIPE, text=True)
    checkpoints = tmp_path / "refined" / "_checkpoints"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None \
            and not any(checkpoints.glob("shard-*/part-*")):
        time.sleep(0.1)
    assert run.poll() is None, "the refine ended before a shard was seen refining"
    return run


def test_a_refine_with_workers_terminated_leaves_no_shard_running(tmp_path, tagger_model):
    """SIGTERM (Airflow killing or timing out the task, `docker stop`) while worker processes
    refine: the shard still refining is booked failed, the ones not started not run (no
    attempt), none stays `running` in the catalog."""
    import signal

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run = _refining(tmp_path, tagger_model, url)
    run.send_signal(signal.SIGTERM)
    assert run.wait(120) == 143, run.stderr.read()
    with Catalog(url) as catalog:
        shards = catalog.get_shards("refined")
    assert len(shards) == 6 and "running" not in {s["status"] for s in shards}
    failed = [s for s in shards if s["status"] == "failed"]
    assert any("Terminated" in s["error"] and s["attempts"] == 1 for s in failed)
    # a shard sent to a worker that never started it is pending again, not failed
    assert not [s for s in failed if s["error"].startswith("not run")], failed
    assert all(s["attempts"] == 0 for s in shards if s["status"] == "planned")


def test_a_refine_killed_outright_is_booked_failed_by_the_next_run(tmp_path, tagger_model):
    """SIGKILL (the out-of-memory killer, a lost worker) runs no handler: the killed run's
    shards stay `running`. The next run finds their process dead and books them failed, and
    the snapshot the killed run planned failed with why."""
    import signal

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run = _refining(tmp_path, tagger_model, url)
    with Catalog(url) as catalog:  # a run still refining is left alone
        assert book_dead(catalog, "refined") == 0
    run.send_signal(signal.SIGKILL)
    assert run.wait(120) == -signal.SIGKILL
    with Catalog(url) as catalog:
        # the shards sent to a worker (two a worker) are running, those not sent yet planned
        statuses = [s["status"] for s in catalog.get_shards("refined")]
        assert set(statuses) <= {"running", "planned"} and "running" in statuses
        # what the next run's plan does first (register_plan), seen before it refines again
        assert book_dead(catalog, "refined") == statuses.count("running")
        shards = [s for s in catalog.get_shards("refined") if s["status"] != "planned"]
        snapshot = catalog.get_snapshot("refined")
    assert {s["status"] for s in shards} == {"failed"} and len(shards) == statuses.count("running")
    assert all("this attempt's end was not booked" in s["error"] and f"process {run.pid} " in s["error"]
               for s in shards)
    assert snapshot["status"] == "failed" and "this attempt's end was not booked" in snapshot["error"]
    with Catalog(url) as catalog:  # booked once: a second look finds nothing running
        assert book_dead(catalog, "refined") == 0


def test_a_superseded_run_that_fails_books_nothing_over_the_run_that_replaced_it(
        tmp_path, tagger_model, capsys):
    """`prox refine` A is stopped while refining (SIGSTOP); `prox refine --force` B with
    another keep threshold refines the folder again and is gated; then A is terminated
    (SIGTERM, a real failure, not a refusal): the snapshot keeps B's verdict and B's shards
    stay done — A's failure is booked over nothing of B's."""
    import os
    import signal

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run = _refining(tmp_path, tagger_model, url)
    os.killpg(run.pid, signal.SIGSTOP)  # A and its workers
    try:
        out = str(tmp_path / "refined")
        assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", out,
                     "--model", str(tagger_model), "--target-docs", "2000", "--workers", "2",
                     "--threads", "1", "--catalog", url, "--no-progress", "--force",
                     "--keep-threshold", "0.7"]) == 0
        main(["gate", "--snapshot", out, "--catalog", url, "--name", "refined"])
        with Catalog(url) as catalog:
            verdict = catalog.get_snapshot("refined")["status"]
            done = catalog.get_shards("refined")
        assert verdict in ("gated", "quarantined")
        assert {s["status"] for s in done} == {"done"}
        os.killpg(run.pid, signal.SIGTERM)
    finally:
        os.killpg(run.pid, signal.SIGCONT)
    assert run.wait(120) != 0
    with Catalog(url) as catalog:
        snapshot = catalog.get_snapshot("refined")
        shards = catalog.get_shards("refined")
    assert (snapshot["status"], snapshot["error"]) == (verdict, None)
    assert [(s["status"], s["attempts"], s["checksum"]) for s in shards] == [
        (s["status"], s["attempts"], s["checksum"]) for s in done]
    capsys.readouterr()


@pytest.mark.parametrize("other", [[], ["--keep-threshold", "0.7"]],
                         ids=["same-settings", "other-settings"])
def test_a_superseded_run_that_ends_books_nothing_over_the_run_that_replaced_it(
        tmp_path, tagger_model, capsys, other):
    """`prox refine` A is stopped while refining (SIGSTOP); `prox refine --force` B (the same
    settings, or another keep threshold) refines the folder again and is gated; then A goes
    on (SIGCONT) to its end: its shards are refused at publish — with other settings by the
    claim, with the same ones because the folder was gated (a sampling backend would publish
    other bytes than the gate judged) — and it fails naming the gated snapshot and the way
    out. The catalog keeps what B booked: the snapshot B's gate verdict (not `refined` by
    A), each shard B's row (not A's figures, attempts or runner); no shard file is
    replaced."""
    import os
    import pathlib
    import signal

    def files(out: str) -> dict:  # each shard file as published: a republish is a new inode
        shards = sorted(pathlib.Path(out, "shards").glob("*.parquet"))
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in shards}

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run = _refining(tmp_path, tagger_model, url)
    os.killpg(run.pid, signal.SIGSTOP)  # A and its workers
    try:
        out = str(tmp_path / "refined")
        assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", out,
                     "--model", str(tagger_model), "--target-docs", "2000", "--workers", "2",
                     "--threads", "1", "--catalog", url, "--no-progress", "--force",
                     *other]) == 0
        main(["gate", "--snapshot", out, "--catalog", url, "--name", "refined"])
        with Catalog(url) as catalog:
            gated = catalog.get_snapshot("refined")
            done = catalog.get_shards("refined")
        assert gated["status"] in ("gated", "quarantined")
        assert {s["status"] for s in done} == {"done"}
        judged = files(out)
        assert len(judged) == 6
    finally:
        os.killpg(run.pid, signal.SIGCONT)
    code = run.wait(180)
    stderr = run.stderr.read()
    assert code == 1, stderr
    with Catalog(url) as catalog:
        snapshot = catalog.get_snapshot("refined")
        shards = catalog.get_shards("refined")
    assert (snapshot["status"], snapshot["error"]) == (gated["status"], None)
    assert snapshot == gated
    assert shards == done
    assert files(out) == judged
    if not other:
        assert (f"snapshot refined there was gated ({gated['status']}) meanwhile" in stderr
                and "another snapshot name" in stderr and "--force" in stderr), stderr
    capsys.readouterr()


def test_finding_dead_attempts_reads_the_running_shards_not_every_shard(tmp_path, monkeypatch):
    """Each refine task (an Airflow try, a hundred shards of a 100,000-shard snapshot) looks
    for attempts of dead runners among its shards before refining: it read every shard row
    of the snapshot to find them (100,000 rows in each of 1,024 tasks). Only the running
    ones are read now; the dead one among them is still booked failed, once. Rows are
    counted on the catalog's own query method (instrumentation, not a fault)."""
    from prox_tasks.catalog import catalog as catalog_module

    source = write_jsonl(tmp_path / "in.jsonl", short_docs(40))
    manifest = plan_shards(str(source), str(tmp_path / "out"), target_docs=1)
    with Catalog(f"sqlite:///{tmp_path}/cat.sqlite") as catalog:
        register_plan(catalog, "snap", manifest)
        dead = {"host": "worker-b.invalid", "pid": 4242, "started": 1,
                "airflow": {"dag_id": "d", "run_id": "r", "task_id": "refine_shard",
                            "map_index": 1, "try_number": 1}}
        ShardBooking(catalog, "snap", dead).start(25, False)
        rows = []
        real = catalog_module.Catalog._all

        def counted(self, sql, **params):
            found = real(self, sql, **params)
            rows.append(len(found))
            return found

        monkeypatch.setattr(catalog_module.Catalog, "_all", counted)
        retry = {**dead, "host": "worker-c.invalid",
                 "airflow": {**dead["airflow"], "try_number": 2}}
        assert ShardBooking(catalog, "snap", retry).book_dead(list(range(20, 40))) == 1
        assert ShardBooking(catalog, "snap", retry).book_dead(list(range(20, 40))) == 0
        assert max(rows) <= 1, rows  # before: every shard row (40), in each call
        assert catalog.get_shard("snap", 25)["status"] == "failed"


def test_finished_shards_are_booked_together_not_one_transaction_each(tmp_path, tagger_model):
    """Booking each finished shard took a read and three transactions of its own in the
    process handing out the shards (~5-10 ms each on SQLite: 10 minutes at 100,000 shards).
    A run's finished shards are booked in one transaction per group; a shard published and
    never booked (the run killed between groups) is booked done by the next run."""
    from sqlalchemy import event

    source = write_jsonl(tmp_path / "in.jsonl", short_docs(8))
    out = str(tmp_path / "out")
    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    register_plan(catalog, "snap", plan_shards(str(source), out, target_docs=1))
    refine_shards(out, list(range(8)), model=str(tagger_model))  # published, booked nowhere
    begun = []
    event.listen(catalog.engine, "begin", lambda conn: begun.append(1))
    results = refine_shards(out, list(range(8)), model=str(tagger_model),
                            booking=ShardBooking(catalog, "snap"))
    assert [r["status"] for r in results] == ["skipped"] * 8
    assert [s["status"] for s in catalog.get_shards("snap")] == ["done"] * 8
    assert len(begun) < 8, len(begun)  # was 4 a shard
    # a run killed between its groups: its shards published, booked running by a dead process
    import subprocess
    import sys

    from prox_tasks.refine import runner as runners

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = {**runners.current(), "pid": gone.pid, "started": 1}
    for index in (2, 5):
        ShardBooking(catalog, "snap", dead).start(index, False)
    results = refine_shards(out, list(range(8)), model=str(tagger_model),
                            booking=ShardBooking(catalog, "snap"))
    assert [r["status"] for r in results] == ["skipped"] * 8
    shards = catalog.get_shards("snap")
    assert [s["status"] for s in shards] == ["done"] * 8
    assert [s["attempts"] for s in shards] == [0, 0, 1, 0, 0, 1, 0, 0]
    catalog.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_refined_shards_are_booked_in_groups_in_one_process_and_in_workers(tmp_path,
                                                                          tagger_model, workers):
    """prox refine --workers 1 booked each refined shard's end in a transaction of its own
    (with a read before it), where the workers' path booked them in groups: 7 catalog
    transactions a shard against 4 (bench/booking.py --workers 1). Both book through the
    same FinishedShards: each group's accountings in one statement."""
    from sqlalchemy import event

    source = write_jsonl(tmp_path / "in.jsonl", short_docs(12))
    out = str(tmp_path / "out")
    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    register_plan(catalog, "snap", plan_shards(str(source), out, target_docs=1))
    groups = []

    def count_groups(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE shards SET status = 'done'"):
            groups.append(len(parameters) if executemany else 1)

    event.listen(catalog.engine, "before_cursor_execute", count_groups)
    results = refine_shards(out, list(range(12)), model=str(tagger_model), workers=workers,
                            threads=1, booking=ShardBooking(catalog, "snap"))
    assert [r["status"] for r in results] == ["refined"] * 12
    assert [(s["status"], s["attempts"]) for s in catalog.get_shards("snap")] == \
        [("done", 1)] * 12  # fmt: skip
    assert sum(groups) == 12 and len(groups) < 6, groups  # was 12 groups of one
    catalog.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_finished_shard_is_booked_before_a_long_one_ends(tmp_path, tagger_model, workers):
    """Finished shards are booked in groups: one that ended before a long shard must not
    stay `running` in the catalog until that one ends — refined by a worker while another
    worker refines the long one, or by the run's own process (--workers 1) before it. The
    catalog is watched as the real run goes: three fast shards (one document each) and a
    slow one (30,000 documents: ~3 s on an idle core, more under load, where the fast ones
    may end late too)."""
    import threading
    import time

    texts = [doc["text"] for doc in short_docs(250, lines=3, width=60)]
    lines = [line for text in texts for line in text.split("\n")]
    small = [{"id": f"small-{i}", "text": texts[i % len(texts)]} for i in range(30_000)]
    size = sum(len(json.dumps(doc)) + 1 for doc in small)
    big = [{"id": f"big-{i}", "text": "\n".join(lines[(i + j) % len(lines)]
                                                 for j in range(size // 20))[: size + 1]}
           for i in range(3)]  # fmt: skip
    assert all(len(doc["text"]) > size for doc in big)  # each a shard; the small ones one
    source = write_jsonl(tmp_path / "in.jsonl", big + small)
    out = str(tmp_path / "out")
    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    manifest = plan_shards(str(source), out, target_bytes=size + 1)
    assert [s.docs for s in manifest.shards] == [1, 1, 1, 30_000]
    register_plan(catalog, "snap", manifest)
    ended, done_at, stop = {}, {}, threading.Event()

    def watch():
        while not stop.is_set():
            for shard in catalog.get_shards("snap", status="done"):
                done_at.setdefault(shard["shard_index"], time.monotonic())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # one process refines in the order given: the fast ones first, then the slow one;
        # workers take the largest first: the slow one goes first, the others beside it
        refine_shards(out, [0, 1, 2, 3], model=str(tagger_model), workers=workers,
                      threads=1, booking=ShardBooking(catalog, "snap"),
                      collect=lambda r: ended.setdefault(r["shard"], time.monotonic()))
    finally:
        stop.set()
        watcher.join()
    assert [s["status"] for s in catalog.get_shards("snap")] == ["done"] * 4
    assert ended[3] - max(ended[i] for i in (0, 1, 2)) > 1.3, ended  # the slow one is slow
    # booked before shard 3 ended (booked with it, as before, fails that); how soon after
    # its own end is a timing (BOOKED_WITHIN, a look, a loaded CI machine's slack: 2.9 s
    # seen), not this test's to bound
    for index in (0, 1, 2):
        booked = done_at.get(index, float("inf"))  # none: not seen done while the run ran
        assert booked < ended[3], (index, ended, done_at)
    catalog.close()


def test_a_group_with_an_unbalanced_accounting_books_the_others(booked, tagger_model):
    """Finished shards are booked in groups, in one transaction that the catalog refuses
    whole when an accounting does not balance: the group's other shards stayed `running`
    until a later run repaired them. The others are booked `done` now, the unbalanced one
    `failed` with why, and the run's error names it. The writer publishes no accounting
    that does not balance, so this one is edited into a real shard's result (a damaged or
    hand-edited status record reaches the booking the same way)."""
    catalog, out = booked
    results = refine_shards(out, [0, 1], model=str(tagger_model))  # published, not booked
    results[0]["accounting"]["docs_written"] -= 1
    booking = ShardBooking(catalog, "snap")
    for index in (0, 1):
        booking.start(index, False)
    with pytest.raises(ValueError, match=r"shards \[0\] do not balance"):
        booking.finish_many(results)
    shards = catalog.get_shards("snap")
    assert [s["status"] for s in shards] == ["failed", "done"]
    assert "does not balance" in shards[0]["error"] and "--force" in shards[0]["error"]
    assert shards[1]["docs_read"] == 6 and shards[1]["attempts"] == 1


def test_a_rerun_finding_a_status_record_that_does_not_balance_books_the_others_done(
        booked, tagger_model):
    """A rerun reuses the published shards and books them from their status records; one
    record edited by hand so it no longer balances left the whole group unbooked. Now the
    others are booked `done`, that one `failed`, and the run fails naming it."""
    catalog, out = booked
    refine_shards(out, [0, 1], model=str(tagger_model))  # published, booked nowhere
    record = f"{out}/_status/shard-00001.json"
    with open(record) as f:
        status = json.load(f)
    status["docs_quarantined"] += 1
    with open(record, "w") as f:
        json.dump(status, f)
    with pytest.raises(ValueError, match=r"shards \[1\] do not balance"):
        refine_shards(out, [0, 1], model=str(tagger_model), booking=ShardBooking(catalog, "snap"))
    assert [(s["status"], s["attempts"]) for s in catalog.get_shards("snap")] == \
        [("done", 0), ("failed", 0)]  # fmt: skip


def test_a_result_added_after_a_failed_booking_is_still_booked(booked, tagger_model):
    """The booking thread books a group that raises (an accounting that does not balance);
    the run hears of it where it adds its next shard's result, and that result was dropped
    with the error: its shard stayed `running`. It waits now and is booked as the run
    ends."""
    import time

    from prox_tasks.refine.booking import BOOKED_WITHIN, FinishedShards

    catalog, out = booked
    results = refine_shards(out, [0, 1], model=str(tagger_model))  # published, not booked
    results[0]["accounting"]["docs_written"] -= 1  # the writer publishes none that does not
    booking = ShardBooking(catalog, "snap")
    for index in (0, 1):
        booking.start(index, False)
    with pytest.raises(ValueError, match=r"shards \[0\] do not balance"):
        with FinishedShards(booking) as finished:
            finished.add(results[0])
            deadline = time.monotonic() + BOOKED_WITHIN + 10
            while catalog.get_shard("snap", 0)["status"] == "running" \
                    and time.monotonic() < deadline:  # fmt: skip
                time.sleep(0.05)
            finished.add(results[1])  # raises the thread's error
    assert [s["status"] for s in catalog.get_shards("snap")] == ["failed", "done"]


def test_a_shard_ended_while_a_group_is_booked_is_booked_when_sigterm_stops_the_run(
        booked, tagger_model):
    """The booking thread held the group lock for its whole catalog transaction, so the
    run adding its next finished shard waited there: SIGTERM (Airflow stopping the task)
    arriving meanwhile dropped that shard's result, and the shard, published, stayed
    `running`. The catalog is held by another writer for real (a second connection in
    BEGIN IMMEDIATE: another task booking), so the thread's transaction waits as it would;
    the run is stopped by a real SIGTERM to this process."""
    import os
    import signal
    import sqlite3
    import threading
    import time

    from prox_tasks.refine.booking import BOOKED_WITHIN, FinishedShards
    from prox_tasks.termination import Terminated, raise_on_sigterm

    catalog, out = booked
    results = refine_shards(out, [0, 1], model=str(tagger_model))  # published, not booked
    booking = ShardBooking(catalog, "snap")
    for index in (0, 1):
        booking.start(index, False)
    other = sqlite3.connect(catalog.engine.url.database, isolation_level=None,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer: the thread's booking waits

    def stop_then_release():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)  # the run stops while the thread's transaction still waits
        other.rollback()

    # timed from the second shard's add (2 s on: an add waiting on the catalog still waits,
    # one that does not is long done), not from the first's: a SIGTERM timed from the first
    # came, on a loaded machine, before the run was back from its sleep to add the second
    # shard, which was then never added (['done', 'running'])
    stop = threading.Timer(2.0, stop_then_release)
    try:
        with pytest.raises(Terminated), raise_on_sigterm():
            with FinishedShards(booking) as finished:
                finished.add(results[0])
                time.sleep(BOOKED_WITHIN + 0.5)  # the thread is in its transaction now
                stop.start()
                finished.add(results[1])
                time.sleep(60)  # refining the next shard when SIGTERM comes
    finally:
        stop.cancel()
        if stop.is_alive():
            stop.join()
        other.close()
    assert [s["status"] for s in catalog.get_shards("snap")] == ["done", "done"]


def test_sigterm_as_a_shard_is_sent_to_a_worker_leaves_it_not_running(booked, tagger_model):
    """`prox refine --workers 2` booked a shard `running`, then handed it to the pool (a
    submit that waits while the workers start: the fork server's imports, seconds); SIGTERM
    (Airflow stopping the task, `docker stop`) between the two left that shard `running`
    for ever, in no future the stop books. A real SIGTERM is sent to this process as the
    catalog books the first shard running (an engine event times it, nothing is faked)."""
    import os
    import signal

    from sqlalchemy import event

    from prox_tasks.termination import Terminated, raise_on_sigterm

    catalog, out = booked
    sent = []

    def stop_at_first_start(conn, cursor, statement, parameters, context, executemany):
        # the first read after the first shard's running is committed: the moment after
        if statement.startswith("UPDATE shards SET status = 'running'"):
            sent.append("running")
        elif sent == ["running"] and statement.startswith("SELECT"):
            sent.append("SIGTERM")
            os.kill(os.getpid(), signal.SIGTERM)

    event.listen(catalog.engine, "after_cursor_execute", stop_at_first_start)
    with pytest.raises(Terminated), raise_on_sigterm():
        refine_shards(out, [0, 1], model=str(tagger_model), workers=2, threads=1,
                      booking=ShardBooking(catalog, "snap"))
    event.remove(catalog.engine, "after_cursor_execute", stop_at_first_start)
    shards = catalog.get_shards("snap")
    assert sent == ["running", "SIGTERM"] and "running" not in [s["status"] for s in shards], shards
    assert all(s["attempts"] == 0 for s in shards if s["status"] == "failed")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_catalog_fault_booking_a_stop_leaves_the_stop_as_the_error(tmp_path, tagger_model,
                                                                      workers):
    """SIGTERM (Airflow stopping the task, `docker stop`) while `prox refine` refines, with
    the catalog failing the stop's bookings ('database is locked' after 60 s of another
    writer; here the catalog's shards table renamed away under the run by another
    connection, a real fault of the catalog): the run ended 'prox refine: no such table:
    shards', exit 1, as if the catalog had failed the run. The stop stays the error
    (terminated, exit 143); the booking's fault is logged beside it."""
    import signal
    import sqlite3

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run = _refining(tmp_path, tagger_model, url, "--workers", workers)
    other = sqlite3.connect(tmp_path / "catalog.sqlite", isolation_level=None)
    other.execute("ALTER TABLE shards RENAME TO shards_away")
    other.close()
    run.send_signal(signal.SIGTERM)
    stderr = run.stderr.read()
    assert run.wait(120) == 143, stderr
    assert "prox refine: terminated (SIGTERM)" in stderr
    assert "no such table: shards" in stderr  # logged, not lost


def test_a_stop_come_out_of_compiled_code_is_booked_and_reported_as_the_stop(
        tmp_path, tagger_model, capsys, monkeypatch):
    """SIGTERM raised while a compiled function (the tagger's numba-compiled line features)
    called back into Python comes out of it as `SystemError: ... returned a result with an
    exception set`, raised from the stop (seen once on a loaded machine in
    test_a_catalog_fault_booking_a_stop_leaves_the_stop_as_the_error[1]): the run said
    `prox refine: SystemError`, exit 1, and booked that error. It is the stop: exit 143,
    'terminated (SIGTERM)', the attempt booked failed with it. Simulated fault (named as
    such): when the signal lands inside the dispatcher is a matter of timing, so the
    shard raises the wrapped stop that CPython raises then."""
    from prox_tasks.refine import workers
    from prox_tasks.termination import Terminated

    def stopped_inside_compiled_code(*args, **kwargs):
        try:
            raise Terminated()
        except Terminated as stop:
            raise SystemError("CPUDispatcher(<function _runs_around>) returned a result "
                              "with an exception set") from stop

    monkeypatch.setattr(workers, "refine_shard", stopped_inside_compiled_code)
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(10))
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["refine", "--input", str(source), "--output", str(tmp_path / "refined"),
                 "--model", str(tagger_model), "--target-docs", "5", "--catalog", url,
                 "--workers", "1", "--no-progress"]) == 143
    stderr = capsys.readouterr().err
    assert "prox refine: terminated (SIGTERM)" in stderr and "SystemError" not in stderr
    with Catalog(url) as catalog:
        first = catalog.get_shards("refined")[0]
    assert first["status"] == "failed" and "Terminated" in (first["error"] or ""), first


def _shards_booked_as_written(url: str, out) -> list[str]:
    """Each shard of snapshot ``refined`` whose catalog row disagrees with the output folder:
    a shard with a status record (published) must be booked `done`, one without must not
    (`failed`, or `planned` when never sent; no row when stopped before its plan was
    booked), and none `running`."""
    from prox_tasks.corpus import load_manifest
    from prox_tasks.corpus.writer import read_statuses

    manifest = load_manifest(str(out))
    with Catalog(url) as catalog:
        booked = {s["shard_index"]: s for s in catalog.get_shards("refined")}
    wrong = []
    for index, record in read_statuses(str(out), range(len(manifest.shards)), manifest.id):
        status = booked.get(index, {"status": None, "error": "no row"})["status"]
        if (record is not None) != (status == "done") or status == "running":
            wrong.append(f"shard {index}: {'published' if record else 'not published'}, "
                         f"booked {status} ({booked.get(index, {}).get('error')})")
    return wrong


def _refined_ids(out) -> list[str]:
    """The document ids in snapshot ``out``'s published shards, sorted (a document kept
    twice is there twice)."""
    from prox_tasks.corpus.refined import read_refined_rows

    return sorted(row["id"] for row in read_refined_rows(str(out)))


def _published(out) -> int:
    return len(list((out / "_status").glob("*"))) if (out / "_status").is_dir() else 0


@pytest.mark.parametrize("moment", ["planned", "mid-run", "near-the-end"])
def test_sigterm_to_the_parent_stops_its_workers_and_books_what_they_published(
        tmp_path, tagger_model, moment):
    """`docker stop` of a container whose PID 1 is `prox refine --workers 2`, or `kill PID`,
    signals the parent process only (Airflow signals the whole process group). The parent
    waited for the shards in flight in its workers: they ran to their end and published,
    but stayed booked `failed` by the stop until a later run. The parent now stops its
    workers too (a flag each reads between batches), and each shard is booked as the
    output folder has it: published `done`, not published `failed` (or `planned`, never
    sent), none `running`, no temporary file left. A real SIGTERM to the parent alone: as
    its plan is written (its workers still starting), mid-run, and near the end; 60 shards
    of 10 batches each (so a stop finds shards mid-way)."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    source = tmp_path / "in.jsonl"
    pages = short_docs(300)  # read once, not once per copy
    write_jsonl(source, [{"id": f"{d['id']}-{copy}", "text": d["text"]}
                         for copy in range(40) for d in pages])
    out = tmp_path / "refined"
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # every process of the run (workers too) dumps its threads' stacks on SIGABRT: a run
    # that does not end shows where it waits
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONFAULTHANDLER": "1"}
    command = [sys.executable, "-m", "prox_tasks.cli", "refine", "--input", str(source),
               "--output", str(out), "--model", str(tagger_model), "--target-docs", "200",
               "--checkpoint-every", "20", "--workers", "2", "--threads", "1", "--catalog",
               url, "--no-progress"]
    run = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.PIPE,
                           text=True)
    # stderr read as it comes: a run whose stderr pipe fills up waits for ever
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(run.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180

        def wait_for(ready) -> None:
            while time.monotonic() < deadline and run.poll() is None and not ready():
                time.sleep(0.01)
            assert run.poll() is None, f"the refine ended before the SIGTERM ({moment}): " \
                                       f"{''.join(stderr)[-2000:]}"

        wait_for(lambda: (out / "manifest.json").exists())
        if moment != "planned":
            wait_for(lambda: _published(out) >= (1 if moment == "mid-run" else 48))
        run.send_signal(signal.SIGTERM)  # the parent alone, as docker stop
        stopped = time.monotonic()
        try:
            code = run.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGABRT)  # each process's stacks to stderr
            run.wait(30)
            reader.join(10)
            pytest.fail(f"still running 90 s after its SIGTERM: {''.join(stderr)[-20000:]}")
        reader.join(10)
        assert code == 143, "".join(stderr)[-2000:]
        assert "terminated (SIGTERM)" in "".join(stderr)
        took = time.monotonic() - stopped
        print(f"SIGTERM ({moment}) to exit: {took:.2f} s")
        assert took < 60  # STOP_GRACE_S and a margin, never longer
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(30)
    assert _shards_booked_as_written(url, out) == []
    leftovers = [p.name for p in out.rglob("*") if ".tmp-" in p.name]
    assert leftovers == [], leftovers  # no temporary file of a stopped shard
    if moment != "near-the-end":  # a rerun of most of the corpus: seconds, not minutes
        return
    # the rerun refines what the stop left (shards abandoned at a batch, with their
    # checkpoints): every document once, every shard done
    rerun = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with Catalog(url) as catalog:
        assert {s["status"] for s in catalog.get_shards("refined")} == {"done"}
    assert _refined_ids(out) == sorted(f"{d['id']}-{copy}" for copy in range(40)
                                       for d in pages)


def test_a_shard_a_worker_raised_on_before_starting_another_is_not_booked_not_run(booked):
    """Interrupted (Ctrl-C) while a shard's failure was not yet collected: its worker had
    gone on to the next shard, so the shard it raised on was no longer the one its slot
    said it started (HeldShards keeps the last), and the stop booked it 'not run' — planned
    again, its attempt taken back, its failure gone from the catalog. A shard a worker
    raised on ran: it is booked as a stopped attempt (failed, unless published); one lost
    with a worker that never started it is still not run. Real futures as a process pool
    leaves them, a real catalog."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from prox_tasks.refine.workers import _book_interrupted

    catalog, _out = booked
    booking = ShardBooking(catalog, "snap")
    raised_on, lost = Future(), Future()
    raised_on.set_exception(ValueError("shard 0: a record the program cannot read"))
    lost.set_exception(BrokenProcessPool("a process in the pool was terminated abruptly"))
    for index in (0, 1):
        booking.start(index, False)
    # the worker that raised on shard 0 then started shard 2 (not among these)
    _book_interrupted(booking, {raised_on: 0, lost: 1}, KeyboardInterrupt(), {2})
    ran, never = catalog.get_shard("snap", 0), catalog.get_shard("snap", 1)
    assert (ran["status"], ran["attempts"]) == ("failed", 1), ran
    assert (never["status"], never["attempts"]) == ("planned", 0), never


def test_a_catalog_gone_while_a_failed_run_books_its_end_is_one_line_not_a_traceback(caplog):
    """PostgreSQL stopped while `prox refine` ran: the run failed, and booking its end
    (snapshot failed, twice) logged each fault with log.exception — 477 lines of tracebacks
    on stderr above the one line the run ends with. A real refused connection (a port where
    nothing listens); the traceback stays for `-v` (INFO) and an Airflow task's log."""
    import logging

    from prox_tasks.refine.booking import book_failed, book_unplanned
    from tests.ports import refused_port

    catalog = Catalog(f"postgresql+psycopg2://prox@127.0.0.1:{refused_port()}/catalog",
                      auto_migrate=False)
    try:
        with caplog.at_level(logging.WARNING, logger="prox_tasks.refine.booking"):
            book_failed(catalog, "snap", RuntimeError("shard 2 failed"))
            book_unplanned(catalog, "snap", "in", "out", RuntimeError("shard 2 failed"))
        assert [r.getMessage().startswith("could not book snapshot snap failed: "
                                          "OperationalError: ") for r in caplog.records] == [
            True, True]
        assert all("\n" not in r.getMessage() and "Connection refused" in r.getMessage()
                   and r.exc_info is None for r in caplog.records)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="prox_tasks.refine.booking"):
            book_failed(catalog, "snap", RuntimeError("shard 2 failed"))
        assert caplog.records[0].exc_info is not None  # -v: the traceback too
    finally:
        catalog.close()


def test_a_catalog_gone_while_a_planned_run_fails_is_logged_once_not_twice(caplog):
    """PostgreSQL stopped while `prox refine` ran: the run's end was booked failed
    (book_failed, its plan booked), then `prox refine` tried book_unplanned too, which could
    not read that the plan was there: 'could not book snapshot … failed' twice for one
    failure. book_unplanned now books nothing of a run whose end book_failed booked; a run
    that fails before its plan (only book_unplanned) still says it once. A real refused
    connection (a port where nothing listens)."""
    import logging

    from prox_tasks.refine.booking import book_failed, book_unplanned
    from tests.ports import refused_port

    catalog = Catalog(f"postgresql+psycopg2://prox@127.0.0.1:{refused_port()}/catalog",
                      auto_migrate=False)
    try:
        with caplog.at_level(logging.WARNING, logger="prox_tasks.refine.booking"):
            planned_then_failed = RuntimeError("shard 2 failed")
            book_failed(catalog, "snap", planned_then_failed)  # refine_corpus, plan booked
            assert not book_unplanned(catalog, "snap", "in", "out", planned_then_failed)
            assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
            caplog.clear()
            # failed while planning: book_unplanned's attempt is the only one, and is said
            book_unplanned(catalog, "snap", "in", "out", FileNotFoundError("no input files"))
        assert [r.getMessage().startswith("could not book snapshot snap failed: ")
                for r in caplog.records] == [True]
    finally:
        catalog.close()


def test_a_run_whose_end_was_booked_failed_books_nothing_more_when_the_catalog_works(booked):
    """With the catalog up, book_unplanned after book_failed (the same error) still books
    nothing over the snapshot's failed row; a new snapshot that failed while planning is
    still booked failed."""
    from prox_tasks.refine.booking import book_failed, book_unplanned

    catalog, _out = booked
    error = RuntimeError("shard 2 failed")
    book_failed(catalog, "snap", error)
    assert not book_unplanned(catalog, "snap", "in", "out", error)
    assert catalog.get_snapshot("snap")["status"] == "failed"
    assert book_unplanned(catalog, "new", "in", "out", FileNotFoundError("no input files"))
    assert catalog.get_snapshot("new")["status"] == "failed"
