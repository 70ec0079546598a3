"""`prox refine --json` on vLLM: vLLM's logger and its engine processes write to stdout; the
caller must still get one JSON document there. And the run leaves nothing in the temp
folder: vLLM left 7 IPC sockets and a ``torchinductor_<user>`` folder there each run."""

import json
import os
import subprocess
import sys

import pytest

from tests.inference.helpers import short_docs, write_jsonl

pytestmark = pytest.mark.slow


def test_prox_refine_json_on_vllm_prints_only_the_result_on_stdout(tiny_model, tmp_path,
                                                                   short_tmp):
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(4))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROX_")}
    scratch = short_tmp  # the run's own temp folder (short: vLLM's sockets go in it)
    env.update(PROX_HOME=str(tmp_path / "home"), PYTHONPATH=os.getcwd(), TMPDIR=str(scratch))
    proc = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "refine", "--input",
                           str(source), "--output", str(tmp_path / "out"), "--model",
                           str(tiny_model), "--backend", "vllm", "--json", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)  # the whole of stdout is the one JSON document
    assert summary["backend"] == "vllm" and summary["docs_read"] == 4
    assert "INFO" in proc.stderr  # vLLM's log lines went to stderr
    assert sorted(os.listdir(scratch)) == []  # no IPC socket, no torchinductor_<user> left
