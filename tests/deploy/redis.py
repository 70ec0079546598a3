"""A throw-away Redis server on loopback (Debian's ``redis-server``): the Celery broker."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from prox_tasks.storage.tempfiles import tagged_tempdir
from tests.ports import PortTaken, port_taken, start_on_free_port


class RedisUnavailable(RuntimeError):
    """No ``redis-server`` here, or it would not start (the message says why)."""


class RedisServer:
    """``redis-server`` bound to 127.0.0.1 on a free port, in memory only (no RDB/AOF)."""

    def __init__(self):
        self.port = 0
        self.root = None
        self._proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable("Redis not available: install Debian's `redis-server` package")
        self.root = tagged_tempdir("prox-redis-")  # a killed test process's: the next's
        self._log = open(f"{self.root}/redis.log", "w")  # noqa: SIM115 - closed in stop()
        try:  # on a free port; on another when it was taken meanwhile (tests/ports.py)
            start_on_free_port(lambda port: self._start_on(binary, port, timeout))
        except PortTaken as err:
            self.stop()
            raise RedisUnavailable(str(err)) from err
        return self

    def _start_on(self, binary: str, port: int, timeout: float) -> None:
        """Start redis-server on ``port`` and wait for its answer.

        Raises:
            PortTaken: another server took ``port`` before this one bound it.
        """
        self.port = port
        self._log.seek(0)  # a start before this one on a taken port wrote its log
        self._log.truncate()
        self._proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.root, "--protected-mode", "yes"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                with open(f"{self.root}/redis.log", errors="replace") as said:
                    if port_taken(said.read()):
                        raise PortTaken(f"Redis's port {port} was taken")
                self.stop()
                raise RedisUnavailable(f"redis-server exited ({self._proc.returncode})")
            if self._ping():
                return
            time.sleep(0.2)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer within {timeout} s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self.root is not None:
            self._log.close()
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
