"""The compiled feature kernels' cache (prox_tasks/models/native.py): where it goes when the
usual folders cannot be written, and two processes compiling into one empty cache at once."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from prox_tasks.models import native

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_folders():
    native._writable_folder.cache_clear()
    yield
    native._writable_folder.cache_clear()


def _unwritable(tmp_path: Path, name: str) -> str:
    """A folder that cannot be created (its parent is a file; chmod does not stop root)."""
    blocker = tmp_path / f"{name}-file"
    blocker.write_text("")
    return str(blocker / name)


def test_cache_folder_order(tmp_path, monkeypatch, fresh_folders):
    sources = frozenset({native.__file__})
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert native.cache_folder(sources).parent == tmp_path / "numba"
    native._writable_folder.cache_clear()
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert native.cache_folder(sources).parent == tmp_path / "xdg" / "prox" / "numba"


def test_cache_folder_falls_back_when_unwritable(tmp_path, monkeypatch, fresh_folders):
    sources = frozenset({native.__file__})
    monkeypatch.setenv("NUMBA_CACHE_DIR", _unwritable(tmp_path, "numba"))
    monkeypatch.setenv("XDG_CACHE_HOME", _unwritable(tmp_path, "xdg"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    folder = native.cache_folder(sources)
    assert folder.parent == tmp_path / "tmp" / f"prox-numba-{os.getuid()}"
    native._writable_folder.cache_clear()
    folder.parent.chmod(0o777)  # another user could put machine code there: not used
    assert native.cache_folder(sources) is None  # the kernels then compile in each process
    native._writable_folder.cache_clear()
    monkeypatch.setattr(tempfile, "tempdir", _unwritable(tmp_path, "tmp"))
    assert native.cache_folder(sources) is None


def test_cache_folder_changes_with_the_sources(tmp_path, monkeypatch, fresh_folders):
    """A kernel's folder depends on the sources of every kernel defined before it (its
    callees among them): a changed callee never loads a stale caller."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 1\n")
    before = native.cache_folder(frozenset({str(a), str(b)}))
    assert native.cache_folder(frozenset({str(a)})) != before
    native._file_digest.cache_clear()
    b.write_text("y = 2\n")
    assert native.cache_folder(frozenset({str(a), str(b)})) != before
    native._file_digest.cache_clear()


def features_digest() -> dict:
    """The SHA-256 of the features of the edge cases, and the kernels' cache hits and misses
    in this process."""
    import hashlib

    from prox_tasks.models import line_counts, line_hashing
    from prox_tasks.models.line_features import featurize_batch
    from tests.models.test_line_features import EDGE_CASES

    f = featurize_batch(EDGE_CASES, 1 << 15)
    digest = hashlib.sha256(b"".join(a.tobytes() for a in (f.dense, f.ids, f.doc, f.stats)))
    stats = [k.stats for k in (line_counts._count, line_hashing._hash_lines)]
    return {"digest": digest.hexdigest(),
            "hits": sum(sum(s.cache_hits.values()) for s in stats),
            "misses": sum(sum(s.cache_misses.values()) for s in stats)}  # fmt: skip


RUN = "import json; from tests.models.test_native import features_digest; " \
      "print(json.dumps(features_digest()))"  # fmt: skip


@pytest.mark.slow
def test_two_processes_compile_into_one_empty_cache(tmp_path):
    """Two workers start on a cold cache at once: both compile and write it, both featurize
    exactly as this process does, and a later process loads the kernels without compiling."""
    import json

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def start():
        return subprocess.Popen([sys.executable, "-c", RUN], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip

    pair = [start(), start()]
    first = [json.loads(p.communicate(timeout=300)[0]) for p in pair]
    assert all(p.returncode == 0 for p in pair)
    later = start()
    loaded = json.loads(later.communicate(timeout=300)[0])
    here = features_digest()["digest"]
    assert {r["digest"] for r in first} == {loaded["digest"]} == {here}
    assert all(r["misses"] > 0 for r in first)
    assert loaded["misses"] == 0 and loaded["hits"] > 0
    assert list(tmp_path.glob("*/*/*.nbc")) and list(tmp_path.glob("*/*/*.nbi"))
