"""``prox catalog``: migrate the SQL catalog, list its tables, run report queries."""

from __future__ import annotations

import argparse
from pathlib import Path

from prox_tasks.cli.output import Outcome, count, cut_any, table
from prox_tasks.redaction import redact

LISTS = {
    "snapshots": lambda c, a: c.list_snapshots(),
    "shards": lambda c, a: c.get_shards(a.snapshot),
    "models": lambda c, a: c.list_models(),
    "releases": lambda c, a: c.list_releases(),
}


def register(subparsers, name: str, help_text: str) -> None:
    url_help = "catalog URL (default PROX_CATALOG_URL or $PROX_HOME/catalog.sqlite)"
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--url", default=None, help=url_help)
    # --url is also taken after the action (`prox catalog list snapshots --url URL`); SUPPRESS
    # keeps an action's parser from resetting a --url given before the action
    url_anywhere = argparse.ArgumentParser(add_help=False)
    url_anywhere.add_argument("--url", default=argparse.SUPPRESS, help=url_help)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("migrate", help="apply pending migrations (idempotent)", parents=[url_anywhere])
    sub.add_parser("status", help="applied migrations and row counts", parents=[url_anywhere])
    lst = sub.add_parser("list", help="list snapshots, shards (--snapshot), models, releases",
                         parents=[url_anywhere])
    # the choices as the name: argparse names a missing positional by it ("required: what")
    lst.add_argument("what", choices=sorted(LISTS), metavar="{" + ",".join(sorted(LISTS)) + "}")
    lst.add_argument("--snapshot", default=None)
    rep = sub.add_parser("report", help="run a report query (prox_tasks/catalog/sql/reports/)",
                         parents=[url_anywhere])
    rep.add_argument("name", nargs="?", help="report name (omit to list them)")
    rep.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a parameter of the report; repeatable. An empty value (KEY=) "
                     "passes NULL: snapshot_summary --param snapshot= --param suite=prox_gate lists "
                     "every snapshot")
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import settings

    url = settings.catalog_url(args.url)  # --url, else PROX_CATALOG_URL or PROX_HOME's
    missing = missing_sqlite_file(url)
    if missing and args.action != "migrate":  # a typo must not create an empty catalog
        return Outcome.failure("catalog", f"no catalog at {missing} (`{_migrate_command(args)}` "
                               "creates one)", code=2)
    catalog = Catalog(url, auto_migrate=False)
    try:
        return _action(catalog, args)
    finally:
        catalog.close()


def sql_dir_named() -> str:
    """The migrations' folder, and ``PROX_SQL_DIR`` when that names it."""
    import os

    from prox_tasks.catalog.migrations import sql_dir

    return f"{sql_dir()}{' (PROX_SQL_DIR)' if os.environ.get('PROX_SQL_DIR') else ''}"


def _migrate_command(args) -> str:
    """The command that migrates the catalog these ``args`` name."""
    return "prox catalog --url URL migrate" if args.url else "prox catalog migrate"


def missing_sqlite_file(url: str | None) -> str | None:
    """The file of a ``sqlite:///`` URL when it does not exist."""
    from sqlalchemy.engine import make_url

    if not url or not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return database if database and database != ":memory:" and not Path(database).exists() else None


def _action(catalog, args) -> Outcome:
    url = redact(catalog.url)
    if args.action != "migrate":  # looking changes nothing: a behind catalog is said so
        from prox_tasks.catalog.migrations import edited
        from prox_tasks.catalog.migrations import pending as pending_migrations

        if changed := edited(catalog.engine):  # every command that writes refuses it
            return Outcome.failure("catalog", f"catalog {url}: {'; '.join(changed)} (the "
                                   f"migrations of {sql_dir_named()})", code=2)
        pending = pending_migrations(catalog.engine)
        if pending:
            return Outcome.failure(
                "catalog", f"catalog {url} lacks {count(len(pending), 'migration')} of this prox "
                f"(versions {', '.join(map(str, pending))}): `{_migrate_command(args)}` "
                "applies them (every prox command that writes to it does too)", code=2)
    applied = catalog.migrate() if args.action == "migrate" else []
    if args.action == "migrate":
        versions = [m["version"] for m in catalog.applied_migrations()]
        return Outcome(f"catalog {url}: {count(len(applied), 'migration')} applied now, at "
                       f"version {max(versions, default=0)}",
                       {"url": url, "applied_now": applied, "versions": versions})
    if args.action == "status":
        counts = {t: catalog._one(f"SELECT COUNT(*) AS n FROM {t}")["n"]  # noqa: S608
                  for t in ("snapshots", "shards", "seed_sets", "models", "quality_reports",
                            "releases")}
        migrations = [f"{m['version']:04d}_{m['name']}" for m in catalog.applied_migrations()]
        # a table's name is its rows' noun in the plural: "1 snapshot", "2 seed_sets"
        rows = ", ".join(count(n, t.removesuffix("s")) for t, n in counts.items())
        return Outcome(f"catalog {url}: {count(len(migrations), 'migration')} applied; {rows}",
                       {"url": url, "migrations": migrations, "rows": counts})
    if args.action == "list":
        if args.what == "shards" and not args.snapshot:
            return Outcome.failure("catalog", "list shards needs --snapshot NAME (`prox catalog "
                                   "list snapshots` lists them)", code=2)
        if args.what == "shards" and catalog.get_snapshot(args.snapshot) is None:
            return _no_snapshot(args.snapshot)
        rows = LISTS[args.what](catalog, args)
        if args.what == "shards":  # a counter booked before its migration: not recorded
            from prox_tasks.catalog.recorded import as_shown

            return _listing(rows, args.what, [as_shown(row) for row in rows])
        return _listing(rows, args.what)
    if args.name is None:
        # each with the parameters it takes: a report run without them is refused; --json:
        # one line per report, as every listing, its parameters included
        reports = [{"name": name, "params": list(catalog.report_params(name))}
                   for name in catalog.report_names()]
        usage = [" ".join([r["name"], *(f"--param {p}=VALUE" for p in r["params"])])
                 for r in reports]
        return Outcome("\n".join([*usage, count(len(reports), "report")]), reports, rows=True)
    malformed = [p for p in args.param if "=" not in p]
    if malformed:
        return Outcome.failure("catalog", f"--param takes KEY=VALUE, not {malformed[0]!r}", code=2)
    keys = [p.split("=", 1)[0] for p in args.param]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:  # else the last one was taken silently
        return Outcome.failure("catalog", f"--param {twice[0]} given more than once: a report "
                               "takes one value a parameter", code=2)
    # an empty value is NULL (no name is empty): the reports' "NULL for all" is reachable
    params = {k: v or None for k, v in (p.split("=", 1) for p in args.param)}
    try:
        rows = catalog.report(args.name, **params)
    except KeyError as err:
        return Outcome.failure("catalog", err.args[0], code=2)  # names the report
    if not rows and params.get("snapshot") is not None and \
            catalog.get_snapshot(params["snapshot"]) is None:
        return _no_snapshot(params["snapshot"])  # a typo, not a snapshot with "0 rows"
    return _listing(rows, "row")


def _no_snapshot(name: str) -> Outcome:
    return Outcome.failure("catalog", f"no snapshot {name!r} in the catalog (`prox catalog "
                           "list snapshots` lists them)", code=2)


def _listing(rows: list[dict], what: str, shown: list[dict] | None = None) -> Outcome:
    """A table for a person (its last line counts the rows; ``shown``: the rows as the
    table shows them, default ``rows``); one JSON line per row."""
    noun = what.removesuffix("s")
    shown = rows if shown is None else shown
    cut = " (long values cut in their middle: --json prints them whole)" if cut_any(shown) else ""
    return Outcome("\n".join([*table(shown), count(len(rows), noun) + cut]), rows, rows=True)
