"""The suite's own isolation (tests/conftest.py): a test's outcome does not depend on what
ran before it."""

import logging
import os

import pytest

from prox_tasks.redaction import RedactingFilter, filter_log_handlers


@pytest.fixture(scope="module")
def _a_module_fixture_ran_prox():
    """What a module fixture running a ``prox`` command in this process leaves: a redacting
    filter on every root handler there is while it runs (pytest's capturing ones, which
    pytest reuses for every later test)."""
    filter_log_handlers()
    yield
    for handler in logging.getLogger().handlers:
        handler.filters[:] = [f for f in handler.filters if not isinstance(f, RedactingFilter)]


def test_a_test_starts_without_a_redacting_filter_put_there_before(_a_module_fixture_ran_prox):
    """A redaction test passed on such a leftover filter whether or not the code it tests
    filtered anything (the listener's escaped task log in a full run)."""
    left = [
        type(h).__name__
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in h.filters)
    ]
    assert left == []
    assert logging.getLogger().handlers  # pytest's capturing handlers: there was one to filter


def test_the_vllm_tests_and_each_deploy_module_run_on_one_xdist_worker(tmp_path):
    """``pytest.mark.xdist_group`` was ignored (xdist 3.8 under pytest 9): the vLLM tests ran
    on both workers at once, each starting its own engine, and a deploy module's deployment
    started twice. A real two-worker run of a small suite laid out as this one is, with
    tests/xdist_groups.py's scheduler: each group on one worker, the rest test by test."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text(
        "from tests.xdist_groups import pytest_xdist_make_scheduler  # noqa: F401\n")
    body = ("import json, os, time\n\n\n"
            "def record(name):\n"
            "    time.sleep(0.1)\n"
            "    with open(os.environ['WHO_RAN'], 'a') as f:\n"
            "        f.write(json.dumps([name, os.environ['PYTEST_XDIST_WORKER']]) + '\\n')\n")
    layout = {"inference/test_vllm_backend.py": "vllm", "labeling/test_llm_vllm.py": "vllm",
              "inference/test_openai_backend.py": "vllm", "deploy/test_celery.py": "celery",
              "corpus/test_readers.py": "free", "dags/test_refine.py": "free"}
    for path, group in layout.items():
        file = tmp_path / path
        file.parent.mkdir(exist_ok=True)
        tests = "".join(f"\n\ndef test_{i}():\n    record('{group}')\n" for i in range(6))
        file.write_text(body + tests)
    who = tmp_path / "who.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo), "WHO_RAN": str(who)})
    assert done.returncode == 0, done.stdout + done.stderr
    ran: dict[str, set] = {}
    for line in who.read_text().splitlines():
        group, worker = json.loads(line)
        ran.setdefault(group, set()).add(worker)
    assert len(ran["vllm"]) == 1 and len(ran["celery"]) == 1, ran
    assert set().union(*ran.values()) == {"gw0", "gw1"}, ran  # two workers at work


def test_a_session_leaves_nothing_of_torch_in_the_temp_folder(tmp_path, short_tmp):
    """Building the tests' tiny Llama made torch's ``torchinductor_<user>`` in the temp
    folder, left by every run (/tmp of a CI machine); a deployment's refine task (its
    process ended by ``os._exit``) left its fork server's socket folder. A real session,
    with this suite's conftest, in a temp folder of its own: only pytest's own folder is
    left."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "test_build.py").write_text(
        "import subprocess, sys\n"
        "from tests.inference.helpers import build_tiny_model\n\n\n"
        "def test_build(tmp_path):\n    build_tiny_model(tmp_path / 'tiny')\n\n\n"
        "def test_a_task_process_ends(tmp_path):\n"
        "    subprocess.run([sys.executable, '-c', 'import os; from prox_tasks.refine.'\n"
        "                    'fork_server import start_worker_imports; start_worker_imports();'\n"
        "                    ' os._exit(0)'], check=True)\n")
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), str(tmp_path / "test_build.py")],
        env={**env, "TMPDIR": short_tmp, "PYTHONPATH": str(repo)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [n for n in os.listdir(short_tmp) if not n.startswith("pytest-of-")] == []
