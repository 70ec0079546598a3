"""Catalog URL and engine: SQLite under PROX_HOME by default, PostgreSQL (or any) by URL."""

from __future__ import annotations

from pathlib import Path


def default_url() -> str:
    """``PROX_CATALOG_URL``, else SQLite in ``PROX_HOME`` (see
    :func:`prox_tasks.pipeline.settings.catalog_url`, the one place that decides)."""
    from prox_tasks.pipeline.settings import catalog_url

    return catalog_url()


class CatalogURLInvalid(ValueError):
    """The catalog URL is not a database URL, or names a database driver this installation
    lacks: a setting to fix (a ``prox`` command exits 2; the DAG's plan fails its run
    without retries), which running the same command again cannot get past."""


def check_url(url: str) -> None:
    """Raise :class:`CatalogURLInvalid` when ``url`` is not a database URL, or names a
    database driver this installation lacks (``postgresql://`` asks for psycopg 3; prox
    ships psycopg2). The message never echoes the URL: a mistyped one may hold a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CatalogURLInvalid("the catalog URL (--catalog / --url, else PROX_CATALOG_URL) "
                                "is not a database URL: e.g. "
                                "sqlite:////abs/path/catalog.sqlite or "
                                "postgresql+psycopg2://user:pw@host/db") from None
    if parsed.get_backend_name() == "sqlite":
        return
    from sqlalchemy.exc import NoSuchModuleError

    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:  # notadb://, postgres://: a database SQLAlchemy does not know
        raise CatalogURLInvalid(f"the catalog URL names the database {parsed.drivername!r}, "
                                "which SQLAlchemy does not know: e.g. "
                                "sqlite:////abs/path/catalog.sqlite or "
                                "postgresql+psycopg2://user:pw@host/db") from None
    except ImportError as err:
        raise CatalogURLInvalid(f"the catalog URL asks for the database driver "
                                f"{err.name or err}, which is not installed: for PostgreSQL "
                                "write postgresql+psycopg2://user:pw@host/db (a bare "
                                "postgresql:// means psycopg 3)") from None


def url_cannot_work(err: BaseException) -> bool:
    """Whether ``err``, met opening a catalog, is its URL's own fault (not a database URL, a
    driver not installed, a file that is no catalog): the same URL fails again, whenever it
    is tried; otherwise an outage, which a retry once the database is back gets past."""
    return isinstance(err, (CatalogURLInvalid, NotACatalog))


class NotACatalog(ValueError):
    """The catalog URL names a SQLite file that is no prox catalog: not a database at all, or
    another program's (tables, none of them the catalog's ``schema_migrations``). Refused
    before anything is written to it."""


#: Where the catalog URL is given, named by a refusal of it.
URL_GIVEN = "--catalog or --url, else PROX_CATALOG_URL"


def check_sqlite_catalog(path: str) -> None:
    """Raise :class:`NotACatalog` when the SQLite file ``path`` exists and is no prox
    catalog (a file that does not exist yet, or holds no table, becomes one). Read only,
    before the engine opens it (its first connection switches the file to WAL). Other
    databases are not judged: a PostgreSQL database may hold other programs' tables beside
    the catalog's."""
    import sqlite3
    from urllib.parse import quote

    if not path or path == ":memory:" or not Path(path).is_file():
        return
    way_out = (f"give a catalog's URL ({URL_GIVEN}), or a path where no file is yet (a new "
               "catalog is created there)")
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
        try:
            tables = [row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        if "not a database" not in str(err):
            return  # locked, unreadable: the engine's own error says it
        raise NotACatalog(f"{path} is not a SQLite database, so no prox catalog: "
                          f"{way_out}") from None
    if tables and "schema_migrations" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise NotACatalog(f"{path} is a SQLite database but no prox catalog (its tables: "
                          f"{shown}); nothing was written to it: {way_out}")


#: How an error of a SQLite catalog's statement notes the catalog's file (``__notes__``).
CATALOG_NOTE = "SQLite catalog: "
#: How an error of a catalog on a database server (PostgreSQL) is noted as the catalog's:
#: another engine's (Airflow's metadata database) is not, and must not send a user to the
#: catalog URL. Names no URL: it may hold a password.
CATALOG_SERVER_NOTE = "catalog database (the catalog URL)"


def _note_catalog_errors(engine, path: str | None) -> None:
    """Note each error ``engine`` raises, its connection's included, as the catalog's:
    :data:`CATALOG_NOTE` and the SQLite file ``path`` (SQLite's "database or disk is full"
    names no file), else :data:`CATALOG_SERVER_NOTE`; the one-line error
    (:func:`prox_tasks.cli.errors.describe_error`) reads them."""
    from sqlalchemy import event

    note = f"{CATALOG_NOTE}{path}" if path is not None else CATALOG_SERVER_NOTE

    @event.listens_for(engine, "handle_error")
    def _note(context):
        err = context.sqlalchemy_exception
        if err is not None and note not in getattr(err, "__notes__", ()):
            err.add_note(note)


def make_engine(url: str):
    """An engine; SQLite gets real transactions (BEGIN IMMEDIATE), WAL and foreign keys."""
    from sqlalchemy import create_engine, event

    check_url(url)
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True)
        _note_catalog_errors(engine, None)
        return engine
    path = url.split("///", 1)[1] if "///" in url else ""
    check_sqlite_catalog(path)  # another program's file gets no catalog tables (nor WAL)
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event own transactions (pysqlite's own handling skips DDL).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if path and path != ":memory:":
            _use_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    _note_catalog_errors(engine, path or ":memory:")

    @event.listens_for(engine, "invalidate")
    def _rollback_invalidated(dbapi_conn, _record, _error):
        # A stop (SIGTERM as Terminated, Ctrl-C) raised inside a statement's execute makes
        # SQLAlchemy invalidate and close the connection, but SQLite closes it only once
        # the statement the traceback still holds is gone: its transaction, and the write
        # lock, stayed, and every clean-up booking waited 60 s for "database is locked".
        import sqlite3

        try:
            dbapi_conn.rollback()
        except sqlite3.Error:
            pass  # a connection already broken holds no transaction

    return engine


def _use_wal(cursor) -> None:
    """Switch a new SQLite file to WAL (it stays so). Switching needs the file to itself and
    SQLite answers "database is locked" at once, without its busy wait, while another
    connection opens it: several tasks opening a new catalog together try again briefly."""
    import sqlite3
    import time

    for attempt in range(100):
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or attempt == 99:
                raise
            time.sleep(0.05)

