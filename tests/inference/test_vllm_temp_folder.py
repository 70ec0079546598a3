"""The vLLM engine's temp folder set in the process's environment while an engine starts."""

from __future__ import annotations

import os
import threading

from prox_tasks.inference.vllm_engine import _temp_folder


def test_two_overlapping_engine_starts_leave_the_environment_as_it_was(tmp_path, monkeypatch):
    """Two engines started at once in one process (two threads): each start saved the
    environment, set its folder and restored what it saved, so the second restored the
    first's folder — which the first engine removes when it closes — as the process's
    TMPDIR and VLLM_RPC_BASE_PATH for good. The starts take turns now."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("VLLM_RPC_BASE_PATH", raising=False)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with _temp_folder(str(tmp_path / "a")):
            first_in.set()
            second_in.wait(1)  # without turns, the second start comes in meanwhile
        first_out.set()

    def second():
        first_in.wait(5)
        with _temp_folder(str(tmp_path / "b")):
            second_in.set()
            first_out.wait(1)  # and ends after the first, restoring the first's folder

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert os.environ["TMPDIR"] == str(tmp_path)
    assert "VLLM_RPC_BASE_PATH" not in os.environ
