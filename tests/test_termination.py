"""SIGTERM raised as Terminated (:mod:`prox_tasks.termination`), with a real signal."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from prox_tasks.termination import Terminated, raise_on_sigterm


def _sigterm_here() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)  # the handler runs at the next bytecode: never reached past it


def test_sigterm_raises_once_after_the_handler_before_and_puts_it_back():
    """Airflow's handler (on_kill) still runs; a second SIGTERM while the first is cleaned up
    does not cut the clean-up short; the handler before is back once the block ends."""
    seen, cleaned = [], []

    def before(signum, frame):  # what Airflow's task runner installs: calls on_kill
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, before)
    try:
        with pytest.raises(Terminated, match="stopped by the test"):
            with raise_on_sigterm("stopped by the test"):
                try:
                    _sigterm_here()
                finally:  # the clean-up: a second SIGTERM here is ignored
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(0.1)
                    cleaned.append(True)  # e.g. the attempt booked failed
        assert seen == [signal.SIGTERM, signal.SIGTERM] and cleaned == [True]
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_nothing_is_installed():
    handler = signal.getsignal(signal.SIGTERM)
    inside = []

    def run():
        with raise_on_sigterm():
            inside.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert inside == [handler]


def test_a_stop_is_looked_for_behind_compiled_codes_system_error_only():
    """stop_behind finds the stop a compiled function wrapped in SystemError (raised from
    it), and nothing else: an error raised while a stop was cleaned up stays that error."""
    from prox_tasks.termination import stop_behind

    def wrapped(stop: BaseException, how: str) -> BaseException:
        try:
            try:
                raise stop
            except BaseException as inner:
                if how == "from":
                    raise SystemError("returned a result with an exception set") from inner
                raise OSError("the catalog went away while booking the stop")  # noqa: B904
        except BaseException as outer:  # noqa: BLE001 - the error under test
            return outer

    stop = Terminated()
    assert stop_behind(stop) is stop
    assert stop_behind(wrapped(stop, "from")) is stop
    ctrl_c = KeyboardInterrupt()
    assert stop_behind(wrapped(ctrl_c, "from")) is ctrl_c
    assert stop_behind(wrapped(Terminated(), "during")) is None
    assert stop_behind(wrapped(ValueError("bad"), "from")) is None
    assert stop_behind(None) is None
