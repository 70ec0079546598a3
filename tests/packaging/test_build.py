"""The wheel builds the way docs/deploy.md says, first thing in a fresh ``python3.11 -m venv``
(pip 23.2, setuptools 65.5): ``--no-build-isolation`` built with that setuptools, which
refuses the SPDX ``project.license`` string ("`project.license` must be valid exactly by one
definition"), and ``[build-system]`` asked for setuptools>=68 where 77 is the first to read it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The first setuptools that reads ``project.license`` as an SPDX expression (PEP 639).
SPDX_LICENSE_SETUPTOOLS = (77,)


def documented_build() -> list[str]:
    """The wheel build command of docs/deploy.md's "Installing prox from a wheel"."""
    section = (REPO / "docs" / "deploy.md").read_text().split("## Installing prox from a wheel")[1]
    line = next(line for line in section.splitlines() if line.startswith("python -m pip wheel"))
    return shlex.split(line, comments=True)


def test_the_build_system_asks_for_a_setuptools_that_reads_the_license_field():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)  # SPDX: the case this test is about
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    floor = tuple(int(n) for n in re.fullmatch(r"setuptools>=([\d.]+)", setuptools)[1].split("."))
    assert floor >= SPDX_LICENSE_SETUPTOOLS, setuptools


@pytest.mark.slow
def test_the_documented_wheel_build_works_in_a_fresh_venv(tmp_path):
    """A user's first step: the build command of docs/deploy.md, in a venv as ``python -m
    venv`` makes it (before the stack, which brings a newer setuptools with torch)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "prox_tasks",
        src / "prox_tasks",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    command = documented_build()
    assert command[:2] == ["python", "-m"], command
    done = subprocess.run(
        [str(venv / "bin" / "python"), *command[1:]],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert [p.name for p in (src / "dist").glob("*.whl")] == ["prox-0.1.0-py3-none-any.whl"]
