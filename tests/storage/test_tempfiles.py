"""Stale temporary files: those of dead processes on this host go, the others stay."""

import os
import subprocess
import sys

from prox_tasks.storage.tempfiles import sweep_stale, temp_tag


def test_only_files_of_dead_processes_on_this_host_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = temp_tag().split(".")[0]
    names = {
        "dead": f".a.parquet.tmp-{host}.{dead.stdout.strip()}.x1",
        "alive": f".b.parquet.tmp-{temp_tag()}x2",
        "other_host": f".c.parquet.tmp-elsewhere.{dead.stdout.strip()}.x3",
        "untagged": ".d.parquet.tmp-abc123",
        "data": "shard-00000.parquet",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    assert sweep_stale(str(tmp_path), ".", ".tmp-") == 1
    assert sorted(os.listdir(tmp_path)) == sorted(v for k, v in names.items() if k != "dead")
    (tmp_path / names["dead"]).write_bytes(b"x")
    assert sweep_stale(str(tmp_path), ".", ".tmp-") == 0  # once per folder and process
    assert sweep_stale(str(tmp_path), ".", ".tmp-", once=False) == 1


def test_a_long_host_name_is_not_taken_for_another_that_shares_its_first_40_characters(
    tmp_path, monkeypatch
):
    # Simulated hosts (named as such: one machine cannot be two): nodes of one Kubernetes
    # pool share a work folder and differ only past the 40th character of their names.
    from prox_tasks.storage import tempfiles

    pool = "gke-prox-refine-prod-default-pool-8f3a1b2c-"
    here, there = tempfiles.host_tag(pool + "xk2l"), tempfiles.host_tag(pool + "ab12")
    assert here != there and len(here) <= 40 and tempfiles._TAG.fullmatch(here + ".1.")
    assert tempfiles.host_tag("short-host.example") == "short-host-example"  # as before
    monkeypatch.setattr(tempfiles, "_HOST", here)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    other = tmp_path / f"features-{there}.{dead}.abc"  # a live run's, on the other node
    other.mkdir()
    (other / "spill.npy").write_bytes(b"x")
    assert sweep_stale(str(tmp_path), "features-", once=False) == 0
    assert (other / "spill.npy").exists()
