"""The garbage collector's tuning: only in a process's own ``prox`` command (not when Python
code calls the CLI), and cycles are still collected."""

import gc
import os
import subprocess
import sys

from prox_tasks.cli import main
from prox_tasks.refine.collector import YOUNG_OBJECTS, collect_less_often


def test_collect_less_often_raises_only_the_youngest_threshold():
    before = gc.get_threshold()
    try:
        collect_less_often()
        assert gc.get_threshold() == (YOUNG_OBJECTS, *before[1:])
    finally:
        gc.set_threshold(*before)


def test_a_call_from_python_leaves_the_collector_alone(tmp_path, capsys):
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert main(["catalog", "--url", f"sqlite:///{tmp_path}/c.db", "migrate", "--json"]) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen)


def test_the_command_process_tunes_it_and_still_collects_cycles(tmp_path):
    code = (
        "import gc, sys\n"
        "from prox_tasks.cli import main\n"
        "sys.argv = ['prox', 'catalog', 'status', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
        "gc.unfreeze()\n"
        "class Node:\n    pass\n"
        "a, b = Node(), Node()\n"
        "a.other, b.other = b, a\n"
        "del a, b\n"
        "print(gc.collect() >= 2)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PROX_HOME": str(tmp_path)})
    assert out.stdout.split()[-3:] == [str(YOUNG_OBJECTS), "True", "True"]  # after its JSON
