"""A ``prox label --seed-set`` run killed mid-part (SIGKILL: the OOM killer, a lost
worker) with an LLM teacher, each label paid for. A real ``prox label`` process labels
against an endpoint on loopback (answering as a chat endpoint does, slowly enough to be
killed mid-part), is killed with a real SIGKILL, and run again."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.loopback_http import JSON, LoopbackHTTPServer, Response, chat_completion

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"
ROOT = Path(__file__).resolve().parents[2]
MARK = re.compile(rb"Marker\d{5}")


class Endpoint(LoopbackHTTPServer):
    """A chat endpoint that answers after ``delay`` seconds and records which documents
    (their ``MarkerNNNNN``) each request asked about: what was paid for."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.lock = threading.Lock()
        self.delay = 0.0

        def respond(request):
            time.sleep(self.delay)
            with self.lock:
                self.asked += [m.decode() for m in MARK.findall(request.body)[:1]]
            # one answer for both kinds of request (scores for a document, a program for a
            # chunk): deterministic, as the test needs
            return Response(200, chat_completion("Educational score: 3\nFormat score: 4\n"
                                                 "```python\nkeep_chunk()\n```"), JSON)

        super().__init__(respond)
        self.url += "/v1"


def _snapshot(path: Path) -> Path:
    """The bundled sample's 300 pages, each text starting with its own marker."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        rows = [json.loads(line) for line in src]
    with open(path, "w", encoding="utf-8") as out:
        for i, row in enumerate(rows):
            out.write(json.dumps({**row, "id": f"m{i:05d}",
                                  "text": f"Marker{i:05d} {row['text']}"}) + "\n")
    return path


def _label(snapshot: Path, seed: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "prox_tasks.cli", "label", "--json", "--input", str(snapshot),
            "--output", str(seed), "--seed-set", "--sample-size", "200", "--no-register",
            "--teacher", "llm", "--base-url", url, "--model", "m", "--concurrency", "2"]


def _rows(seed: Path) -> list[str]:
    """The lines of the seed set's part 0, its folder's name aside (in each row's source)."""
    with gzip.open(seed / "labels" / "labels-00000.jsonl.gz", "rt", encoding="utf-8") as fh:
        return fh.read().replace(seed.as_uri(), "SEED").splitlines()


def test_a_part_killed_mid_labeling_resumes_without_paying_again(tmp_path):
    """A killed run lost every label of its part (the part's file is published at its
    end), so the rerun asked (paid) the endpoint again for every document of it. The rerun
    now writes the labels the killed run saved as they are, asks only for the others, and
    its part is the one an unkilled run writes (no document twice, none missing)."""
    snapshot = _snapshot(tmp_path / "snapshot.jsonl")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "test-key"}
    seed = tmp_path / "seed"
    checkpoints = seed / "labels" / "_checkpoints" / "shard-00000"
    with Endpoint() as endpoint:  # one endpoint: its URL is part of the seed set's version
        whole = subprocess.run(_label(snapshot, tmp_path / "whole", endpoint.url), env=env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert whole.returncode == 0, whole.stderr
        asked_whole = len(endpoint.asked)
        endpoint.asked.clear()
        endpoint.delay = 0.02  # slow enough to be killed mid-part
        run = subprocess.Popen(_label(snapshot, seed, endpoint.url), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 240
        while not (checkpoints.is_dir() and any(p.name.startswith("part-")
                                                for p in checkpoints.iterdir())):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.01)  # the first batch is labeled and kept
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        assert run.returncode == -signal.SIGKILL
        assert not (seed / "labels" / "labels-00000.done.json").exists()  # killed mid-part
        asked_killed = set(endpoint.asked)
        endpoint.asked.clear()

        import zstandard

        kept = set()
        for part in sorted(checkpoints.iterdir()):
            lines = zstandard.ZstdDecompressor().decompress(part.read_bytes()).splitlines()
            kept |= {json.loads(line)["id"].replace("m", "Marker") for line in lines[1:]}
        assert kept and kept <= asked_killed

        again = subprocess.run(_label(snapshot, seed, endpoint.url), env=env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stderr
        asked_again = set(endpoint.asked)
    assert not asked_again & kept  # not paid twice
    assert len(endpoint.asked) < asked_whole
    assert _rows(seed) == _rows(tmp_path / "whole")  # as unkilled: no repeat, none missing
    assert json.loads(again.stdout)["version"] == json.loads(whole.stdout)["version"]
    assert not list(checkpoints.parent.glob("*/*"))  # cleared once the part is complete
