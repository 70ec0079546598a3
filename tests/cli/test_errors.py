"""Every ``prox`` subcommand reports an expected fault the same way: nothing on stdout, one
line ``prox COMMAND: what failed`` on stderr, exit code 1 (2 for a usage error), and the
traceback only with ``-v``."""

from __future__ import annotations

import pytest

from prox_tasks.cli import SUBCOMMANDS, main
from tests.storage.conftest import moto_server, s3_bucket  # noqa: F401 (S3 over HTTP)

MISSING = "no-such-input.jsonl"


def _failing(tmp_path) -> dict[str, list[str]]:
    missing, out = str(tmp_path / MISSING), str(tmp_path / "out")
    return {
        "execute": ["execute", "--input", missing, "--output", out + ".jsonl"],
        "plan": ["plan", "--input", missing, "--output", out],
        "label": ["label", "--input", missing, "--output", out + ".jsonl.gz"],
        "eval": ["eval", "--refined", missing, "--gold", missing],
        "train": ["train", "--seed", missing, "--output", out],
        "calibrate": ["calibrate", "--gold", missing, "--model", "default"],
        "refine": ["refine", "--input", missing, "--output", out, "--model", "default",
                   "--no-progress"],
        "gate": ["gate", "--snapshot", str(tmp_path / "no-snapshot")],
        "release": ["release", "--snapshot", str(tmp_path / "no-snapshot"), "--root", out,
                    "--name", "../../escaped"],
        "catalog": ["catalog", "--url", f"sqlite:///{tmp_path}/c.sqlite", "list", "shards"],
        "models": ["models", "--registry", missing, "promote", "v1", "--reason", "rollback"],
    }


def test_every_subcommand_is_covered(tmp_path):
    assert set(_failing(tmp_path)) == {name for name, _, _ in SUBCOMMANDS}


@pytest.mark.parametrize("command", [name for name, _, _ in SUBCOMMANDS])
def test_a_fault_is_one_line_on_stderr(command, tmp_path, capsys):
    args = _failing(tmp_path)[command]
    code = main(args)
    out = capsys.readouterr()
    assert code in (1, 2), (code, out)
    assert out.out == "", out.out
    lines = out.err.strip().splitlines()
    assert lines and lines[-1].startswith(f"prox {command}: "), out.err
    assert "Traceback" not in out.err
    # gate, release and catalog refuse before reading anything: only they need not name it
    if command not in ("gate", "release", "catalog"):
        assert MISSING in lines[-1]


def test_plan_with_v_prints_the_traceback_too(tmp_path, capsys):
    args = [*_failing(tmp_path)["plan"], "-v"]
    assert main(args) == 2  # no input files: an input to fix
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" in out.err
    assert out.err.strip().splitlines()[-1].startswith("prox plan: ")


@pytest.mark.parametrize("args", [
    ["plan", "--snapshot", "../../escaped"],
    ["refine", "--name", "../escaped", "--model", "default", "--no-progress"],
])
def test_names_that_become_paths_are_refused_before_anything_is_written(tmp_path, capsys, args):
    """A name that is no one path component (``InvalidName``) is a setting to fix: exit 2,
    as the DAG tasks fail on it without retries; it exited 1, "a retry may help"."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "one two three"}\n')
    out = tmp_path / "out"
    assert main([args[0], "--input", str(src), "--output", str(out), *args[1:]]) == 2
    err = capsys.readouterr().err
    assert "invalid snapshot name" in err and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_prox_train_refuses_a_model_name_that_is_no_path_component_with_exit_2(tmp_path, capsys):
    """``prox train --name ../evil`` exited 1 (InvalidName: "a retry may help"); it is a
    setting to fix, refused before the seed set is read or anything written."""
    reg = tmp_path / "reg"
    assert main(["train", "--seed", str(tmp_path / "no-seed"), "--output", str(reg),
                 "--name", "../evil"]) == 2  # fmt: skip
    assert "invalid model name '../evil'" in capsys.readouterr().err
    assert not reg.exists() and not (tmp_path / "evil").exists()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("what", ["pipe", "loop"])
def test_an_input_file_prox_cannot_open_exits_2(tmp_path, capsys, what):
    """A named pipe or a loop of links among the inputs (UnreadableInput) exited 1, as if a
    retry could read it: the same files are listed again, unreadable until someone fixes
    them. A setting to fix: exit 2, nothing planned."""
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"id": "a", "text": "one two three"}\n')
    if what == "pipe":
        os.mkfifo(folder / "b.jsonl")
    else:
        (folder / "b.jsonl").symlink_to("c.jsonl")
        (folder / "c.jsonl").symlink_to("b.jsonl")
    out = tmp_path / "out"
    assert main(["plan", "--input", str(folder), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "input file" in err and "cannot be read: " in err and "b.jsonl" in err, err
    assert not (out / "manifest.json").exists()


def test_the_catalog_refuses_a_snapshot_name_that_is_not_one_path_component(tmp_path):
    from prox_tasks.catalog import Catalog
    from prox_tasks.storage.names import InvalidName

    catalog = Catalog(f"sqlite:///{tmp_path}/c.sqlite")
    with pytest.raises(InvalidName):
        catalog.register_snapshot("../../x", "in", "out")
    assert catalog.list_snapshots() == []


def test_what_a_command_prints_goes_through_the_redaction(tmp_path, capsys, monkeypatch):
    """The command puts the one redaction in front of its output: a secret that reaches an
    error message by any path (here: a file name) is printed as ***."""
    monkeypatch.setenv("PROX_TEST_API_KEY", "MarkerKey-4f9a2c")
    missing = tmp_path / "MarkerKey-4f9a2c.jsonl"
    assert main(["eval", "--refined", str(missing), "--gold", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "MarkerKey" not in err and f"{tmp_path}/***.jsonl" in err, err


def test_a_prox_error_is_said_whole_with_its_way_out(tmp_path, capsys, monkeypatch):
    """``prox calibrate --model promoted`` with nothing promoted ended "or name a model with
    --model: a refiner artifact folder, a Hugging Face…": every error line was cut at 400
    characters, and prox's own messages end with what to do. Those are said whole now; an
    error another library raised, which can quote a whole document, is still cut."""
    from prox_tasks.cli.errors import MAX_CHARS, describe_error

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    gold = tmp_path / "gold.jsonl"
    gold.write_text("")
    assert main(["calibrate", "--gold", str(gold), "--model", "promoted"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("prox calibrate: no promoted model 'refiner'"), line
    assert "…" not in line and "'default' ($PROX_DEFAULT_MODEL, else the shipped line " \
        "tagger)." in line, line
    foreign = describe_error(ValueError("x" * 5000 + " at line 17, column 3"))
    # cut in its middle, where a quote sits: where it failed (often its end) stays
    assert len(foreign) == MAX_CHARS and " … " in foreign, foreign
    assert foreign.startswith("ValueError: xxx") and foreign.endswith("x at line 17, column 3")


def test_a_prox_error_past_its_bound_keeps_its_way_out():
    """One of prox's own messages past :data:`MAX_OWN_CHARS` (a quote of many files) was cut
    at its end, its way out with it, while another's was cut in its middle: one cut for
    both (:func:`prox_tasks.wording.shortened`), at its own bound."""
    from prox_tasks.cli.errors import MAX_OWN_CHARS, describe_error
    from prox_tasks.pipeline.settings import SettingInvalid

    said = describe_error(SettingInvalid("bad files: " + "f, " * 1500 + "rename them"))
    assert len(said) == MAX_OWN_CHARS and " … " in said, said
    assert said.startswith("bad files: f, ") and said.endswith("f, rename them"), said


def test_a_path_through_a_file_names_the_file_and_the_way_out(tmp_path, capsys):
    """An --output or --registry on a path that is a file, or under one, said "Not a
    directory: OUT/manifest.json" (prox plan, refine, models) or "File exists: OUT" (prox
    label, execute): neither which file is in the way nor what to do. Each now names the
    file where a folder is needed and the way out."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
        "commoncrawl_warc" / "whirlwind.warc.wet.gz"  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    way_out = "is a file where a folder is needed"
    for argv in (["plan", "--input", str(src), "--output", str(blocker)],
                 ["plan", "--input", str(src), "--output", str(blocker / "sub")],
                 ["refine", "--input", str(src), "--output", str(blocker / "sub"),
                  "--model", "default", "--catalog", f"sqlite:///{tmp_path}/c.sqlite"],
                 ["label", "--input", str(src), "--output", str(blocker / "l.jsonl")],
                 ["execute", "--input", str(src), "--output", str(blocker / "x.jsonl")],
                 ["models", "--registry", str(blocker), "list"]):
        assert main([*argv, "--no-progress"]) == 1, argv
        err = capsys.readouterr().err
        assert f"prox {argv[0]}: {blocker} {way_out}" in err, err
        assert "give a path whose folders are folders, or move that file away" in err
    assert blocker.read_text() == "not a folder\n"


def test_an_input_that_names_no_file_says_what_to_check(tmp_path, capsys):
    """An empty --input folder said "no input files at IN" (prox plan, refine, label) or
    "no JSONL files at IN" (execute, eval): not what could be wrong nor what to do; a
    folder of files of other names, nothing about them. Each now says it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x\n")
    check = ": an empty folder, or a path, prefix or glob that names no file: check the " \
        "input's path"
    out = str(tmp_path / "out")
    for argv, said in (
            (["plan", "--input", str(empty), "--output", out], "no input files at"),
            (["label", "--input", str(empty), "--output", out + ".jsonl"], "no input files at"),
            (["execute", "--input", str(empty), "--output", out + ".jsonl"], "no JSONL files at"),
            (["eval", "--refined", str(empty), "--gold", str(empty)], "no JSONL files at")):
        assert main([*argv, "--no-progress"]) == 2, argv  # an input to fix: no retry helps
        err = capsys.readouterr().err
        assert f"{said} {empty}{check}" in err, err
    assert main(["execute", "--input", str(other), "--output", out + ".jsonl"]) == 2
    assert f"no JSONL files at {other}: 1 file of other names skipped (JSONL is read from " \
        ".jsonl or .ndjson" in capsys.readouterr().err


def test_a_prox_home_that_is_a_file_is_named_as_prox_home(tmp_path, capsys, monkeypatch):
    """PROX_HOME set to a file: the default catalog under it failed with "File exists: HOME",
    never saying it is PROX_HOME. The line now names it."""
    from pathlib import Path

    home = tmp_path / "home"
    home.write_text("a file\n")
    monkeypatch.setenv("PROX_HOME", str(home))
    monkeypatch.delenv("PROX_CATALOG_URL", raising=False)
    src = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
        "commoncrawl_warc" / "whirlwind.warc.wet.gz"  # fmt: skip
    assert main(["refine", "--input", str(src), "--output", str(tmp_path / "out"),
                 "--model", "default", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"prox refine: {home} (PROX_HOME) is a file where a folder is needed" in err, err


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_a_prox_tmpdir_under_a_file_is_named_as_prox_tmpdir(tmp_path, capsys, monkeypatch,
                                                           s3_bucket, below):  # noqa: F811
    """PROX_TMPDIR (where S3 uploads are staged) below a file: `prox plan --output s3://…`
    ended "…/afile is a file where a folder is needed (for …/afile/sub)", naming no setting:
    the path came from PROX_TMPDIR, which the line now says; two folders below it too
    (os.makedirs names the first folder it could not make, …/afile/sub, not PROX_TMPDIR).
    A setting to fix: exit 2."""
    from prox_tasks.storage import put_atomic

    put_atomic(f"{s3_bucket}/in/docs.jsonl", b'{"id": "a", "text": "one two three"}\n')
    (tmp_path / "afile").write_text("a file\n")
    monkeypatch.setenv("PROX_TMPDIR", f"{tmp_path}/afile/{below}")
    assert main(["plan", "--input", f"{s3_bucket}/in/", "--output", f"{s3_bucket}/out",
                 "--catalog", "sqlite://"]) == 2
    err = capsys.readouterr().err
    assert (f"prox plan: PROX_TMPDIR='{tmp_path}/afile/{below}' cannot hold prox's scratch "
            f"files ({tmp_path}/afile is a file where a folder is needed): set PROX_TMPDIR "
            "to a folder this user can write") in err, err


def test_nothing_promoted_is_the_same_setting_error_for_every_command(tmp_path, capsys,
                                                                     monkeypatch):
    """``prox refine --model promoted`` with nothing promoted exited 2 (a setting to fix),
    ``prox calibrate --model promoted`` and ``prox train --base promoted`` 1 (as a fault a
    rerun might get past) for the same user error. Each now says it the same way:
    ``prox COMMAND: no promoted model …`` with how to get a promoted model, exit 2 (as
    written: no type name, as for every setting to fix)."""
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "A line of a page long enough to count here."}\n')
    seed = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(10, 2))
    commands = {
        "refine": ["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                   "--model", "promoted", "--no-progress"],
        "calibrate": ["calibrate", "--gold", str(docs), "--model", "promoted", "--min-docs",
                      "1"],
        "train": ["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--base",
                  "promoted", "--epochs", "1"],
    }
    for name, args in commands.items():
        assert main(args) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"prox {name}: no promoted model"), err
        assert len(err.splitlines()) == 1


def test_every_setting_to_fix_is_said_as_written(tmp_path, capsys, monkeypatch):
    """A setting to fix (cli.errors.setting_errors, exit 2) names the setting and what to give
    it; CatalogURLInvalid and PromotedVersionGone were said as written, while NotACatalog,
    SecondsSettingInvalid, NoModelError, NotAModelFolder and PoolMisconfigured came with
    their Python type name first ("prox catalog: NotACatalog: …"). Each is now the plain
    sentence, through the one place the line is formed (describe_error)."""
    import json

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, but long enough to be read as one's header\n" * 3)
    assert main(["catalog", "--url", f"sqlite:///{notes}", "list", "snapshots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"prox catalog: {notes} is not a SQLite database"), err
    lm = tmp_path / "lm"  # a Hugging Face folder: all the openai backend checks of it
    lm.mkdir()
    (lm / "config.json").write_text("{}")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text."}) + "\n")
    monkeypatch.setenv("PROX_OPENAI_TIMEOUT", "abc")
    assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"), "--model",
                 str(lm), "--backend", "openai", "--servers", "http://127.0.0.1:9/v1",
                 "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("prox refine: deployment variable PROX_OPENAI_TIMEOUT='abc' is not "
                          "a number of seconds above 0"), err
    monkeypatch.delenv("PROX_OPENAI_TIMEOUT")
    assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"), "--model",
                 str(tmp_path / "nothing-here"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prox refine: ") and "NotAModelFolder" not in err, err


@pytest.mark.parametrize(("variable", "value", "said"), [
    # read by each shard as it refines, as the tagger loads, as a model is fetched: the run
    # was planned, claimed and booked failed before its shards failed on it
    ("PROX_PROGRESS_EVERY", "1k", "deployment variable PROX_PROGRESS_EVERY='1k' is not a "
                                  "whole number: correct it, or unset it for the default"),
    ("PROX_TAGGER_PRECISION", "half", "PROX_TAGGER_PRECISION must be one of auto, float32, "
                                      "bfloat16, not 'half'"),
    ("PROX_MODEL_CACHE_KEEP", "0", "PROX_MODEL_CACHE_KEEP must be a whole number of at least "
                                   "1, not '0'"),
    # read as the plan looks for repeated ids, after the snapshot was booked
    ("PROX_ID_SEARCH_MB", "0", "deployment variable PROX_ID_SEARCH_MB='0' is not a whole "
                               "number of MiB (0 is not at least 1): correct it, or unset it "
                               "for the default"),
    # read once the run's snapshot was named: booked failed in the catalog
    ("PROX_QUALITY_FILTER", "strict", "quality filter must be one of off, report, drop, not "
                                      "'strict' (set by PROX_QUALITY_FILTER)"),
    # read as the openai pool loads, inside the shard: planned and booked, then exit 1
    ("PROX_MAX_REPLY_BYTES", "lots", "deployment variable PROX_MAX_REPLY_BYTES='lots' is not a "
                                     "whole number of bytes: correct it, or unset it for the "
                                     "default"),
])
def test_a_bad_deployment_variable_is_a_setting_to_fix(tmp_path, capsys, monkeypatch, variable,
                                                       value, said):
    """A PROX_* variable prox cannot use (pipeline.settings) ended prox refine with exit 1
    and 'ValueError: deployment variable PROX_PROGRESS_EVERY='1k' is not a whole number
    (invalid literal for int() with base 10: '1k')', as a failure a rerun may get past, and a
    DAG task meeting it was retried. It is a SettingInvalid now: exit 2, said as written
    (the variable, its value, what it takes), and the DAG fails the task without retries.
    One read only deep inside a refine (a shard, the tagger's load, a model's fetch) was met
    after the snapshot was planned, claimed and booked ``failed``, PROX_QUALITY_FILTER after
    it was booked: now before any of it."""
    import json

    from prox_tasks.openai_replies import reply_cap
    from prox_tasks.pipeline.errors import fail_fast
    from prox_tasks.pipeline.settings import (
        id_search_bytes,
        model_cache_keep,
        progress_every,
        quality_filter,
        tagger_precision,
    )

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(variable, value)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text."}) + "\n")
    assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"), "--model",
                 "default", "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert said in err and "ValueError" not in err and len(err.splitlines()) == 1, err
    from prox_tasks.catalog import Catalog

    assert not (tmp_path / "out").exists()  # checked before any work: nothing planned or booked
    booked = tmp_path / "home" / "catalog.sqlite"
    if booked.exists():
        with Catalog(f"sqlite:///{booked}") as catalog:
            assert catalog.get_snapshot("out") is None

    class FailNow(Exception):
        """Stands in for Airflow's AirflowFailException (the DAGs pass the real one)."""

    read = {"PROX_PROGRESS_EVERY": progress_every, "PROX_QUALITY_FILTER": quality_filter,
            "PROX_TAGGER_PRECISION": tagger_precision, "PROX_MODEL_CACHE_KEEP": model_cache_keep,
            "PROX_ID_SEARCH_MB": id_search_bytes, "PROX_MAX_REPLY_BYTES": lambda: reply_cap(None)}
    with pytest.raises(FailNow) as failed:
        with fail_fast(FailNow):
            read[variable]()
    # the task log reads as the command did (less its -v hint)
    assert f"prox refine: {failed.value} (-v for the traceback)" == err


def test_every_s3_operation_prox_sends_names_its_real_iam_permission():
    """A refusal's advice names the permission to grant (S3_PERMISSIONS), falling back on
    ``s3:<Operation>``, which is no IAM action for most operations. cleanup_partial's
    ListParts (0c8cdb1) was not in the table: refused, the line said 'grant them
    s3:ListParts', an action IAM does not have (s3:ListMultipartUploadParts). Every S3
    operation the storage layer sends (its client's method names, botocore's own mapping)
    is in the table."""
    import re
    from pathlib import Path

    import boto3

    from prox_tasks.cli.errors import S3_PERMISSIONS

    api = boto3.client("s3", region_name="us-east-1").meta.method_to_api_mapping
    storage = Path(__file__).resolve().parents[2] / "prox_tasks" / "storage"
    source = "\n".join(p.read_text() for p in storage.glob("*.py"))
    called = {api[m] for m in re.findall(r"\.([a-z_]+)\(", source) if m in api}
    called |= {api[m] for m in re.findall(r"get_paginator\(\"([a-z_0-9]+)\"\)", source)}
    assert {"ListParts", "GetObject", "PutObject"} <= called, called
    assert sorted(called - set(S3_PERMISSIONS)) == []


def test_a_line_feed_in_a_file_name_is_shown_escaped_not_breaking_or_blanking_a_line(
        tmp_path, capsys):
    """A file named with a line feed broke prox plan's summary line in two (for_terminal
    keeps line feeds: messages may have several lines), and an error line showed it as a
    space, naming a path that does not exist (``no input files at …/nothere x.jsonl``).
    Names embedded in messages are shown with it escaped (wording.shown), as repr does."""
    from prox_tasks.cli.errors import describe_error

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"id": "a", "text": "one two three"}\n')
    (folder / "bad\nname.txt").write_text("not data\n")
    assert main(["plan", "--input", str(folder), "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and "in/bad\\nname.txt" in out, out
    for given, said in ((folder / "bad\nname.txt", "cannot tell the format of "),
                        (tmp_path / "nothere\nx.jsonl", "no input files at ")):
        assert main(["plan", "--input", str(given), "--output", str(tmp_path / "o2")]) != 0
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert said in err and str(given).replace("\n", "\\n") in err, err
    gone = describe_error(FileNotFoundError(2, "No such file or directory", "/data/a\nb.jsonl"))
    assert gone == "No such file or directory: /data/a\\nb.jsonl", gone


def test_a_refusal_of_prox_s_own_is_said_without_its_type_name():
    """``prox gate --name nosuch`` said "RunError: no snapshot 'nosuch' in the catalog…": a
    refusal whose message says what to change kept its internal type name, as only the
    settings to fix dropped theirs. Every command's line drops it now (:func:`describe_error`,
    not gate's own wording); another library's error keeps its type, which is all it says
    of what failed."""
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.pipeline.errors import RunError

    err = RunError("no snapshot 'x' in the catalog: give the name")
    assert describe_error(err) == str(err), describe_error(err)
    assert describe_error(KeyError("x")) == "KeyError: 'x'"


def test_a_bad_reply_cap_is_a_setting_to_fix_for_the_llm_teacher_too(tmp_path, capsys,
                                                                     monkeypatch):
    """``PROX_MAX_REPLY_BYTES=lots`` ended ``prox label --teacher llm`` with exit 1 and
    'ValueError: PROX_MAX_REPLY_BYTES=...', a failure a retry may get past (the seed DAG's
    label task was retried on it): a setting to fix, exit 2, before any request or file."""
    import json

    monkeypatch.setenv("PROX_MAX_REPLY_BYTES", "lots")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text."}) + "\n")
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(docs), "--output", str(out), "--teacher", "llm",
                 "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "deployment variable PROX_MAX_REPLY_BYTES='lots' is not a whole number of bytes" \
        in err and "ValueError" not in err, err  # fmt: skip
    assert not out.exists()


def test_a_prox_tmpdir_that_cannot_be_written_fails_label_and_refine_up_front(tmp_path,
                                                                            capsys,
                                                                            monkeypatch):
    """PROX_TMPDIR below a file (a real unwritable folder: the tests run as root, which
    permission bits do not stop): every ``prox label`` and ``prox refine`` failed, exit 1,
    with a bare "[Errno 20] Not a directory: '…/afile/x'" naming no setting, as the
    quarantine made the folder whether or not it spilled. Each now refuses it up front, a
    setting to fix (exit 2), naming PROX_TMPDIR, what is wrong and what to do; nothing is
    written."""
    (tmp_path / "afile").write_text("a file, not a folder\n")
    monkeypatch.setenv("PROX_TMPDIR", f"{tmp_path}/afile/x")
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "A line of a page long enough to count here."}\n')
    said = (f"PROX_TMPDIR='{tmp_path}/afile/x' cannot hold prox's scratch files "
            f"({tmp_path}/afile is a file where a folder is needed): set PROX_TMPDIR to a "
            "folder this user can write (on a volume with room), or unset it to use the "
            "system temp folder")
    commands = {
        "label": ["label", "--input", str(docs), "--output", str(tmp_path / "labels.jsonl"),
                  "--no-progress"],
        "refine": ["refine", "--input", str(docs), "--output", str(tmp_path / "out"),
                   "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}", "--no-progress"],
    }
    for name, args in commands.items():
        assert main(args) == 2, name
        err = capsys.readouterr().err.strip()
        assert err == f"prox {name}: {said} (-v for the traceback)", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "docs.jsonl"]
