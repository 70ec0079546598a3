"""The catalog URL: a value that is not a database URL is named as such, in one line."""

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main


def test_a_catalog_url_that_is_not_a_url_is_named_without_echoing_it(monkeypatch, capsys):
    with pytest.raises(ValueError, match="is not a database URL"):
        Catalog("postgres//prox:hunter2@db/prox")
    monkeypatch.setenv("PROX_CATALOG_URL", "postgres//prox:hunter2@db/prox")
    assert main(["catalog", "status"]) == 1
    err = capsys.readouterr().err
    assert "PROX_CATALOG_URL) is not a database URL" in err and len(err.splitlines()) == 1
    assert "hunter2" not in err
