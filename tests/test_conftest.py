"""The suite's own isolation (tests/conftest.py): a test's outcome does not depend on what
ran before it."""

import logging

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
