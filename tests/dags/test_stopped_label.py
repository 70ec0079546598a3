"""The seed DAG's label_shard task stopped by Airflow (marked failed or cleared, its worker
shutting down): its supervisor sends SIGTERM, then SIGKILL 5 s later, and Airflow's own
SIGTERM handler only calls ``on_kill`` and lets the task run on. The task's body runs here
in a process of its own with a stand-in for that handler (a handler that returns: what
Airflow's does to a task without ``on_kill``), and gets a real SIGTERM mid-shard."""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"

#: The task process: Airflow's SIGTERM handler (stand-in: it returns, as Airflow's does
#: after on_kill), then the label_shard task's body.
TASK = ("import json, signal, sys\n"
        "signal.signal(signal.SIGTERM, lambda signum, frame: print('on_kill', flush=True))\n"
        "from prox_tasks.pipeline import seeding\n"
        "seeding.label_shard(json.load(open(sys.argv[1])), 0)\n"
        "print('label task finished', flush=True)\n")


def snapshot_of(path: Path, copies: int) -> Path:
    """The bundled sample ``copies`` times over, each copy's ids made its own: a shard the
    rules teacher takes many seconds to label (about 10 ms a page)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        rows = [json.loads(line) for line in src]
    with open(path, "w", encoding="utf-8") as out:
        for copy in range(copies):
            for row in rows:
                out.write(json.dumps({**row, "id": f"{row['id']}-{copy}"}) + "\n")
    return path


def part_rows(labels: Path) -> dict[str, list]:
    """The rows of each file of the part (gzip's header aside; the done record without its
    publish token, which is each publish's own)."""
    from prox_tasks.labeling.run_claim import without_token

    read = {".gz": lambda p: gzip.open(p, "rt").read(), ".jsonl": Path.read_text,
            ".json": lambda p: json.dumps(without_token(json.loads(p.read_text())))}
    return {p.name: read[p.suffix](p).splitlines() for p in sorted(labels.iterdir())
            if p.is_file()}  # not the (emptied) checkpoints' folder


def _written(folder: Path) -> list[Path]:
    """The checkpoints written whole in ``folder`` (not the temporary file of one being written)."""
    return [p for p in folder.iterdir() if p.name.startswith("part-")]


def test_a_label_task_sent_sigterm_stops_at_once_and_a_clear_labels_the_same_part(tmp_path):
    """The label_shard task ran on after SIGTERM (under Airflow until the SIGKILL 5 s later,
    paying the teacher meanwhile). It now stops where the SIGTERM finds it, raising
    Terminated: no temporary file and no part left behind (only the batches it labeled,
    checkpointed), and the cleared task writes the part an unstopped task writes."""
    from prox_tasks.pipeline import seeding

    snapshot = snapshot_of(tmp_path / "snapshot.jsonl", 8)
    root = tmp_path / "seeds"
    plan = seeding.sample({"input_uri": str(snapshot), "seed_root": str(root),
                           "seed_set_name": "s1", "teacher": "rules", "sample_size": 2000,
                           "label_shard_docs": 2000, "random_seed": 0,
                           "catalog_url": f"sqlite:///{root / 'catalog.sqlite'}"}, None)
    assert plan["shards"] == [0]
    labels = Path(plan["root"].removeprefix("file://")) / "labels"
    seeding.label_shard(plan, 0)  # unstopped
    unstopped = part_rows(labels)
    shutil.rmtree(labels)

    (tmp_path / "plan.json").write_text(json.dumps(plan))
    task = subprocess.Popen([sys.executable, "-c", TASK, str(tmp_path / "plan.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    checkpoints = labels / "_checkpoints" / "shard-00000"
    # a batch's checkpoint written whole: the temporary file put_atomic writes beside it
    # does not count, or a SIGTERM while it is written leaves none (KeyError 'resumed' seen)
    while not (checkpoints.is_dir() and _written(checkpoints)):
        assert task.poll() is None and time.monotonic() < deadline, task.communicate()[0]
        time.sleep(0.05)  # a batch labeled and checkpointed: the labeling is under way
    task.send_signal(signal.SIGTERM)
    logged = task.communicate(timeout=300)[0]  # unstopped: the rest of the shard
    assert task.returncode != 0 and "Airflow stopped this labeling task" in logged, logged
    assert "clear the task to resume it" in logged and "label task finished" not in logged
    assert "on_kill" in logged  # Airflow's handler still ran first
    # no temporary file, no half part: only the batches labeled, kept for the clear
    assert [p.name for p in labels.iterdir()] == ["_checkpoints"]
    kept = _written(checkpoints)

    cleared = seeding.label_shard(plan, 0)
    assert not cleared["reused"] and cleared["read"] == 2000
    assert cleared["resumed"] == 64 * len(kept)  # the batches labeled before the SIGTERM
    assert part_rows(labels) == unstopped
