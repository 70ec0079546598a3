"""The SQL catalog (SQLAlchemy): SQLite by default, PostgreSQL by URL."""

from prox_tasks.catalog.catalog import Catalog, SnapshotNameTaken
from prox_tasks.catalog.engine import default_url, make_engine
from prox_tasks.catalog.migrations import MigrationError, load_migrations, migrate, sql_dir

__all__ = ["Catalog", "MigrationError", "default_url", "load_migrations", "make_engine",
           "migrate", "sql_dir", "SnapshotNameTaken"]
