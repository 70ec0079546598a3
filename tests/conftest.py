"""Fixtures shared by several test packages (built once per session)."""

import logging
import os
import tempfile

import pytest
from hypothesis import HealthCheck, settings

from tests import vllm_server as vllm
from tests.inference.helpers import build_tagger_artifact, build_tiny_model
from tests.xdist_groups import pytest_xdist_make_scheduler  # noqa: F401 (a hook: xdist's units)

# Property tests draw the same examples on every run (derandomize): one fails on a change of
# the code or of the test, never by the luck of a CI run. PROX_FUZZ_EXAMPLES=20000 makes a
# longer fuzz run with fresh random examples. No deadline and no too_slow check: a loaded
# 2-core machine is slow, and a property test is not a timing test.
_FUZZ = os.environ.get("PROX_FUZZ_EXAMPLES")
settings.register_profile("prox", max_examples=int(_FUZZ or 300), derandomize=not _FUZZ,
                          deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("prox")


def pytest_configure(config):
    """A developer's own PROX_HOME (exported for manual runs) is not the tests': tests that
    name no catalog would share its catalog and its runs/ with each other and with them."""
    os.environ.pop("PROX_HOME", None)
    # tests write their snapshots in temporary folders, which the report reads (its own
    # tests narrow this to see it refuse the rest: prox_tasks.report.roots)
    os.environ["PROX_REPORT_ROOTS"] = tempfile.gettempdir()
    _session_scratch(config)


#: The session's scratch folder in the temp folder: ``prox-tests-<host>.<pid>.<random>``.
SESSION_SCRATCH_PREFIX = "prox-tests-"


def _session_scratch(config) -> None:
    """Give what third-party code leaves in the temp folder a folder of the session's,
    removed when it ends (a killed session's by the next one's start): torch's
    ``torchinductor_<user>`` (building the tests' tiny Llama makes it), which was left in
    /tmp by every run. An exported ``TORCHINDUCTOR_CACHE_DIR`` is kept. At the end, the
    socket folders (tempfiles.socket_dir) of the session's processes that ended by
    ``os._exit`` (Airflow task processes) are removed too: in production the next refine
    on the host does it."""
    import shutil

    from prox_tasks.inference.vllm_engine import SCRATCH_PREFIX as VLLM_PREFIX
    from prox_tasks.refine.fork_server import SOCKET_PREFIX as MP_PREFIX
    from prox_tasks.storage.tempfiles import sweep_stale, temp_tag

    def sweep_socket_folders():
        for prefix in (VLLM_PREFIX, MP_PREFIX):
            sweep_stale(tempfile.gettempdir(), prefix, once=False)

    config.add_cleanup(sweep_socket_folders)
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return
    sweep_stale(tempfile.gettempdir(), SESSION_SCRATCH_PREFIX, once=False)
    folder = tempfile.mkdtemp(prefix=SESSION_SCRATCH_PREFIX + temp_tag())
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(folder, "torchinductor")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


#: Deployment variables a developer may have exported that no test reads as its own knob.
DEPLOYMENT_ONLY = ("PROX_TMPDIR", "PROX_LABEL_CLAIM_LEASE_S", "PROX_ID_SEARCH_MB")


@pytest.fixture(autouse=True)
def _isolated_prox_home(tmp_path_factory, monkeypatch):
    """A test never reads a developer's ``runs/``: an empty PROX_HOME unless the session set
    one (the Airflow tests' installation), and no registry or catalog override, nor a
    developer's exported scratch folder or setting whose default the tests assert:
    ``PROX_TMPDIR`` sent the tests' spills (id search, gate, training) into the operator's
    volume, where tests that look in their own temp folder failed or passed without
    looking, and a claim lease or id-search budget of the shell changed what they check."""
    if not os.environ.get("PROX_HOME"):
        monkeypatch.setenv("PROX_HOME", str(tmp_path_factory.mktemp("prox-home")))
    for name in ("PROX_MODEL_REGISTRY", "PROX_CATALOG_URL", *DEPLOYMENT_ONLY):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _root_handlers_unfiltered():
    """Each test begins with no redacting filter on the root logger's handlers and ends with
    the filters they had before it.

    ``prox``'s ``main`` (its install()) and prox's listener put a redacting filter in front of
    every root handler, pytest's own among them: pytest reuses its capturing handlers (the
    caplog one, the report one) from test to test, so a filter put there before a test (a
    module or session fixture's prox command, a handler an earlier ``dag.test()`` left on
    the root logger) was still there, and a test of a redaction (the listener's escaped task
    log, another library's URL password hidden) passed in a full run whether or not the code
    it tests filtered anything. Every test starts as a fresh process does, without one;
    what it installs is taken off at its end, and the filters from before are given back
    (the fixture that put them there may still count on them)."""
    from prox_tasks.redaction import RedactingFilter

    handlers = {handler: list(handler.filters) for handler in logging.getLogger().handlers}
    for handler, filters in handlers.items():
        handler.filters[:] = [f for f in filters if not isinstance(f, RedactingFilter)]
    yield
    for handler, filters in handlers.items():
        handler.filters[:] = filters


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random-weight Llama refining model saved in the ProX released-model format."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-prox")


@pytest.fixture(scope="session")
def tagger_model(tmp_path_factory):
    return build_tagger_artifact(tmp_path_factory.mktemp("models") / "tagger")


@pytest.fixture(scope="session")
def _vllm_session_server(tmp_path_factory):
    server = vllm.start(tmp_path_factory.mktemp("vllm-server"))
    yield server
    server.stop()


@pytest.fixture
def vllm_server(_vllm_session_server, request):
    """The session's vLLM OpenAI-compatible server (tests/vllm_server.py): started at the
    first test that asks for it, stopped after the last (the rest of the suite runs without
    an engine beside it)."""
    yield _vllm_session_server
    later = request.session.items[request.session.items.index(request.node) + 1 :]
    if not any("vllm_server" in getattr(item, "fixturenames", ()) for item in later):
        _vllm_session_server.stop()


@pytest.fixture
def short_tmp():
    """A new folder of a short path in the temp folder, removed after the test: where a
    unix socket must fit its 107 bytes (pytest's ``tmp_path`` is too deep for one)."""
    import shutil

    path = tempfile.mkdtemp(prefix="prox-t-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def real_tmpfs(tmp_path):
    """``real_tmpfs(size)``: a folder on a real tmpfs of ``size`` (mount's ``size=``: ``64k``,
    ``6m``), a disk that fills for real (ENOSPC); unmounted after the test. A test that needs
    one is skipped, saying why, where this user cannot mount one (not root)."""
    import subprocess

    mounted = []

    def mount(size: str):
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"a real full disk needs a tmpfs, which this user cannot mount: "
                        f"{done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def resize_tmpfs(folder, size: str) -> None:
    """Give the tmpfs at ``folder`` (:func:`real_tmpfs`'s) ``size``: room again after a full
    disk, or less room."""
    import subprocess

    subprocess.run(["mount", "-o", f"remount,size={size}", "tmpfs", str(folder)], check=True)


def kill_when_ready(code: str, *args: str) -> int:
    """Run ``python -c code args`` (this checkout first on its path), wait for the line
    ``ready`` it prints where it must die (a fault injection paused inside a write), kill it
    with SIGKILL and return its pid (named in what it left, e.g. its temporary file)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return proc.pid
