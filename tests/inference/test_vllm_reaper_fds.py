"""The vLLM engine's reaper (:func:`prox_tasks.inference.vllm_engine.reap_with_this_process`)
works in a process holding over 1,024 files: real processes, a real SIGKILL; no vLLM (the
reaper watches whatever processes it is given)."""

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_HOLD_FILES_AND_DIE = """
import os, signal, subprocess, sys, time
from prox_tasks.inference.vllm_engine import _children, reap_with_this_process
if __name__ == "__main__":
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # a busy task's files
    before = _children()
    engine = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # stands for an engine process
    reaper = reap_with_this_process(before)
    print(engine.pid, reaper.pid if reaper else "none", flush=True)
    time.sleep(1)  # the reaper is watching
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_reaper_kills_the_engine_of_a_process_holding_many_files(tmp_path):
    """The reaper waited with select(), which refuses a file descriptor above 1,023: its
    pidfds keep the numbers they had in the process that built the engine, so in one holding
    over 1,024 files (an Airflow worker's limit is often far above) the reaper died at its
    start with 'ValueError: filedescriptor out of range in select()', and the engine outlived
    a SIGKILL of that process as before the reaper."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"this system allows {hard} open files, fewer than the test holds")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_FILES_AND_DIE], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard)))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    engine, reaper = out.split()
    assert reaper != "none", err
    deadline = time.monotonic() + 10
    while _running(int(engine)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _running(int(engine))
    if left:  # the test's own clean-up: no process left behind either way
        os.kill(int(engine), signal.SIGKILL)
    assert not left, f"the engine process outlived the process that built it: {err}"
