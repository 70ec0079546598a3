"""Every bench starts as bench/README.md runs it from a fresh checkout: ``python bench/X.py``
with the virtual environment active and nothing on ``PYTHONPATH``, from any folder (each
script puts its checkout on ``sys.path`` itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPERS = {"datadir.py", "moto_s3.py", "counting_s3.py"}  # imported by the benches, not run


def _wordless(usage: str) -> list[str]:
    """The options and positional arguments a ``--help`` text lists with no words: an entry
    (two spaces in) whose help is neither beside it (past two spaces) nor on the next line."""
    lines = usage.splitlines() + [""]
    return [line.split()[0] for line, below in zip(lines, lines[1:])
            if re.match(r"^  [^\s{]", line) and not re.search(r"\S {2,}\S", line.strip())
            and not re.match(r"^ {3,}\S", below)]


def test_every_bench_prints_its_help_without_pythonpath(tmp_path):
    """... and says what each of its subcommands and options does: ``bench/train.py --help``
    listed ``run`` and ``table`` with no words at all (argparse leaves a subcommand without
    ``help`` out of its list), and 52 options of 16 benches (``--docs``, ``--repeats``,
    ``--stage`` …) were listed bare, their meaning left to the source."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    failed, unsaid, bare = {}, {}, {}

    def usage(script: Path, *command: str) -> str:
        done = subprocess.run([sys.executable, str(script), *command, "--help"],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=env)  # fmt: skip
        if done.returncode != 0 or "usage:" not in done.stdout:
            failed[" ".join([script.name, *command])] = done.stderr.strip().splitlines()[-1:]
        if wordless := _wordless(done.stdout):
            bare[" ".join([script.name, *command])] = wordless
        return done.stdout

    for script in sorted((ROOT / "bench").glob("*.py")):
        if script.name in HELPERS:
            continue
        text = usage(script)
        for choices in re.findall(r"^  \{([\w,-]+)\}$", text, re.MULTILINE):
            said = re.findall(r"^    ([\w-]+)\s+\S", text, re.MULTILINE)
            if missing := [c for c in choices.split(",") if c not in said]:
                unsaid[script.name] = missing
            for command in choices.split(","):
                usage(script, command)
    assert failed == {}
    assert unsaid == {}
    assert bare == {}


def test_a_bad_count_or_a_missing_reuse_folder_is_an_argument_error_not_a_traceback(tmp_path):
    """Counts take prox's own argument types (prox_tasks.cli.arguments); before, a zero ran into
    an AssertionError (booking.py) or a FileNotFoundError (s3_opens.py), a worker count that
    is not a number into a ValueError (refine.py), a --reuse folder without the snapshots
    into a CalledProcessError (gate.py)."""
    cases = {
        "booking.py": (["--shards", "0"], "argument --shards: must be at least 1, not 0"),
        "s3_opens.py": (["--files", "0"], "argument --files: must be at least 1, not 0"),
        "refine.py": (["--workers", "1,x", "--docs", "10", "--feature-docs", "0",
                       "--work", str(tmp_path / "work")],
                      "argument --workers: 'x' is not a whole number"),
        "gate.py": (["--reuse", str(tmp_path / "none"), "--docs", "100"],
                    f"--reuse {tmp_path / 'none'} lacks docs-25/snapshot, docs-100/snapshot: "
                    f"build the snapshots with --keep {tmp_path / 'none'} --docs 100 first"),
    }
    for script, (args, message) in cases.items():
        done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 2, (script, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and message in done.stderr, (script, done.stderr)
