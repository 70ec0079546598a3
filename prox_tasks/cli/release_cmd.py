"""``prox release``: release a refined snapshot that passed its quality gate.

Writes ``<root>/releases/<name>.json`` and then ``<root>/latest.json`` (atomically, last;
never backwards to an older partition), records the release in the catalog, and prints one
summary line (``--json``: the release record). The catalog is ``--catalog`` (which must hold
a passing gate of ``--name``), else the one prox refine and prox gate --name book in
(PROX_CATALOG_URL or $PROX_HOME/catalog.sqlite) when it holds that gate; the line says
when the release is not recorded there, and why. Exits 1 (and changes nothing) when the
snapshot has no passing gate or its files changed since.
"""

from __future__ import annotations

from prox_tasks.cli.arguments import description
from prox_tasks.cli.output import Outcome, count


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=description(__doc__))
    p.add_argument("--snapshot", required=True, help="gated snapshot folder")
    p.add_argument("--root", required=True, help="release root (latest.json, releases/)")
    p.add_argument("--name", required=True, help="release and catalog snapshot name (letters, "
                   "digits, '.', '_', '-')")
    p.add_argument("--partition", help="the crawl date YYYY-MM-DD the release covers; latest.json "
                   "points at the newest dated release (default: undated, which becomes latest "
                   "only while no dated release exists)")
    p.add_argument("--catalog", help="catalog URL to record the release in; it must hold a "
                   "passing gate for --name (`prox gate --name`). Default: PROX_CATALOG_URL or "
                   "$PROX_HOME/catalog.sqlite, as prox refine and prox gate --name, when it "
                   "holds that gate (else the release is not recorded there, and the line "
                   "says why)")
    p.add_argument("--notes", help="free text kept with the release")
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.release import ReleaseRefused, origin, release_snapshot
    from prox_tasks.release.release import check_partition
    from prox_tasks.storage.names import check_name

    try:
        check_name(args.name, "release name")
        check_partition(args.partition)
    except ValueError as err:  # a value to fix: the same command is refused again
        return Outcome.failure("release", str(err), code=2)
    from prox_tasks.catalog import Catalog

    not_recorded = None  # why the default catalog does not record it
    if args.catalog:
        catalog = Catalog(args.catalog)
    else:
        catalog, not_recorded = default_catalog(args.name, args.snapshot)
    try:
        record = release_snapshot(args.snapshot, args.root, args.name, partition=args.partition,
                                  catalog=catalog, notes=args.notes, released_by=origin.cli())
    except ReleaseRefused as refused:
        return Outcome.failure("release", str(refused))
    finally:
        if catalog is not None:
            catalog.close()
    if args.partition is not None and record["partition"] != args.partition:
        # the release existed: it keeps the partition it was made for, latest.json orders by
        # that one; an exit 0 would let a script go on as if the other date were released
        return Outcome.failure("release", f"release {record['name']} was made for partition "
                               f"{record['partition'] or 'none (undated)'} and keeps it: "
                               f"--partition {args.partition} is not applied (a release is made "
                               f"once; to publish this snapshot for {args.partition}, release it "
                               "under another --name)")
    # a rerun says what it found, not what the first run did
    if record["moved_latest"]:
        latest = "now latest"
    elif record["latest"]:  # latest.json named it already
        latest = "already latest"
    elif record["partition"]:
        latest = "latest stays at the newer partition"
    else:  # an undated release never replaces a dated one
        latest = "latest stays at the dated release"
    done = "released" if record["new"] else "already released"
    unbooked = f"; not recorded in a catalog: {not_recorded}" if not_recorded else ""
    dated = f"partition {record['partition']}" if record["partition"] else "undated"
    return Outcome(f"{done} {record['name']} ({dated}, "
                   f"{count(record['docs'], 'document')} in "
                   f"{count(len(record['shards']), 'shard')}, model {record['model']}): "
                   f"{latest} -> {record['record_uri']}{unbooked}",
                   {**record, "not_recorded": not_recorded})


def default_catalog(name: str, snapshot: str):
    """The catalog prox refine and prox gate --name book in, when it takes release ``name``
    of ``snapshot`` (it holds a passing gate of it), else None; and why it is None (None
    when it is not). One that cannot be opened or read (no database, a server down) is
    None too: no --catalog asked for it, and the release does not need it."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.cli.catalog_cmd import missing_sqlite_file
    from prox_tasks.pipeline import settings
    from prox_tasks.redaction import redact
    from prox_tasks.release.release import catalog_refusal

    url = settings.catalog_url()
    missing = missing_sqlite_file(url)
    if missing:  # a release does not create an empty catalog
        return None, f"there is none at {missing}"
    catalog = None
    try:
        catalog = Catalog(url)
        why = catalog_refusal(catalog, name, snapshot)
    except Exception as err:  # noqa: BLE001 - a catalog not asked for does not stop a release
        from prox_tasks.cli.errors import describe_error

        if catalog is not None:
            catalog.close()
        return None, f"{redact(url)}: it cannot be read ({describe_error(err)})"
    if why is None:
        return catalog, None
    catalog.close()
    return None, f"{redact(url)}: {why}"
