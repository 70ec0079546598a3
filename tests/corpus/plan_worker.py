"""A planning process for the concurrent-plan test:
``python plan_worker.py INPUT OUTPUT TARGET_DOCS SYNC_DIR NAME``.

Plans INPUT into OUTPUT. Once it has looked for an existing manifest, it writes
``SYNC_DIR/NAME`` and waits until every other planner has looked too (two files in SYNC_DIR):
both then write their plan, as two runs started together do. Prints the plan's id and exits
0, or prints ``conflict`` and exits 3 on :class:`ManifestConflict`.
"""

import sys
import time
from pathlib import Path

from prox_tasks.corpus import ManifestConflict, plan_shards, planner


def main() -> None:
    inp, out, target, sync, name = sys.argv[1:6]
    real_exists = planner.exists

    def exists_then_wait(uri):
        found = real_exists(uri)
        if str(uri).endswith("manifest.json"):
            Path(sync, name).touch()
            deadline = time.monotonic() + 60
            while len(list(Path(sync).iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        return found

    planner.exists = exists_then_wait
    try:
        manifest = plan_shards(inp, out, target_docs=int(target))
    except ManifestConflict:
        print("conflict", flush=True)
        sys.exit(3)
    print(manifest.id, flush=True)


if __name__ == "__main__":
    main()
