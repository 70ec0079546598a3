"""The test browser (tests/browser/chromium.py) leaves nothing in the temp folder."""

import os
import tempfile

import pytest

from tests.browser.chromium import Chromium, chromium_path

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


def test_a_closed_chromium_leaves_nothing_in_the_temp_folder(short_tmp, monkeypatch):
    """Each chromium left an ``org.chromium.Chromium.*`` folder (its singleton socket) in
    the system temp folder: a hundred of them after a few suite runs."""
    temp = short_tmp
    monkeypatch.setenv("TMPDIR", str(temp))  # what chromium reads
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # what this process's mkdtemp takes
    with Chromium() as chromium:
        chromium.page.goto("data:text/html,<p>loaded</p>")
        assert chromium.page.evaluate("document.body.innerText") == "loaded"
        assert os.listdir(temp)  # it did write there
    assert os.listdir(temp) == []
