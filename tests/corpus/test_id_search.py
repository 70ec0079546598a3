"""The snapshot-wide repeated-id search in bounded memory (corpus.id_search.IdSearch): past
its budget it spills digests to bucket files and finds the same repeats, in the same order,
as the search in memory; its scratch folder goes when it ends, and after a kill -9 with the
next search."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from prox_tasks.corpus import id_search
from prox_tasks.corpus.id_search import SCRATCH_PREFIX, IdSearch, id_digest
from prox_tasks.storage import tempfiles

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_temp_folder(tmp_path, monkeypatch):
    """Each test's scratch folders in a folder of its own (the system one is shared)."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _scratch(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(SCRATCH_PREFIX))


def _corpus(seed: int, docs: int) -> list[tuple[bytes, int, int]]:
    """Random digests (with values) where ids repeat: some twice, one many times, some
    sharing only their first 8 bytes with another (candidates, not repeats)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(docs):
        roll = rng.random()
        if rows and roll < 0.05:  # a copy of an earlier id
            digest = rows[rng.randrange(len(rows))][0]
        elif rows and roll < 0.07:  # an earlier id's first half, another second half
            digest = rows[rng.randrange(len(rows))][0][:8] + rng.randbytes(8)
        elif roll < 0.09:  # one id many times over (a bucket no split makes smaller)
            digest = id_digest("everywhere")
        else:
            digest = rng.randbytes(16)
        rows.append((digest, rng.randrange(-(2**31), 2**31), rng.randrange(-(2**63), 2**63)))
    return rows


def _search(rows, budget: int):
    with IdSearch(2, budget) as search:
        for digest, small, large in rows:
            search.add(digest, small, large)
        found = search.repeats()
        values = search.values([position for position, _ in found])
        spilled = search.spilled
    return found, values, spilled


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_tiny_budget_spills_and_finds_the_same_repeats_in_the_same_order(seed, _own_temp_folder):
    rows = _corpus(seed, 20_000)
    where = defaultdict(list)
    for position, (digest, _, _) in enumerate(rows):
        where[digest].append(position)
    expected = sorted((p, d) for d, positions in where.items() if len(positions) > 1
                      for p in positions)  # fmt: skip
    in_memory = _search(rows, 2**30)
    assert in_memory[2] == 0 and in_memory[0] == expected
    assert in_memory[1] == [rows[p][1:] for p, _ in expected]
    # 1 KiB: a spill every 36 documents, buckets split again (the repeated id's to the end)
    spilled = _search(rows, 1024)
    assert spilled[2] == len(rows)
    assert spilled[:2] == in_memory[:2]
    assert _scratch(_own_temp_folder) == []


_PEAK = """
import sys, tempfile
tempfile.tempdir = sys.argv[1]
import numpy
from prox_tasks.corpus.id_search import IdSearch, id_digest

def kib(name):
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith(name + ":"))

before = kib("VmRSS")
with IdSearch(4, 16 * 2**20) as search:  # the plan's: 48 bytes a document
    for n in range(1_000_000):
        search.add(id_digest(str(n if n % 1000 else n // 2)), n, n, n, n)
    found = search.repeats()
    assert search.spilled and len(search.values([p for p, _ in found])) == len(found)
print(kib("VmHWM") - before)
"""


def test_the_search_over_its_budget_stays_within_the_budget(_own_temp_folder):
    """The documents held filled the budget, and the search's copies came on top (a sorted
    copy, the ranks, a slice's partition), as did a bytearray's reallocation past the
    allocator's map threshold: the plan's peak RSS was ~1.6 times PROX_ID_SEARCH_MB
    (bench/duplicates.py, 3 million documents: 101 MiB over the interpreter's at 64 MiB, 32
    at 16). An eighth is now kept for the copies, the search's own 9 bytes a document are
    counted in what is held, and the documents are held in maps written in place: 1 million
    documents (48 MB) at a 16 MiB budget, spilled, stay within it (tracemalloc does not see
    a map's pages: a process's RSS)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    grown = subprocess.run([sys.executable, "-c", _PEAK, str(_own_temp_folder)], env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert int(grown) <= 16 * 1024, f"RSS grew {int(grown) / 1024:.1f} MiB"


def test_the_search_spills_under_prox_tmpdir(tmp_path, monkeypatch, _own_temp_folder):
    """The operator's scratch folder (PROX_TMPDIR: a volume with room) took the S3 uploads,
    while the search spilled to the system temp folder (a small /tmp, a tmpfs counted as
    memory). It spills where PROX_TMPDIR says, and sweeps there the folder a killed search
    left; the system temp folder is not touched."""
    scratch = tmp_path / "operator-scratch"  # not there yet: made, as the uploads' is
    monkeypatch.setenv("PROX_TMPDIR", str(scratch))
    with IdSearch(1, 1024) as search:
        killed = scratch / f"{SCRATCH_PREFIX}{id_search_tag_of_a_dead_process()}abc"
        killed.mkdir()  # a search killed meanwhile (swept by the next process's first)
        for n in range(2000):
            search.add(id_digest(str(n % 1500)), n)
        assert search.spilled
        spills = [name for name in _scratch(scratch) if name != killed.name]
        assert len(spills) == 1 and os.listdir(scratch / spills[0])  # its buckets
        assert _scratch(_own_temp_folder) == []
        found = search.repeats()
    assert len(found) == 1000 and _scratch(scratch) == [killed.name]
    monkeypatch.setattr(tempfiles, "_swept", set())  # a new process's first search sweeps
    IdSearch()
    assert _scratch(scratch) == []


def id_search_tag_of_a_dead_process() -> str:
    """``<host>.<pid>.`` of a process that has ended (a search killed with kill -9)."""
    from prox_tasks.storage.tempfiles import temp_tag

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return temp_tag().replace(f".{os.getpid()}.", f".{int(child.stdout)}.")


def test_a_spilled_search_without_repeats_and_one_asked_twice(_own_temp_folder):
    """A spilled snapshot without a repeated id has no values to read back; the buckets go
    as they are searched, so a second ask gives the first answer, not an empty one."""
    with IdSearch(1, 1024) as search:
        for n in range(500):
            search.add(id_digest(str(n)), n)
        assert search.spilled and search.repeats() == [] and search.values([]) == []
    with IdSearch(1, 1024) as search:
        for n in range(500):
            search.add(id_digest(str(n % 400)), n)
        found = search.repeats()
        assert len(found) == 200 and search.repeats() == found
        assert search.values([p for p, _ in found]) == [(p,) for p, _ in found]
    with pytest.raises(RuntimeError, match="closed"):
        search.values([0])
    with IdSearch(budget=1024) as search:
        search.extend(id_digest("a") * 100)
    with pytest.raises(RuntimeError, match="closed"):  # not an empty answer
        search.repeats()


def test_a_search_in_memory_touches_no_disk(_own_temp_folder):
    with IdSearch(budget=2**20) as search:
        search.extend(id_digest("a") + id_digest("b") + id_digest("a"))
        assert [p for p, _ in search.repeats()] == [0, 2]
        assert search.spilled == 0 and _scratch(_own_temp_folder) == []
    assert IdSearch().repeats() == []


_KILLED = """
import os, sys, tempfile
tempfile.tempdir = sys.argv[1]
from prox_tasks.corpus.id_search import IdSearch
search = IdSearch(budget=1024)
search.extend(os.urandom(16 * 1000))
print(search.spilled, flush=True)
sys.stdin.read()
"""


def test_the_scratch_a_killed_search_left_is_removed_by_the_next(_own_temp_folder):
    """kill -9 (the OOM killer) leaves the spilled buckets: the next search removes them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED, str(_own_temp_folder)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert int(child.stdout.readline()) > 0
        left = _scratch(_own_temp_folder)
        assert len(left) == 1 and os.listdir(_own_temp_folder / left[0])
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert _scratch(_own_temp_folder) == left  # nothing removed it
    IdSearch()
    assert _scratch(_own_temp_folder) == []


_RSS = """
import sys, tempfile
tempfile.tempdir = sys.argv[1]
import numpy
from prox_tasks.corpus.id_search import IdSearch, id_digest

def kib(name):
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith(name + ":"))

before = kib("VmRSS")
with IdSearch(4, 2**20) as search:
    for n in range(300_000):
        search.add(id_digest(str(n if n % 100 else n + 1)), n, n, n, n)
    found = search.repeats()
    assert len(search.values([p for p, _ in found])) == len(found) == 6000
print(kib("VmHWM") - before)
"""


def test_reading_back_the_repeats_values_keeps_the_rss_within_the_budget(_own_temp_folder):
    """The repeated documents' values were read back through a memory map of the spilled
    values: the pages read ahead around each one count in the RSS, ~the whole file (the
    plan's peak RSS rose 35 bytes a document at a 64 MiB budget: 371 MB at 10 million).
    They are read one by one now: 300,000 documents (9.6 MB of values) at a 1 MiB budget
    stay within a few MB of RSS (tracemalloc does not see a map's pages: a process's)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    grown = subprocess.run([sys.executable, "-c", _RSS, str(_own_temp_folder)], env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert int(grown) < 6 * 1024, f"RSS grew {int(grown) // 1024} MiB"


_KEPT = """
import os, sys, tempfile
tempfile.tempdir = sys.argv[1]
from prox_tasks.corpus.id_search import IdSearch

def kib(name):
    return next(int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith(name + ":"))

with IdSearch(budget=64 * 2**20) as search:  # 2 million documents held, not spilled
    for _ in range(20):
        search.extend(os.urandom(16 * 100_000))
    assert not search.spilled and search.repeats() == []
    held = kib("VmRSS")
print(held - kib("VmRSS"))
"""


def test_a_closed_search_gives_back_the_memory_its_documents_were_held_in(_own_temp_folder):
    """The documents held in memory (anonymous maps) stayed in the RSS after the search was
    closed, as long as its object lived: the gate's checker keeps its search, the plan's
    duplicate list kept it through its shard writes, up to the whole budget. Closed, its
    32 MB of digests are given back at once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    freed = subprocess.run([sys.executable, "-c", _KEPT, str(_own_temp_folder)], env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert int(freed) > 24 * 1024, f"{int(freed) // 1024} MiB given back"
    search = IdSearch(budget=2**20)
    search.extend(id_digest("a") * 2)
    search.close()
    with pytest.raises(RuntimeError, match="was closed"):
        search.repeats()


def test_a_spill_gives_the_documents_memory_back(_own_temp_folder):
    """The documents were held in shared anonymous maps (mmap's default): MADV_DONTNEED only
    unmaps shared memory, so a spill gave nothing back: the pages left the RSS (which the
    tests above measure) but stayed the machine's and the cgroup's, beside the buckets the
    search then reads, and read as before. Given back, they read as zeros (the kernel's
    word for a freed anonymous page), digests and values alike."""
    with IdSearch(1, 64 * 1024) as search:
        while not search.spilled:
            search.add(id_digest(str(len(search))), 7)
        assert bytes(search._digests[:4096]) == bytes(4096)
        assert bytes(search._values[:4096]) == bytes(4096)
        search.add(id_digest("0"), 8)  # held again after the spill: still found
        assert [p for p, _ in search.repeats()] == [0, len(search) - 1]


def _memory_and_swap() -> int:
    kib = {line.split(":")[0]: int(line.split()[1]) for line in open("/proc/meminfo")}
    return (kib["MemTotal"] + kib["SwapTotal"]) * 1024


@pytest.mark.skipif(Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "2",
                    reason="strict overcommit: every map is reserved whole")  # fmt: skip
def test_a_budget_past_the_machine_s_memory_takes_a_few_documents(_own_temp_folder):
    """The maps were reserved whole as the search began: PROX_ID_SEARCH_MB past the
    machine's memory and swap (a budget meant as "never spill") was refused at once with
    ENOMEM, however few documents came, where the buffers before grew with them. Only the
    pages written are memory now."""
    with IdSearch(4, 4 * _memory_and_swap()) as search:
        for n in range(1000):
            search.add(id_digest(str(n % 600)), n, n, n, n)
        assert not search.spilled and len(search.repeats()) == 800


def test_the_plan_and_the_gate_write_the_same_lists_past_the_budget(tmp_path):
    """One search for both: a plan's duplicate-id list and the gate's repeated rows are the
    same with a budget of 1 KiB (every document spilled) as in memory."""
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.duplicates import index_duplicates
    from prox_tasks.quality.documents import IdDigests
    from tests.corpus.conftest import write_jsonl

    rng = random.Random(5)
    ids = [f"id-{rng.randrange(3000)}" for _ in range(4000)]
    rows = [{"id": i, "text": "line\n" * rng.randrange(1, 4)} for i in ids]
    write_jsonl(tmp_path / "in.jsonl", rows)
    manifest = plan_shards(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), target_docs=300)
    folder = tmp_path / "out" / "_duplicate_ids"
    lists = []
    for budget in (2**30, 1024):
        for path in folder.iterdir():  # written by the plan: written again here
            path.unlink()
        index = index_duplicates(manifest, budget=budget)
        lists.append(
            (
                index,
                {
                    p.name: json.loads(p.read_text())["occurrences"]
                    for p in folder.iterdir()
                    if p.name != "index.json"
                },
            )
        )
        digests = IdDigests(budget)
        for shard in range(0, len(ids), 300):
            digests.add_shard(shard // 300, ids[shard : shard + 300] + [None])
        lists.append(digests.written_before())
    assert lists[0][0]["duplicate_ids"] > 100 and lists[0] == lists[2]
    assert len(lists[1]) > 100 and lists[1] == lists[3]


def test_a_bucket_of_one_id_is_split_no_further_than_its_first_half(_own_temp_folder, monkeypatch):
    """Every occurrence of one id falls in one bucket, whatever bits split it: after the
    64 bits the search compares first, it is searched as it is (over the budget)."""
    splits = []
    real = id_search._partition
    monkeypatch.setattr(
        id_search,
        "_partition",  # counts the splits, changes nothing
        lambda records, shift, bits, *rest: (
            splits.append(shift + bits),
            real(records, shift, bits, *rest),
        ),
    )
    with IdSearch(budget=1024) as search:
        search.extend(id_digest("same") * 5000)
        assert [p for p, _ in search.repeats()] == list(range(5000))
    assert max(splits) == 64
