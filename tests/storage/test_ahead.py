"""storage.ahead.read_ahead: reads a few at once, taken in order, a bounded number ahead."""

import threading
import time

import pytest

from prox_tasks.storage.ahead import read_ahead


def test_results_come_in_the_items_order_whatever_order_the_reads_end_in():
    def read(i):
        time.sleep(0.002 * (7 - i % 8))  # the later items of each eight end first
        return i * i

    assert list(read_ahead(read, range(40), readers=4)) == [i * i for i in range(40)]


def test_no_more_than_ahead_reads_are_started_before_the_caller_takes_them():
    """Memory holds ``ahead`` results, not every item's: a caller that takes its results
    slowly never has more than that many started and not taken."""
    started, lock = [], threading.Lock()

    def read(i):
        with lock:
            started.append(i)
        return i

    reads = read_ahead(read, range(100), readers=2, ahead=6)
    for taken, i in enumerate(reads, start=1):
        time.sleep(0.005)  # the readers are free to run ahead meanwhile
        with lock:
            assert len(started) <= taken + 6, (taken, len(started))
        assert i == taken - 1


def test_a_failed_read_raises_in_order_and_stops_the_reads_after_it():
    """The first failure in the items' order is the one raised (a later one that ended
    first is not), and reads far past it are never started."""
    started, lock = [], threading.Lock()

    def read(i):
        with lock:
            started.append(i)
        if i == 3:
            time.sleep(0.05)
            raise ValueError("item 3")
        if i == 5:
            raise ValueError("item 5")
        return i

    with pytest.raises(ValueError, match="item 3"):
        list(read_ahead(read, range(1000), readers=2, ahead=8))
    assert max(started) < 3 + 8 + 2, started
