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


def test_a_postgresql_url_without_an_installed_driver_says_which_url_to_write(monkeypatch,
                                                                              capsys):
    """``postgresql://`` (as psql and most tools write it) asks SQLAlchemy for psycopg 3,
    which this install lacks (the real missing module, not a mock): the error names the
    URL that works instead of a bare ModuleNotFoundError, and never echoes the password."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg 3 is installed here: a bare postgresql:// URL works")
    with pytest.raises(ValueError, match=r"driver psycopg, which is not installed: .*"
                       r"postgresql\+psycopg2://user:pw@host/db"):
        Catalog("postgresql://prox:hunter2@127.0.0.1:1/prox")
    monkeypatch.setenv("PROX_CATALOG_URL", "postgresql://prox:hunter2@127.0.0.1:1/prox")
    assert main(["catalog", "status"]) == 1
    err = capsys.readouterr().err
    assert "postgresql+psycopg2://" in err and len(err.splitlines()) == 1
    assert "hunter2" not in err
