"""``prox refine --help`` states the limits' defaults a run really takes."""

from __future__ import annotations

import pytest

from prox_tasks.cli import main
from tests.storage.conftest import moto_server, s3_bucket  # noqa: F401 (S3 over HTTP)


def _help(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_limit_defaults_in_the_help_follow_the_environment(capsys, monkeypatch):
    monkeypatch.delenv("PROX_MAX_DOC_LINES", raising=False)
    assert "too_many_lines (default 100000)" in _help(capsys)
    # the variable is the default a run takes (Limits.resolve): the help says so
    monkeypatch.setenv("PROX_MAX_DOC_LINES", "50000")
    text = _help(capsys)
    assert "too_many_lines (default 50000, from $PROX_MAX_DOC_LINES)" in text
    assert "(100000)" not in text


def test_a_failed_shard_is_named_with_the_command_that_finishes_the_run(tmp_path, capsys):
    """A shard that cannot be written (a folder in the way of its file: a real fault) ended
    with the OS error alone; the line now names the shard, what was kept and how to finish,
    and the same command does finish once the cause is gone."""
    import shutil

    from tests.quality.snapshot_factory import write_input

    src = write_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["refine", "--input", str(src), "--output", str(out), "--model", "default",
            "--target-docs", "10", "--catalog", url, "--no-progress"]
    assert main(["plan", "--input", str(src), "--output", str(out), "--target-docs", "10"]) == 0
    in_the_way = out / "shards" / "shard-00001.parquet"
    (in_the_way / "x").mkdir(parents=True)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("prox refine: shard 1 of 2 failed: Is a directory: "), err
    assert "shard-00001.parquet (1 written, kept: once the cause is fixed, the same prox " \
        "refine command finishes the run and reuses them; `prox catalog list shards " \
        "--snapshot out` lists each shard's error) (-v for the traceback)" in err, err
    assert len(err.strip().splitlines()) == 1
    shutil.rmtree(in_the_way)
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("refined 20 documents in 2 shards (1 reused)")


def test_a_run_whose_every_shard_failed_says_none_was_written(tmp_path, capsys):
    """Every shard fails once refined (a file ``shards`` in the output folder: no shard file
    can be written); the line said "(0 written, kept: … finishes the run and reuses them",
    of shards there are none of. (``PROX_PROGRESS_EVERY=1k`` failed each shard as it
    started until such settings were refused before planning, 26b85e3.)"""
    from tests.quality.snapshot_factory import write_input

    src = write_input(tmp_path / "in.jsonl", 20)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "shards").write_text("")  # in the way of every shard's file
    assert main(["refine", "--input", str(src), "--output", str(tmp_path / "out"),
                 "--model", "default", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "shards is a file where a folder is needed" in err, err
    assert "(none written by this run: once the cause is fixed, the same prox refine command " \
        "finishes the run; `prox catalog list shards --snapshot out` lists each shard's " \
        "error)" in err, err


def test_quality_filter_report_says_on_the_line_how_many_kept_documents_it_flagged(
        tmp_path, capsys):
    """``--quality-filter report`` flags low-quality documents without dropping them, and its
    count (docs/teachers.md: 240 of the sample's 285 kept) was only in ``--json``: the line
    read as a run with the filter off. It now says it; ``drop`` keeps its own words."""
    import gzip
    import json
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"
    src = tmp_path / "in.jsonl"
    src.write_text("".join(gzip.open(sample, "rt").readlines()[:40]))
    for mode in ("report", "drop"):
        args = ["refine", "--input", str(src), "--output", str(tmp_path / mode), "--model",
                "default", "--quality-filter", mode, "--catalog",
                f"sqlite:///{tmp_path / 'c.sqlite'}", "--no-progress"]
        assert main(args) == 0
        line = capsys.readouterr().out
        assert main([*args, "--json"]) == 0  # the rerun reuses the shard, counts and all
        s = json.loads(capsys.readouterr().out)
        assert s["docs_low_quality"] > 0
        if mode == "report":
            assert f"{s['docs_kept']:,} kept ({s['docs_low_quality']:,} of them low " \
                "quality), " in line, line
        else:
            assert f"{s['docs_kept']:,} kept, {s['docs_dropped']:,} dropped " \
                f"({s['dropped_low_quality']:,} for low quality)" in line, line


def test_a_run_that_fails_while_planning_is_listed_failed_in_the_catalog(tmp_path, capsys):
    """A nightly prox refine whose input is missing failed with a clear line but booked
    nothing: `prox catalog list snapshots` did not show the failed run. A new snapshot is
    now booked failed with the error (no plan); a snapshot the catalog knows keeps its row,
    as the failure wrote no plan over its folder's."""
    from prox_tasks.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    missing = tmp_path / "crawl" / "2026-01-01.jsonl"
    for name in ("nightly", "known"):
        if name == "known":
            with Catalog(url) as catalog:
                catalog.register_snapshot(name, "in", str(tmp_path / name), status="refined")
        assert main(["refine", "--input", str(missing), "--output", str(tmp_path / name),
                     "--model", "default", "--catalog", url, "--name", name,
                     "--no-progress"]) == 2  # an input to deliver or fix: no retry helps
        assert "no input files at" in capsys.readouterr().err
    with Catalog(url) as catalog:
        nightly = catalog.get_snapshot("nightly")
        assert nightly["status"] == "failed" and "no input files at" in nightly["error"]
        assert nightly["output_uri"] == f"file://{tmp_path / 'nightly'}"
        known = catalog.get_snapshot("known")
        assert known["status"] == "refined" and known["error"] is None


def test_help_states_the_default_of_every_option_that_has_one(capsys):
    """``prox refine --help`` showed --target-docs, --shards, --text-field, --id-field (and
    the backends' options) with no default: 10,000 documents a shard was never stated. Every
    option a run takes a value for without it being given now says which; the shard size
    also that an existing plan's is kept (tests/cli/test_train_cmd.py checks the options
    whose default argparse holds)."""
    import argparse

    from prox_tasks.cli import build_parser

    parser = build_parser(["refine"])
    sub = next(a for a in parser._actions if a.dest == "command").choices["refine"]
    unsaid = [action.option_strings[-1] for action in sub._actions
              if action.option_strings and not action.required
              and action.default not in (False, argparse.SUPPRESS)
              and "default" not in (action.help or "")]
    assert not unsaid, f"prox refine --help says no default for: {', '.join(unsaid)}"
    assert "documents per shard (default: an existing plan's size as planned, e.g. by prox " \
        "plan --target-docs or --target-bytes; a new folder: 10,000)" in _help(capsys)


def test_json_totals_have_every_work_key_whether_shards_are_reused_or_not(tmp_path, capsys):
    """``prox refine --json`` left ``shards_refined``, ``docs_refined``, ``tokens_in`` and
    ``tokens_out`` out when every shard was reused, and ``shards_skipped`` when none was: a
    script reading them crashed on one run of two. Each is now there, 0 when nothing."""
    import json

    from tests.quality.snapshot_factory import write_input

    src = write_input(tmp_path / "in.jsonl", 20)
    args = ["refine", "--input", str(src), "--output", str(tmp_path / "out"), "--model",
            "default", "--target-docs", "10", "--catalog",
            f"sqlite:///{tmp_path / 'catalog.sqlite'}", "--no-progress", "--json"]
    keys = ("shards_refined", "shards_skipped", "docs_refined", "tokens_in", "tokens_out")
    runs = []
    for _ in range(2):  # none reused, then all reused
        capsys.readouterr()
        assert main(args) == 0
        runs.append(json.loads(capsys.readouterr().out))
    fresh, reused = ({key: run.get(key) for key in keys} for run in runs)
    assert fresh["shards_refined"] == 2 and fresh["shards_skipped"] == 0, fresh
    assert reused == {"shards_refined": 0, "shards_skipped": 2, "docs_refined": 0,
                      "tokens_in": 0, "tokens_out": 0}, reused


def test_refine_refuses_a_folder_without_its_completion_marker(tmp_path, capsys):
    """``prox refine --partition-marker _SUCCESS`` over a partition whose marker is not
    there yet (its files may still be landing): refused before anything is planned or booked,
    naming the marker and the folder."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    (folder / "part-00000.jsonl").write_text('{"id": "1", "text": "a line of text"}\n')
    assert main(["refine", "--no-progress", "--input", str(folder), "--output",
                 str(tmp_path / "out"), "--partition-marker", "_SUCCESS"]) == 1
    said = capsys.readouterr().err
    assert "is not complete: its marker _SUCCESS is not there" in said
    assert f"{folder}/_SUCCESS" in said
    assert not (tmp_path / "out").exists()


def test_refine_after_plan_snapshot_books_the_planned_snapshot_not_a_second_one(tmp_path, capsys):
    """docs/storage.md's order — `prox plan --snapshot NAME`, then `prox refine` into the same
    folder — booked the refine under the folder's name: a second catalog row (and PROX report
    row) for one folder, the planned one left `planned` forever. A refine naming no --name
    now books the name the catalog holds for its output folder."""
    from prox_tasks.catalog import Catalog
    from tests.quality.snapshot_factory import write_input

    src = write_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "CC-MAIN-2024-22"
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["plan", "--input", str(src), "--output", f"{out}/", "--target-docs", "10",
                 "--snapshot", "cc-2024-22", "--catalog", url]) == 0
    capsys.readouterr()
    assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                 "--catalog", url, "--no-progress"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("(catalog snapshot cc-2024-22)")
    with Catalog(url) as catalog:
        rows = catalog.list_snapshots()
    assert [(row["name"], row["status"]) for row in rows] == [("cc-2024-22", "refined")]


def test_a_stopped_or_failed_force_run_says_to_finish_without_force(tmp_path, capsys,
                                                                     monkeypatch):
    """A prox refine --force stopped (Ctrl-C) or failed said 'the same prox refine command
    finishes the run: the shards published are reused', but --force refines published
    shards again: the same command pays for every shard anew. It now says prox refine
    without --force finishes it, and that command reuses them. The mock: the load raises
    (a Ctrl-C cannot be timed into it; a fault to fail it), as test_ctrl_c_while_… does."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine import workers
    from tests.quality.snapshot_factory import write_input

    src = write_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["refine", "--input", str(src), "--output", str(out), "--model", "default",
            "--target-docs", "10", "--catalog", url, "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()

    def ctrl_c(*_args):
        raise KeyboardInterrupt

    def broken(*_args):
        raise OSError("the model's disk is gone")

    for load, code in ((ctrl_c, 130), (broken, 1)):
        with monkeypatch.context() as patch:
            patch.setattr(workers, "_load", load)
            assert main([*args, "--force"]) == code
        err = capsys.readouterr().err
        assert "prox refine without --force finishes the run" in err, err
        assert "the same prox refine command" not in err, err
    assert main(args) == 0  # what it says: the shards published are reused
    assert capsys.readouterr().out.startswith("refined 20 documents in 2 shards (2 reused):")
    with Catalog(url) as catalog:
        assert [s["status"] for s in catalog.get_shards("out")] == ["done"] * 2


def test_ctrl_c_while_the_model_loads_books_no_attempt_and_says_how_to_finish(
        tmp_path, capsys, monkeypatch):
    """Ctrl-C while prox refine loaded its model (seconds for the tagger, minutes for vLLM)
    booked every pending shard `failed` with an attempt (19 of 19, 'KeyboardInterrupt: ')
    though none ran, and said only 'prox refine: interrupted'. The shards now stay as they
    were (planned, no attempt), the snapshot failed with a readable reason, and the line
    says that the same command finishes the run. The mock: Ctrl-C cannot be timed for real
    to land inside the load, so the load raises it, as the signal handler would there."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine import workers
    from tests.quality.snapshot_factory import write_input

    src = write_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["refine", "--input", str(src), "--output", str(out), "--model", "default",
            "--target-docs", "10", "--catalog", url, "--no-progress"]

    def ctrl_c(*_args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(workers, "_load", ctrl_c)
        assert main(args) == 130
    err = capsys.readouterr().err
    assert err.startswith("prox refine: interrupted: the same prox refine command"), err
    with Catalog(url) as catalog:
        shards = catalog.get_shards("out")
        snapshot = catalog.get_snapshot("out")
    assert [(s["status"], s["attempts"]) for s in shards] == [("planned", 0)] * 2, shards
    assert snapshot["status"] == "failed"
    assert snapshot["error"] == "KeyboardInterrupt: interrupted (Ctrl-C)"
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("refined 20 documents in 2 shards:")
    with Catalog(url) as catalog:
        assert [(s["status"], s["attempts"]) for s in catalog.get_shards("out")] == \
            [("done", 1)] * 2


def test_duplicate_ids_refused_by_the_fail_policy_say_the_way_out(tmp_path, capsys):
    """--duplicate-ids fail over an input with repeated ids ended with '3 document ids occur
    more than once … (7 documents, shards 0) and duplicate_ids is 'fail'', saying neither
    what to do nor in the option's name; the line now names the option and its other values,
    and the run with one of them refines every document once."""
    import json

    rows = [{"id": i, "text": f"document {i} with a few more words in it"} for i in "abacbd"]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["refine", "--input", str(src), "--output", str(tmp_path / "out"), "--model",
            "default", "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}", "--no-progress"]
    assert main([*args, "--duplicate-ids", "fail"]) == 1
    err = capsys.readouterr().err
    assert ("2 document ids occur more than once in the snapshot (4 documents, shard 0) and "
            "--duplicate-ids is 'fail': fix the input, or refine again with --duplicate-ids "
            "keep_first (the first kept, the others quarantined) or quarantine") in err, err
    assert main([*args, "--duplicate-ids", "keep_first", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["docs_written"], result["docs_quarantined"]) == (4, 2), result


def _loading_workers(pid: int) -> int:
    """Worker processes of ``prox refine`` ``pid`` (children of its fork server) blocked
    opening a FIFO: loading their model."""
    import psutil

    blocked = 0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.ppid() != pid and open(f"/proc/{child.pid}/wchan").read() == \
                    "wait_for_partner":  # fmt: skip
                blocked += 1
        except (OSError, psutil.Error):  # ended meanwhile
            continue
    return blocked


def test_ctrl_c_while_workers_load_their_model_books_no_attempt_and_says_how_to_finish(
        tmp_path):
    """prox refine --workers 2 stopped by Ctrl-C while its workers loaded the model booked a
    shard `failed` with an attempt (KeyboardInterrupt) though no worker had started one, and
    each worker's 'Exception in initializer' traceback came under the run's own line. Now
    no shard is booked an attempt (each planned again, 'not run'), stderr is the one line
    saying the same command finishes the run, and it does. Real processes and a real SIGINT
    to the process group, as a terminal sends it; the model folder's artifact.json is a
    FIFO, so the workers' load cannot end before the signal (slow storage, held). The run's
    own check before the plan reads it once (a damaged record is refused there): that one
    read is served, the workers' are not."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    from prox_tasks.catalog import Catalog
    from prox_tasks.models import SHIPPED_MODEL
    from tests.quality.snapshot_factory import write_input

    with subprocess.Popen(["sleep", "30"]) as sleeping:  # where a process waits: shown?
        time.sleep(0.2)
        shown = Path(f"/proc/{sleeping.pid}/wchan").read_text() not in ("", "0")
        sleeping.kill()
    if not shown:
        pytest.skip("this kernel does not show where a process waits (/proc/PID/wchan)")
    root = Path(__file__).resolve().parents[2]
    src = write_input(tmp_path / "in.jsonl", 40)
    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, model)
    record = (model / "artifact.json").read_bytes()
    (model / "artifact.json").unlink()
    os.mkfifo(model / "artifact.json")

    def serve_the_check_once():  # the parent's read before the plan; a worker's then waits
        with open(model / "artifact.json", "wb") as fifo:
            fifo.write(record)

    threading.Thread(target=serve_the_check_once, daemon=True).start()
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    command = [sys.executable, "-m", "prox_tasks.cli", "refine", "--input", str(src),
               "--output", str(tmp_path / "out"), "--model", str(model), "--target-docs", "10",
               "--workers", "2", "--catalog", url, "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        sent = []
        while time.monotonic() < deadline and (
                _loading_workers(run.pid) < 2 or not sent) and run.poll() is None:
            time.sleep(0.1)
            if (tmp_path / "catalog.sqlite").exists():
                with Catalog(url) as catalog:  # shards sent to the workers
                    sent = [s for s in catalog.get_shards("out") if s["status"] == "running"]
        assert _loading_workers(run.pid) == 2 and sent, "the workers did not start loading"
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        _out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, err
    assert err == ("prox refine: interrupted: the same prox refine command finishes the run: "
                   "the shards published are reused and a shard stopped midway resumes from "
                   "its checkpoints\n"), err
    with Catalog(url) as catalog:
        shards = catalog.get_shards("out")
        snapshot = catalog.get_snapshot("out")
    assert [(s["status"], s["attempts"]) for s in shards] == [("planned", 0)] * 4, shards
    assert (snapshot["status"], snapshot["error"]) == (
        "failed", "KeyboardInterrupt: interrupted (Ctrl-C)")
    (model / "artifact.json").unlink()  # the storage answers again
    shutil.copy(SHIPPED_MODEL / "artifact.json", model / "artifact.json")
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.startswith(
        "refined 40 documents in 4 shards: "), done.stderr
    with Catalog(url) as catalog:
        assert [(s["status"], s["attempts"]) for s in catalog.get_shards("out")] == \
            [("done", 1)] * 4


def test_a_rerun_naming_no_fields_reads_the_snapshot_as_planned(tmp_path):
    """A snapshot planned with ``--text-field raw_content --id-field url --format jsonl``
    (a Spark ``part-….json`` crawl), then ``prox refine`` run into it again naming none of
    them (a retried script, the README's ``prox plan`` then ``prox refine``): it was
    refused, 'holds another plan … text_field 'raw_content' -> 'text'', and the way out it
    named, --replan, replanned the crawl read as ``text``, every record quarantined as
    missing_text. A rerun now reads the snapshot as planned (the plan reused, every shard
    reused); one naming another field is refused as before, naming it and --replan."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src = tmp_path / "crawl" / "part-00000-c000.json"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"url": f"https://example.com/{i}", "raw_content":
                                       f"Paragraph {i} about rivers and their deltas.\n"
                                       f"Another line about sediment {i}."}) + "\n"
                           for i in range(12)))
    out = tmp_path / "out"
    common = ["--input", str(src.parent), "--output", str(out), "--model", "default",
              "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}", "--no-progress",
              "--json"]

    def prox(*args):
        return subprocess.run([sys.executable, "-m", "prox_tasks.cli", "refine", *common,
                               *args], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                              capture_output=True, text=True, timeout=300)

    first = prox("--target-docs", "5", "--text-field", "raw_content", "--id-field", "url",
                 "--format", "jsonl")
    assert first.returncode == 0, first.stderr
    planned = json.loads((out / "manifest.json").read_text())
    rerun = prox()
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads(rerun.stdout)
    assert (summary["shards_refined"], summary["shards_skipped"]) == (0, 3), summary
    assert json.loads((out / "manifest.json").read_text()) == planned
    other = prox("--text-field", "text")
    assert other.returncode == 1
    assert "holds another plan" in other.stderr and "--replan" in other.stderr \
        and "text_field 'raw_content' -> 'text'" in other.stderr, other.stderr  # fmt: skip
    assert json.loads((out / "manifest.json").read_text()) == planned


def test_a_segment_of_more_than_three_warc_and_wat_files_is_not_called_of_no_known_format(
        tmp_path, capsys, caplog):
    """A crawl folder holding 2 WARC and 2 WAT files beside its text (the real whirlwind
    files, copied): prox plan's warning said "4 files not read", but the plan, refine and
    gate lines judged the files by the 3 they name: "4 input files of no known format not
    read (…; rename them .jsonl or pass --format jsonl …)", the gate adding nothing, as
    if the files' kind were known there. All count every file now."""
    import shutil
    from pathlib import Path

    from prox_tasks.quality import run_gate
    from tests.quality.snapshot_factory import write_input

    crawl = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "commoncrawl_warc"
    folder = tmp_path / "segment"
    write_input(folder / "crawl.jsonl", 12)
    for name in ("a", "b"):
        shutil.copy(crawl / "whirlwind.warc.gz", folder / f"{name}.warc.gz")
        shutil.copy(crawl / "whirlwind.warc.wat.gz", folder / f"{name}.warc.wat.gz")
    out = tmp_path / "out"
    said = []
    assert main(["plan", "--input", str(folder), "--output", str(out)]) == 0
    said.append(capsys.readouterr().out)
    assert main(["refine", "--input", str(folder), "--output", str(out), "--model", "default",
                 "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}", "--no-progress"]) == 0
    said.append(capsys.readouterr().out)
    with caplog.at_level("WARNING"):
        assert run_gate(str(out)).passed
    said.append(next(r.getMessage() for r in caplog.records if "in no shard" in r.getMessage()))
    for line in said:
        assert "4 input files not read (" in line, line
        assert "give its WET conversion (.warc.wet.gz))" in line, line
        assert "of no known format" not in line and "rename them" not in line, line


def test_an_output_named_as_a_json_file_is_refused_before_anything_is_written(
        tmp_path, capsys, s3_bucket):  # noqa: F811
    """``prox refine --output s3://data/refined/dartifact.json`` planned into a folder of that
    name, then read the name as the manifest file itself: 'no manifest (plan the snapshot
    first)' (locally 'Is a directory'), a folder and a failed catalog row left behind. It is
    refused at once now (exit 2), saying the output is a folder and which to give; nothing
    is written, nothing booked; ``prox plan`` too, and the folder of a manifest.json named."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.storage import get_client

    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "one line"}\n')
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    for out, instead in ((f"{s3_bucket}/refined/dartifact.json", f"{s3_bucket}/refined/dartifact"),
                         (str(tmp_path / "local" / "refined.JSON"), str(tmp_path / "local" / "refined"))):
        assert main(["refine", "--input", str(source), "--output", out, "--backend", "tagger",
                     "--catalog", catalog, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"--output {out} is named as a .json file, but it is the folder of the refined " \
            f"snapshot" in err and f"give a folder, e.g. --output {instead} " in err, err
    assert "Contents" not in get_client().list_objects_v2(Bucket=s3_bucket.removeprefix("s3://"))
    assert not (tmp_path / "local").exists()
    with Catalog(catalog) as booked:
        assert booked.list_snapshots() == []
    assert main(["plan", "--input", str(source), "--output",
                 str(tmp_path / "out" / "manifest.json")]) == 2
    assert f"e.g. --output {tmp_path / 'out'} " in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_folder_named_with_json_and_a_trailing_slash_is_refined_as_before(tmp_path):
    """``--output …/snap.json/`` names a folder, as the refusal of a ``.json`` output asks:
    it refined (its ``manifest.json`` read inside it) before that refusal was added, which
    stripped the ``/`` and refused it, exit 2 — a nightly job's snapshot folder could not
    be refined again. Refined, and again, as before."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "one line"}\n')
    out = tmp_path / "local" / "snap.json"
    for _ in range(2):  # the rerun reuses the shard
        assert main(["refine", "--input", str(source), "--output", f"{out}/", "--backend",
                     "tagger", "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}",
                     "--no-progress"]) == 0
    assert (out / "manifest.json").is_file() and (out / "shards").is_dir()
