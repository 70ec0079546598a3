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
    assert main(["refine", "--json", "--input", str(corpus), "--output", str(tmp_path / "bad"),
                 "--model", str(tagger_model), "--workers", "0", "--no-progress"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err


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
