"""``prox execute``, ``prox gate`` and ``prox release`` as real processes, killed (SIGKILL) at
chosen points and run again: the result is the uninterrupted run's, and readers never see a
half-written file, gate or release.

The kill points are placed by :mod:`tests.release.kill_at` (a wrapper around one function
of the command: the only way to hit "between these two writes" every time); the kill
itself is real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from prox_tasks.pipeline.refresh import mark_judged
from prox_tasks.quality import run_gate
from prox_tasks.release import read_latest
from prox_tasks.storage import read_json
from tests.quality.snapshot_factory import refine_snapshot, write_input
from tests.storage.conftest import moto_server, s3_bucket  # noqa: F401 (fixtures used here)

ROOT = Path(__file__).resolve().parents[2]
KILL_AT = Path(__file__).with_name("kill_at.py")


def prox(*args: str, at: str = "x:y", nth: int = 0, when: str = "before",
         env: dict | None = None, wait: bool = True):
    """``prox ARGS`` in its own process, killed at the ``nth`` call of ``at`` (0: not)."""
    proc = subprocess.Popen(
        [sys.executable, str(KILL_AT), at, str(nth), when, *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def gated(tmp_path: Path, name: str, base: str | None = None) -> str:
    """A snapshot under ``base`` (default ``tmp_path``) gated as ``prox gate --snapshot``
    gates it (in this process: faster)."""
    src = write_input(tmp_path / "in" / f"{name}.jsonl", 20)
    out = f"{base or tmp_path}/snapshots/{name}"
    refine_snapshot(str(src), out)
    result = run_gate(out)
    assert result.passed
    mark_judged(out, result)
    return out


def _race_to_one_name(first: str, second: str, root: str, hold: str,
                      env: dict | None = None) -> None:
    held = prox("release", "--snapshot", first, "--root", root, "--name", "nightly",
                at="prox_tasks.release.release:read_json", nth=1, when=f"pause={hold}",
                wait=False, env=env)
    deadline = time.monotonic() + 30
    while not os.path.exists(f"{hold}.reached"):  # it read no record of that name
        assert time.monotonic() < deadline and held.poll() is None, held.communicate()
        time.sleep(0.02)
    code, out, err = prox("release", "--snapshot", second, "--root", root, "--name", "nightly",
                          env=env)
    assert code == 0, err
    Path(hold).touch()
    out, err = held.communicate(timeout=60)
    assert held.returncode == 1, out + err
    assert "release nightly exists for another plan" in err
    record = read_json(f"{root}/releases/nightly.json")
    assert record["snapshot_uri"].endswith("/snapshots/b")
    assert read_latest(root) == record
    assert not read_json(f"{first}/_released.json")  # its mark taken back: may be refined again


def test_two_releases_of_different_snapshots_to_one_name_at_once_release_one(tmp_path):
    """Both read "no release of that name yet"; the second to write its record must be
    refused, not overwrite the first's and report success (a release lost)."""
    first, second = gated(tmp_path, "a"), gated(tmp_path, "b")
    _race_to_one_name(first, second, str(tmp_path / "root"), str(tmp_path / "go"))


def test_two_releases_on_s3_of_different_snapshots_to_one_name_at_once_release_one(
        tmp_path, s3_bucket, moto_server):  # noqa: F811
    first, second = gated(tmp_path, "a", s3_bucket), gated(tmp_path, "b", s3_bucket)
    _race_to_one_name(first, second, f"{s3_bucket}/root", str(tmp_path / "go"),
                      env=s3_env(moto_server))


def test_a_release_killed_once_marked_then_taken_by_another_plan_takes_its_mark_back(tmp_path):
    """Killed after marking its folder, before its record; another snapshot is released
    under that name meanwhile: the retry is refused and must not leave the folder frozen by
    a release that never happened."""
    from prox_tasks.corpus.manifest import refuse_if_released

    first, second = gated(tmp_path, "a"), gated(tmp_path, "b")
    root = str(tmp_path / "root")
    args = ("release", "--root", root, "--name", "nightly", "--snapshot")
    code, _, err = prox(*args, first, at="prox_tasks.release.release:write_record_once", nth=1)
    assert code == -9, err
    assert read_json(f"{first}/_released.json")  # marked before any record
    code, _, err = prox(*args, second)
    assert code == 0, err
    code, _, err = prox(*args, first)
    assert code == 1 and "release nightly exists for another plan" in err, err
    refuse_if_released(first, "refining it again")  # not frozen
    assert read_json(f"{root}/releases/nightly.json")["snapshot_uri"].endswith("/snapshots/b")


#: Where ``prox release`` dies (function, its nth call, before/after it), in the order of
#: its steps; the local disk's extra point is inside the atomic write of the record.
RELEASE_KILLS = {
    "early": ("prox_tasks.release.release:model_of", 1, "before"),
    "before_mark": ("prox_tasks.corpus.manifest:mark_released", 1, "before"),
    "marked": ("prox_tasks.release.release:write_record_once", 1, "before"),
    # local: the record's temporary file whole, not renamed (the 1st rename is the mark's)
    "record_mid_write": ("os:replace", 2, "before"),
    "record_written": ("prox_tasks.release.release:write_record_once", 1, "after"),
    "before_latest_swap": ("prox_tasks.release.release:replace_latest", 1, "before"),
    "latest_moved": ("prox_tasks.corpus.manifest:mark_released", 2, "before"),
}


def _booked(base: str, src: Path, catalog: Path, gate: bool = True) -> dict:
    """A snapshot ``crawl-2026-01-02`` of ``src`` refined under ``base``, booked and (when
    ``gate``) gated in the ``catalog`` (``prox refine``/``prox gate --name`` in this process:
    the stages before)."""
    from prox_tasks.pipeline import refresh

    snap = refresh.resolve_snapshot({
        "input_uri": str(src), "output_root": base, "snapshot_name": "crawl-2026-01-02",
        "catalog_url": f"sqlite:///{catalog}"}, "2026-01-02")
    refresh.plan(snap, 10, 1024, "default", None)
    refine_snapshot(str(src), snap["output_uri"])
    if gate:
        refresh.gate(snap, {})
    return snap


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, dict]:
    """One input, and what its release looks like when nothing kills it (local disk; on S3
    only ``<base>`` differs, and it is written as such)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    src = write_input(folder / "crawl.jsonl", 20)  # every run refines it: the same shard bytes
    base = str(folder / "clean")
    clean = _booked(base, src, folder / "catalog.sqlite")
    gated = _gate_state(clean)
    code, _, err = prox(*_release_args(clean, base))
    assert code == 0, err
    expected = _state(clean, base)
    assert expected["status"] == "released" and expected["latest"] == expected["record"]
    return src, expected, gated


def _release_args(snap: dict, base: str) -> list[str]:
    return ["release", "--snapshot", snap["output_uri"], "--root", base, "--name", snap["name"],
            "--partition", "2026-01-02", "--catalog", snap["catalog_url"]]


def _state(snap: dict, base: str) -> dict:
    """What readers see after a release, with ``base`` (and the plan id, which names the
    folder) written as ``<base>`` and ``released_at`` (the time of the release) left out."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.storage import read_bytes, to_uri

    manifest_id = read_json(f"{snap['output_uri']}/manifest.json")["id"]

    def same(uri: str) -> dict | None:
        try:
            text = read_bytes(uri).decode()
        except FileNotFoundError:
            return None
        text = text.replace(to_uri(base), "<base>").replace(manifest_id, "<plan>")
        return {k: v for k, v in json.loads(text).items() if k != "released_at"}

    with Catalog(snap["catalog_url"]) as catalog:
        row = catalog.get_snapshot(snap["name"])
        releases = [(r["release"], r["docs"]) for r in catalog.list_releases()]
    return {"record": same(f"{base}/releases/{snap['name']}.json"),
            "latest": same(f"{base}/latest.json"), "status": row["status"],
            "releases": releases}


def _assert_same(seen: dict, expected: dict) -> None:
    """``seen == expected``, naming the fields that differ."""
    differ = {(part, key): (seen[part].get(key), value)
              for part in ("record", "latest") if seen[part] and expected[part]
              for key, value in expected[part].items() if seen[part].get(key) != value}
    assert not differ, differ
    assert seen == expected


def _release_killed_and_rerun(tmp_path: Path, uninterrupted: tuple, base: str, point: str,
                              env: dict | None = None) -> None:
    src, expected, _ = uninterrupted
    killed = _booked(base, src, tmp_path / "catalog.sqlite")
    target, nth, when = RELEASE_KILLS[point]
    code, _, err = prox(*_release_args(killed, base), at=target, nth=nth, when=when,
                        env=env)
    assert code == -9, f"not killed at {point}: {code} {err}"
    seen = _state(killed, base)
    # readers: latest.json names nothing, or the whole release whose record is there
    assert seen["latest"] is None or seen["latest"] == seen["record"] == expected["record"]
    assert seen["status"] in ("gated", "released")
    assert seen["status"] == "gated" or seen["record"] is not None  # released: it has a record

    code, out, err = prox(*_release_args(killed, base), env=env)
    assert code == 0, err
    # the retry completes the release: new (the DAG sends its Asset event now)
    assert out.startswith("released crawl-2026-01-02 ") and "latest ->" in out, out
    _assert_same(_state(killed, base), expected)
    code, out, err = prox(*_release_args(killed, base), env=env)  # complete: unchanged
    assert code == 0 and out.startswith("already released") and "already latest" in out, out
    assert _state(killed, base) == expected


@pytest.mark.parametrize("point", list(RELEASE_KILLS))
def test_a_release_killed_at_any_step_and_run_again_is_the_uninterrupted_release(
        tmp_path, uninterrupted, point):
    _release_killed_and_rerun(tmp_path, uninterrupted, str(tmp_path / "killed"), point)


@pytest.mark.parametrize("point", [p for p in RELEASE_KILLS if p != "record_mid_write"])
def test_a_release_on_s3_killed_at_any_step_and_run_again_is_the_uninterrupted_release(
        tmp_path, uninterrupted, s3_bucket, moto_server, point):  # noqa: F811
    _release_killed_and_rerun(tmp_path, uninterrupted, f"{s3_bucket}/killed", point,
                              env=s3_env(moto_server))


def _record_written_then_judged_stricter(tmp_path: Path, uninterrupted: tuple, base: str,
                                         env: dict | None = None) -> None:
    from prox_tasks.corpus.manifest import ReleasedSnapshot, refuse_if_released

    src, expected, _ = uninterrupted
    killed = _booked(base, src, tmp_path / "catalog.sqlite")
    code, _, err = prox(*_release_args(killed, base), env=env, when="after", nth=1,
                        at="prox_tasks.release.release:write_record_once")
    assert code == -9, f"not killed after the record: {code} {err}"
    assert read_json(f"{base}/releases/{killed['name']}.json") is not None
    # the record is where consumers read releases: the folder's files may not change now
    with pytest.raises(ReleasedSnapshot, match="did not complete: run the same prox release"):
        refuse_if_released(killed["output_uri"], "refining it again (--force)")
    # judged again with a drop rate no snapshot here passes (0.2 dropped): kept as released
    code, out, err = prox("gate", "--snapshot", killed["output_uri"], "--name", killed["name"],
                          "--catalog", killed["catalog_url"], "--max-drop-rate", "0.1", env=env)
    assert code == 0, out + err

    code, out, err = prox(*_release_args(killed, base), env=env)
    assert code == 0, err
    assert out.startswith("released crawl-2026-01-02 ") and "latest ->" in out, out
    _assert_same(_state(killed, base), expected)


def test_a_release_killed_after_its_record_is_completed_after_a_stricter_gate(
        tmp_path, uninterrupted):
    """Killed once ``releases/<name>.json`` is written: the folder is already marked
    released, so a stricter gate (or ``--force``) cannot strand that record — a release that
    never happened, and every later release of the folder refused."""
    _record_written_then_judged_stricter(tmp_path, uninterrupted, str(tmp_path / "killed"))


def test_a_release_on_s3_killed_after_its_record_is_completed_after_a_stricter_gate(
        tmp_path, uninterrupted, s3_bucket, moto_server):  # noqa: F811
    _record_written_then_judged_stricter(tmp_path, uninterrupted, f"{s3_bucket}/killed",
                                         env=s3_env(moto_server))


def s3_env(server) -> dict:
    """A ``prox`` process's settings for the test's moto server."""
    return {"PROX_S3_ENDPOINT_URL": server.endpoint_url, "PROX_S3_ADDRESSING_STYLE": "path",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "PROX_S3_MAX_ATTEMPTS": "3"}


#: Where ``prox gate --name`` dies, in the order of its steps (each after GX judged it).
GATE_KILLS = {
    "data_docs_mid_publish": ("prox_tasks.storage:put_atomic", 10, "before"),
    "before_gate_json": ("prox_tasks.quality.gate:_publish_dir", 1, "after"),
    "before_freeze": ("prox_tasks.pipeline.refresh:mark_judged", 1, "before"),
    "before_catalog": ("prox_tasks.pipeline.refresh:_record_gate", 1, "before"),
}


def _gate_state(snap: dict) -> dict:
    """gate.json (the folder written ``<s>``, its plan id ``<plan>``), the Data Docs' files (a validation page's
    run-time folder written ``<time>``), the catalog's status and gate report."""
    import re

    from prox_tasks.catalog import Catalog
    from prox_tasks.storage import list_uri, read_bytes, to_uri

    out = to_uri(snap["output_uri"])
    manifest_id = read_json(f"{out}/manifest.json")["id"]
    try:
        gate = json.loads(read_bytes(f"{out}/_quality/gate.json").decode()
                          .replace(out, "<s>").replace(manifest_id, "<plan>"))
    except FileNotFoundError:
        gate = None
    docs = sorted(re.sub(r"/\d{8}T\d{6}\.\d+Z/", "/<time>/", to_uri(u).removeprefix(out))
                  for u in list_uri(f"{out}/_quality/data_docs"))
    with Catalog(snap["catalog_url"]) as catalog:
        status = catalog.get_snapshot(snap["name"])["status"]
        report = catalog.latest_quality_report(snap["name"], "prox_gate")
    # the id of the catalog's one report (both catalogs are new): a second report is id 2
    return {"gate": gate, "docs": docs, "status": status, "report": report and report["id"]}


def _gate_killed_and_rerun(tmp_path: Path, uninterrupted: tuple, base: str, point: str,
                           env: dict | None = None) -> None:
    from prox_tasks.cli import main

    src, _, expected = uninterrupted
    killed = _booked(base, src, tmp_path / "catalog.sqlite", gate=False)
    args = ["gate", "--snapshot", killed["output_uri"], "--name", killed["name"],
            "--catalog", killed["catalog_url"]]
    before = _gate_state(killed)["status"]
    target, nth, when = GATE_KILLS[point]
    code, _, err = prox(*args, at=target, nth=nth, when=when, env=env)
    assert code == -9, f"not killed at {point}: {code} {err}"
    seen = _gate_state(killed)
    assert seen["status"] == before and seen["report"] is None  # the catalog booked no gate
    assert seen["gate"] in (None, expected["gate"])  # readers: no gate.json, or the whole one
    # a release before the gate's retry is refused: no gate there, or none in the catalog
    assert main(_release_args(killed, base)) == 1

    assert main(args) == 0  # the retry (in this process: GX is imported once)
    assert _gate_state(killed) == expected


@pytest.mark.parametrize("point", ["data_docs_mid_publish", "before_gate_json",
                                   "before_catalog"])
def test_a_gate_killed_at_any_step_and_run_again_is_the_uninterrupted_gate(
        tmp_path, uninterrupted, point, monkeypatch):
    """The killed gate's scratch folder (its Data Docs build, ~6 MB) was left in $TMPDIR for
    good: 56 of them, 341 MB, had piled up in the test machine's /tmp. The retry removes it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the retry's, in this process
    _gate_killed_and_rerun(tmp_path, uninterrupted, str(tmp_path / "killed"), point,
                           env={"TMPDIR": str(scratch)})  # fmt: skip
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("point", ["before_freeze"])
def test_a_gate_on_s3_killed_and_run_again_is_the_uninterrupted_gate(
        tmp_path, uninterrupted, s3_bucket, moto_server, point):  # noqa: F811
    _gate_killed_and_rerun(tmp_path, uninterrupted, f"{s3_bucket}/killed", point,
                           env=s3_env(moto_server))


#: Where ``prox execute`` dies: before its first row, with rows in the output's temporary
#: file, once the quarantine is published, and (local disk) with the output's temporary
#: file whole but not renamed.
EXECUTE_KILLS = {
    "early": ("prox_tasks.cli.execute_cmd:execute", 1, "before"),
    "mid_write": ("prox_tasks.cli.execute_cmd:execute", 40, "before"),
    "quarantine_published": ("prox_tasks.corpus.quarantine:Quarantine.write", 1, "after"),
    "output_not_renamed": ("os:replace", 2, "before"),
}


def _label_rows(path: Path, n: int = 60) -> Path:
    """``n`` label rows with text and programs, and two bad rows for the quarantine."""
    from tests.quality.snapshot_factory import doc_text, programs_for

    rows = [{"id": f"doc-{i}", "text": doc_text(i), "doc_program": programs_for(i)[0],
             "chunk_program": programs_for(i)[1]} for i in range(n)]
    rows[7]["text"], rows[30]["doc_program"] = None, 3
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _files(folder: str) -> dict[str, bytes]:
    """Every file a reader of ``folder`` finds, by name, with its bytes."""
    from prox_tasks.storage import list_uri, read_bytes, to_uri

    return {to_uri(u).removeprefix(to_uri(folder)): read_bytes(u) for u in list_uri(folder)}


def _execute_killed_and_rerun(tmp_path: Path, base: str, point: str,
                              env: dict | None = None) -> None:
    src = str(_label_rows(tmp_path / "labels.jsonl"))
    code, _, err = prox("execute", "--input", src, "--output", f"{base}/clean/out.jsonl.gz",
                        env=env)
    assert code == 0, err
    expected = _files(f"{base}/clean")
    assert set(expected) == {"/out.jsonl.gz", "/out.jsonl.quarantine.jsonl"}

    args = ["execute", "--input", src, "--output", f"{base}/killed/out.jsonl.gz"]
    target, nth, when = EXECUTE_KILLS[point]
    code, _, err = prox(*args, at=target, nth=nth, when=when, env=env)
    assert code == -9, f"not killed at {point}: {code} {err}"
    seen = _files(f"{base}/killed")
    assert "/out.jsonl.gz" not in seen  # no output, not a part of one
    assert seen.get("/out.jsonl.quarantine.jsonl") in (None, expected["/out.jsonl.quarantine.jsonl"])

    code, out, err = prox(*args, env=env)
    assert code == 0, err
    assert out.startswith("executed 60 rows: 58 written"), out
    assert _files(f"{base}/killed") == expected  # the same bytes; no temporary file left


@pytest.mark.parametrize("point", list(EXECUTE_KILLS))
def test_an_execute_killed_at_any_step_and_run_again_is_the_uninterrupted_run(tmp_path, point):
    _execute_killed_and_rerun(tmp_path, str(tmp_path), point)


@pytest.mark.parametrize("point", ["mid_write", "quarantine_published"])
def test_an_execute_on_s3_killed_and_run_again_is_the_uninterrupted_run(
        tmp_path, s3_bucket, moto_server, point):  # noqa: F811
    _execute_killed_and_rerun(tmp_path, s3_bucket, point, env=s3_env(moto_server))


def test_two_releases_of_one_snapshot_at_once_both_succeed_and_book_it_once(
        tmp_path, uninterrupted):
    """A DAG's release task retried while a person runs ``prox release`` of the same
    snapshot: both find no release in the catalog, both complete it; the later one must
    find it booked, not fail."""
    from prox_tasks.catalog import Catalog

    src, expected, _ = uninterrupted
    base, hold = str(tmp_path / "killed"), str(tmp_path / "go")
    snap = _booked(base, src, tmp_path / "catalog.sqlite")
    held = prox(*_release_args(snap, base), wait=False, when=f"pause={hold}", nth=2,
                at="prox_tasks.catalog.catalog:Catalog.latest_quality_report")
    deadline = time.monotonic() + 30
    while not os.path.exists(f"{hold}.reached"):  # found no release booked, about to book it
        assert time.monotonic() < deadline and held.poll() is None, held.communicate()
        time.sleep(0.02)
    code, _, err = prox(*_release_args(snap, base))
    assert code == 0, err
    Path(hold).touch()
    out, err = held.communicate(timeout=60)
    assert held.returncode == 0, out + err
    assert _state(snap, base) == expected
    with Catalog(snap["catalog_url"]) as catalog:
        assert len(catalog.list_releases()) == 1
