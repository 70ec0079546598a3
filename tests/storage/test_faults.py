"""Fault injection into storage: a full disk (a real tmpfs), writers killed with SIGKILL
(local and S3), and the one-line errors every ``prox`` command ends with."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from prox_tasks.corpus import Quarantine, plan_shards, read_shard, read_status
from prox_tasks.corpus.writer import write_refined_shard
from prox_tasks.storage import exists, get_client, open_uri
from prox_tasks.storage.tempfiles import temp_tag
from tests.corpus.conftest import refine_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB file system: a real tmpfs when we may mount one (root), else a named mock
    (``FullDiskMock``: the atomic writer's temp file refuses bytes past 2 MiB)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode == 0:
        yield mount
        subprocess.run(["umount", str(mount)], check=True)
        return
    from prox_tasks.storage import atomic

    class FullDiskMock:  # noqa: D401 - a named mock: ENOSPC cannot be produced here for real
        budget = 2 * 1024 * 1024

    original = atomic.AtomicWriter.write

    def write(self, data):
        FullDiskMock.budget -= len(memoryview(data).cast("B"))
        if FullDiskMock.budget < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.temp_path)
        return original(self, data)

    atomic.AtomicWriter.write = write
    yield mount
    atomic.AtomicWriter.write = original


def _incompressible(n: int) -> list[dict]:
    return [{"id": f"d{i}", "text": os.urandom(60_000).hex()} for i in range(n)]


def test_disk_full_during_the_shard_write_leaves_no_debris(tmp_path, small_disk):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in _incompressible(80)))  # ~9.6 MB
    out = small_disk / "out"
    manifest = plan_shards(str(src), str(out), target_docs=100)
    quarantine = Quarantine()
    with pytest.raises(OSError) as caught:
        write_refined_shard(str(out), 0, refine_rows(read_shard(manifest, 0, quarantine)),
                            quarantine=quarantine)  # fmt: skip
    assert caught.value.errno == errno.ENOSPC
    left = sorted(p.name for p in (out / "shards").iterdir())
    assert left == []  # no .shard-00000.parquet.tmp-* and no shard
    assert read_status(str(out), 0) is None
    from prox_tasks.cli.errors import describe_error

    line = describe_error(caught.value)
    assert line.startswith(f"disk full writing {out}/shards/.shard-00000.parquet.tmp-"), line


def test_disk_full_in_a_prox_command_is_one_line(tmp_path, small_disk):
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps({**r, "doc_program": "keep_doc()"}) + "\n"
                           for r in _incompressible(40)))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "prox_tasks.cli", "execute", "--input", str(src),
         "--output", str(small_disk / "refined.jsonl")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prox execute: disk full"), done.stderr
    assert f"writing {small_disk}/" in lines[0]  # and where
    assert lines[0].endswith(": free space there, then run the same command again "
                             "(-v for the traceback)"), lines[0]  # and what to do
    assert [p.name for p in small_disk.iterdir()] == []  # no partial output, no temp file


def _killed_writer(uri: str, env: dict) -> int:
    """Start a process that writes 200 KB to ``uri``, SIGKILL it before it closes; its pid."""
    code = ("import sys, time\nfrom prox_tasks.storage import open_uri\n"
            "f = open_uri(sys.argv[1], 'wb')\nf.write(b'x' * 200_000)\nf.flush()\n"
            "print('ready', flush=True)\ntime.sleep(60)\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def test_a_killed_local_writer_leaves_a_temp_file_the_next_write_sweeps(tmp_path):
    target = tmp_path / "out" / "manifest.json"
    pid = _killed_writer(str(target), {})
    stale = [p.name for p in target.parent.iterdir()]
    assert len(stale) == 1 and f".{pid}." in stale[0] and not target.exists()
    with open_uri(str(tmp_path / "out" / "other.json"), "wb") as f:  # any write in the folder
        f.write(b"{}")
    assert sorted(p.name for p in target.parent.iterdir()) == ["other.json"]


def test_a_killed_s3_upload_leaves_its_temp_in_a_known_place_swept_next_time(
        tmp_path, s3_bucket, moto_server, monkeypatch):
    staging = tmp_path / "staging"
    monkeypatch.setenv("PROX_TMPDIR", str(staging))
    env = {"PROX_TMPDIR": str(staging), "PROX_S3_ENDPOINT_URL": moto_server.endpoint_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    uri = f"{s3_bucket}/killed.bin"
    pid = _killed_writer(uri, env)
    stale = [p.name for p in staging.iterdir()]
    assert len(stale) == 1 and stale[0].startswith("prox-s3-upload-") and f".{pid}." in stale[0]
    assert not exists(uri)  # nothing was uploaded
    with open_uri(f"{s3_bucket}/next.bin", "wb") as f:
        f.write(b"next")
        assert [p.name for p in staging.iterdir()][0].startswith("prox-s3-upload-" + temp_tag())
    assert list(staging.iterdir()) == []  # the stale one swept, ours published and removed
    assert exists(f"{s3_bucket}/next.bin")


def test_s3_down_is_one_line_from_prox(tmp_path, s3_bucket, moto_server):
    bucket = s3_bucket.removeprefix("s3://")
    get_client().put_object(Bucket=bucket, Key="in/a.jsonl", Body=b'{"text": "hello"}\n')
    moto_server.faults.arm(fail_requests=None, status=503)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROX_S3_ENDPOINT_URL": moto_server.endpoint_url,
           "PROX_S3_MAX_ATTEMPTS": "2", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    command = [sys.executable, "-m", "prox_tasks.cli", "plan", "--input", f"{s3_bucket}/in/",
               "--output", f"{s3_bucket}/out-{uuid.uuid4().hex[:6]}/"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prox plan: S3 "), done.stderr
    assert "SlowDown" in lines[0] and "Traceback" not in done.stderr
    verbose = subprocess.run(command + ["-v"], capture_output=True, text=True, env=env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_a_cut_gzip_beside_good_files_is_no_traceback(tmp_path):
    import gzip

    sample_rows = _incompressible(20)
    (tmp_path / "in").mkdir()
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in sample_rows).encode())
    (tmp_path / "in" / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "in" / "b.jsonl").write_text(json.dumps(sample_rows[0]) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "prox_tasks.cli", "plan", "--input", str(tmp_path / "in"),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [f["uri"].rsplit("/", 1)[-1] for f in manifest["files"]] == ["a.jsonl.gz", "b.jsonl"]
