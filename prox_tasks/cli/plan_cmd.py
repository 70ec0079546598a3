"""``prox plan``: split a snapshot into shards, write the manifest, register it."""

from __future__ import annotations

from prox_tasks.cli.arguments import (
    add_format_option,
    add_partition_marker_option,
    field_name,
    positive_int,
    require_partition_marker,
)
from prox_tasks.cli.output import Outcome, count, files_skipped, progress_bar
from prox_tasks.cli.refine_cmd import limit_default
from prox_tasks.refine.limits import DESCRIPTIONS
from prox_tasks.wording import crawl_files


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--input", required=True, help="file, folder, prefix or glob (path, file://, s3://)")
    p.add_argument("--output", required=True, help="output folder of the refined snapshot")
    # the targets default to None, not to a number: a plan's settings (and so its id) record
    # them as given, and plans written before must keep their ids
    p.add_argument("--target-docs", type=positive_int, default=None,
                   help="documents per shard (default: an existing plan's as planned; a new "
                   "folder: 10,000 when --target-bytes is not given)")
    p.add_argument("--target-bytes", type=positive_int, default=None,
                   help="uncompressed record bytes per shard (default: none; with "
                   "--target-docs, a shard closes at whichever it reaches first)")
    # None, not the names: planning again naming none keeps the folder's (planned_settings)
    p.add_argument("--text-field", type=field_name, default=None,
                   help="the field holding the text (default text; an existing plan's "
                   "as planned)")
    p.add_argument("--id-field", type=field_name, default=None, help="the field holding the id (default id; "
                   "an existing plan's as planned; a row without id gets a hash of its "
                   "text, one without another field named is quarantined as missing_id)")
    add_format_option(p)
    add_partition_marker_option(p)
    # a planning setting prox refine takes too (--max-doc-bytes, $PROX_MAX_DOC_BYTES): a plan
    # made with another limit than the refine run's is another plan (a ManifestConflict)
    p.add_argument("--max-doc-bytes", type=positive_int, default=None,
                   help=f"{DESCRIPTIONS['max_doc_bytes'][1]} ({limit_default('max_doc_bytes')})")
    p.add_argument("--overwrite", action="store_true", help="replace a different existing plan")
    # --name as prox refine and prox gate call the catalog name (--snapshot: as before; a
    # refusal names --name: in prox gate --snapshot is the folder)
    p.add_argument("--name", "--snapshot", dest="snapshot", default=None,
                   help="register under this name in the catalog (the name prox refine "
                   "and prox gate take as --name)")
    p.add_argument("--catalog", default=None, help="catalog URL (default PROX_CATALOG_URL or "
                   "$PROX_HOME/catalog.sqlite)")
    p.set_defaults(func=run)


def run(args) -> Outcome:
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.planner import PLANNED_READING, planned_settings, read_plan
    from prox_tasks.refine.limits import Limits
    from prox_tasks.storage.names import check_name

    require_partition_marker(args)  # a partition still landing: planned, its later files lost
    from prox_tasks.corpus.manifest import check_output_folder
    from prox_tasks.storage import check_writable

    # a missing bucket, or credentials that may not write there: said before the input is
    # read (a large crawl: minutes), not at the manifest's write after it
    check_output_folder(args.output)  # before the catalog books a name for a file
    check_writable(args.output, folders=True)
    if args.snapshot:  # before planning, not after: a refused name leaves no plan behind
        from prox_tasks.catalog import Catalog

        check_name(args.snapshot, "snapshot name")
        with Catalog(args.catalog) as catalog:
            catalog.check_snapshot_name(args.snapshot, args.output, "--name")
    # a bad input or a conflicting plan ends in prox_tasks.cli.main: one line on stderr, rc 1
    # no size named: the folder's plan as planned (a new folder: 10,000 documents a shard)
    # none named: read as the folder's plan reads its input (a new folder: text, id, names)
    # the folder's plan read once (a GET on S3) for its settings and for whether it is unchanged
    planned = read_plan(args.output)
    targets, reading = planned_settings(
        args.output, None if args.target_docs is None and args.target_bytes is None
        else {"target_docs": args.target_docs, "target_bytes": args.target_bytes},
        {key: getattr(args, key) for key in PLANNED_READING if getattr(args, key) is not None},
        plan=planned)
    with progress_bar(args, "plan", "record") as bar:
        manifest = plan_shards(args.input, args.output, targets["target_docs"],
                               targets["target_bytes"], **reading, plan=planned,
                               overwrite=args.overwrite, progress=bar,
                               max_doc_bytes=Limits.resolve(
                                   {"max_doc_bytes": args.max_doc_bytes}).max_doc_bytes)
    if args.snapshot:
        from prox_tasks.catalog import Catalog
        from prox_tasks.refine.booking import register_plan

        # booked as refine and the DAG book a plan: a rerun finding the same plan keeps the
        # snapshot's status (a gated one stayed "planned" after a bare register_snapshot);
        # by no run: the run that refines it books itself
        with Catalog(args.catalog) as catalog:
            register_plan(catalog, args.snapshot, manifest, option="--name", run=False)
    summary = {"manifest": manifest.uri, "id": manifest.id, "files": len(manifest.files),
               "shards": len(manifest.shards), "docs": manifest.total_docs,
               "snapshot": args.snapshot, "files_skipped": len(manifest.skipped_files),
               "markers_left_out": manifest.markers_left_out, "reused": manifest.reused}
    booked = f", registered as {args.snapshot}" if args.snapshot else ""
    uris = [f["uri"] for f in manifest.skipped_files]
    skipped = files_skipped(len(uris), uris[:3], manifest.uri, crawl_files(uris))
    markers = (f", {count(manifest.markers_left_out, 'marker')} left out (names starting "
               "with . or _)" if manifest.markers_left_out else "")
    # a rerun re-opens the folder's plan: said, so it is not taken for a new one
    verb = "plan reused:" if manifest.reused else "planned"
    return Outcome(f"{verb} {count(manifest.total_docs, 'document')} from "
                   f"{count(len(manifest.files), 'file')}{skipped}{markers} into "
                   f"{count(len(manifest.shards), 'shard')} -> {manifest.uri}{booked}", summary)
