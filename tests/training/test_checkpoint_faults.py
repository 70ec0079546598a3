"""A training's checkpoint under real faults: a full disk (a real tmpfs) and a trainer killed
with SIGKILL inside the checkpoint write. Either way no partial checkpoint is left in the
work folder, the error says where the disk is full, and the same command then finishes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from prox_tasks.cli import main
from tests.conftest import kill_when_ready, resize_tmpfs
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    return write_seed_set(tmp_path_factory.mktemp("seed"), make_docs(20, 1), make_docs(6, 2))


def _args(seed_dir, registry, work) -> list[str]:
    return ["train", "--seed", str(seed_dir), "--output", str(registry), "--work-dir", str(work),
            "--epochs", "2", "--no-gold-gate", "--no-promote", "--threads", "1"]  # fmt: skip


@pytest.fixture
def tmpfs(real_tmpfs):
    """6 MiB: the tagger's checkpoint, with its optimizer state, is ~22 MB; the scratch
    features of a small seed set fit."""
    return real_tmpfs("6m")


def _left(work: Path) -> list[str]:
    return sorted(p.name for p in work.iterdir()) if work.exists() else []


def test_a_full_disk_under_the_checkpoint_says_so_and_leaves_no_partial(
        seed_dir, tmp_path, tmpfs, capsys):  # fmt: skip
    """Before: ``prox train: RuntimeError: [enforce fail at inline_container.cc:672] .
    unexpected pos 10176 vs 10070`` (torch's word for a failed write) and a partial
    ``tagger_checkpoint.pt.<pid>.tmp`` left in the work folder, on the full disk, by every
    try."""
    work, registry = tmpfs / "work", tmp_path / "registry"
    assert main(_args(seed_dir, registry, work)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"prox train: disk full writing {work}/.tagger_checkpoint.pt.tmp-"), err
    assert _left(work) == []  # no partial checkpoint (the features' scratch folder gone too)
    resize_tmpfs(tmpfs, "64m")
    assert main(_args(seed_dir, registry, work)) == 0  # the same command, once there is room
    assert _left(work) == ["artifact", "tagger_checkpoint.pt"]


def test_a_trainer_killed_inside_the_checkpoint_write_leaves_nothing_the_rerun_keeps(
        seed_dir, tmp_path):  # fmt: skip
    """The trainer is stopped at one exact moment, half its checkpoint written (a named
    fault injection: ``torch.save`` writes half and waits), and killed with a real SIGKILL.
    Before: its ``tagger_checkpoint.pt.<pid>.tmp`` (the model's size) stayed in the work
    folder for good, one more after each kill; now the rerun's own write sweeps it."""
    work, registry = tmp_path / "work", tmp_path / "registry"
    code = ("import io, os, sys, time, torch\n"
            "real = torch.save\n"
            "def half_then_wait(obj, f, *a, **k):  # fault injection: stop inside the write\n"
            "    buf = io.BytesIO(); real(obj, buf); data = buf.getvalue()\n"
            "    out = open(f, 'wb') if isinstance(f, (str, os.PathLike)) else f\n"
            "    out.write(data[: len(data) // 2]); out.flush()\n"
            "    print('ready', flush=True); time.sleep(60)\n"
            "torch.save = half_then_wait\n"
            "from prox_tasks.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")  # fmt: skip
    pid = kill_when_ready(code, *_args(seed_dir, registry, work))
    partial = [n for n in _left(work) if "tmp" in n]
    assert len(partial) == 1 and f"{pid}" in partial[0], _left(work)
    assert main(_args(seed_dir, registry, work)) == 0
    assert _left(work) == ["artifact", "tagger_checkpoint.pt"]


def test_a_full_disk_under_the_features_scratch_file_names_it(seed_dir, tmp_path, tmpfs, capsys):
    """Before: ``prox train: disk full (No space left on device)``, no file named (a plain
    file's write raises an error without one)."""
    resize_tmpfs(tmpfs, "16k")
    work = tmpfs / "work"
    assert main(_args(seed_dir, tmp_path / "registry", work)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"prox train: disk full writing {work}/"), err
    assert err.split(" (No space")[0].endswith("/features.bin"), err
    assert _left(work) == []  # the scratch folder went with the failed run


def test_a_full_disk_under_the_work_folders_lock_names_it(seed_dir, tmp_path, tmpfs, capsys):
    """Before: ``prox train: disk full (No space left on device)``: the lock file's note of
    who holds it was written with ``os.write``, which names no file."""
    free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
    subprocess.run(["fallocate", "-l", str(free), str(tmpfs / "filler")], check=True)
    work = tmpfs / "work"
    assert main(_args(seed_dir, tmp_path / "registry", work)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"prox train: disk full writing {tmpfs}/.work.lock "), err
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]  # the lock file went too


def test_an_older_prox_s_checkpoint_temp_is_swept_by_the_next_save(tmp_path):
    """Before checkpoints went through the storage layer (e64ee10) the tagger saved through
    ``tagger_checkpoint.pt.<pid>.tmp`` and the sft trainer through ``checkpoint.pt.tmp``:
    no host, never swept, a partial of up to the model's size left by every killed try. The
    next save of that checkpoint removes one untouched for a day; a fresh one (an older prox
    still training there) and other files stay."""
    import time

    from prox_tasks.storage.tempfiles import LEGACY_GRACE_SECONDS
    from prox_tasks.training.checkpoints import save_checkpoint

    old = tmp_path / "tagger_checkpoint.pt.4242.tmp"
    fresh = tmp_path / "tagger_checkpoint.pt.4343.tmp"
    other = tmp_path / "notes.pt.4242.tmp"  # not this checkpoint's
    for path in (old, fresh, other):
        path.write_bytes(b"partial")
    then = time.time() - LEGACY_GRACE_SECONDS - 60
    for path in (old, other):
        os.utime(path, (then, then))
    save_checkpoint({"epoch": 1}, tmp_path / "tagger_checkpoint.pt")
    assert not old.exists() and fresh.exists() and other.exists()
    sft_old = tmp_path / "checkpoint.pt.tmp"
    sft_old.write_bytes(b"partial")
    os.utime(sft_old, (then, then))
    save_checkpoint({"step": 1}, tmp_path / "checkpoint.pt")
    assert not sft_old.exists()
