"""The SQL catalog of the corpus life cycle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prox_tasks.catalog.engine import default_url, make_engine
from prox_tasks.catalog.migrations import migrate, sql_dir

JSON_COLUMNS = {"metrics", "stats", "quarantine_reasons", "drop_reasons", "program_errors",
                "runner", "input_notices", "released_by"}
BOOL_COLUMNS = {"promoted", "success", "gate_passed"}
SNAPSHOT_FIELDS = {"input_uri", "output_uri", "manifest_uri", "manifest_id", "status",
                   "num_shards", "docs_planned", "logical_date", "dag_run_id",
                   "model_version", "error", "runner"}


class SnapshotNameTaken(ValueError):
    """A snapshot name already booked for another output folder."""


class SeedSetNameTaken(ValueError):
    """A seed-set name already registered for another folder."""


#: Characters of an error a snapshot's or shard's error column keeps, and of its end.
ERROR_CHARS, ERROR_END = 4000, 1000


def _stored_error(error) -> str:
    """``error`` as the catalog stores it: redacted, then cut in its middle to
    :data:`ERROR_CHARS` (:func:`~prox_tasks.wording.shortened`): where it failed, often
    its end, is kept."""
    from prox_tasks.redaction import redact
    from prox_tasks.wording import shortened

    return shortened(redact(str(error)), ERROR_CHARS, ERROR_END)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _if_new(insert: str, key: str, otherwise: str | None = None) -> str:
    """``insert`` (an ``INSERT INTO ... VALUES ...``) made to insert nothing where a row of the
    same ``key`` (the table's unique columns) is there already; ``otherwise``: the ``SET``
    list to update that row with instead (``EXCLUDED.<column>`` is the value not inserted).

    A booking looks for its row, then inserts it when there was none; two runs booking the
    same name at once (a scheduled refresh and a manual rerun, two trainings publishing one
    version) both find none, and the later INSERT failed on the unique constraint with an
    ``IntegrityError`` traceback (PostgreSQL: the second waits for the first to commit, then
    fails). This way it inserts nothing and the caller updates the row the other run booked,
    after checking it is the same folder's. SQLite (3.24+) and PostgreSQL take the same words.
    """
    return f"{insert} ON CONFLICT ({key}) " + (f"DO UPDATE SET {otherwise}" if otherwise
                                               else "DO NOTHING")


def _dump(value) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _row(mapping) -> dict:
    out = dict(mapping)
    for key in JSON_COLUMNS & out.keys():
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    for key in BOOL_COLUMNS & out.keys():
        if out[key] is not None:
            out[key] = bool(out[key])
    return out


#: A finished shard's row: done, with its accounting (:func:`_finished_row`'s values).
FINISH_SHARD = (
    "UPDATE shards SET status = 'done', docs_read = :r, docs_written = :w, docs_kept = :k,"
    " docs_dropped = :d, docs_quarantined = :q, quarantine_reasons = :qr,"
    " output_uri = :u, output_bytes = :b, checksum = :c, error = NULL,"
    " finished_at = :t, wall_seconds = :ws, drop_reasons = :dr, program_errors = :pe,"
    " docs_with_program_errors = :wpe, input_notices = :inn"
    " WHERE snapshot_id = :s AND shard_index = :i")


def _finished_row(index: int, acc: dict, wall_seconds: float | None) -> dict:
    """:data:`FINISH_SHARD`'s values of shard ``index`` (but the snapshot and the time)."""
    return {"i": index, "r": acc["docs_read"], "w": acc["docs_written"],
            "k": acc.get("docs_kept"), "d": acc.get("docs_dropped"),
            "q": acc["docs_quarantined"], "qr": _dump(acc.get("quarantine_reasons") or {}),
            "u": acc.get("uri"), "b": acc.get("bytes"), "c": acc.get("sha256"),
            "ws": wall_seconds, "dr": _dump(acc.get("drop_reasons") or {}),
            "pe": _dump(acc.get("program_errors") or {}),
            "wpe": acc.get("docs_with_program_errors"),
            "inn": _dump(acc.get("input_notices") or {})}  # fmt: skip


#: A snapshot's shard totals (its columns since migration 0011), each what it sums over the
#: snapshot's shard rows: kept by every statement that writes shard rows
#: (:meth:`Catalog._booking`), so the PROX report's overview reads a row a snapshot.
SHARD_TOTALS = {
    "shards_booked": "COUNT(*)",
    "shards_done": "SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END)",
    "shard_attempts": "SUM(attempts)",
    "done_docs_read": "SUM(CASE WHEN status = 'done' THEN docs_read END)",
    "done_docs_written": "SUM(CASE WHEN status = 'done' THEN docs_written END)",
    "done_docs_kept": "SUM(CASE WHEN status = 'done' THEN docs_kept END)",
    "done_docs_dropped": "SUM(CASE WHEN status = 'done' THEN docs_dropped END)",
    "done_docs_quarantined": "SUM(CASE WHEN status = 'done' THEN docs_quarantined END)",
}


def _sum_shards(conn, snapshot_id: int, indexes: list[int] | None) -> dict[str, int]:
    """:data:`SHARD_TOTALS` over snapshot ``snapshot_id``'s shards ``indexes`` (None: all)."""
    from sqlalchemy import bindparam, text

    sums = ", ".join(f"COALESCE({expr}, 0) AS {col}" for col, expr in SHARD_TOTALS.items())
    where = "snapshot_id = :s" + ("" if indexes is None else " AND shard_index IN :i")
    query = text(f"SELECT {sums} FROM shards WHERE {where}")  # noqa: S608
    params: dict[str, Any] = {"s": snapshot_id}
    if indexes is not None:
        query = query.bindparams(bindparam("i", expanding=True))
        params["i"] = list(indexes)
    return {k: int(v) for k, v in conn.execute(query, params).mappings().one().items()}


@contextmanager
def _totals_kept(conn, snapshot_id: int, indexes: list[int] | None) -> Iterator[None]:
    """Around statements of ``conn``'s transaction that write snapshot ``snapshot_id``'s
    shards ``indexes`` (None: any of its shards): its :data:`SHARD_TOTALS` are adjusted by
    what those shards' rows changed (None: set to the sums over all its shard rows)."""
    from sqlalchemy import text

    # The snapshot's row is locked first (FOR UPDATE, held to the commit), so a booking of
    # the same snapshot meanwhile waits here and reads the shard rows this one committed
    # (READ COMMITTED: each statement sees what is committed when it starts), not those
    # before it: no change is counted twice. A lock, not a write: a no-op UPDATE here made
    # every booking write the row twice (two row versions on PostgreSQL, for its vacuum).
    # SQLite's transactions are IMMEDIATE (the database locked from BEGIN): no row lock.
    if conn.dialect.name != "sqlite":
        conn.execute(text("SELECT id FROM snapshots WHERE id = :s FOR UPDATE"),
                     {"s": snapshot_id})
    before = _sum_shards(conn, snapshot_id, indexes)
    yield
    after = _sum_shards(conn, snapshot_id, indexes)
    if indexes is None:  # a whole plan: the sums themselves (a drift, if any, ends here)
        changed = after
        sets = ", ".join(f"{k} = :{k}" for k in changed)
    else:
        changed = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        sets = ", ".join(f"{k} = {k} + :{k}" for k in changed)
    if changed:
        conn.execute(text(f"UPDATE snapshots SET {sets} WHERE id = :s"),  # noqa: S608
                     {"s": snapshot_id, **changed})


class Catalog:
    """Snapshots, shards, seed sets, models, quality reports and releases, in SQL.

    Args:
        url: SQLAlchemy URL; default :func:`default_url` (``PROX_CATALOG_URL``, else SQLite
            ``$PROX_HOME/catalog.sqlite``). ``postgresql+psycopg2://user:pw@host/db``
            for PostgreSQL (a bare ``postgresql://`` means psycopg 3, not installed).
        auto_migrate: Apply pending migrations on open (idempotent).
    """

    def __init__(self, url: str | None = None, auto_migrate: bool = True):
        self.url = url or default_url()
        self.engine = make_engine(self.url)
        if auto_migrate:
            self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied now."""
        return migrate(self.engine)

    def _all(self, sql: str, **params) -> list[dict]:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            return [_row(r) for r in conn.execute(text(sql), params).mappings()]

    def _one(self, sql: str, **params) -> dict | None:
        rows = self._all(sql, **params)
        return rows[0] if rows else None

    def _exec(self, sql: str, **params) -> int:
        """Run one statement; returns the rows it changed."""
        from sqlalchemy import text

        with self.engine.begin() as conn:
            return conn.execute(text(sql), params).rowcount

    def _id(self, table: str, where: str, **params) -> int:
        row = self._one(f"SELECT id FROM {table} WHERE {where}", **params)  # noqa: S608
        if row is None:
            raise KeyError(f"no {table} row where {where} {params}")
        return row["id"]

    @contextmanager
    def _booking(self, snapshot_id: int, indexes: list[int] | None = None) -> Iterator[Any]:
        """A transaction whose statements write snapshot ``snapshot_id``'s shards
        ``indexes`` (None: any of its shards), its shard totals kept with them
        (:func:`_totals_kept`). Every write of a shard row goes through here."""
        with self.engine.begin() as conn, _totals_kept(conn, snapshot_id, indexes):
            yield conn

    def applied_migrations(self) -> list[dict]:
        return self._all("SELECT * FROM schema_migrations ORDER BY version")

    # -- snapshots and shards -------------------------------------------------------------
    def register_snapshot(self, name: str, input_uri: str, output_uri: str, *,
                          manifest=None, status: str = "planned",
                          created_at: str | None = None, option: str = "--name") -> int:
        """Create or update snapshot ``name``; with a manifest, also its planned shards.
        ``option``: what names it, for the message of a name booked for another folder
        (:meth:`check_snapshot_name`), the same whether it was booked before or meanwhile.

        Raises:
            prox_tasks.storage.names.InvalidName: ``name`` is not one safe path component
                (it names the snapshot's folder and release: no ``/``, no ``..``).
            SnapshotNameTaken: ``name`` belongs to another output folder.
        """
        from prox_tasks.storage.names import check_name

        check_name(name, "snapshot name")
        self.check_snapshot_name(name, output_uri, option)
        fields = {"input_uri": input_uri, "output_uri": output_uri, "status": status}
        if manifest is not None:
            fields.update(manifest_uri=manifest.uri, manifest_id=manifest.id,
                          num_shards=len(manifest.shards), docs_planned=manifest.total_docs)
        cols = ["name", "created_at", "updated_at", *fields]
        stamp = created_at or now()
        new = self.get_snapshot(name) is None
        if not (new and self._exec(
                _if_new(f"INSERT INTO snapshots ({', '.join(cols)}) "  # noqa: S608
                        f"VALUES ({', '.join(':' + c for c in cols)})", "name"),
                name=name, created_at=stamp, updated_at=stamp, **fields)):
            if new:  # booked meanwhile by another run: for this folder?
                self.check_snapshot_name(name, output_uri, option)
            self.update_snapshot(name, **fields)
        snapshot_id = self._id("snapshots", "name = :n", n=name)
        if manifest is not None:
            self._plan_shards(snapshot_id, manifest.shards)
        return snapshot_id

    def _plan_shards(self, snapshot_id: int, shards) -> None:
        """Book the planned ``shards`` (their documents and bytes) in one transaction: a
        snapshot of 10,000 shards is a few statements, not two transactions a shard, and a
        plan cut short books none of them. A re-plan with fewer shards drops the rows past
        its end (they belong to no shard any more)."""
        from sqlalchemy import text

        with self._booking(snapshot_id) as conn:
            booked = dict(conn.execute(text(
                "SELECT shard_index, id FROM shards WHERE snapshot_id = :s"),
                {"s": snapshot_id}).all())
            new = [{"s": snapshot_id, "i": sh.index, "d": sh.docs, "b": sh.bytes}
                   for sh in shards if sh.index not in booked]
            again = [{"d": sh.docs, "b": sh.bytes, "id": booked[sh.index]}
                     for sh in shards if sh.index in booked]
            if new:
                conn.execute(text(_if_new(  # a plan booked meanwhile: this one's sizes
                    "INSERT INTO shards (snapshot_id, shard_index, docs_planned, bytes_planned)"
                    " VALUES (:s, :i, :d, :b)", "snapshot_id, shard_index",
                    "docs_planned = EXCLUDED.docs_planned,"
                    " bytes_planned = EXCLUDED.bytes_planned")), new)
            if again:
                conn.execute(text("UPDATE shards SET docs_planned = :d, bytes_planned = :b"
                                  " WHERE id = :id"), again)
            conn.execute(text("DELETE FROM shards WHERE snapshot_id = :s AND shard_index >= :n"),
                         {"s": snapshot_id, "n": len(shards)})

    def check_snapshot_name(self, name: str, output_uri: str, option: str = "--name") -> None:
        """Refuse ``name`` when it is booked for another output folder: its row, shards and
        releases describe that folder's corpus (``option``: what names it, for the message).

        Raises:
            SnapshotNameTaken: ``name`` belongs to another output folder.
        """
        from prox_tasks.storage import same_uri, to_uri

        row = self.get_snapshot(name)
        if row and row["output_uri"] and not same_uri(row["output_uri"], output_uri):
            raise SnapshotNameTaken(
                f"snapshot name {name!r} is booked for {row['output_uri']} (status "
                f"{row['status']}), not {to_uri(output_uri)}; name this one apart ({option})")

    def default_snapshot_name(self, output_uri: str) -> str:
        """The name an output folder is booked under when none is given: the folder's own
        name when it is free or books this folder; else the name the catalog already books
        this folder under (``prox plan --snapshot NAME`` before a ``prox refine`` naming
        none: one row for the folder, not a second one); else — the folder's name booked
        for another folder (``a/refined`` and ``b/refined``) — the folder's name and a
        digest of its URI, so neither takes the other's row."""
        import hashlib

        from prox_tasks.storage import parse_uri, same_uri, to_uri
        from prox_tasks.storage.names import safe_name

        uri = to_uri(output_uri)
        name = safe_name(parse_uri(uri).name or "snapshot")
        row = self.get_snapshot(name)
        if row is None or not row["output_uri"] or same_uri(row["output_uri"], uri):
            return name if row is not None else self.booked_as(uri) or name
        return self.booked_as(uri) or f"{name[:110]}-{hashlib.sha256(uri.encode()).hexdigest()[:8]}"

    def booked_as(self, output_uri: str) -> str | None:
        """The name of the snapshot booked for folder ``output_uri`` last (the latest
        updated, when several are), else None."""
        from prox_tasks.storage import same_uri

        rows = [row for row in self.list_snapshots()
                if row["output_uri"] and same_uri(row["output_uri"], output_uri)]
        return max(rows, key=lambda row: (row["updated_at"] or "", row["id"]))["name"] \
            if rows else None  # fmt: skip

    def _plan_shard(self, snapshot_id: int, index: int, docs: int, nbytes: int) -> None:
        """Book shard ``index`` planned with ``docs`` documents of ``nbytes`` bytes (a
        booked one keeps its status and gets these sizes)."""
        from sqlalchemy import text

        with self._booking(snapshot_id, [index]) as conn:
            conn.execute(text(_if_new(
                "INSERT INTO shards (snapshot_id, shard_index, docs_planned, bytes_planned)"
                " VALUES (:s, :i, :d, :b)", "snapshot_id, shard_index",
                "docs_planned = EXCLUDED.docs_planned, bytes_planned = EXCLUDED.bytes_planned")),
                {"s": snapshot_id, "i": index, "d": docs, "b": nbytes})

    def update_snapshot(self, name: str, **fields) -> None:
        unknown = set(fields) - SNAPSHOT_FIELDS
        if unknown:
            raise ValueError(f"unknown snapshot fields {sorted(unknown)}")
        fields = {k: _dump(v) if k in JSON_COLUMNS else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = :{k}" for k in fields)
        self._exec(f"UPDATE snapshots SET {sets}, updated_at = :u WHERE name = :name",  # noqa: S608
                   u=now(), name=name, **fields)

    def fail_snapshot(self, name: str, error: str) -> None:
        """Mark snapshot ``name`` failed with ``error`` (:func:`_stored_error`, as a
        shard's)."""
        self.update_snapshot(name, status="failed", error=_stored_error(error))

    def get_snapshot(self, name: str) -> dict | None:
        return self._one("SELECT * FROM snapshots WHERE name = :n", n=name)

    def list_snapshots(self) -> list[dict]:
        return self._all("SELECT * FROM snapshots ORDER BY created_at, id")

    def start_shard(self, snapshot: str, index: int, runner: dict | None = None) -> int:
        """Mark a shard running and count the attempt, booked by ``runner``
        (:func:`prox_tasks.refine.runner.current`); returns the attempt number."""
        from sqlalchemy import text

        sid = self._id("snapshots", "name = :n", n=snapshot)
        with self._booking(sid, [index]) as conn:
            conn.execute(text(_if_new(  # a shard no plan booked (a catalog added since)
                "INSERT INTO shards (snapshot_id, shard_index, docs_planned, bytes_planned)"
                " VALUES (:s, :i, 0, 0)", "snapshot_id, shard_index")), {"s": sid, "i": index})
            conn.execute(text(
                "UPDATE shards SET status = 'running', attempts = attempts + 1, error = NULL,"
                " started_at = :t, finished_at = NULL, runner = :r"
                " WHERE snapshot_id = :s AND shard_index = :i"),
                {"t": now(), "r": _dump(runner), "s": sid, "i": index})
        return self.get_shard(snapshot, index)["attempts"]

    def withdraw_attempt(self, snapshot: str, index: int) -> None:
        """Take back the attempt :meth:`start_shard` counted: the refine was refused (or
        never ran) before it wrote anything. Relative, so a concurrent run's count stays."""
        from sqlalchemy import text

        sid = self._id("snapshots", "name = :n", n=snapshot)
        with self._booking(sid, [index]) as conn:
            conn.execute(text("UPDATE shards SET attempts = attempts - 1 WHERE snapshot_id = :s"
                              " AND shard_index = :i AND attempts > 0"), {"s": sid, "i": index})

    def finish_shard(self, snapshot: str, index: int, accounting: Any,
                     wall_seconds: float | None = None) -> None:
        """Store a shard's accounting (a ``ShardAccounting`` or its dict) and mark it done.

        Raises:
            ValueError: when ``docs_read != docs_written + docs_quarantined``.
        """
        self.finish_shards(snapshot, [(index, accounting, wall_seconds)])

    def finish_shards(self, snapshot: str, finished: list[tuple[int, Any, float | None]]
                      ) -> None:
        """:meth:`finish_shard` for each ``(index, accounting, wall_seconds)`` of
        ``finished``, in one transaction: a run of 100,000 small shards booked each in
        three (~5-10 ms each on SQLite: 10 minutes in all, in the process that hands the
        workers their shards).

        Raises:
            ValueError: An accounting does not balance (nothing of ``finished`` is booked).
        """
        from sqlalchemy import bindparam, text

        rows = []
        for index, accounting, wall_seconds in finished:
            acc = accounting.to_dict() if hasattr(accounting, "to_dict") else dict(accounting)
            if acc["docs_read"] != acc["docs_written"] + acc["docs_quarantined"]:
                raise ValueError(f"shard {index} of {snapshot} does not balance: {acc}")
            rows.append(_finished_row(index, acc, wall_seconds))
        if not rows:
            return
        sid = self._id("snapshots", "name = :n", n=snapshot)
        booked_of = text("SELECT shard_index FROM shards WHERE snapshot_id = :s"
                         " AND shard_index IN :i").bindparams(bindparam("i", expanding=True))
        with self._booking(sid, [r["i"] for r in rows]) as conn:
            booked = {i for (i,) in conn.execute(booked_of, {"s": sid,
                                                             "i": [r["i"] for r in rows]})}
            missing = [{"s": sid, "i": row["i"], "r": row["r"]} for row in rows
                       if row["i"] not in booked]
            if missing:  # a shard booked by no plan (a catalog added since)
                conn.execute(text(_if_new("INSERT INTO shards (snapshot_id, shard_index,"
                                          " docs_planned, bytes_planned) VALUES (:s, :i, :r,"
                                          " 0)", "snapshot_id, shard_index")), missing)
            conn.execute(text(FINISH_SHARD), [{**row, "s": sid, "t": now()} for row in rows])

    def fail_shard(self, snapshot: str, index: int, error: str) -> None:
        """Mark the shard failed with ``error`` (:func:`_stored_error`)."""
        from sqlalchemy import text

        sid = self._id("snapshots", "name = :n", n=snapshot)
        with self._booking(sid, [index]) as conn:
            conn.execute(text("UPDATE shards SET status = 'failed', error = :e, finished_at = :t"
                              " WHERE snapshot_id = :s AND shard_index = :i"),
                         {"e": _stored_error(error), "t": now(), "s": sid, "i": index})

    def shard_not_run(self, snapshot: str, index: int, reason: str) -> None:
        """Book the shard ``planned`` again (pending, not failed), with ``reason`` (``not run:
        …``, :func:`_stored_error`) in its error column: an attempt counted by
        :meth:`start_shard` whose shard never ran (its worker never started it). Its attempt
        is taken back apart (:meth:`withdraw_attempt`)."""
        from sqlalchemy import text

        sid = self._id("snapshots", "name = :n", n=snapshot)
        with self._booking(sid, [index]) as conn:
            conn.execute(text("UPDATE shards SET status = 'planned', error = :e, started_at = NULL,"
                              " finished_at = NULL WHERE snapshot_id = :s AND shard_index = :i"),
                         {"e": _stored_error(reason), "s": sid, "i": index})

    def fail_running_shard(self, snapshot: str, index: int, runner: dict | None,
                           error: str) -> bool:
        """Mark the shard failed with ``error`` only while it is still ``running`` as booked
        by ``runner``: an attempt found dead must not overwrite what a newer attempt booked
        meanwhile. Returns whether it was marked."""
        from sqlalchemy import text

        sid = self._id("snapshots", "name = :n", n=snapshot)
        with self._booking(sid, [index]) as conn:
            return conn.execute(text(
                "UPDATE shards SET status = 'failed', error = :e, finished_at = :t"
                " WHERE snapshot_id = :s AND shard_index = :i AND status = 'running'"
                " AND runner = :r"), {"e": _stored_error(error), "t": now(), "s": sid,
                                      "i": index, "r": _dump(runner)}).rowcount > 0

    def get_shard(self, snapshot: str, index: int) -> dict | None:
        return self._one("SELECT sh.* FROM shards sh JOIN snapshots s ON s.id = sh.snapshot_id"
                         " WHERE s.name = :n AND sh.shard_index = :i", n=snapshot, i=index)

    def get_shards_of(self, snapshot: str, indexes: list[int]) -> dict[int, dict]:
        """The rows of shards ``indexes`` of ``snapshot`` (those booked), by index: one
        query, where :meth:`get_shard` is one a shard."""
        from sqlalchemy import bindparam, text

        if not indexes:
            return {}
        query = text("SELECT sh.* FROM shards sh JOIN snapshots s ON s.id = sh.snapshot_id"
                     " WHERE s.name = :n AND sh.shard_index IN :i"
                     ).bindparams(bindparam("i", expanding=True))
        with self.engine.begin() as conn:
            rows = [_row(r) for r in conn.execute(query, {"n": snapshot,
                                                          "i": list(indexes)}).mappings()]
        return {r["shard_index"]: r for r in rows}

    def get_shards(self, snapshot: str, status: str | None = None) -> list[dict]:
        """The shards of ``snapshot`` in index order; ``status``: only those in it (the
        ``running`` ones of a 100,000-shard snapshot, not every row)."""
        where = "" if status is None else " AND sh.status = :st"
        return self._all("SELECT sh.* FROM shards sh JOIN snapshots s ON s.id = sh.snapshot_id"
                         f" WHERE s.name = :n{where} ORDER BY sh.shard_index", n=snapshot,
                         st=status)

    # -- seed sets and models -------------------------------------------------------------
    def check_seed_set_name(self, name: str, uri: str, option: str = "--name") -> None:
        """Refuse ``name`` when it is registered for another folder: pointing its row here
        would take a model trained on that seed set off its provenance (``option``: what
        names it, for the message).

        Raises:
            SeedSetNameTaken: ``name`` belongs to another folder.
        """
        from prox_tasks.storage import same_uri, to_uri

        row = self.get_seed_set(name)
        if row and row["uri"] and not same_uri(row["uri"], uri):
            raise SeedSetNameTaken(f"seed set name {name!r} is registered for {row['uri']}, "
                                   f"not {to_uri(uri)}; name this one apart ({option})")

    def register_seed_set(self, name: str, teacher: str, uri: str, num_docs: int = 0,
                          stats: dict | None = None, option: str = "--name") -> int:
        """Create or update seed set ``name`` at ``uri`` (``option``: what names it, for the
        message of a name taken).

        Raises:
            prox_tasks.storage.names.InvalidName: ``name`` is not one safe path component
                (the seed DAG writes a seed set to a folder of its name).
            SeedSetNameTaken: ``name`` is registered for another folder.
        """
        from prox_tasks.storage.names import check_name

        check_name(name, "seed-set name")
        self.check_seed_set_name(name, uri, option)
        row = self.get_seed_set(name)
        if row is not None and row["uri"]:
            uri = row["uri"]  # the folder as first spelled (``seeds`` for ``seeds/``)
        if not (row is None and self._exec(
                _if_new("INSERT INTO seed_sets (name, teacher, uri, num_docs, stats,"
                        " created_at) VALUES (:n, :t, :u, :d, :s, :c)", "name"),
                n=name, t=teacher, u=uri, d=num_docs, s=_dump(stats), c=now())):
            if row is None:  # registered meanwhile by another run: for this folder?
                self.check_seed_set_name(name, uri, option)
                uri = self.get_seed_set(name)["uri"] or uri
            self._exec("UPDATE seed_sets SET teacher = :t, uri = :u, num_docs = :d, stats = :s"
                       " WHERE name = :n", n=name, t=teacher, u=uri, d=num_docs, s=_dump(stats))
        return self._id("seed_sets", "name = :n", n=name)

    def get_seed_set(self, name: str) -> dict | None:
        return self._one("SELECT * FROM seed_sets WHERE name = :n", n=name)

    def seed_set_by_version(self, version: str) -> dict | None:
        """The seed set whose manifest has ``version`` (the newest row when several do)."""
        rows = [r for r in self._all("SELECT * FROM seed_sets ORDER BY id")
                if (r.get("stats") or {}).get("version") == version]
        return rows[-1] if rows else None

    def register_model(self, name: str, version: str, uri: str, *, metrics: dict | None = None,
                       base: str | None = None, seed_set: str | None = None,
                       promoted: bool = False, registry: str | None = None) -> int:
        """Create or update model ``name``/``version`` published to ``registry`` (its root;
        None: none recorded); ``promoted=True`` promotes it there."""
        seed_id = self._id("seed_sets", "name = :n", n=seed_set) if seed_set else None
        params = dict(n=name, v=version, u=uri, m=_dump(metrics), b=base, s=seed_id, r=registry)
        if not (self.get_model(name, version) is None and self._exec(
                _if_new("INSERT INTO models (name, version, uri, metrics, base, seed_set_id,"
                        " registry, created_at) VALUES (:n, :v, :u, :m, :b, :s, :r, :c)",
                        "name, version"), c=now(), **params)):
            self._exec("UPDATE models SET uri = :u, metrics = COALESCE(:m, metrics), base = :b,"
                       " seed_set_id = :s, registry = COALESCE(:r, registry)"
                       " WHERE name = :n AND version = :v", **params)
        if promoted:
            self.promote_model(name, version)
        return self._id("models", "name = :n AND version = :v", n=name, v=version)

    def update_model_metrics(self, name: str, version: str, metrics: dict) -> None:
        self._id("models", "name = :n AND version = :v", n=name, v=version)
        self._exec("UPDATE models SET metrics = :m WHERE name = :n AND version = :v",
                   m=_dump(metrics), n=name, v=version)

    def promote_model(self, name: str, version: str) -> None:
        """Make ``version`` the one promoted model of ``name`` in its registry (one
        transaction): models of the same name in other registries keep their promotion."""
        from sqlalchemy import text

        self._id("models", "name = :n AND version = :v", n=name, v=version)
        registry = (self.get_model(name, version) or {}).get("registry") or ""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE models SET promoted = 0 WHERE name = :n AND version <> :v"
                              " AND COALESCE(registry, '') = :r"),
                         {"n": name, "v": version, "r": registry})
            # promoted again (a retry): it keeps the time it was promoted at
            conn.execute(text("UPDATE models SET promoted_at = CASE WHEN promoted = 1 AND"
                              " promoted_at IS NOT NULL THEN promoted_at ELSE :t END,"
                              " promoted = 1 WHERE name = :n AND version = :v"),
                         {"n": name, "v": version, "t": now()})

    def get_model(self, name: str, version: str) -> dict | None:
        return self._one("SELECT * FROM models WHERE name = :n AND version = :v",
                         n=name, v=version)

    def model_by_version(self, version: str) -> dict | None:
        """The registered model of ``version`` (versions are content hashes, so at most one
        per name; the promoted one first), or None."""
        return self._one("SELECT * FROM models WHERE version = :v ORDER BY promoted DESC, id DESC"
                         " LIMIT 1", v=version)

    def promoted_model(self, name: str, registry: str | None = None) -> dict | None:
        """The promoted model ``name`` of ``registry`` (a root), else the one promoted last
        in any registry; None when none is."""
        if registry is not None:
            return self._one("SELECT * FROM models WHERE name = :n AND promoted = 1"
                             " AND COALESCE(registry, '') = :r", n=name, r=registry)
        return self._one("SELECT * FROM models WHERE name = :n AND promoted = 1"
                         " ORDER BY COALESCE(promoted_at, '') DESC, id DESC LIMIT 1", n=name)

    def list_models(self, name: str | None = None) -> list[dict]:
        if name is None:
            return self._all("SELECT * FROM models ORDER BY name, created_at, id")
        return self._all("SELECT * FROM models WHERE name = :n ORDER BY created_at, id", n=name)

    # -- quality reports and releases -----------------------------------------------------
    def add_quality_report(self, snapshot: str, suite: str, success: bool,
                           stats: dict | None = None, report_uri: str | None = None) -> int:
        from sqlalchemy import text

        sid = self._id("snapshots", "name = :n", n=snapshot)
        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO quality_reports (snapshot_id, suite, success, stats,"
                              " report_uri, created_at) VALUES (:s, :q, :ok, :st, :u, :c)"),
                         {"s": sid, "q": suite, "ok": int(bool(success)), "st": _dump(stats),
                          "u": report_uri, "c": now()})
            return conn.execute(text("SELECT MAX(id) FROM quality_reports WHERE snapshot_id = :s"),
                                {"s": sid}).scalar_one()

    def latest_quality_report(self, snapshot: str, suite: str | None = None) -> dict | None:
        return self._one(
            "SELECT q.* FROM quality_reports q JOIN snapshots s ON s.id = q.snapshot_id"
            " WHERE s.name = :n AND (:suite IS NULL OR q.suite = :suite)"
            " ORDER BY q.created_at DESC, q.id DESC LIMIT 1", n=snapshot, suite=suite)

    def register_release(self, name: str, snapshot: str, uri: str, *,
                         quality_report_id: int | None = None,
                         model: tuple[str, str] | None = None, docs: int | None = None,
                         notes: str | None = None, dag_run_id: str | None = None,
                         released_by: dict | None = None) -> int:
        """Record a release. Refuses a quality report that failed or belongs elsewhere.

        ``released_by``: who released it (:mod:`prox_tasks.release.origin`: a DAG run, or
        ``prox release``'s user and host; None: not known). ``dag_run_id``: the Airflow run
        whose release task released it (default: ``released_by``'s run), kept apart from the
        snapshot's, which each rerun's plan overwrites.
        """
        sid = self._id("snapshots", "name = :n", n=snapshot)
        if quality_report_id is not None:
            report = self._one("SELECT * FROM quality_reports WHERE id = :i", i=quality_report_id)
            if report is None or report["snapshot_id"] != sid:
                raise ValueError(f"quality report {quality_report_id} is not of {snapshot}")
            if not report["success"]:
                raise ValueError(f"quality report {quality_report_id} failed: cannot release")
        model_id = self._id("models", "name = :n AND version = :v", n=model[0], v=model[1]) \
            if model else None
        if self._one("SELECT id FROM releases WHERE name = :n", n=name) is not None:
            raise ValueError(f"release {name} exists")
        self._exec("INSERT INTO releases (name, snapshot_id, quality_report_id, model_id, uri,"
                   " docs, notes, dag_run_id, released_by, created_at)"
                   " VALUES (:n, :s, :q, :m, :u, :d, :no, :r, :by, :c)",
                   n=name, s=sid, q=quality_report_id, m=model_id, u=uri, d=docs, no=notes,
                   r=dag_run_id or (released_by or {}).get("run_id"), by=_dump(released_by),
                   c=now())
        self.update_snapshot(snapshot, status="released")
        return self._id("releases", "name = :n", n=name)

    def list_releases(self) -> list[dict]:
        return self.report("release_history")

    def release_booked(self, name: str) -> bool:
        """Whether a release named ``name`` is booked (one indexed lookup: the list of
        every release grows by one a night)."""
        return self._one("SELECT id FROM releases WHERE name = :n", n=name) is not None

    def released_gate_stats(self, suite: str, exclude: str, size: int) -> list[dict]:
        """The stats of the latest ``suite`` report of each released snapshot but
        ``exclude``, where that report passed and has stats: the last ``size`` releases'
        (release order, oldest first), in one query whatever the number of releases."""
        rows = self._all(
            "SELECT q.stats AS stats FROM releases r"
            " JOIN snapshots s ON s.id = r.snapshot_id"
            " JOIN quality_reports q ON q.id = ("
            "   SELECT q2.id FROM quality_reports q2 WHERE q2.snapshot_id = s.id"
            "   AND q2.suite = :suite ORDER BY q2.created_at DESC, q2.id DESC LIMIT 1)"
            " WHERE s.name <> :exclude AND q.success = 1 AND q.stats IS NOT NULL"
            " AND q.stats <> '{}'"
            " ORDER BY r.created_at DESC, r.id DESC LIMIT :size",
            suite=suite, exclude=exclude, size=max(0, size))
        return [row["stats"] for row in reversed(rows)]

    # -- reports --------------------------------------------------------------------------
    def report_names(self) -> list[str]:
        return sorted(p.stem for p in (sql_dir() / "reports").glob("*.sql"))

    def report(self, name: str, **params) -> list[dict]:
        """Run ``<sql_dir>/reports/<name>.sql`` with named parameters; rows as dicts.

        Raises:
            KeyError: No such report, or ``params`` other than the report's own
                (:meth:`report_params`), missing or unknown.
        """
        sql = self._report_sql(name)
        needs = self._bind_names(sql)
        if set(params) != set(needs):
            missing, unknown = sorted(set(needs) - set(params)), sorted(set(params) - set(needs))
            raise KeyError(f"report {name} takes "
                           + (", ".join(f"--param {p}=VALUE" for p in needs) or "no --param")
                           + (f"; missing {', '.join(missing)}" if missing else "")
                           + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        return self._all(sql, **params)

    def report_params(self, name: str) -> list[str]:
        """The named parameters report ``name`` takes (KeyError: no such report)."""
        return self._bind_names(self._report_sql(name))

    @staticmethod
    def _bind_names(sql: str) -> list[str]:
        from sqlalchemy import text

        return sorted(text(sql).compile().params)

    def _report_sql(self, name: str) -> str:
        if name not in self.report_names():
            raise KeyError(f"no report {name!r}; the reports are "
                           f"{', '.join(self.report_names())}")
        sql = (sql_dir() / "reports" / f"{name}.sql").read_text()
        # Comments may mention ":param"; SQLAlchemy would take those for bind parameters.
        return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
