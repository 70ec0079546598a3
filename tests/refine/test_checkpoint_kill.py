"""``prox refine`` killed with SIGKILL (real processes) on texts holding the characters
``str.splitlines`` splits on: every resumed run reuses every checkpoint it finds, re-refines
nothing, and publishes the uninterrupted run's bytes."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prox_tasks.refine.checkpoint import CHECKPOINT_DIR, CheckpointStore

ROOT = Path(__file__).resolve().parents[2]
SEPARATORS = ["\u2028", "\u2029", "\u0085", "\x0c", "\x1c", "\r"]


def _corpus(path: Path, n: int) -> None:
    with gzip.open(ROOT / "data" / "sample" / "sample.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    for i, row in enumerate(rows):  # a line or paragraph separator inside most texts
        sep = SEPARATORS[i % len(SEPARATORS)]
        row["text"] = row["text"].replace(". ", "." + sep, 3) + sep + "end"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


#: ``prox refine`` (``main()``, as ``python -m prox_tasks.cli`` runs it) whose checkpoint save
#: waits, once the shard has ``argv[1]`` parts, for the test's kill: the kill must land before
#: the run ends, and a poller late by a second (a loaded machine) saw the last ~20 parts and
#: the end go by. Up to that cap the run goes at its own pace, so the kill still lands
#: wherever the run is when the poller sees enough parts (in a batch, inside a save).
HELD_AT_A_CAP = """
import sys, time
from prox_tasks.cli import main
from prox_tasks.refine.checkpoint import CheckpointStore

cap = int(sys.argv.pop(1))
save = CheckpointStore.save

def save_then_wait_at_the_cap(self, *args, **kwargs):
    save(self, *args, **kwargs)
    if len(self._parts()) >= cap:
        time.sleep(600)  # the test's SIGKILL ends it

CheckpointStore.save = save_then_wait_at_the_cap
sys.exit(main())
"""


def _refine(source: Path, out: Path, held_at: int | None = None) -> subprocess.Popen:
    """``prox refine`` of ``source``; with ``held_at``, held once it has saved that many parts."""
    start = [sys.executable, "-m", "prox_tasks.cli"]
    if held_at is not None:
        start = [sys.executable, "-c", HELD_AT_A_CAP, str(held_at)]
    command = [*start, "refine", "--input", str(source),
               "--output", str(out), "--model", "default", "--checkpoint-every", "2",
               "--json"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)


def _kill_after(proc: subprocess.Popen, parts: Path, at_least: int) -> int:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(parts.glob("part-*.jsonl.zst"))) >= at_least:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "prox refine finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return len(list(parts.glob("part-*.jsonl.zst")))


@pytest.mark.slow  # four real prox processes loading the tagger (~40 s on 2 cores)
def test_killed_refines_resume_without_refining_anything_twice(tmp_path):
    source = tmp_path / "in.jsonl"
    _corpus(source, 60)
    reference, out = tmp_path / "reference", tmp_path / "out"
    done = _refine(source, reference)
    assert done.wait(timeout=300) == 0, done.stderr.read()
    parts = out / CHECKPOINT_DIR / "shard-00000"
    saved_total = 0
    for at_least in (3, 3 + 6):  # killed twice, each time after more parts exist
        saved = _kill_after(_refine(source, out, held_at=at_least + 3), parts, at_least)
        assert saved >= at_least
        # every part reads back whole: a separator inside a text never splits a record
        store = CheckpointStore(str(out), 0, {})
        for uri in store._parts():
            header, rows = store._read(uri)
            assert header is not None and len(rows) == header["docs"] == 2
        saved_total = saved
    resumed = _refine(source, out)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    stats = json.loads(stdout)["results"][0]["stats"]
    assert stats["docs_resumed"] == 2 * saved_total  # every saved part reused
    assert stats["usage"]["doc"]["requests"] == 60  # and the rest refined once
    for sub in ("shards/shard-00000.parquet", "quarantine/shard-00000.jsonl.gz"):
        assert (out / sub).read_bytes() == (reference / sub).read_bytes()
    assert not parts.exists()  # checkpoints cleared once published


@pytest.mark.slow  # two real prox processes loading the tagger
def test_sigterm_cleans_up_like_ctrl_c_and_books_the_attempt_failed(tmp_path):
    """SIGTERM is how Airflow kills or times out a task (and Kubernetes, docker stop)."""
    from prox_tasks.catalog import Catalog

    source, out = tmp_path / "in.jsonl", tmp_path / "out"
    _corpus(source, 60)
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    command = [sys.executable, "-m", "prox_tasks.cli", "refine", "--input", str(source),
               "--output", str(out), "--model", "default", "--checkpoint-every", "2",
               "--catalog", catalog, "--name", "crawl"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    parts = out / CHECKPOINT_DIR / "shard-00000"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not list(parts.glob("part-*")):
        time.sleep(0.005)
    assert proc.poll() is None, "prox refine finished before it could be terminated"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith(
        "prox refine: terminated (SIGTERM): the same prox refine command finishes the run"
    ), stderr[-3000:]
    assert not [p.name for p in out.rglob("*") if ".tmp-" in p.name]  # its temporary files
    with Catalog(catalog) as booked:
        assert [s["status"] for s in booked.get_shards("crawl")] == ["failed"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Catalog(catalog) as booked:
        assert [s["status"] for s in booked.get_shards("crawl")] == ["done"]
