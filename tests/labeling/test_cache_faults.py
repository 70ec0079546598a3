"""The llm teacher's response cache on a full disk (a real tmpfs) and after a killed run."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from prox_tasks.labeling.cache import ResponseCache, cache_key
from tests.conftest import kill_when_ready


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_under_the_cache_leaves_no_temp_file_and_names_the_file(real_tmpfs):
    """Before: each failed put left a ``.tmp-*.json`` of its partial answer in the cache,
    never removed, and the error named no file."""
    folder = real_tmpfs("16k")
    cache = ResponseCache(folder / "cache")
    key = cache_key(model="m", messages=[{"content": "doc"}])
    with pytest.raises(OSError) as caught:
        cache.put(key, {"content": os.urandom(40_000).hex()})
    assert caught.value.errno == errno.ENOSPC
    assert f"{folder}/cache/{key[:2]}/.{key}.json.tmp-" in str(caught.value.filename)
    assert _files(folder) == []  # no partial entry, no temp file
    assert cache.get(key) is None  # asked again next time


def test_a_killed_put_leaves_a_temp_file_the_next_put_sweeps(tmp_path):
    """A named fault injection stops the put inside the storage writer's write; the kill is a
    real SIGKILL. Before, the cache wrote its own ``.tmp-*.json`` beside the writer (this
    stop was never reached) and a killed put's stayed for good."""
    folder = tmp_path / "cache"
    key = cache_key(model="m", messages=[{"content": "a"}])
    code = ("import json, sys, time\n"
            "from prox_tasks.labeling.cache import ResponseCache\n"
            "from prox_tasks.storage import atomic\n"
            "real = atomic.AtomicWriter.write\n"
            "def write_then_wait(self, data):  # fault injection: stop inside the write\n"
            "    real(self, data); self.flush(); print('ready', flush=True); time.sleep(60)\n"
            "atomic.AtomicWriter.write = write_then_wait\n"
            "ResponseCache(sys.argv[1]).put(sys.argv[2], {'content': 'x'})\n")  # fmt: skip
    pid = kill_when_ready(code, str(folder), key)
    assert [n for n in _files(folder) if f".{pid}." in n]  # the killed put's temp
    ResponseCache(folder).put(key, {"content": "y"})
    assert _files(folder) == [f"{key}.json"]
    assert ResponseCache(folder).get(key) == {"content": "y"}


def test_an_older_prox_s_temp_file_under_the_cache_is_swept_a_day_on(tmp_path):
    """The cache's own mkstemp (before it wrote through the storage layer) named its temp
    files ``.tmp-XXXXXXXX.json``, no host or pid: a killed run's stayed for good. The next
    put into the folder removes one untouched for a day; a fresh one (an older prox still
    running) stays."""
    import time

    from prox_tasks.storage.tempfiles import LEGACY_GRACE_SECONDS

    cache = ResponseCache(tmp_path / "cache")
    key = cache_key(prompt="p")
    folder = tmp_path / "cache" / key[:2]
    folder.mkdir()
    old, fresh = folder / ".tmp-k3j2_a9q.json", folder / ".tmp-m1n2b3v4.json"
    for path in (old, fresh):
        path.write_text('{"partial": ')
    then = time.time() - LEGACY_GRACE_SECONDS - 60
    os.utime(old, (then, then))
    cache.put(key, {"text": "an answer"})
    assert cache.get(key) == {"text": "an answer"}
    assert not old.exists() and fresh.exists()


def test_a_read_only_cache_folder_is_refused_before_any_request_is_paid(real_tmpfs, tmp_path,
                                                                        capsys):
    """A real read-only mount (a tmpfs remounted ``ro``: root writes through a mere chmod).
    Before: the first answer was paid for, then lost, and the run ended with only
    ``Read-only file system: <cache>/b6`` (exit 1), naming neither the cache nor what to do."""
    import json
    import subprocess

    from prox_tasks.cli import main
    from prox_tasks.pipeline.errors import cannot_succeed
    from tests.labeling.test_llm_endpoint_failures import ANSWER, TEXT
    from tests.loopback_http import answering

    folder = real_tmpfs("64k")
    subprocess.run(["mount", "-o", "remount,ro", "tmpfs", str(folder)], check=True)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": TEXT}) + "\n" for i in range(3)))
    out = tmp_path / "labels.jsonl"
    seen: list = []
    with answering(200, ANSWER, seen) as server:
        code = main(["label", "--input", str(src), "--output", str(out), "--teacher", "llm",
                     "--base-url", server.url + "/v1", "--model", "m",
                     "--cache-dir", str(folder)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err  # a setting to fix, as a bad pool is
    assert f"response cache folder {folder} cannot be written" in err
    assert "--cache-dir" in err and "Read-only file system" in err
    assert seen == []  # nothing paid for
    assert not out.exists()
    with pytest.raises(OSError) as caught:  # the seed DAG's label task: no retry heals it
        ResponseCache(folder)
    assert isinstance(caught.value, cannot_succeed())
