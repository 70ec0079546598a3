"""``prox gate``: run the data-quality gate over a refined snapshot.

Prints one summary line (``--json``: passed, metrics, failed checks, report and Data Docs
locations); exits 0 when the gate passed, 1 when it failed. With ``--catalog`` and
``--name`` the result is recorded (the snapshot becomes ``gated`` or ``quarantined``) and
the released snapshots' history feeds the k-standard-deviation checks. With or without
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
                   "default PROX_CATALOG_URL or $PROX_HOME/catalog.sqlite when --name is given")
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
    from prox_tasks.quality import GateFailed, GateThresholds, run_gate

    # the deployment's PROX_GATE_<NAME> defaults, as the nightly DAG's Params take them; an
    # option given here wins
    given = {k: v for k, v in vars(args).items() if v is not None}
    try:
        limits = GateThresholds.from_mapping({**gate_defaults().to_dict(), **given}, "cli")
    except ValueError as err:  # a threshold no snapshot could pass: named by its option
        return Outcome.failure("gate", str(err), code=2)
    if args.name:
        from prox_tasks.catalog import SnapshotNameTaken
        from prox_tasks.cli.errors import CommandFailed
        from prox_tasks.pipeline import refresh, settings
        from prox_tasks.pipeline.errors import RunError

        snapshot = {"name": args.name, "output_uri": args.snapshot,
                    "catalog_url": settings.catalog_url(args.catalog)}
        try:
            summary = refresh.gate(snapshot, limits.to_dict())
        except GateFailed as failed:
            summary = failed.result.summary()
        except (RunError, SnapshotNameTaken) as wrong_name:
            booked = booked_as(snapshot["catalog_url"], args.snapshot)
            if booked is None or booked == args.name:
                raise
            raise CommandFailed(f"{type(wrong_name).__name__}: {wrong_name}; the catalog books "
                                f"{args.snapshot} as {booked!r}: prox gate --snapshot "
                                f"{args.snapshot} --name {booked}") from wrong_name
    elif args.catalog:
        return Outcome.failure("gate", "--catalog needs --name (the snapshot's name there)",
                               code=2)
    else:
        from prox_tasks.pipeline.refresh import mark_judged

        result = run_gate(args.snapshot, limits)
        # its gate.json is what `prox release` checks: the folder is frozen as after a gate
        # with --name (a run still refining it publishes no more shards over what was judged)
        mark_judged(args.snapshot, result)
        summary = result.summary()
    return Outcome(summary_line(summary), summary, 0 if summary["passed"] else 1)


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
