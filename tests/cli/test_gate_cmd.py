"""``prox gate`` takes the deployment's ``PROX_GATE_<NAME>`` defaults, as the nightly DAG does."""

from __future__ import annotations

import json
import re

import pytest

from prox_tasks.cli import main
from prox_tasks.corpus.manifest import load_manifest
from prox_tasks.pipeline.dag_config import gate_defaults, threshold_params
from tests.quality.snapshot_factory import refine_snapshot, write_input


def test_gate_thresholds_default_to_the_prox_gate_variables(tmp_path, capsys, monkeypatch):
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = str(tmp_path / "snap")
    refine_snapshot(str(src), out)
    gate = ["gate", "--json", "--snapshot", out]
    assert main(gate) == 0
    capsys.readouterr()
    # a deployment-wide threshold the snapshot's drop rate breaks: the DAG's Param default
    # and `prox gate` agree, and an option still wins over the variable
    monkeypatch.setenv("PROX_GATE_MAX_DROP_RATE", "0.0001")
    monkeypatch.setenv("PROX_GATE_MIN_DROP_RATE", "0.00001")
    assert threshold_params()["max_drop_rate"]["default"] == 0.0001
    assert main(gate) == 1
    failed = json.loads(capsys.readouterr().out)["failed"]
    assert any("drop_rate" in json.dumps(check) for check in failed)
    assert main([*gate, "--max-drop-rate", "0.9", "--min-drop-rate", "0"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["gate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "default 0.0001, from $PROX_GATE_MAX_DROP_RATE" in shown
    assert "--max-failure-rate MAX_FAILURE_RATE default 0.25" in shown


def test_an_empty_prox_gate_variable_is_the_built_in_default(tmp_path, capsys, monkeypatch):
    """An env file's ``PROX_GATE_MAX_DROP_RATE=``: the default, as ``prox gate --help``
    shows it (before: the gate and every DAG parse failed with "a PROX_GATE_* variable is
    not a number (could not convert string to float: '')")."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = str(tmp_path / "snap")
    refine_snapshot(str(src), out)
    monkeypatch.setenv("PROX_GATE_MAX_DROP_RATE", "")
    monkeypatch.setenv("PROX_GATE_HISTORY_MIN", " ")
    assert threshold_params()["max_drop_rate"]["default"] == 0.9
    assert main(["gate", "--json", "--snapshot", out]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["passed"] is True


def test_a_prox_gate_variable_out_of_range_is_named_as_such(monkeypatch):
    """``PROX_GATE_MAX_DROP_RATE=2`` made the gate and every DAG parse fail with "a PROX_GATE_*
    variable is not a number (max_drop_rate 2.0 is not in [0, 1])": 2 is a number; the
    variable is named with what is wrong with it."""
    monkeypatch.setenv("PROX_GATE_MAX_DROP_RATE", "2")
    with pytest.raises(ValueError) as refused:
        gate_defaults()
    assert str(refused.value).startswith(
        "deployment variable PROX_GATE_MAX_DROP_RATE 2.0 is not in [0, 1]: set it in range")
    monkeypatch.setenv("PROX_GATE_MAX_DROP_RATE", "0.1")
    monkeypatch.setenv("PROX_GATE_MIN_DROP_RATE", "0.5")
    with pytest.raises(ValueError, match="PROX_GATE_MIN_DROP_RATE 0.5 is above "
                                         "PROX_GATE_MAX_DROP_RATE 0.1: no snapshot could pass"):
        gate_defaults()
    monkeypatch.setenv("PROX_GATE_MIN_DROP_RATE", "lots")
    with pytest.raises(ValueError, match="a PROX_GATE_\\* variable is not a number"):
        gate_defaults()


def test_gate_with_a_catalog_prints_only_its_own_line(tmp_path):
    """The real process: `prox gate --name` handed the catalog URL to Airflow's task-log
    masker, importing Airflow, which set up its logging in the command's process — its
    structlog lines ("[info ] gate PASSED for ...") on stderr beside the summary line."""
    import subprocess
    import sys

    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    prox = [sys.executable, "-m", "prox_tasks.cli"]
    refined = subprocess.run([*prox, "refine", "--input", str(src), "--output",
                              str(tmp_path / "snap"), "--name", "s1", "--catalog", catalog,
                              "--model", "default", "--no-progress"],
                             capture_output=True, text=True, timeout=300, check=False)
    assert refined.returncode == 0, refined.stderr[-2000:]
    done = subprocess.run([*prox, "gate", "--snapshot", str(tmp_path / "snap"), "--name", "s1",
                           "--catalog", catalog],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("gate PASSED: 20 kept") and done.stdout.count("\n") == 1
    assert done.stderr == ""
    # prox's own error lines of a failed gate still reach stderr, as without --name
    failed = subprocess.run([*prox, "gate", "--snapshot", str(tmp_path / "snap"), "--name", "s1",
                             "--catalog", catalog, "--min-drop-rate", "0.5"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert failed.returncode == 1 and failed.stdout.startswith("gate FAILED")
    assert failed.stderr.startswith("gate check failed: ") and "[error" not in failed.stderr


def test_a_snapshot_the_gate_found_unfinished_is_finished_by_a_rerun(tmp_path, capsys):
    """``prox gate --name`` over a folder one of whose shards was never published (its
    refine died before publishing; played by removing the shard's status record and file)
    fails ``complete`` and quarantines the snapshot, freezing the folder. The rerun of the
    same settings that finishes it publishes that shard — the gate judged no file of it —
    and the gate then passes. Before, the rerun refined the shard and was refused with
    GatedSnapshot ("its files are what the gate judged"), leaving only --force: every
    shard refined again."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 30)
    out = tmp_path / "snap"
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    refine = ["refine", "--input", str(src), "--output", str(out), "--shards", "3",
              "--catalog", catalog, "--name", "snap", "--no-progress", "--json"]
    gate = ["gate", "--json", "--snapshot", str(out), "--name", "snap", "--catalog", catalog]
    assert main(refine) == 0, capsys.readouterr().err
    capsys.readouterr()
    (out / "_status" / "shard-00002.json").unlink()
    for file in (out / "shards").glob("shard-00002*"):
        file.unlink()
    assert main(gate) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False
    assert main(refine) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert (result["shards"], result["shards_refined"]) == (3, 1)  # 0 and 1 reused
    assert main(gate) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["passed"] is True


def test_a_rerun_into_a_gated_folder_missing_a_judged_shard_is_refused_up_front(tmp_path,
                                                                                capsys):
    """The gate judged every shard (``prox gate --name`` passed); then shard 2's files went.
    ``prox refine`` without --force is refused once the plan is read, before any model
    work: no checkpoint of shard 2, nothing booked over the gated snapshot. Before, it
    refined shard 2 and was refused only at its publish ("was not published ...")."""
    from prox_tasks.catalog import Catalog

    src = write_input(tmp_path / "in" / "crawl.jsonl", 30)
    out = tmp_path / "snap"
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    refine = ["refine", "--input", str(src), "--output", str(out), "--shards", "3",
              "--catalog", catalog, "--name", "snap", "--no-progress", "--json"]
    assert main(refine) == 0, capsys.readouterr().err
    assert main(["gate", "--snapshot", str(out), "--name", "snap", "--catalog", catalog]) == 0
    capsys.readouterr()
    (out / "_status" / "shard-00002.json").unlink()
    (out / "shards" / "shard-00002.parquet").unlink()
    assert main(refine) == 1
    said = capsys.readouterr().err
    assert said.startswith(f"prox refine: GatedSnapshot: shard 2 of {out} is not published "
                           "and was not refined: snapshot snap there was gated (gated), and "
                           "its files are what the gate judged;"), said
    assert "--force" in said
    assert not (out / "_checkpoints" / "shard-00002").exists()
    with Catalog(catalog) as booked:
        assert booked.get_snapshot("snap")["status"] == "gated"


def test_a_gate_without_a_name_freezes_the_folder_it_judged(tmp_path, capsys, monkeypatch):
    """``prox gate`` without ``--name`` writes the gate.json ``prox release`` checks (a
    release with no catalog goes on from it alone), so it freezes the folder as a gate with
    ``--name`` does: a run still refining it publishes no more shards, and a rerun that
    would refine a judged shard is refused up front, naming no snapshot. Before, it marked
    nothing: that run published over the files the gate judged."""
    from prox_tasks.corpus import load_manifest
    from prox_tasks.refine.claim import GatedSnapshot, check_claim
    from prox_tasks.release.release import check_releasable

    # a PROX_HOME without a catalog: in the whole suite the session's (the Airflow tests')
    # may hold one another test wrote, and the line below would name no missing catalog
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    src = write_input(tmp_path / "in" / "crawl.jsonl", 30)
    out = tmp_path / "snap"
    # booked in a catalog the gate does not read: the gate books nothing, names no snapshot
    refine = ["refine", "--input", str(src), "--output", str(out), "--shards", "3",
              "--no-progress", "--json", "--catalog", f"sqlite:///{tmp_path / 'other.sqlite'}"]
    assert main(refine) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["gate", "--snapshot", str(out)]) == 0
    assert "; not booked in a catalog: there is none at " in capsys.readouterr().out
    assert len(check_releasable(str(out))[1]) == 3  # what `prox release` goes on from
    manifest = load_manifest(str(out))
    request = json.loads((out / "_status" / "shard-00001.json").read_text())["request"]
    with pytest.raises(GatedSnapshot, match=r"shard 1 of .* was not published: the snapshot "
                       r"there was gated \(gated\) meanwhile"):
        check_claim(str(out), manifest.id, request, 1)  # a run still refining it
    (out / "_status" / "shard-00002.json").unlink()
    (out / "shards" / "shard-00002.parquet").unlink()
    capsys.readouterr()
    assert main(refine) == 1
    assert "shard 2 of " in (said := capsys.readouterr().err)
    assert "is not published and was not refined: the snapshot there was gated (gated)" \
        in said


def test_a_planned_but_unrefined_snapshot_says_so_before_the_failed_checks(tmp_path, capsys,
                                                                           caplog):
    """Gating a snapshot that was planned but not refined listed six failed checks in Great
    Expectations' wording and not their one cause: that is said first now, in the summary line
    and in the log, and the verdict is the same (failed, the same checks)."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = str(tmp_path / "snap")
    assert main(["plan", "--input", str(src), "--output", out, "--target-docs", "10"]) == 0
    capsys.readouterr()
    assert main(["gate", "--snapshot", out]) == 1
    shown = capsys.readouterr()
    note = "no shard is refined yet (0 of 2 planned shards written): refine the snapshot first"
    assert shown.out.startswith(f"gate FAILED: {note}"), shown.out
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors[0] == f"gate: {note} (prox refine, or the DAG's refine_shard tasks), then " \
        "gate it" and len(errors) == 7, errors  # the note, then the six checks
    assert main(["gate", "--json", "--snapshot", out]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["passed"] is False and len(summary["failed"]) == 6

    refine_snapshot(str(src), str(tmp_path / "refined"))  # refined: no such note
    assert main(["gate", "--snapshot", str(tmp_path / "refined"), "--max-drop-rate",
                 "0.0001", "--min-drop-rate", "0"]) == 1
    assert "no shard is refined" not in capsys.readouterr().out


def test_failed_shard_checks_name_the_shards_and_the_way_out(tmp_path, capsys):
    """A shard never written (its refine failed) and another whose file was overwritten:
    the shards checks said "1 rows outside e.g. False", naming no shard, and the summary
    gave no cause nor what to do. They now name the shards (and why a file is unreadable),
    and the summary says first how many shards are missing and how to finish them."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 30)
    out = tmp_path / "snap"
    refine_snapshot(str(src), str(out))
    (out / "_status" / "shard-00002.json").unlink()  # its refine died before publishing
    (out / "shards" / "shard-00002.parquet").unlink()
    damaged = out / "shards" / "shard-00001.parquet"
    body = damaged.read_bytes()
    damaged.write_bytes(body[:-200] + bytes(200))  # the footer gone, the size the same
    assert main(["gate", "--snapshot", str(out)]) == 1
    line = capsys.readouterr().out
    assert line.startswith("gate FAILED: 1 of 3 planned shards not written: refine them "
                           "(prox refine again"), line
    assert "shards: complete (expect_column_values_to_be_in_set) observed 1 shard: " \
        "shard-00002, expected" in line, line
    assert re.search(r"shards: readable \(\S+\) observed 1 shard: shard-00001 \(\w+: [^)]*"
                     r"Parquet", line), line
    assert "e.g. False" not in line and ".;" not in line
    # the planned and accounted counts of the snapshot, not a Python list ("e.g. ['30', '20']")
    assert re.search(r"snapshot: docs_planned/docs_accounted \(\S+\) observed 1 row outside, "
                     r"e\.g\. \(30, \d+\), expected equal in every row", line), line
    assert main(["gate", "--json", "--snapshot", str(out)]) == 1
    failed = {c["column"]: c["details"] for c in json.loads(capsys.readouterr().out)["failed"]
              if c["suite"] == "shards"}
    assert failed["complete"]["shards"] == [2] and failed["readable"]["shards"] == [1]
    assert failed["docs_planned/docs_accounted"]["shards"] == [2]


def test_the_summary_line_counts_every_planned_document(tmp_path, capsys):
    """``gate PASSED: 16 kept, 4 dropped of 23 planned`` left out the 3 quarantined records,
    so the line's figures did not add up to the planned count; it names them now."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20, garbage_lines=3)
    out = str(tmp_path / "snap")
    refine_snapshot(str(src), out)
    assert main(["gate", "--snapshot", out, "--max-quarantine-rate", "0.5"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("gate PASSED: 16 kept, 4 dropped, 3 quarantined of 23 planned; "), line


def test_a_gate_under_a_name_not_the_folders_says_the_name_it_is_booked_under(tmp_path,
                                                                              capsys):
    """``prox refine --output b/snap`` beside an ``a/snap`` booked before books the folder as
    ``snap-<digest>`` (its summary says so); ``prox gate --snapshot b/snap --name snap`` was
    refused with "name this one apart (--name)", and a typo with "no snapshot 'snp'", naming
    no name that works. Both say the name the catalog books the folder under now, as a
    command that then passes."""
    import shlex

    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    for parent in ("a", "b"):
        assert main(["refine", "--input", str(src), "--output", str(tmp_path / parent / "snap"),
                     "--catalog", catalog, "--no-progress"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    second = str(tmp_path / "b" / "snap")
    for name in ("snap", "snp"):  # a name to correct: exit 2, not the 1 of a failed gate
        assert main(["gate", "--snapshot", second, "--name", name, "--catalog", catalog]) == 2
        said = capsys.readouterr().err.strip()
        # said as the other refusals are, without an internal type name
        assert said.startswith(("prox gate: snapshot name 'snap' is booked for ",
                                "prox gate: no snapshot 'snp' in the catalog")), said
        assert f"the catalog books {second} as 'snap-" in said, said
    command = shlex.split(said.rsplit(": prox ", 1)[1].removesuffix(" (-v for the traceback)"))
    assert main([*command, "--catalog", catalog]) == 0
    assert capsys.readouterr().out.startswith("gate PASSED")


def test_a_gate_under_a_name_booked_for_another_folder_or_none_exits_2(tmp_path, capsys):
    """``prox gate --name`` with a name the catalog books for another folder, on a folder
    it books under no name, or a name it does not book at all, exited 1 — the code of a
    snapshot that failed its checks — for a name to correct. It exits 2, the code of a
    setting to fix, as ``SnapshotNameTaken`` does in the other commands, saying why."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["refine", "--input", str(src), "--output", str(tmp_path / "a" / "snap"),
                 "--catalog", catalog, "--no-progress"]) == 0, capsys.readouterr().err
    loose = str(tmp_path / "loose" / "snap")  # refined, booked in no catalog
    refine_snapshot(str(src), loose)
    capsys.readouterr()
    for name, said in (("snap", "prox gate: snapshot name 'snap' is booked for "),
                       ("nothing", "prox gate: no snapshot 'nothing' in the catalog")):
        assert main(["gate", "--snapshot", loose, "--name", name, "--catalog", catalog]) == 2
        err = capsys.readouterr().err
        assert err.startswith(said), err
        assert "the catalog books" not in err, err  # it books the folder under no name


def test_a_gate_without_a_name_books_the_snapshot_the_catalog_holds_for_the_folder(
        tmp_path, capsys, monkeypatch):
    """``prox gate --snapshot FOLDER`` without ``--name`` wrote gate.json, but the catalog
    (``prox catalog list``, the PROX report) showed the snapshot as not gated, though the
    catalog books the folder (``prox refine`` books it under the folder's name). It now
    records the gate on that snapshot and says under which name; a folder the catalog does
    not book is gated as before, and the line says it is not booked."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.release import GATE_SUITE

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", catalog)
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = str(tmp_path / "snap")
    assert main(["refine", "--input", str(src), "--output", out, "--no-progress"]) == 0, \
        capsys.readouterr().err
    capsys.readouterr()
    assert main(["gate", "--snapshot", out]) == 0
    said = capsys.readouterr().out
    assert said.startswith("gate PASSED") and "; booked on snapshot snap in the catalog" in said
    with Catalog(catalog) as booked:
        assert booked.get_snapshot("snap")["status"] == "gated"
        assert booked.latest_quality_report("snap", GATE_SUITE) is not None
    assert main(["gate", "--json", "--snapshot", out]) == 0
    assert json.loads(capsys.readouterr().out)["booked_as"] == "snap"

    other = str(tmp_path / "other")  # refined into no catalog the gate reads
    refine_snapshot(str(src), other)
    assert main(["gate", "--snapshot", other]) == 0
    said = capsys.readouterr().out
    assert said.startswith("gate PASSED") and "; not booked in a catalog: " in said
    assert "--name" in said


def test_a_gate_given_a_catalog_but_no_name_books_the_snapshot_that_catalog_holds(
        tmp_path, capsys, monkeypatch):
    """Without --name, ``prox gate`` books the snapshot the default catalog holds for the
    folder, but the same catalog given as ``--catalog`` was refused, '--catalog needs
    --name': a deployment whose catalog is not the default could not do what the default's
    user does. ``--catalog URL`` now books the snapshot that catalog holds for the folder;
    a catalog booking none for it is still refused (exit 2), saying so."""
    from prox_tasks.catalog import Catalog

    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'default.sqlite'}")
    catalog = f"sqlite:///{tmp_path / 'team.sqlite'}"
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = str(tmp_path / "snap")
    assert main(["refine", "--input", str(src), "--output", out, "--catalog", catalog,
                 "--no-progress"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["gate", "--snapshot", out, "--catalog", catalog]) == 0, \
        capsys.readouterr().err
    said = capsys.readouterr().out
    assert said.startswith("gate PASSED") and "; booked on snapshot snap in the catalog" in said
    with Catalog(catalog) as booked:
        assert booked.get_snapshot("snap")["status"] == "gated"

    other = str(tmp_path / "other")  # refined into no catalog
    refine_snapshot(str(src), other)
    assert main(["gate", "--snapshot", other, "--catalog", catalog]) == 2
    err = capsys.readouterr().err
    assert "--catalog needs --name" in err and "books no snapshot for this folder" in err, err


@pytest.mark.parametrize("written", ['{"version": ', "[]", "edited"])
def test_a_snapshot_whose_manifest_holds_no_plan_is_named_with_the_way_out(tmp_path, capsys,
                                                                          written):
    """A snapshot's manifest.json cut short, holding a list, or edited by hand: ``prox
    gate`` said only ``JSONDecodeError: Expecting value: line 1 column 13 (char 12)``,
    ``AttributeError: 'list' object has no attribute 'get'`` or ``ValueError: manifest id
    does not match its content``: no file named, no way out. It names the manifest, what
    reading it met, and to plan and refine the snapshot again; exit 2, and the DAGs fail it
    without retries (reading it again cannot help)."""
    from prox_tasks.pipeline.errors import cannot_succeed
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = tmp_path / "snap"
    refine_snapshot(str(src), str(out))
    manifest = out / "manifest.json"
    if written == "edited":
        plan = json.loads(manifest.read_text())
        plan["shards"][0]["docs"] -= 1  # a manifest that lies about a shard's documents
        written = json.dumps(plan)
    manifest.write_text(written)
    assert main(["gate", "--snapshot", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{manifest.as_uri()} holds no readable plan (" in err, err
    with pytest.raises(cannot_succeed()):
        load_manifest(str(out))
    assert "plan and refine the snapshot again (prox refine --replan, or into a new folder), " \
        "then gate it again" in err, err
    assert not (out / "_quality" / "gate.json").exists()  # nothing judged, nothing written
