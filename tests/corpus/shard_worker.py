"""A shard-writer process for the kill test: ``python shard_worker.py OUTPUT INDEX DELAY``.

Reads shard INDEX of the manifest in OUTPUT, "refines" it (tests.corpus.conftest.refine_rows)
sleeping DELAY seconds per document, and writes the refined shard in row groups of 4.
"""

import sys
import time

from prox_tasks.corpus import Quarantine, read_shard, write_refined_shard
from tests.corpus.conftest import refine_rows


def slow(rows, delay):
    for row in rows:
        time.sleep(delay)
        yield row


def main() -> None:
    output, index, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    quarantine = Quarantine()
    rows = slow(refine_rows(read_shard(output, index, quarantine)), delay)
    accounting = write_refined_shard(output, index, rows, quarantine=quarantine, row_group_rows=4)
    print(accounting.sha256, flush=True)


if __name__ == "__main__":
    main()
