"""One labeling run per seed-set folder: a second ``prox label --seed-set`` beside a running
one is refused before it samples or labels anything (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from prox_tasks.cli import main
from prox_tasks.labeling.run_claim import CLAIM_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLD = """
import sys, time
from prox_tasks.labeling.run_claim import labeling_claim
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
