"""``prox catalog``: migrate the SQL catalog, list its tables, run report queries."""

from __future__ import annotations

import json
import sys

from prox_tasks.redaction import redact

LISTS = {
    "snapshots": lambda c, a: c.list_snapshots(),
    "shards": lambda c, a: c.get_shards(a.snapshot),
    "models": lambda c, a: c.list_models(),
    "releases": lambda c, a: c.list_releases(),
}


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--url", default=None, help="catalog URL (default PROX_CATALOG_URL or "
                   "$PROX_HOME/catalog.sqlite)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("migrate", help="apply pending migrations (idempotent)")
    sub.add_parser("status", help="applied migrations and row counts")
    lst = sub.add_parser("list", help="list snapshots, shards (--snapshot), models, releases")
    lst.add_argument("what", choices=sorted(LISTS))
    lst.add_argument("--snapshot", default=None)
    rep = sub.add_parser("report", help="run a report query (prox_tasks/catalog/sql/reports/)")
    rep.add_argument("name", nargs="?", help="report name (omit to list them)")
    rep.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run)


def _print_rows(rows) -> None:
    for row in rows:
        print(json.dumps(row, sort_keys=True, default=str))


def run(args) -> int:
    from prox_tasks.catalog import Catalog

    catalog = Catalog(args.url, auto_migrate=False)
    applied = catalog.migrate()
    if args.action == "migrate":
        print(json.dumps({"url": redact(catalog.url), "applied_now": applied,
                          "versions": [m["version"] for m in catalog.applied_migrations()]}))
    elif args.action == "status":
        counts = {t: catalog._one(f"SELECT COUNT(*) AS n FROM {t}")["n"]  # noqa: S608
                  for t in ("snapshots", "shards", "seed_sets", "models", "quality_reports",
                            "releases")}
        print(json.dumps({"url": redact(catalog.url), "migrations": [
            f"{m['version']:04d}_{m['name']}" for m in catalog.applied_migrations()],
            "rows": counts}))
    elif args.action == "list":
        if args.what == "shards" and not args.snapshot:
            print("prox catalog: list shards needs --snapshot", file=sys.stderr)
            return 2
        _print_rows(LISTS[args.what](catalog, args))
    elif args.name is None:
        print("\n".join(catalog.report_names()))
    else:
        params = dict(p.split("=", 1) for p in args.param)
        try:
            _print_rows(catalog.report(args.name, **params))
        except KeyError as err:
            print(f"prox catalog report: {err.args[0]}", file=sys.stderr)
            return 2
    return 0
