"""The tests' own environment: a developer's exported deployment settings do not reach them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Tests that look in their own temp folder, or assert a setting's default.
CHECKED = (
    "tests/corpus/test_id_search.py::test_the_scratch_a_killed_search_left_is_removed_by_the_next",
    "tests/labeling/test_run_claim.py::test_a_claim_with_a_malformed_lease_is_joined_as_one_without_it",
)


def test_a_developer_s_exported_prox_settings_do_not_reach_the_tests(tmp_path):
    """``PROX_TMPDIR`` exported in the shell (a small /tmp: the very reason to set it) sent
    the id search's spill there: the test looking for it in its own temp folder failed, and
    the scratch folder was left in the developer's volume; an exported claim lease failed
    the test of the default one. Both tests run in a pytest of their own with them set."""
    operator = tmp_path / "operator-scratch"
    operator.mkdir()
    env = {**os.environ, "PROX_TMPDIR": str(operator), "PROX_LABEL_CLAIM_LEASE_S": "60",
           "PROX_ID_SEARCH_MB": "1", "PYTHONPATH": str(ROOT)}  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHECKED],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert os.listdir(operator) == []
