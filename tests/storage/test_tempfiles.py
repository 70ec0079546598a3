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


def test_a_dead_process_s_folder_this_user_cannot_remove_is_left_not_raised(tmp_path):
    """A gate's scratch folder in the shared temp folder (``/tmp/prox-gate-<host>.<pid>.…``)
    left by a killed gate of another user, 0700 and not this user's to remove: the sweep
    that every gate runs first raised PermissionError out of it, so the gate failed for a
    folder it only meant to tidy. The sweep leaves what it cannot remove and goes on.
    The folder is made undeletable for real: read-only for a user, immutable for root."""
    import pytest

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    host = temp_tag().split(".")[0]
    theirs = tmp_path / f"prox-gate-{host}.{dead}.abc"
    mine = tmp_path / f"prox-gate-{host}.{dead}.def"
    for folder in (theirs, mine):
        (folder / "docs").mkdir(parents=True)
        (folder / "docs" / "index.html").write_text("x")
    locked = theirs / "docs"
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode:
            pytest.skip("no chattr +i here: a folder root cannot remove cannot be made")
        unlock = ["chattr", "-i", str(locked)]
    else:
        locked.chmod(0o500)
        unlock = ["chmod", "700", str(locked)]
    try:
        assert sweep_stale(str(tmp_path), "prox-gate-") == 1
        assert (locked / "index.html").exists() and not mine.exists()
    finally:
        subprocess.run(unlock, check=True)


def test_an_older_prox_s_temporaries_are_swept_once_a_day_untouched(tmp_path):
    """Temporaries older prox versions named without host or pid (``.tmp-XXXXXXXX.json``, a
    download's ``.<key>-XXXXXXXX``) were never swept. A caller names them (``legacy``, a
    pattern that in its folder is prox's alone); one untouched for LEGACY_GRACE_SECONDS goes,
    a folder counting the newest file in it (a download writing a large file); one touched
    lately (an old writer may still run), and names the pattern does not match, stay."""
    import time

    from prox_tasks.storage.tempfiles import LEGACY_GRACE_SECONDS

    old = time.time() - LEGACY_GRACE_SECONDS - 60
    names = {"old": ".tmp-ab12cd34.json", "fresh": ".tmp-zz99yy88.json",
             "other": ".tmp-notes.json", "entry": "ab" + "0" * 62 + ".json"}
    for name in names.values():
        (tmp_path / name).write_text("{}")
    for key in ("old", "other", "entry"):
        os.utime(tmp_path / names[key], (old, old))
    stopped, writing = tmp_path / ".stopped-ab12cd34", tmp_path / ".writing-ab12cd34"
    for folder in (stopped, writing):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "weights.bin").write_bytes(b"x")
        for path in (folder / "sub" / "weights.bin", folder / "sub", folder):
            os.utime(path, (old, old))
    os.utime(writing / "sub" / "weights.bin")  # being written now: its folder is not stale
    legacy = r"\.tmp-[a-z0-9_]{8}\.json|\.[a-z]+-[a-z0-9_]{8}"
    assert sweep_stale(str(tmp_path), ".", ".tmp-", legacy=legacy) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(
        [names["fresh"], names["other"], names["entry"], writing.name])


def _dead_pid() -> str:
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def test_a_socket_folder_of_a_process_gone_is_removed_by_the_next(short_tmp, monkeypatch):
    """A process killed (no clean-up ran) or ended by ``os._exit`` (an Airflow task's) left
    its socket folder; the next socket folder made on the host removes it, and only a dead
    process's."""
    from prox_tasks.storage.tempfiles import socket_dir

    monkeypatch.setenv("PROX_TMPDIR", short_tmp)
    host = temp_tag().split(".")[0]
    stale = os.path.join(short_tmp, f"prox-x-{host}.{_dead_pid()}.0")
    os.makedirs(os.path.join(stale, "torchinductor_root"))
    open(os.path.join(stale, "7f0c1a5e-0000-4000-8000-000000000000"), "w").close()
    mine = socket_dir("prox-x-", 36)
    assert not os.path.exists(stale)
    assert os.path.dirname(mine) == short_tmp and os.listdir(mine) == []
    assert os.path.basename(mine).startswith("prox-x-" + temp_tag())
    assert socket_dir("prox-x-", 36) != mine and os.path.isdir(mine)  # a live one's stays


def test_a_socket_path_too_long_for_prox_tmpdir_takes_the_system_temp_folder(short_tmp,
                                                                             monkeypatch):
    """A unix socket's path has at most 107 bytes: in a deep PROX_TMPDIR the sockets could
    not be made, so the folder goes in the system temp folder; where a socket fits in
    neither, there is none (the library keeps its own place, as before)."""
    from prox_tasks.storage.tempfiles import socket_dir

    monkeypatch.setenv("PROX_TMPDIR", os.path.join(short_tmp, "d" * 90))
    monkeypatch.setattr("tempfile.tempdir", short_tmp)
    folder = socket_dir("prox-x-", 36)
    assert os.path.dirname(folder) == short_tmp
    assert len(os.path.join(folder, "7f0c1a5e-0000-4000-8000-000000000000")) <= 107
    monkeypatch.setattr("tempfile.tempdir", os.path.join(short_tmp, "t" * 80))
    assert socket_dir("prox-x-", 36) is None


def test_a_prox_tmpdir_that_takes_no_socket_makes_the_socket_folder_in_the_system_one(
        short_tmp, monkeypatch):  # fmt: skip
    """A PROX_TMPDIR on a file system that refuses unix sockets (a FUSE mount of an object
    store, an SMB share) made the vLLM engine's and the fork server's start fail where the
    system temp folder worked: the folder is tried with a socket first, and the system temp
    folder taken. The refusal is a mock (named so): such a mount cannot be made here."""
    import socket

    from prox_tasks.storage.tempfiles import socket_dir

    refusing = os.path.join(short_tmp, "fuse")
    os.mkdir(refusing)
    system = os.path.join(short_tmp, "sys")
    os.mkdir(system)
    monkeypatch.setenv("PROX_TMPDIR", refusing)
    monkeypatch.setattr("tempfile.tempdir", system)

    class RefusingSocket(socket.socket):  # the mock: bind refused under the mount, as FUSE does
        def bind(self, address):
            if isinstance(address, str) and address.startswith(refusing):
                raise OSError(95, "Operation not supported", address)
            return super().bind(address)

    monkeypatch.setattr(socket, "socket", RefusingSocket)
    folder = socket_dir("prox-x-", 36)
    assert os.path.dirname(folder) == system and os.listdir(folder) == []
    assert os.listdir(refusing) == []  # the folder tried there is gone
