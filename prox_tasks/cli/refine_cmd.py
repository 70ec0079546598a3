"""``prox refine``: refine a corpus with a model, outside Airflow (same functions as the DAG).

Prints one summary line (``--json``: totals, per-shard accounting and statistics) on stdout;
a progress bar on stderr. Exit codes: 0 done, 1 bad input (every record quarantined too:
:func:`~prox_tasks.refine.stats.refuse_if_all_quarantined`) or a shard that failed, 2
``--model promoted`` and no model is promoted.
"""

from __future__ import annotations

import os
from dataclasses import fields

from prox_tasks.cli.arguments import (
    add_format_option,
    add_partition_marker_option,
    count_or_zero,
    field_name,
    positive_int,
    require_partition_marker,
    seconds,
    share,
)
from prox_tasks.cli.output import (
    NAME_TEXT_FIELD,
    Outcome,
    count,
    files_skipped,
    input_notices,
    name_text_field,
    progress_bar,
    quarantined,
)
from prox_tasks.corpus.planner import DEFAULT_TARGET_DOCS
from prox_tasks.refine.limits import DESCRIPTIONS, DUPLICATE_POLICIES, Limits
from prox_tasks.wording import input_cut

BACKEND_CHOICES = ["vllm", "transformers", "openai", "tagger"]


def finishing_command(args) -> str:
    """The command that finishes a stopped or failed run, reusing the shards it published:
    the same one, but without ``--force``, which would refine them all again."""
    if getattr(args, "force", False):
        return "prox refine without --force"
    return "the same prox refine command"


def stopped_hint(args) -> str:
    """Said when a run is interrupted or terminated: what a rerun does with the work done."""
    return (f"{finishing_command(args)} finishes the run: the shards published are reused "
            "and a shard stopped midway resumes from its checkpoints")


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--input", required=True, help="file, folder, prefix or glob (path, file://, s3://)")
    p.add_argument("--output", required=True, help="output folder of the refined snapshot")
    p.add_argument("--model", default=None,
                   help="model URI: refiner artifact or Hugging Face folder (path or s3://), "
                   "'default' for $PROX_DEFAULT_MODEL, else the shipped line tagger, or "
                   "'promoted' (fail without one); default: in an existing snapshot folder the "
                   "model its shards were refined with (not with --force), else the promoted "
                   "model (registry PROX_MODEL_REGISTRY, then the catalog), else "
                   "$PROX_DEFAULT_MODEL, else the shipped line tagger")
    p.add_argument("--model-name", default="refiner",
                   help="registry and catalog name of the promoted model (default refiner)")
    p.add_argument("--catalog", default=None, help="catalog URL: the promoted model, and where "
                   "the snapshot and its shards are booked (default PROX_CATALOG_URL or "
                   "$PROX_HOME/catalog.sqlite)")
    p.add_argument("--name", default=None, help="catalog snapshot name the snapshot and its "
                   "shards are booked under, in --catalog (default: the name the catalog books "
                   "the output folder under, e.g. by prox plan --name; else the folder's "
                   "name, with a digest of its URI when that name is booked for another folder)")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                   help="inference backend (default: in an existing snapshot folder of the same "
                   "model its own, else tagger for tagger models, else vllm when installed, "
                   "else transformers)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shards", type=positive_int, default=None,
                      help="cut the corpus into about N shards (default: by --target-docs)")
    size.add_argument("--target-docs", type=positive_int, default=None,
                      help="documents per shard (default: an existing plan's size as planned, "
                      "e.g. by prox plan --target-docs or --target-bytes; a new folder: "
                      f"{DEFAULT_TARGET_DOCS:,})")
    # None, not the names: a rerun naming none reads the snapshot as planned (planned_settings)
    p.add_argument("--text-field", type=field_name, default=None,
                   help="the input rows' field holding the text (default: an existing "
                   "plan's as planned; a new folder: text)")
    p.add_argument("--id-field", type=field_name, default=None,
                   help="the input rows' field holding the document id (default: an "
                   "existing plan's as planned; a new folder: id)")
    add_format_option(p)
    add_partition_marker_option(p)
    p.add_argument("--checkpoint-every", type=count_or_zero, default=None,
                   help="documents per in-shard checkpoint and model batch (0: no checkpoints; "
                   "default --max-batch-docs)")
    lim = p.add_argument_group("limits (docs/storage.md; default: in an existing snapshot folder "
                               "its own, else from PROX_<NAME> variables)")
    for f in fields(Limits):
        kind = {"int": int, "float": float}.get(f.type)
        lim.add_argument("--" + f.name.replace("_", "-"), type=kind or str, default=None,
                         choices=None if kind else DUPLICATE_POLICIES,
                         help=f"{DESCRIPTIONS[f.name][1]} ({limit_default(f.name)})")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes refining shards in "
                   "parallel, each loading its own model (CPU backends: up to one per core; default 1)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads per worker for the "
                   "model (default: the cores divided among the workers; tagger alone: 1)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="prompts per generate call "
                   "(transformers; default 32)")
    p.add_argument("--servers", default=None, help="comma-separated OpenAI-compatible base URLs "
                   "(openai backend), e.g. http://host:8000/v1; default $PROX_OPENAI_SERVERS")
    p.add_argument("--doc-servers", default=None, help="openai: the document-level model's "
                   "pool (default --servers, else $PROX_OPENAI_DOC_SERVERS)")
    p.add_argument("--chunk-servers", default=None, help="openai: the chunk-level model's "
                   "pool (default --servers, else $PROX_OPENAI_CHUNK_SERVERS)")
    p.add_argument("--doc-served-model", default=None, help="openai: the served model name "
                   "the document level asks for (default $PROX_OPENAI_DOC_MODEL, else the "
                   "first its pool lists)")
    p.add_argument("--chunk-served-model", default=None, help="openai: the served model name "
                   "the chunk level asks for (default $PROX_OPENAI_CHUNK_MODEL, else the "
                   "first its pool lists)")
    p.add_argument("--concurrency", type=positive_int, default=None,
                   help="openai: requests in flight per server (default 32)")
    p.add_argument("--request-timeout", type=seconds, default=None, help="openai: seconds one "
                   "request may take before it is retried (default $PROX_OPENAI_TIMEOUT or 600)")
    p.add_argument("--shard-budget", type=seconds, default=None, help="openai: seconds the "
                   "refining of one shard may take before it fails, its requests cancelled "
                   "(a retry resumes from its checkpoints; default $PROX_OPENAI_SHARD_BUDGET, "
                   "else none)")
    p.add_argument("--tensor-parallel-size", type=positive_int, default=None,
                   help="vllm: GPUs one model is split over (default 1)")
    p.add_argument("--gpu-memory-utilization", type=float, default=None,
                   help="vllm: share of GPU memory it takes (default 0.9 with a GPU, else 0.3)")
    p.add_argument("--doc-model", default=None, help="separate document-level model folder "
                   "(default: --model's)")
    p.add_argument("--chunk-model", default=None, help="separate chunk-level model folder "
                   "(default: --model's)")
    p.add_argument("--chat-template", default=None, help="for a model whose tokenizer has "
                   "none: 'llama2' (as ProX prompted) or a Jinja file (default: the "
                   "tokenizer's own)")
    p.add_argument("--constrained", action=argparse_bool(), default=None,
                   help="constrain outputs to the program grammar (vllm, openai; default on)")
    p.add_argument("--keep-threshold", type=share, default=None,
                   help="tagger models: remove a line when its removal probability is at least "
                   "this (0-1; higher keeps more text: recall up, precision down); default: "
                   "in an existing snapshot folder of the same model its own, else the model's "
                   "calibrated value")
    p.add_argument("--quality-filter", choices=["off", "report", "drop"], default=None,
                   help="document-quality decision, apart from junk drops: report (score and "
                   "count low-quality documents) or drop them too; default: in an existing "
                   "snapshot folder its own, else $PROX_QUALITY_FILTER or off")
    p.add_argument("--force", action="store_true", help="refine published shards again, and "
                   "take the folder's settings claim over from a run with other settings")
    p.add_argument("--replan", action="store_true", help="replace the folder's plan when this "
                   "run's differs (other --shards/--target-docs, an input changed since): the "
                   "old plan's shards are removed and every shard refined, as after prox plan "
                   "--overwrite; refused for a released snapshot")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run, stopped_hint=stopped_hint)


def limit_default(name: str) -> str:
    """The default of limit ``name`` as a run takes it: ``$PROX_<NAME>`` when set (named, as
    given: a bad value fails the run with its own message), else the built-in value."""
    env = f"PROX_{name.upper()}"
    value = os.environ.get(env)
    if value:
        return f"default {value}, from ${env}"
    return f"default {getattr(Limits(), name)}"


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


def backend_options(args) -> dict:
    mapping = {"batch_size": args.batch_size, "servers": args.servers,
               "doc_servers": args.doc_servers, "chunk_servers": args.chunk_servers,
               "doc_served_model": args.doc_served_model,
               "chunk_served_model": args.chunk_served_model,
               "concurrency": args.concurrency, "timeout": args.request_timeout,
               "shard_budget": args.shard_budget,
               "tensor_parallel_size": args.tensor_parallel_size,
               "gpu_memory_utilization": args.gpu_memory_utilization,
               "constrained": args.constrained, "doc_model": args.doc_model,
               "chunk_model": args.chunk_model, "chat_template": args.chat_template,
               "line_threshold": getattr(args, "keep_threshold", None)}  # fmt: skip
    return {k: v for k, v in mapping.items() if v is not None}


def run(args) -> Outcome:
    from prox_tasks.models import NoModelError
    from prox_tasks.refine.corpus import refine_corpus, starts_workers_early
    from prox_tasks.registry import PromotedVersionGone

    if starts_workers_early(args.output, args.workers):
        from prox_tasks.refine.fork_server import start_worker_imports

        start_worker_imports()  # the workers' imports overlap the catalog's and the plan
    from prox_tasks.catalog import Catalog
    from prox_tasks.corpus.manifest import check_output_folder
    from prox_tasks.pipeline.settings import check_refine_settings
    from prox_tasks.storage import check_writable
    from prox_tasks.storage.names import check_name

    if args.name:
        check_name(args.name, "snapshot name")
    check_refine_settings()  # a setting to fix is no failed run: before the catalog books one
    require_partition_marker(args)  # a partition still landing: refined, its later files lost
    # a mistyped output bucket fails here, before the catalog books the folder's name for it
    # (a failed run's row): the rerun into the right bucket then took a name with a digest;
    # so do credentials that may not write there, before the input is read
    check_output_folder(args.output)  # before the catalog books a name for a file
    check_writable(args.output, folders=True)
    catalog = Catalog(args.catalog)
    name = None  # until the catalog has named it
    try:
        name = args.name or catalog.default_snapshot_name(args.output)
        with progress_bar(args, "refine") as bar:
            summary = refine_corpus(
                args.input, args.output, model=args.model, model_name=args.model_name,
                catalog_url=args.catalog, backend=args.backend,
                backend_options=backend_options(args), shards=args.shards,
                target_docs=args.target_docs, checkpoint_every=args.checkpoint_every,
                force=args.force, replan=args.replan, progress=bar,
                limits={f.name: getattr(args, f.name) for f in fields(Limits)},
                workers=args.workers, threads=args.threads,
                text_field=args.text_field, id_field=args.id_field, format=args.format,
                # none given: the snapshot's on a rerun, else $PROX_QUALITY_FILTER
                quality=args.quality_filter,
                catalog=catalog, snapshot=name,
            )  # fmt: skip
    except (NoModelError, PromotedVersionGone):  # said by prox_tasks.cli.main, exit 2, as
        raise                                     # for every command: no run to book
    except Exception as err:
        from prox_tasks.cli.errors import CommandFailed, describe_error, exit_code

        # a pool set up wrong (a key, a URL, a model it does not serve), --model no model:
        # exit 2, as the DAG fails its task without retries; running the same command again
        # cannot get past it
        code = exit_code(err)
        # a shard that failed: which one, and the command that finishes the run, first
        stopped = shards_failed(catalog, name, err, finishing_command(args)) if name else None
        if stopped is None:
            from prox_tasks.refine.booking import book_unplanned

            # failed while planning: a new snapshot is listed as a failed run all the same
            if name:
                book_unplanned(catalog, name, args.input, args.output, err)
            if code == 1:
                raise
            raise CommandFailed(describe_error(err), code) from err
        raise CommandFailed(stopped, code) from err
    finally:
        catalog.close()
    # any other failure ends in prox_tasks.cli.main: one line, exit code 1 (-v: traceback)
    summary["snapshot"] = name  # what `prox gate --name` and `prox release` book it under
    return Outcome(summary_line(summary), summary)


def shards_failed(catalog, name: str, err: BaseException,
                  finish: str = "the same prox refine command") -> str | None:
    """``shard 1 of 3 failed: <err> (1 written, kept: …)`` when this run booked a failed
    shard of snapshot ``name`` in ``catalog`` (None otherwise: a failure before any shard ran
    is its own message); ``finish``: the command that finishes the run
    (:func:`finishing_command`)."""
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.refine import runner as runners

    try:
        shards = catalog.get_shards(name)
    except Exception:  # noqa: BLE001 - the refine's own error is what matters
        return None
    me = runners.run_key(runners.current())
    failed = [s["shard_index"] for s in shards
              if s["status"] == "failed" and runners.run_key(s.get("runner")) == me]
    if not failed:
        return None
    written = sum(1 for s in shards if s["status"] == "done")
    if len(failed) == 1:
        which = f"shard {failed[0]}"
    elif len(failed) <= 5:
        which = f"shards {', '.join(map(str, failed))}"
    else:  # a model that failed to load fails every shard: their numbers say nothing
        which = f"{len(failed):,} shards ({', '.join(map(str, failed[:3]))}, …)"
    kept = (f"{written:,} written, kept: once the cause is fixed, {finish} finishes the run "
            "and reuses them" if written else
            f"none written by this run: once the cause is fixed, {finish} finishes the run")
    return (f"{which} of {len(shards):,} failed: {describe_error(err)} ({kept}; "
            f"`prox catalog list shards --snapshot {name}` lists each shard's error)")


def model_trouble(s: dict) -> str:
    """``, 3 requests failed (1 rejected by the server, 1 with a reply past the size cap
    (PROX_MAX_REPLY_BYTES), 1 answered with no completion on every try), 3 completions
    outside their grammar (of 32 checked), 1 server left out of the pool (URL: why)``: what
    went wrong at the model (the openai engine's counts, and the servers its pool left out
    at load); empty when nothing did. Completions are checked against their grammar on a
    sample (each server's first 32): the count says of how many."""
    failed, rejected = s.get("requests_failed") or 0, s.get("requests_rejected") or 0
    oversized = s.get("replies_oversized") or 0
    malformed = s.get("replies_malformed") or 0
    outside = s.get("completions_outside_grammar") or 0
    said = ""
    if failed:
        # each its own count: an oversized reply is the server's fault, not the prompt's;
        # one with no completion, a gateway's filter or a server failing on that prompt
        why = ([f"{rejected:,} rejected by the server"] if rejected else []) + \
            ([f"{oversized:,} with a reply past the size cap (PROX_MAX_REPLY_BYTES)"]
             if oversized else []) + \
            ([f"{malformed:,} answered with no completion on every try"]
             if malformed else [])  # fmt: skip
        said += f", {count(failed, 'request')} failed" + \
            (f" ({', '.join(why)})" if why else "")  # fmt: skip
    if outside:
        checked = s.get("completions_grammar_checked") or 0
        said += f", {count(outside, 'completion')} outside " + \
            ("its grammar" if outside == 1 else "their grammar") + \
            (f" (of {checked:,} checked)" if checked else "")  # fmt: skip
    left_out = s.get("servers_left_out") or {}
    if left_out:  # refused the pool at load (401, 404): the run had fewer servers than given
        said += f", {count(len(left_out), 'server')} left out of the pool (" + \
            "; ".join(f"{url}: {why}" for url, why in left_out.items()) + ")"  # fmt: skip
    return said


def missing_text_advice(s: dict) -> str | None:
    """What to do about the run's ``missing_text`` records: the field most of them hold a
    string in (``--text-field raw_content``, from the shards' status records: reused shards
    too); else, when some were recorded by an earlier release (their fields not examined),
    the general hint; else nothing (no row holds a text under another name)."""
    return (name_text_field(s.get("text_candidates") or {})
            or (NAME_TEXT_FIELD if s.get("missing_text_unexamined") else None))


def program_errors(failed: int, documents: int) -> str:
    """``, 3 with program errors (0.3% of the documents; each row's stats.errors names
    them)``, or nothing when none failed. The share is what the gate's ``max_failure_rate``
    judges and what ProX reports (0.04% of document, 0.36% of chunk programs): a count alone
    did not tell a few bad programs from a model that writes none (every document)."""
    if not failed:
        return ""
    share = f"{100 * failed / documents:.3g}%" if documents else "?"
    return (f", {failed:,} with program errors ({share} of the documents; each row's "
            "stats.errors names them)")


def summary_line(s: dict) -> str:
    """``refined 1,000 documents in 3 shards (1 reused): 950 kept (30 of them low quality:
    ``--quality-filter report``), 40 dropped (12 for low quality: ``drop``), 10 quarantined (7 malformed_json, 3 duplicate_id) in OUTPUT/quarantine/, 3 with
    program errors (0.3% of the documents; …); model v3 (promoted), 41.2 s -> OUTPUT`` (the parentheses, the quarantine
    folder and the errors only when there are some; ``(and 1 input file not read to its end)``
    after the documents when a file was cut: its ``truncated_file`` entry is no document; see
    :func:`~prox_tasks.wording.input_cut`)."""
    from prox_tasks.storage.uri import join_uri

    reused = f" ({s['shards_skipped']:,} reused)" if s.get("shards_skipped") else ""
    quality = (f" ({s['dropped_low_quality']:,} for low quality)"
               if s.get("dropped_low_quality") else "")
    # --quality-filter report: what it flagged is all it does, so the line says it
    flagged = (s.get("docs_low_quality") or 0) - (s.get("dropped_low_quality") or 0)
    flagged = f" ({flagged:,} of them low quality)" if flagged > 0 else ""
    errors = program_errors(s.get("docs_with_program_errors") or 0,
                            (s.get("docs_kept") or 0) + (s.get("docs_dropped") or 0))
    # a cut input file is one quarantine entry, not a document (documents_read leaves it out)
    cut = input_cut(s.get("files_cut") or 0, s.get("records_cut") or 0)
    reasons = s.get("quarantine_reasons") or {}
    shelf = join_uri(s['output'], 'quarantine') + '/'
    skipped = files_skipped(s.get('input_files_skipped') or 0,
                            s.get('input_files_skipped_named') or [], s.get('manifest', ''),
                            s.get('input_files_skipped_crawl'))
    return (f"refined {count(s.get('documents_read', s.get('docs_read', 0)), 'document')}{cut} in "
            f"{count(s['shards'], 'shard')}{reused}: {s.get('docs_kept', 0):,} kept{flagged}, "
            f"{s.get('docs_dropped', 0):,} dropped{quality}, "
            f"{quarantined(reasons, shelf, advice={'missing_text': missing_text_advice(s)})}"
            f"{errors}{model_trouble(s)}{input_notices(s.get('input_notices') or {})}"
            f"{skipped}; "
            f"model {s['model_version']} "
            f"({s['model_source']}), {s['seconds']:.1f} s -> {s['output']}"
            + (f" (catalog snapshot {s['snapshot']})" if s.get("snapshot") else ""))
