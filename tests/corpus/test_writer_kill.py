"""A shard writer killed mid-way (a real process, SIGKILL) and re-run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prox_tasks.corpus import plan_shards, read_refined_rows, read_status
from tests.corpus.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("shard_worker.py")


def _run(out: str, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), out, "0", str(delay)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_killed_writer_then_rerun_gives_the_uninterrupted_output(tmp_path, sample_rows):
    rows = [*sample_rows[:10], {"id": "bad", "text": ""}, *sample_rows[10:]]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    clean, killed = str(tmp_path / "clean"), str(tmp_path / "killed")
    for out in (clean, killed):
        plan_shards(inp, out, target_docs=100)
    _finish(_run(clean))

    victim = _run(killed, delay=0.1)
    shards = Path(killed) / "shards"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until row groups reach the temp file
        temps = [p for p in shards.glob(".shard-00000.parquet.tmp-*")] if shards.exists() else []
        if temps and temps[0].stat().st_size > 0:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the writer never started writing")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    assert not (shards / "shard-00000.parquet").exists()  # nothing half-written is visible
    assert read_status(killed, 0) is None and list(read_refined_rows(killed)) == []

    _finish(_run(killed))
    for sub in ("shards/shard-00000.parquet", "quarantine/shard-00000.jsonl.gz"):
        assert (Path(killed) / sub).read_bytes() == (Path(clean) / sub).read_bytes()
    assert sorted(p.name for p in shards.iterdir()) == ["shard-00000.parquet"]  # temp gone
    status = read_status(killed, 0)
    assert status["sha256"] == read_status(clean, 0)["sha256"]
    assert (status["docs_read"], status["docs_written"], status["docs_quarantined"]) == (41, 40, 1)
    refined = list(read_refined_rows(killed))
    assert len({(r["source"], r["offset"]) for r in refined}) == len(refined) == 40
