"""``prox gate``: run the data-quality gate over a refined snapshot.

Prints one summary line (``--json``: passed, metrics, failed checks, report and Data Docs
locations); exits 0 when the gate passed, 1 when it failed, 2 for a setting to fix (a
threshold no snapshot could pass, a ``--name`` the catalog books for another folder or
not at all) or a released snapshot whose files changed since its release. With ``--name`` the result is
recorded in the catalog (the snapshot becomes ``gated`` or ``quarantined``) and the released
snapshots' history feeds the k-standard-deviation checks; without it, the same when the
catalog (--catalog, else PROX_CATALOG_URL or $PROX_HOME/catalog.sqlite) books the folder (the
line names the snapshot), else the line says it is not booked (refused with --catalog). With or without
``--name`` the gate writes ``_quality/gate.json`` (what ``prox release`` checks) and freezes
the folder: a run still refining it publishes no more shards over what was judged, until
``prox refine --force`` (docs/storage.md).
"""

from __future__ import annotations

import os
from dataclasses import fields

from prox_tasks.cli.arguments import description
from prox_tasks.cli.output import Outcome


def register(subparsers, name: str, help_text: str) -> None:
    from prox_tasks.quality import GateThresholds

    p = subparsers.add_parser(name, help=help_text, description=description(__doc__))
    p.add_argument("--snapshot", required=True, help="refined snapshot folder (manifest.json)")
    p.add_argument("--catalog", help="catalog URL (records the result; reads the history); "
                   "default PROX_CATALOG_URL or $PROX_HOME/catalog.sqlite; without --name the "
                   "snapshot it books for the folder")
    p.add_argument("--name", help="snapshot name in the catalog (as prox refine booked it): "
                   "records the result there")
    for f in fields(GateThresholds):
        env = f"PROX_GATE_{f.name.upper()}"
        shown = (f"default {os.environ[env]}, from ${env}" if os.environ.get(env)
                 else f"default {f.default}")
        p.add_argument("--" + f.name.replace("_", "-"), type=int if f.type == "int" else float,
                       default=None, help=shown)
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.pipeline.dag_config import gate_defaults
    from prox_tasks.quality import GateThresholds
    from prox_tasks.release import ReleaseRefused

    # the deployment's PROX_GATE_<NAME> defaults, as the nightly DAG's Params take them; an
    # option given here wins
    given = {k: v for k, v in vars(args).items() if v is not None}
    try:
        limits = GateThresholds.from_mapping({**gate_defaults().to_dict(), **given}, "cli")
    except ValueError as err:  # a threshold no snapshot could pass: named by its option
        return Outcome.failure("gate", str(err), code=2)
    try:
        return _judge(args, limits)
    except ReleaseRefused as refused:
        # a released snapshot whose files changed since: not a gate that failed (1), a
        # folder to restore, which running the same command again cannot get past
        from prox_tasks.cli.errors import CommandFailed, describe_error

        raise CommandFailed(describe_error(refused), code=2) from refused


def _judge(args, limits) -> Outcome:
    """Gate ``args.snapshot`` under ``limits``, booked as ``--name`` or as the catalog
    books the folder, else in ``gate.json`` only."""
    from prox_tasks.quality import run_gate

    if args.name:
        from prox_tasks.pipeline import settings

        summary = _gate_named(args, args.name, settings.catalog_url(args.catalog), limits)
        booked = ""
    else:
        from prox_tasks.pipeline import settings

        # the catalog prox refine booked the folder in (--catalog's, else the default): the
        # gate is recorded on that snapshot, else the catalog (prox catalog list, the PROX
        # report) would show it as not gated
        url = settings.catalog_url(args.catalog)
        name, not_booked = _default_booking(url, args.snapshot)
        if name is None and args.catalog:  # the catalog asked for cannot record it
            return Outcome.failure("gate", "--catalog needs --name (the snapshot's name "
                                   f"there) for a folder it does not book: {not_booked}",
                                   code=2)  # fmt: skip
        if name is not None:
            summary = {**_gate_named(args, name, url, limits), "booked_as": name}
            booked = f"; booked on snapshot {name} in the catalog"
        else:
            from prox_tasks.pipeline.refresh import mark_judged

            result = run_gate(args.snapshot, limits)
            # its gate.json is what `prox release` checks: the folder is frozen as after a
            # gate with --name (a run still refining it publishes no more shards over it)
            mark_judged(args.snapshot, result)
            summary = {**result.summary(), "booked_as": None, "not_booked": not_booked}
            booked = f"; not booked in a catalog: {not_booked}"
    return Outcome(summary_line(summary) + booked, summary, 0 if summary["passed"] else 1)


def _gate_named(args, name: str, catalog_url: str, limits) -> dict:
    """Gate ``args.snapshot`` as snapshot ``name`` of the catalog, recording the result
    there (the DAG's gate); its summary, passed or failed."""
    from prox_tasks.catalog import SnapshotNameTaken
    from prox_tasks.cli.errors import CommandFailed
    from prox_tasks.pipeline import refresh
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.quality import GateFailed

    snapshot = {"name": name, "output_uri": args.snapshot, "catalog_url": catalog_url}
    try:
        return refresh.gate(snapshot, limits.to_dict())
    except GateFailed as failed:
        return failed.result.summary()
    except (RunError, SnapshotNameTaken) as wrong_name:
        # a name to correct, not a gate that failed: exit 2, so a script that reads 1 as
        # "the snapshot failed its checks" is not told so of a name it mistyped
        from prox_tasks.cli.errors import describe_error

        booked = booked_as(catalog_url, args.snapshot)
        if booked is None or booked == name:  # no other name to give: the error's own line
            raise CommandFailed(describe_error(wrong_name), code=2) from wrong_name
        raise CommandFailed(f"{describe_error(wrong_name)}; the catalog books "
                            f"{args.snapshot} as {booked!r}: prox gate --snapshot "
                            f"{args.snapshot} --name {booked}", code=2) from wrong_name


def _default_booking(url: str, folder: str) -> tuple[str | None, str | None]:
    """The name the catalog at ``url`` (``--catalog``, else ``PROX_CATALOG_URL``, else
    ``$PROX_HOME/catalog.sqlite``) books ``folder`` under, else None and why not: no catalog
    there (none is created), one that cannot be read (the gate does not need it), or no
    snapshot booked for the folder."""
    from prox_tasks.cli.catalog_cmd import missing_sqlite_file
    from prox_tasks.redaction import redact

    how = "--name NAME records the gate under a name `prox catalog list snapshots` shows"
    missing = missing_sqlite_file(url)
    if missing:
        return None, f"there is none at {missing} (gate.json only)"
    try:
        name = booked_as(url, folder)
    except Exception as err:  # noqa: BLE001 - a catalog not asked for does not stop a gate
        from prox_tasks.cli.errors import describe_error

        return None, f"{redact(url)} cannot be read ({describe_error(err)}; gate.json only)"
    if name is None:
        return None, f"{redact(url)} books no snapshot for this folder (gate.json only; {how})"
    return name, None


def booked_as(catalog_url: str, folder: str) -> str | None:
    """The name the catalog books ``folder`` under (prox refine's default is the folder's
    name, with a digest of its URI when another folder holds that name), else None."""
    from prox_tasks.catalog import Catalog

    with Catalog(catalog_url) as catalog:
        return catalog.booked_as(folder)


def summary_line(summary: dict) -> str:
    """``gate PASSED: 950 kept, 40 dropped, 10 quarantined of 1,000 planned; ... -> gate.json``
    or ``gate FAILED: <check> observed X, threshold Y; ...`` (a snapshot with no shard refined
    yet says so first)."""
    from prox_tasks.quality.observed import failure_lines, not_refined_note

    m = summary["metrics"]
    note = None if summary["passed"] else not_refined_note(m)
    # every input record is kept, dropped or quarantined: the three add up to the planned
    # count once every shard is refined, so a reader can check the line
    head = (f"gate {'PASSED' if summary['passed'] else 'FAILED'}: {note + '; ' if note else ''}"
            f"{m.get('docs_kept', 0):,} kept, {m.get('docs_dropped', 0):,} dropped, "
            f"{m.get('docs_quarantined', 0):,} quarantined of {m.get('docs_planned', 0):,} "
            "planned")
    # a check's description ends its sentence: not ".;" where the next check follows
    failed = "; ".join(line.removesuffix(".") for line in failure_lines(summary["failed"]))
    kept = " (released: the result it was released with, not judged again)" if summary.get(
        "kept_from_release") else ""
    return f"{head}; {failed or 'all checks passed'}{kept} -> {summary['report_uri']}"
