"""The quarantine's spool: bounded in memory, and spilled where the operator's scratch is."""

import os

from prox_tasks.corpus.quarantine import Quarantine


def test_a_quarantine_past_its_memory_spills_under_prox_tmpdir(tmp_path, monkeypatch):
    """A quarantine past 8 MiB (bad records of a damaged WARC, up to 1 MiB of each kept)
    rolls over to a file: it went to the system temp folder (a small /tmp, a tmpfs counted
    as memory) while PROX_TMPDIR named the volume with room that every other scratch file
    uses. The rolled-over file (unnamed, open) is found by its descriptor."""
    scratch = tmp_path / "operator-scratch"
    monkeypatch.setenv("PROX_TMPDIR", str(scratch))
    quarantine = Quarantine()
    try:
        for n in range(10):
            quarantine.add("crawl.warc.gz", n, "bad_record", raw=b"x" * (1 << 20))
        spool = quarantine._spool
        assert spool._rolled  # past its memory: a file now
        where = os.readlink(f"/proc/self/fd/{spool.fileno()}")
        assert where.startswith(str(scratch) + os.sep), where
        assert len(list(quarantine.records())) == 10
    finally:
        quarantine.close()


def test_a_quarantine_that_never_spills_leaves_prox_tmpdir_alone(tmp_path, monkeypatch):
    """Every ``Quarantine()`` made PROX_TMPDIR (scratch_dir), spilled or not: a bad one
    failed every label and refine, and a good one was created for nothing. The folder is
    taken only when the spool rolls over to a file."""
    for scratch in (tmp_path / "not-yet", tmp_path / "afile" / "x"):
        (tmp_path / "afile").write_text("a file, not a folder\n")
        monkeypatch.setenv("PROX_TMPDIR", str(scratch))
        quarantine = Quarantine()
        try:
            quarantine.add("docs.jsonl", 0, "bad_json", raw=b"{not json")
            assert [r["offset"] for r in quarantine.records()] == [0]
        finally:
            quarantine.close()
        assert not scratch.exists()
