"""``prox label``: write seed programs for a corpus with a teacher (rules, diff, html, llm,
best)."""

from __future__ import annotations

from prox_tasks.cli.arguments import add_format_option, field_name, positive_int
from prox_tasks.cli.output import (
    Outcome,
    count,
    files_skipped,
    name_text_field,
    progress_bar,
    quarantined,
    rejected_by_reason,
)
from prox_tasks.labeling.options import option_type
from prox_tasks.wording import crawl_files


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument(
        "--input", required=True, help="documents (file, folder, glob; path, file://, s3://)"
    )
    p.add_argument("--output", required=True, help="labels, JSONL(.gz/.zst)")
    p.add_argument(
        "--teacher",
        choices=["rules", "diff", "html", "llm", "best"],
        default="rules",
        help="default rules; best: diff where a gold text exists, else html where the HTML "
        "exists, else rules (llm when --base-url/--conn-id is given)",
    )
    p.add_argument("--text-field", type=field_name, default="text",
                   help="the rows' field holding the text (default text)")
    p.add_argument("--id-field", type=field_name, default="id",
                   help="the rows' field holding the id (default id, absent: a hash of the "
                   "text; another field absent: quarantined as missing_id)")
    add_format_option(p)
    p.add_argument("--gold-field", default="gold_text", help="clean text for the diff teacher (default gold_text)")
    p.add_argument("--html-field", default="html", help="page HTML for the html teacher (default html)")
    p.add_argument(
        "--warc",
        action="append",
        default=None,
        metavar="WARC_URI",
        help="WARC files holding the HTML responses of a WET --input (joined on "
        "WARC-Refers-To): a file, folder or glob; repeatable",
    )
    p.add_argument(
        "--extractor",
        choices=["trafilatura", "resiliparse"],
        default="trafilatura",
        help="html teacher: the main-content extractor (default trafilatura)",
    )
    p.add_argument(
        "--html-timeout", type=option_type("extract_timeout"), default=None,
        help="seconds the extractor may take on one page (default 30): --teacher html rejects "
        "a slower page as html:extractor_timeout, best labels it with its next teacher",
    )
    p.add_argument(
        "--max-html-bytes", type=positive_int, default=None,
        help="HTML over this many bytes is not extracted (default 8 MiB): --teacher html "
        "quarantines the row as html_too_large, best labels it with its next teacher",
    )
    p.add_argument(
        "--quarantine", default=None, help="bad records (default <output>.quarantine.jsonl, without .gz/.zst)"
    )
    p.add_argument("--keep-text", action="store_true", help="copy the text into the output rows")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="label at most this many documents (a repeated id or a row without "
                   "its teacher's input, quarantined, is not one)")
    p.add_argument(
        "--unchunked",
        action="store_true",
        help="rules/diff: one whole-document chunk program, no chunk markers",
    )
    s = p.add_argument_group("seed set (--output is then a folder)")
    s.add_argument(
        "--seed-set",
        action="store_true",
        help="sample, label, validate, split and write a versioned seed set",
    )
    # None when not given (a refusal without --seed-set), then SEED_SET_DEFAULTS
    s.add_argument("--sample-size", type=int, default=None,
                   help=f"documents to sample (default {SEED_SET_DEFAULTS['sample_size']})")
    s.add_argument("--seed", type=int, default=None,
                   help=f"random seed of the sample (default {SEED_SET_DEFAULTS['seed']})")
    s.add_argument("--val-fraction", type=float, default=None,
                   help="share of the sample held out for validation (default "
                        f"{SEED_SET_DEFAULTS['val_fraction']:g})")
    s.add_argument("--name", default=None, help="catalog name (default seed-<teacher>-<version>)")
    s.add_argument(
        "--catalog",
        default=None,
        help="catalog URL (default PROX_CATALOG_URL or $PROX_HOME/catalog.sqlite)",
    )
    s.add_argument("--no-register", action="store_true", help="do not register in the catalog")
    s.add_argument("--take-over", action="store_true",
                   help="take the folder's labeling claim over from another run that is gone "
                        "(killed on another machine) before its lease runs out")
    g = p.add_argument_group("llm teacher")
    g.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://host:8000/v1"
    )
    g.add_argument("--model", default=None, help="model name served by the endpoint")
    g.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (default OPENAI_API_KEY; never pass "
        "the key itself)",
    )
    g.add_argument(
        "--conn-id",
        default=None,
        help="Airflow connection id (host, password): AIRFLOW_CONN_<ID>, else Airflow's "
        "own lookup where Airflow is installed",
    )
    g.add_argument("--concurrency", type=option_type("concurrency"), default=8,
                   help="requests in flight (default 8)")
    g.add_argument("--cache-dir", default=None, help="response cache folder (reruns pay nothing)")
    g.add_argument("--timeout", type=option_type("timeout"), default=120.0, help="seconds per request (default 120)")
    p.set_defaults(func=run, stopped_hint=stopped_hint)


def stopped_hint(args) -> str:
    """Said when a run is interrupted or terminated (Ctrl-C, SIGTERM): what a rerun does with
    the work done. A seed set keeps its labeled parts and each part's checkpointed batches;
    the one-file route publishes its --output only when complete."""
    if args.seed_set:
        return ("the same prox label command finishes the seed set: the parts labeled are "
                "reused and a part stopped midway resumes from its last labeled batch")
    return (f"nothing was written to {args.output} (it is published complete); the same "
            "prox label command labels the input again"
            + (" (--cache-dir: the teacher's answers are not asked for again)"
               if getattr(args, "cache_dir", None) else ""))


def build_teacher(args):
    from prox_tasks.labeling import get_teacher

    def llm():
        options = {
            "base_url": args.base_url,
            "model": args.model,
            "api_key_env": args.api_key_env,
            "conn_id": args.conn_id,
            "concurrency": args.concurrency,
            "cache_dir": args.cache_dir,
            "timeout": args.timeout,
        }
        return get_teacher("llm", **options)

    chunked = not args.unchunked
    if args.teacher == "llm":
        return llm()
    html_options = {"chunked": chunked, "extractor": args.extractor,
                    **({"extract_timeout": args.html_timeout} if args.html_timeout else {})}
    if args.teacher == "html":
        return get_teacher("html", **html_options)
    if args.teacher == "best":
        fallback = llm() if (args.base_url or args.conn_id) else get_teacher("rules", chunked=chunked)
        html = None
        try:
            html = get_teacher("html", **html_options)
        except ImportError:  # no extractor installed: HTML rows go to the fallback teacher
            pass
        return get_teacher("best", fallback=fallback, html=html, chunked=chunked)
    return get_teacher(args.teacher, chunked=chunked)


def run(args) -> Outcome:
    from prox_tasks.labeling.run import label_corpus

    refused = _options_of_the_other_route(args) or _misnamed_output(args)
    if refused:
        return Outcome.failure("label", refused, code=2)
    from prox_tasks.storage.tempfiles import check_scratch_dir

    check_scratch_dir()  # SettingInvalid, exit 2: before the input is read or a folder claimed
    if args.seed_set:
        for dest, default in SEED_SET_DEFAULTS.items():
            if getattr(args, dest) is None:
                setattr(args, dest, default)
        from prox_tasks.labeling.seedset import check_split_settings
        from prox_tasks.storage.names import check_name

        try:  # before the folder is claimed: a rerun with the setting fixed is not refused
            check_split_settings(args.sample_size, args.val_fraction, names=_OPTIONS)
            if args.name is not None:  # the seed DAG's rule: it names a folder there
                check_name(args.name, "seed-set name")
        except ValueError as err:
            return Outcome.failure("label", str(err), code=2)
    try:
        teacher = build_teacher(args)
    except (TypeError, ValueError) as err:
        # options no teacher can be built from (--teacher llm without --model or an
        # endpoint): a setting to fix, which the same command cannot get past (exit 2), not
        # a failed labeling (1) announced as a bare "ValueError: …"
        return Outcome.failure("label", str(err), code=2)
    try:
        with progress_bar(args, "label", total=args.limit) as bar:
            if args.seed_set:
                return _seed_set(args, teacher, bar)
            summary = label_corpus(
                args.input, args.output, teacher, args.text_field, args.id_field,
                args.gold_field, args.quarantine, args.keep_text, args.limit,
                html_field=args.html_field, warc_uris=args.warc, progress=bar,
                format=args.format, whole_input=True,
                **({"max_html_bytes": args.max_html_bytes} if args.max_html_bytes else {}),
            )  # fmt: skip
    except KeyError as err:  # str(KeyError) is the bare key in quotes; name what is missing
        from prox_tasks.connections import ConnectionNotFound

        if isinstance(err, ConnectionNotFound):  # --conn-id: says what is missing itself
            raise
        raise LookupError(f"missing {err}") from err
    # any other failure ends in prox_tasks.cli.main: one line on stderr, exit code 1
    too_large = summary.get("html_too_large")
    fell_back = (f" ({too_large:,} with HTML over --max-html-bytes labeled without it)"
                 if too_large else "")
    if summary.get("html_repaired"):  # broken escapes in the HTML: said, not silent
        fell_back += (f" ({summary['html_repaired']:,} with lone surrogates in their HTML, "
                      "replaced by U+FFFD before extraction)")
    repeated = (summary.get("warc") or {}).get("duplicate_record_ids")
    if repeated:  # which response a WET record joins is the first one's: said, not silent
        fell_back += (f" ({count(repeated, '--warc response')} "
                      f"repeat{'s' if repeated == 1 else ''} a WARC-Record-ID indexed before: "
                      "the first kept)")
    skipped = summary.get("skipped_files") or []  # a folder's README, a .json: as prox plan says
    uris = [f["uri"] for f in skipped]
    fell_back += files_skipped(len(uris), uris[:3], "the --json summary's", crawl_files(uris))
    rejected = summary["written"] - summary["valid"]  # a row may have several reasons
    # --text-field only when a quarantined row holds a string that could be its text
    advice = {"missing_text": name_text_field(summary.get("text_candidates") or {})}
    line = (f"labeled {count(summary['written'], 'document')} with {args.teacher}: "
            f"{summary['valid']:,} valid, {rejected_by_reason(rejected, summary['rejected'])}, "
            f"{summary['keep_doc']:,} keep_doc, "
            f"{summary['drop_doc']:,} drop_doc, "
            f"{quarantined(summary['quarantined'], summary['quarantine'], advice=advice)}"
            f"{fell_back} "
            f"-> {summary['output']}")
    # the llm teacher only: its answers all rejected say its model, endpoint or prompts are
    # broken; a rules/diff/html teacher's are decisions on the pages (a batch of a few short
    # pages may all be left too little text), which a labeling job must not fail on
    if args.teacher == "llm" and summary["written"] and not summary["valid"]:
        return Outcome.failure("label", f"{line}; {_no_valid_label(summary['output'])}")
    return Outcome(line, summary)


def _no_valid_label(output: str) -> str:
    """Why an llm teacher's run whose every label was rejected fails (a broken model, prompt
    or teacher option: no use labels a seed set or training takes), where those labels are,
    and what to do. The file stays written: a rerun rewrites it the same way."""
    return ("the teacher wrote no valid label (100% rejected): the rows are written to "
            f"{output} with valid false and their reasons in rejected (the answers in "
            "label_meta.error_details): check the llm teacher's model, endpoint and prompts, "
            "or label with another teacher (--teacher and its options)")


#: The seed set's sampling options when not given (None in the parser: a refusal without
#: ``--seed-set`` tells them from what was typed).
SEED_SET_DEFAULTS = {"sample_size": 5000, "seed": 0, "val_fraction": 0.1}

#: The options of one route only, by flag: ``(dest, whether it is the seed set's route)``.
#: Given on the other route they would be ignored silently, so they are refused (exit 2).
_ROUTE_ONLY = {"--limit": ("limit", False), "--keep-text": ("keep_text", False),
               "--quarantine": ("quarantine", False),
               "--sample-size": ("sample_size", True), "--seed": ("seed", True),
               "--val-fraction": ("val_fraction", True), "--name": ("name", True),
               "--catalog": ("catalog", True), "--no-register": ("no_register", True),
               "--take-over": ("take_over", True)}
#: Why each route's options do not apply on the other, and what to do.
_OTHER_ROUTE = {
    True: "with --seed-set (it samples --sample-size documents, keeps their text and "
          "quarantines beside the seed set)",
    False: "without --seed-set (prox label then labels every document of --input into one "
           "--output file): add --seed-set to sample a seed set, or leave out what does not "
           "apply",
}  # fmt: skip


def _options_of_the_other_route(args) -> str | None:
    """The refusal of the options given that the route ``args.seed_set`` picks does not
    take (:data:`_ROUTE_ONLY`), or None."""
    given = [flag for flag, (dest, seed_set) in _ROUTE_ONLY.items()  # --seed 0 is given too
             if seed_set != args.seed_set and getattr(args, dest) is not None
             and getattr(args, dest) is not False]
    if not given:
        return None
    verb = "does" if len(given) == 1 else "do"
    return f"{', '.join(given)} {verb} not apply {_OTHER_ROUTE[args.seed_set]}"


def _misnamed_output(args) -> str | None:
    """Why the label file or its quarantine may not have the name given (one ending in
    another format's suffix: ``labels.parquet`` would hold JSON Lines), or None; a seed
    set's ``--output`` is a folder."""
    from prox_tasks.corpus.jsonl import refused_output_name

    if args.seed_set:
        return None
    return refused_output_name(args.output) or (
        args.quarantine and refused_output_name(args.quarantine, "--quarantine")) or None


#: The options that set what ``seed_set_params`` records, named in a refusal as given.
_OPTIONS = {"input_uri": "--input", "sample_size": "--sample-size", "random_seed": "--seed",
            "teacher": "--teacher", "teacher_options": "teacher options", "format": "--format",
            "text_field": "--text-field", "id_field": "--id-field",
            "val_fraction": "--val-fraction", "gold_field": "--gold-field",
            "html_field": "--html-field", "max_html_bytes": "--max-html-bytes",
            "input_digest": "the --input files' digest", "warc_uris": "--warc"}


def _teacher_options(args) -> dict:
    """The teacher options given that decide its labels (as the DAG's ``teacher_options``
    Param: what is not given is not recorded, so the message names only what changed)."""
    given = {"chunked": False if args.unchunked else None,
             "extractor": args.extractor if args.extractor != "trafilatura" else None,
             "extract_timeout": args.html_timeout,
             "base_url": args.base_url, "conn_id": args.conn_id, "model": args.model}
    return {k: v for k, v in given.items() if v is not None}


def _seed_set(args, teacher, bar) -> Outcome:
    from prox_tasks.corpus.readers import input_listing
    from prox_tasks.labeling.run import probe_teacher_input
    from prox_tasks.labeling.seedset import (
        EmptySplit,
        build_seed_set,
        check_name_in_catalog,
        register_in_catalog,
    )
    from prox_tasks.pipeline.seeding import claim_seed_set, seed_set_params
    from prox_tasks.pipeline.settings import label_claim_lease
    from prox_tasks.storage import to_uri

    # absolute, as the seed DAG gives them: each part's record names the WARC files it joined
    warc_uris = [to_uri(uri) for uri in args.warc] if args.warc else None
    # the seed DAG's own check: a rerun into this folder with other settings, or over an
    # input rewritten since (its files' fingerprints: SHA-256, S3 ETag), would replace the
    # seed set (and its catalog row) a model may have been trained on
    decides, _ = seed_set_params(to_uri(args.input), args.sample_size, args.seed, args.teacher,
                                 _teacher_options(args), warc_uris, format=args.format,
                                 text_field=args.text_field, id_field=args.id_field)
    decides.update(val_fraction=args.val_fraction, gold_field=args.gold_field,
                   html_field=args.html_field, max_html_bytes=args.max_html_bytes)
    # an input with no file fails here, before the folder is claimed for it: the rerun with
    # the input fixed is not refused as "other settings"
    input_listing(args.input, args.format, warn=False)  # sampling says the files it skips
    # a diff/html teacher over rows without a gold text/HTML: refused before the folder is
    # claimed for it (a rerun with another --teacher is then not refused as other settings)
    probe_teacher_input(args.input, teacher, args.text_field, args.id_field, args.gold_field,
                        args.html_field, warc_uris=warc_uris, format=args.format)
    if args.name and not args.no_register:  # before any work: registering would refuse it
        check_name_in_catalog(args.name, to_uri(args.output), args.catalog)
    label_claim_lease()  # the labeling claim's lease: a setting to fix, before params.json
    claim_seed_set(to_uri(args.output), args.name or args.output, decides,
                   "write it to another --output folder (and --name), or remove that folder "
                   "if nothing was trained on it", names=_OPTIONS,
                   elsewhere="write the seed set to another --output folder")
    try:
        info = build_seed_set(
            args.input, args.output, teacher, args.sample_size, args.seed, args.val_fraction,
            name=args.name, text_field=args.text_field, id_field=args.id_field,
            gold_field=args.gold_field, html_field=args.html_field,
            register=False, catalog=args.catalog, progress=bar, format=args.format,
            warc_uris=warc_uris, take_over=args.take_over,
            **({"max_html_bytes": args.max_html_bytes} if args.max_html_bytes else {}),
        )  # fmt: skip
    except EmptySplit as err:
        # its own type: a prox error is printed whole, its advice (the options) included
        options = "--teacher and its options" if err.no_valid_label \
            else "--sample-size, --val-fraction"  # fmt: skip
        raise EmptySplit(f"{err} ({options})") from None
    if not args.no_register:
        from prox_tasks.catalog.catalog import SeedSetNameTaken

        try:
            info.catalog_id = register_in_catalog(info, args.catalog)
        except SeedSetNameTaken as err:
            # --name was checked before sampling: another run registered it since; the
            # default name is the content's version, known only now: the same seed set in
            # another folder (a local trial, then s3://) takes it. The files are written.
            why = ": another run registered it while this one labeled" if args.name else ""
            raise SeedSetNameTaken(
                f"{err}{why}: the seed set is written in {info.uri} but not registered; run "
                f"again with --name {'ANOTHER' if args.name else 'NAME'} to register it "
                "under its own name (its labels are reused, nothing is labeled again), or "
                "with --no-register") from None
    # sampled rows without what the teacher reads (some rows of the input have it): said
    lacking = {"missing_gold": "sampled rows without --gold-field",
               "missing_html": "sampled rows without HTML"}
    sizes = ", ".join(rejected_by_reason(info.sizes[k], info.rejected_reasons, lacking)
                      if k == "rejected" else f"{info.sizes[k]:,} {k}"
                      for k in ("sampled", "valid", "rejected", "train", "validation"))
    # the input records that could not be read: none of them could be sampled
    unread = info.sizes.get("input_quarantined") or {}
    # --text-field only when a quarantined row holds a string that could be its text, named
    advice = {"missing_text": name_text_field(info.input_text_candidates)}
    input_note = (f" (of {info.sizes['snapshot_docs']:,} input documents; "
                  f"{quarantined(unread, info.files.get('input_quarantine', info.uri), advice=advice)})"
                  if unread else "")
    return Outcome(f"seed set {info.name} {info.version}: {sizes}{input_note} -> "
                   f"{info.manifest_uri}", info.to_dict())
