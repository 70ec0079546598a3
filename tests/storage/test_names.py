"""Names that become one path component: the DAG Params' pattern refuses what the library's
check refuses."""

from __future__ import annotations

import pytest

from prox_tasks.storage.names import NAME_PATTERN, InvalidName, check_name

NAMES = [
    "crawl-2026-12-07",
    "seed.v1",
    "a" * 128,
    "a" * 129,
    "../up",
    "a/b",
    ".hidden",
    "naïve",
    "crawl\n",
    "crawl\r\n",
    "\ncrawl",
    "crawl ",
    "",
]


@pytest.mark.parametrize("name", NAMES)
def test_a_dag_param_takes_a_name_exactly_when_the_library_does(name):
    """Airflow validates a Param with jsonschema, whose ``pattern`` is Python's
    ``re.search``: ``$`` matches before a final line feed, so ``crawl\\n`` passed the
    snapshot_name and seed_set_name Params, and the run failed later in its task on the
    library's check (a full match). The pattern ends the name at the end of the text now."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    param = Param(None, type=["null", "string"], pattern=NAME_PATTERN)
    try:
        check_name(name)
    except InvalidName:
        with pytest.raises(ParamValidationError):
            param.resolve(name)
    else:
        assert param.resolve(name) == name
