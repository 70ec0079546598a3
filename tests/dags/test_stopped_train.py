"""The train task stopped by Airflow (marked failed or cleared, its worker shutting down):
its supervisor sends SIGTERM, then SIGKILL 5 s later, and Airflow's own SIGTERM handler only
calls ``on_kill`` and lets the task run on. The task's body runs here in a process of its
own with a stand-in for that handler (a handler that returns: what Airflow's does to a task
without ``on_kill``), and gets a real SIGTERM mid-training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set

pytestmark = pytest.mark.slow

#: The task process: Airflow's SIGTERM handler (stand-in: it returns, as Airflow's does
#: after on_kill), then the train task's body.
TASK = ("import json, signal, sys\n"
        "signal.signal(signal.SIGTERM, lambda signum, frame: print('on_kill', flush=True))\n"
        "from prox_tasks.pipeline import training\n"
        "training.train(*json.load(open(sys.argv[1])))\n"
        "print('trained', flush=True)\n")


def test_a_train_task_sent_sigterm_stops_at_once_and_a_clear_trains_on(tmp_path, monkeypatch,
                                                                        caplog):
    """The train task ran on after SIGTERM (to the end of its epochs, here; under Airflow
    until the SIGKILL 5 s later, wherever that found it: mid-checkpoint, mid-publish). It
    now stops where the SIGTERM finds it, raising Terminated, publishes nothing, and the
    cleared task trains on from its last epoch checkpoint and publishes its model."""
    from prox_tasks.pipeline import training

    seed_dir = write_seed_set(tmp_path / "seed", make_docs(400, 1), make_docs(12, 2))
    work = tmp_path / "tmp"  # the training's work folder (checkpoints) lives under TMPDIR
    work.mkdir()
    seed = {"uri": str(seed_dir), "registry": str(tmp_path / "registry"),
            "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}
    params = {"epochs": 40, "random_seed": 7, "gold_gate": False, "threads": 1}
    (tmp_path / "task.json").write_text(json.dumps([seed, params]))
    task = subprocess.Popen([sys.executable, "-c", TASK, str(tmp_path / "task.json")],
                            env={**os.environ, "TMPDIR": str(work)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any(work.glob("prox-train/*/tagger_checkpoint.pt")):
        assert task.poll() is None and time.monotonic() < deadline, task.communicate()[0]
        time.sleep(0.05)
    task.send_signal(signal.SIGTERM)
    logged = task.communicate(timeout=300)[0]  # unstopped: the rest of its 40 epochs
    assert task.returncode != 0 and "Airflow stopped this train task" in logged, logged
    assert "trained" not in logged
    assert "on_kill" in logged  # Airflow's handler still ran first
    published = [p for p in (tmp_path / "registry").rglob("*") if p.is_file()]
    assert published == []  # no model, no part of one

    monkeypatch.setattr(tempfile, "tempdir", str(work))  # the same work folder: cleared
    out = training.train(seed, params)
    assert out["version"] and "starting over" not in caplog.text  # resumed its checkpoint
    # published: its checkpoints, kept for that resume, are removed
    assert list(work.glob("prox-train/*")) == []
