"""Every ``prox`` command: one summary line, ``--json`` instead, a bar only on a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from prox_tasks.cli import SUBCOMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "sample.jsonl.gz"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}


def _prox(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prox_tasks.cli", *args], env=ENV,
                          timeout=300, **kwargs)


def test_every_command_takes_json_and_those_that_draw_a_bar_show_no_progress():
    """``--no-progress`` is shown only where it does something: the commands whose module
    draws a progress bar (gate, release and catalog draw none)."""
    import argparse
    import importlib
    import inspect

    for name, module, _ in SUBCOMMANDS:
        parser = build_parser([name])
        sub = next(a for a in parser._actions if a.dest == "command").choices[name]
        options = {o for a in sub._actions for o in a.option_strings}
        assert "--json" in options, name
        shown = {o for a in sub._actions if a.help != argparse.SUPPRESS for o in a.option_strings}
        source = inspect.getsource(importlib.import_module(f"prox_tasks.cli.{module}"))
        assert ("--no-progress" in shown) == ("progress_bar(" in source), name


@pytest.mark.parametrize("args", [["gate", "--snapshot", "x"], ["catalog", "status"],
                                  ["release", "--snapshot", "x", "--root", "r", "--name", "n"]])
def test_no_progress_is_taken_but_not_offered_by_commands_that_draw_no_bar(args, capsys):
    """A script passing ``--no-progress`` to every command keeps working; ``--help`` of a
    command that draws no bar does not offer it."""
    parsed = build_parser(args).parse_args([*args, "--no-progress"])
    assert parsed.no_progress is True
    with pytest.raises(SystemExit) as done:
        main([args[0], "--help"])
    assert done.value.code == 0
    assert "--no-progress" not in capsys.readouterr().out


def test_label_ends_with_one_summary_line_and_json_on_request(tmp_path, capsys):
    args = ["label", "--input", str(SAMPLE), "--output", str(tmp_path / "l.jsonl.gz"),
            "--limit", "20"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("labeled 20 documents with rules: 20 valid")
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 20 and summary["teacher"]["name"] == "rules"


def test_plan_and_catalog_summaries(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["plan", "--input", str(SAMPLE), "--output", str(tmp_path / "out"),
                 "--target-docs", "100", "--snapshot", "s1", "--catalog", url]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("planned 300 documents from 1 file into 3 shards -> file://")
    assert line.endswith("registered as s1")
    assert main(["catalog", "--url", url, "list", "shards", "--snapshot", "s1"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].split()[:2] == ["id", "snapshot_id"] and table[-1] == "3 shards"
    assert main(["catalog", "--url", url, "list", "shards", "--snapshot", "s1", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["docs_planned"] for r in rows] == [100, 100, 100]


@pytest.mark.parametrize("args", [
    ["catalog", "list", "shards"],  # a refusal the command returns
    ["eval", "--refined", "none.jsonl", "--gold", str(SAMPLE)],  # a fault raised to main
])
def test_a_failure_is_one_line_on_stderr_with_or_without_json(tmp_path, capsys, args):
    args = [a if a != "none.jsonl" else str(tmp_path / a) for a in args]
    if args[0] == "catalog":
        args[1:1] = ["--url", f"sqlite:///{tmp_path}/cat.sqlite"]
    for extra in ([], ["--json"]):
        assert main([*args, *extra]) in (1, 2)
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.startswith(f"prox {args[0]}: "), captured
        assert len(captured.err.strip().splitlines()) == 1


def test_no_progress_output_when_stderr_is_not_a_terminal(tmp_path):
    done = _prox("label", "--input", str(SAMPLE), "--output", str(tmp_path / "l.jsonl"),
                 "--limit", "50", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("labeled 50 documents")


@pytest.mark.parametrize("extra", [[], ["--no-progress"]])
def test_a_progress_bar_on_a_terminal(tmp_path, extra):
    """stderr is a pseudo-terminal (the pty module): the bar is drawn there, the summary line
    still goes to stdout alone; ``--no-progress`` draws nothing."""
    master, slave = pty.openpty()
    # a terminal 100 columns wide (a fresh pty has 0 columns, and tqdm then draws nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "prox_tasks.cli", "label", "--input", str(SAMPLE), "--output",
         str(tmp_path / "l.jsonl"), "--limit", "200", *extra],
        env=ENV, stdout=subprocess.PIPE, stderr=slave, text=True)  # fmt: skip
    os.close(slave)
    drawn = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert stdout.count("\n") == 1 and stdout.startswith("labeled 200 documents")
    text = drawn.decode(errors="replace")
    if extra:
        assert text == ""
    else:
        assert "label:" in text and "/200 [" in text and "doc/s" in text and "%|" in text, text


def test_a_command_run_with_stdout_closed_still_works(tmp_path):
    """`prox execute ... >&-` (a cron line that throws output away): rc 0, no traceback."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "one line", "doc_program": "keep_doc()"}\n')
    done = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "execute", "--input",
                           str(rows), "--output", str(tmp_path / "out.jsonl"), "--json"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          close_fds=True, timeout=120,
                          preexec_fn=lambda: os.close(1))  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""
    assert (tmp_path / "out.jsonl").exists()


def test_every_command_logs_warnings_as_a_line_and_more_with_v(tmp_path):
    """A crawl segment's WARC and WAT beside its WET (the real whirlwind files): ``prox
    plan`` warned of them as a plain line, ``prox refine`` as ``WARNING:prox_tasks.corpus.
    planner:…`` (it set logging up itself, as train did), and ``-v`` ("log more") logged
    nothing more in the commands that did not. One set-up now, in ``prox_tasks.cli``."""
    import shutil

    crawl = ROOT.parent / "shared" / "data" / "commoncrawl_warc"
    folder = tmp_path / "segment"
    folder.mkdir()
    for name in ("whirlwind.warc.wet.gz", "whirlwind.warc.gz", "whirlwind.warc.wat.gz"):
        shutil.copy(crawl / name, folder / name)
    env = {**ENV, "PROX_HOME": str(tmp_path / "home")}
    said = "segment: 2 files not read (the plan's skipped_files lists them)"
    for command in ("plan", "refine"):
        done = subprocess.run(
            [sys.executable, "-m", "prox_tasks.cli", command, "--input", str(folder),
             "--output", str(tmp_path / command)],
            env=env, timeout=300, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert said in done.stderr and "WARNING:" not in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "gate", "-v", "--snapshot",
                           str(tmp_path / "refine")], env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "INFO:prox_tasks.quality.gate:gate PASSED for " in done.stderr, done.stderr


def test_a_hostile_file_name_cannot_rewrite_the_operators_terminal(tmp_path):
    """A crawl folder is written by others: a file named ``ESC ]0;title BEL CR …`` was
    printed as it is in prox plan's warning and summary line and in an error, so the
    operator's terminal took the title, and the CR wrote over the start of the line. Every
    message shows such characters as their escapes (\\x1b, \\r), and still names the file."""
    hostile = "evil\x1b]0;PWNED\x07\x1b[2J\rname"
    folder = tmp_path / "crawl"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"id": "a", "text": "one line"}\n')
    (folder / f"{hostile}.bin").write_bytes(b"\x00\x01")
    env = {**ENV, "PROX_HOME": str(tmp_path / "home")}
    runs = [[*command, "--input", str(folder), "--output", str(tmp_path / "out")]
            for command in (["plan"], ["-v", "plan"])]
    runs.append(["plan", "--input", str(tmp_path / hostile), "--output", str(tmp_path / "o2")])
    for args in runs:
        done = subprocess.run([sys.executable, "-m", "prox_tasks.cli", *args], env=env,
                              timeout=300, capture_output=True, text=True)
        said = done.stdout + done.stderr
        assert "evil\\x1b]0;PWNED\\x07\\x1b[2J" in said, (args, said)
        assert not {"\x1b", "\x07", "\r"} & set(said), (args, said)
