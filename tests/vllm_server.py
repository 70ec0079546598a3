"""One real vLLM OpenAI-compatible server (CPU) on loopback, shared by the test session.

The openai backend's tests (tests/inference/test_openai_backend.py) and the llm teacher's
(tests/labeling/test_llm_vllm.py) talk to the same server: a start costs 40-60 s of a
2-core CI machine, so the session starts it once, at the first test that asks for it, and
stops it after the last one (an idle engine is not left beside the rest of the suite).

The server is started with an API key, so the key travels for real and a wrong one gets a
real 401. Its model is the tests' tiny Llama (tests/inference/helpers.py: random weights
in the ProX released format, BPE tokenizer trained on sample pages, Llama-2 chat template)
with a context of 2,048 tokens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.inference.helpers import build_tiny_model
from tests.ports import PortTaken, port_taken, start_on_free_port

KEY = "sk-prox-test-7f3a9c1e5b"
SERVED_NAME = "tiny-prox"
STARTUP_TIMEOUT_S = 400
# The served context: a teacher's prompts (a document of 150 words and the instructions)
# take up to 1,400 of the tiny model's tokens
CONTEXT = 2048
# A fixed KV cache (256 MiB holds 2,048-token requests by the hundred) instead of 0.3 of
# the machine's memory: allocating GBs, and the warm-up pass that sizes an automatic
# cache, took 15-20 s of each start on 2 cores.
KV_CACHE_BYTES = 256 * 2**20


@dataclass
class VLLMServer:
    """A started server: ``url`` (no ``/v1``), the ``key`` it was started with, the name it
    serves and the ``model`` folder it serves (a client's local copy of the weights)."""

    url: str
    key: str
    served_name: str
    model: Path
    process: subprocess.Popen = field(repr=False)
    log: Path
    #: The server's $TMPDIR: vLLM's IPC sockets and its ``vllm_dist_*`` rendezvous file, which
    #: it leaves behind (7 sockets and a file a start: over a thousand had piled up in /tmp)
    tmpdir: Path

    def stop(self) -> None:
        """Stop the server and remove its temporary files (a second call does nothing)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def start(folder: Path) -> VLLMServer:
    """Build the model in ``folder`` and start a server on it; returns once /health answers.

    Raises:
        RuntimeError: The server exited or did not answer within STARTUP_TIMEOUT_S (the
            end of its log is in the message).
    """
    model = build_tiny_model(folder / "model", max_positions=CONTEXT)
    # on a free port; on another when it was taken meanwhile (tests/ports.py)
    return start_on_free_port(lambda port: _start_on(port, model, folder / "vllm.log"))


def _start_on(port: int, model: Path, log: Path) -> VLLMServer:
    """Start the server on ``port``; returns once /health answers.

    Raises:
        PortTaken: another server took ``port`` before this one bound it.
    """
    import httpx

    # a short folder of its own, not one under ``folder``: a socket's path has 107 bytes
    tmpdir = Path(tempfile.mkdtemp(prefix="prox-vllm-"))
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
             "--kv-cache-memory-bytes", str(KV_CACHE_BYTES),
             # eager: no torch.compile warm-up at start (tens of seconds on 2 cores); the
             # tests show the clients' protocol, pooling and retries, not the server's speed
             "--enforce-eager"],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "VLLM_API_KEY": KEY, "TMPDIR": str(tmpdir)},
        )  # fmt: skip
    server = VLLMServer(f"http://127.0.0.1:{port}", KEY, SERVED_NAME, model, process, log,
                        tmpdir)  # fmt: skip
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            server.stop()
            said = log.read_text()
            if port_taken(said):
                raise PortTaken(f"vLLM's port {port} was taken")
            raise RuntimeError(f"vLLM exited: {said[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"vLLM not ready: {log.read_text()[-3000:]}")
        time.sleep(0.5)
