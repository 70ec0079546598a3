"""The wheel builds the way docs/deploy.md says, first thing in a fresh ``python3.11 -m venv``
(pip 23.2, setuptools 65.5): ``--no-build-isolation`` built with that setuptools, which
refuses the SPDX ``project.license`` string ("`project.license` must be valid exactly by one
definition"), and ``[build-system]`` asked for setuptools>=68 where 77 is the first to read it.

The documented build is isolated: pip installs ``[build-system]``'s setuptools into a build
environment of its own. The test gives it no index (an air-gapped CI has none; it needed
PyPI): only the setuptools this environment runs (requirements.txt pins it), packed as a
wheel, so the documented command, unchanged, is checked without a network.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
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


def installed_as_wheel(name: str, folder: Path) -> Path:
    """The distribution ``name`` installed here, packed back into a wheel in ``folder``: the
    files its RECORD lists (no bytecode, nor what installing added: INSTALLER, REQUESTED,
    direct_url.json), with a RECORD of their hashes. For a pure-Python distribution
    installed from a ``py3-none-any`` wheel, as setuptools is."""
    dist = importlib.metadata.distribution(name)
    (info,) = {f.parts[0] for f in dist.files if f.parts[0].endswith(".dist-info")}
    wheel_file = (Path(dist.locate_file(info)) / "WHEEL").read_text()
    assert "Tag: py3-none-any" in wheel_file, wheel_file  # else this file name would lie
    added = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    path = folder / f"{name}-{dist.version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed:
        for file in dist.files:
            if file.suffix == ".pyc" or (file.parts[0] == info and file.name in added):
                continue
            data = Path(dist.locate_file(file)).read_bytes()
            packed.writestr(file.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{file.as_posix()},sha256={digest.decode()},{len(data)}")
        packed.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return path


def test_the_build_system_asks_for_a_setuptools_that_reads_the_license_field():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)  # SPDX: the case this test is about
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    floor = tuple(int(n) for n in re.fullmatch(r"setuptools>=([\d.]+)", setuptools)[1].split("."))
    assert floor >= SPDX_LICENSE_SETUPTOOLS, setuptools


@pytest.mark.slow
def test_the_documented_wheel_build_works_in_a_fresh_venv(tmp_path):
    """A user's first step: the build command of docs/deploy.md, in a venv as ``python -m
    venv`` makes it (before the stack, which brings a newer setuptools with torch). Its
    build environment gets ``[build-system]``'s setuptools from a folder, not an index: no
    pip configuration of this machine (its index, its constraints), no network."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    installed_as_wheel("setuptools", wheels)
    # none of the machine's pip settings (PIP_* variables, config files): these alone
    offline = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    offline.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
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
        env=offline,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert [p.name for p in (src / "dist").glob("*.whl")] == ["prox-0.1.0-py3-none-any.whl"]
