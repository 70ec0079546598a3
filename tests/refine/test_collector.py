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


def test_a_command_stopped_by_ctrl_c_or_sigterm_skips_the_last_collection_too(tmp_path):
    """A Ctrl-C'd ``prox train`` printed 'interrupted' at once, then exited tens of seconds
    later on a busy host: the interpreter's last collection walked every object the command
    left (a model's, its data's), skipped only after a command that succeeded. A stop (Ctrl-C,
    SIGTERM, and one come out of compiled code as a SystemError) skips it as well."""
    code = (
        "import gc, sys\n"
        "import prox_tasks.cli as cli\n"
        "from prox_tasks.termination import Terminated\n"
        "which = sys.argv[1]\n"
        "def stop(*_):\n"
        "    stops = {'ctrl-c': KeyboardInterrupt(), 'sigterm': Terminated()}\n"
        "    if which == 'compiled':\n"
        "        raise SystemError('returned a result with an exception set') from \\\n"
        "            KeyboardInterrupt()\n"
        "    raise stops[which]\n"
        "cli.emit = stop\n"
        "sys.argv = ['prox', 'catalog', 'status', '--json']\n"
        "code = cli.main()\n"
        "print(code, gc.get_freeze_count() > 0)\n"
    )
    for which, code_wanted in (("ctrl-c", "130"), ("sigterm", "143"), ("compiled", "130")):
        out = subprocess.run([sys.executable, "-c", code, which], capture_output=True,
                             text=True, check=True, env={**os.environ, "PROX_HOME": str(tmp_path)})
        assert out.stdout.split()[-2:] == [code_wanted, "True"], (which, out.stderr)
