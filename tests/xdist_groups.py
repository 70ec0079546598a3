"""How pytest-xdist shares the suite between its workers (scripts/test.sh runs it on
``PROX_TEST_WORKERS`` workers; tests/conftest.py installs :func:`pytest_xdist_make_scheduler`).

Each test is a unit of its own, except that the tests that start a vLLM engine run on one
worker, one after another, as in a serial run (each engine reserves a share of the machine's
memory, ``gpu_memory_utilization``, and its CPU threads, and the session's vLLM server starts
once, not once per worker), and each module of ``tests/deploy`` runs on one worker (its
module fixture starts a whole deployment, the Celery one ~70 s, which two workers sharing the
module's tests would each start).

Not ``pytest.mark.xdist_group``: xdist 3.8 marks a group by rewriting ``item._nodeid``, which
pytest 9 no longer reads, so the groups were ignored and the tests split anyway. The
scheduler sees only node ids, so the groups are told by file.
"""

from __future__ import annotations

import pytest

#: Modules whose tests start a vLLM engine (in process, in a ``prox`` subprocess, or the
#: session's vLLM server: test_openai_backend's ``vllm_server``).
VLLM_MODULES = frozenset({
    "test_vllm_backend.py", "test_vllm_cli.py", "test_vllm_reaper.py",
    "test_vllm_reaper_fds.py", "test_llm_vllm.py", "test_openai_backend.py",
})  # fmt: skip


def work_unit(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to: ``vllm``, its ``deploy`` module, or itself."""
    path = nodeid.split("::", 1)[0]
    folder, _, name = path.rpartition("/")
    if name in VLLM_MODULES:
        return "vllm"
    if folder.rpartition("/")[2] == "deploy":
        return path
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's load-by-scope scheduler with :func:`work_unit` as the scope (largest first)."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)
