"""Every script's ``--help`` says what each of its options does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.bench.test_bench_help import _wordless

ROOT = Path(__file__).resolve().parents[2]


def test_every_script_says_what_each_option_does(tmp_path):
    """``scripts/main_job.py --help`` listed ``--input`` and ``--teacher`` with no words,
    ``scripts/make_sample.py --help`` both its options."""
    bare = {}
    for script in sorted((ROOT / "scripts").glob("*.py")):
        done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                              text=True, timeout=120, cwd=ROOT)  # fmt: skip
        assert done.returncode == 0 and "usage:" in done.stdout, (script.name, done.stderr)
        if wordless := _wordless(done.stdout):
            bare[script.name] = wordless
    assert bare == {}
