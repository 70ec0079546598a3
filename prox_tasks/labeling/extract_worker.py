"""An HTML extractor with a time budget per page: the extractor runs in a worker process.

trafilatura and resiliparse run in-process C and Python code that no exception or thread can
interrupt: a page that keeps one busy (a few MB of markup took trafilatura seconds, 35 MB two
minutes) held its label task with it. ``signal.alarm`` cannot be used: Airflow's
``execution_timeout`` owns ``SIGALRM`` in the task process, and the llm teacher labels from
threads. So the extractor runs in a child process (``python -c``, started once, on the first
page) that reads one page at a time from its stdin; a page not answered within the budget
gets the child killed (:class:`ExtractorTimeout`) and the next page a fresh child. The child
exits when its stdin closes, and when its parent is gone even in the middle of a page (a label
task killed by SIGKILL or the OOM killer), so a parent that dies leaves none behind; a worker
object dropped without :meth:`ExtractorWorker.close` (a teacher let go, garbage-collected)
stops its child too, so a long-lived parent does not gather them.

Protocol: each message is a 4-byte big-endian length and that many bytes; a request is the
HTML in UTF-8, an answer JSON ``{"text": ...}`` or ``{"error": "Type: message"}``; the child
writes ``ready`` once its extractor is imported.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from prox_tasks.wording import quoted_error

#: Seconds a fresh worker may take to import its extractor (not counted in a page's budget).
START_TIMEOUT_S = 120.0
_HEADER = struct.Struct(">I")


class ExtractorTimeout(Exception):
    """The extractor did not finish a page within its time budget (the worker is killed)."""


class ExtractorWorker:
    """``html -> main-content text (or None)`` by extractor ``name`` in a worker process,
    at most ``timeout`` seconds per page.

    Raises (on call):
        ExtractorTimeout: The page took longer.
        RuntimeError: The extractor raised on the page (its type and message).
    """

    def __init__(self, name: str, favor_recall: bool, timeout: float) -> None:
        self.name, self.favor_recall, self.timeout = name, favor_recall, timeout
        #: The running child, if any, in a list the finalizer holds: a dropped worker kills
        #: it. Without this, nothing would: subprocess keeps a running child's Popen (its
        #: stdin open) alive past its owner, so the child never saw its stdin close and lived
        #: as long as this process (17 of them, ~1 GB, in one test run).
        self._procs: list[subprocess.Popen] = []
        weakref.finalize(self, _stop, self._procs)

    @property
    def _proc(self) -> subprocess.Popen | None:
        return self._procs[0] if self._procs else None

    def __call__(self, html: str) -> str | None:
        proc = self._started()
        try:
            _send(proc.stdin, html.encode("utf-8", "surrogatepass"))
            answer = json.loads(_receive(proc.stdout, time.monotonic() + self.timeout))
        except TimeoutError:
            self.close()
            raise ExtractorTimeout(f"no answer within {self.timeout:g} s") from None
        except (OSError, ValueError) as err:  # the worker died on the page (memory, a crash)
            self.close()
            raise RuntimeError(f"the extractor's worker process died: {err}") from None
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["text"]

    def _started(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        root = str(Path(__file__).resolve().parents[2])  # prox_tasks' folder, as imported here
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                "from prox_tasks.labeling.extract_worker import serve; serve()")  # fmt: skip
        self.close()  # a child that died on a page: reaped before the next one starts
        self._procs.append(subprocess.Popen(
            [sys.executable, "-c", code, self.name, str(int(self.favor_recall)), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE))  # fmt: skip
        try:
            if _receive(self._proc.stdout, time.monotonic() + START_TIMEOUT_S) != b"ready":
                raise OSError("no ready message")
        except (TimeoutError, OSError, ValueError) as err:
            self.close()
            raise ImportError(
                f"the {self.name} extractor's worker process did not start "
                f"({err}): is it installed (pip install {self.name})?"
            ) from None
        return self._proc

    def close(self) -> None:
        """Stop the worker (a later page starts a new one); also done when this object is
        garbage-collected, and at exit."""
        _stop(self._procs)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Kill and reap the children in ``procs`` and close their pipes (the finalizer: it
    holds no reference to the worker object)."""
    while procs:
        proc = procs.pop()
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            stream.close()


def _send(stream, payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise OSError("end of stream")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(stream, deadline: float | None) -> bytes:
    fd = stream.fileno()
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    return _read_exactly(fd, size, deadline)


def serve() -> None:
    """The worker: extract each page read from stdin, answer on stdout, until stdin closes."""
    from prox_tasks.labeling.html import get_extractor

    name, favor_recall = sys.argv[1], sys.argv[2] == "1"
    _exit_with(int(sys.argv[3]) if len(sys.argv) > 3 else os.getppid())
    extract = get_extractor(name, favor_recall)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _send(stdout, b"ready")
    while True:
        try:
            html = _receive(stdin, None).decode("utf-8", "surrogatepass")
        except OSError:
            return  # the parent closed the pipe (or died)
        try:
            answer = {"text": extract(html)}
        except Exception as err:  # noqa: BLE001 - the page's error, reported to the parent
            answer = {"error": quoted_error(err)}
        _send(stdout, json.dumps(answer).encode())


def _exit_with(parent: int) -> None:
    """Exit once process ``parent`` is gone. A closed stdin ends the worker between pages only:
    a label task killed while its worker was inside a page (SIGKILL, the OOM killer) left the
    worker extracting, an orphan, until the page ended — minutes, or never on a page that
    hangs the extractor. The parent's pid is checked, not a parent-death signal, which Linux
    sends when the *thread* that started the worker ends."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
