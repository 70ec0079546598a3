"""``prox train``: train a refiner on a seed set, evaluate, publish, maybe promote.

Prints one summary line; ``--json``: the evaluation record (version, metrics, incumbent's
metrics, promotion decision).
"""

from __future__ import annotations

import json

from prox_tasks.cli.arguments import (
    below_one,
    learning_rate,
    named_weight,
    number_or_zero,
    percent,
    positive_int,
    positive_number,
    share_or_off,
)
from prox_tasks.cli.output import Outcome, progress_bar

#: Said when a run is interrupted or terminated: what a rerun does with the work done.
STOPPED_HINT = (
    "the same prox train command resumes from its last checkpoint (the tagger's last "
    "finished epoch) in its work folder, {where}"
)


def stopped_hint(args) -> str:
    """:data:`STOPPED_HINT` naming the work folder: ``--work-dir``, else the default folder
    this run resolved (``args.work_folder``, set once the seed set is read: the hint said
    ``…/prox-train/<key>``, a placeholder where the folder was known), else — stopped
    before — the default one's parent as this process has it (``PROX_TMPDIR``, else the
    system temp folder: a literal ``$PROX_TMPDIR/prox-train/<key>`` named an empty
    variable, and no such folder, where ``PROX_TMPDIR`` is unset)."""
    if args.work_dir:
        return STOPPED_HINT.format(where=args.work_dir)
    if getattr(args, "work_folder", None):
        return STOPPED_HINT.format(where=args.work_folder)
    # named, not made: a stop's message made the folder, and raised on a bad PROX_TMPDIR
    # in place of the "interrupted" line (a traceback, exit 1 for 130)
    from prox_tasks.storage.tempfiles import scratch_path

    return STOPPED_HINT.format(where=f"{scratch_path()}/prox-train/<key>")


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--seed", required=True, help="seed-set URI (manifest, folder or JSONL)")
    p.add_argument("--output", required=True, help="model registry root URI (path or s3://)")
    p.add_argument("--name", default="refiner", help="model name in the registry (default "
                   "refiner: the one prox refine and the refine DAG take)")
    p.add_argument("--kind", default="line_tagger", choices=["line_tagger", "causal_lm"],
                   help="line_tagger (the shipped refiner's kind) or causal_lm (a generative "
                   "refiner, the ProX recipe) (default line_tagger)")
    p.add_argument("--base", help="model of --kind to fine-tune: a location (path or s3://; "
                   "a Hugging Face folder or a prox artifact), 'default' (as prox refine "
                   "--model default) or 'promoted' (the model promoted as --name in --output, "
                   "else in --catalog)")
    p.add_argument("--epochs", type=positive_number, default=12,
                   help="passes over the training documents (line_tagger: whole epochs, the "
                   "best one kept) (default 12)")
    p.add_argument("--max-steps", type=positive_int,
                   help="causal_lm: optimizer steps, instead of --epochs")
    p.add_argument("--learning-rate", type=learning_rate,
                   help="peak learning rate (default: the kind's, 0.003 line_tagger, 0.002 "
                   "causal_lm)")
    p.add_argument("--random-seed", type=int, default=0,
                   help="seed of the weights and the batch order (default 0)")
    p.add_argument("--threads", type=positive_int, default=2,
                   help="CPU threads for training and evaluation (default 2)")
    p.add_argument("--valid-percent", type=percent, default=10,
                   help="percent of the seed rows held out for validation when the seed set "
                   "has no validation split (default 10)")
    p.add_argument("--max-eval-docs", type=positive_int,
                   help="evaluate on at most this many validation documents (the first ones "
                   "of the validation split), and calibrate the keep threshold and choose the "
                   "epoch on at most this many with gold (the first ones with gold; "
                   "--select-epoch teacher chooses it on the evaluated ones); the same pages "
                   "every run (default: all)")
    p.add_argument("--chunk-tokens", type=positive_int, default=256,
                   help="causal_lm: chunk budget in the model's tokens (default 256)")
    p.add_argument("--batch-tokens", type=positive_int, default=4096,
                   help="causal_lm: padded tokens per micro-batch (default 4096)")
    p.add_argument("--grad-accum", type=positive_int, default=1,
                   help="causal_lm: micro-batches per optimizer step (default 1)")
    p.add_argument("--bf16", action="store_true", help="causal_lm: bfloat16 autocast")
    p.add_argument("--tiny-config", type=json.loads,
                   help='embedded tiny LM size as JSON, e.g. \'{"hidden_size": 256}\'')
    p.add_argument("--work-dir", help="checkpoint folder (a rerun resumes from it)")
    p.add_argument("--retrain", action="store_true",
                   help="train even when --output holds the model a training of the same seed "
                   "set, settings and code published (by default that one is returned: "
                   "already trained)")
    booking = p.add_mutually_exclusive_group()
    booking.add_argument(
        "--catalog",
        help="catalog URL to register the model in; the gold gate's incumbent is then the "
        "one promoted last there when --output has none (default: PROX_CATALOG_URL, else "
        "$PROX_HOME/catalog.sqlite, when --output is the default registry, "
        "PROX_MODEL_REGISTRY else $PROX_HOME/registry: the pair prox refine reads; no "
        "catalog for a registry elsewhere)",
    )
    booking.add_argument(
        "--no-catalog", action="store_true",
        help="register the model in no catalog (the registry only)",
    )  # fmt: skip
    p.add_argument("--no-promote", action="store_true", help="publish without promoting")
    p.add_argument("--no-gold-gate", action="store_true",
                   help="skip the human-gold comparison with the incumbent (not recommended: "
                   "into a registry with nothing promoted, the candidate is then promoted "
                   "without being compared with the shipped default)")
    p.add_argument("--gold-set", help="JSONL(.gz) rows with text and gold_text instead of the "
                   "shipped gold set")
    p.add_argument("--gold-docs", type=positive_int,
                   help="score at most this many gold documents")
    p.add_argument("--backend", choices=["vllm", "transformers", "tagger"],
                   help="inference backend of the evaluation (default: the one `prox refine` "
                   "picks, so promotion measures what production runs; not openai: its "
                   "servers do not serve the candidate)")
    p.add_argument("--recall-target", type=share_or_off, default=0.95,
                   help="line_tagger: calibrate the keep threshold on validation documents with "
                   "gold (the first --max-eval-docs of them) to this word recall at the best "
                   "precision (0: not calibrated: the model's threshold, 0.5 from scratch, "
                   "the base's when fine-tuning) (default 0.95)")
    p.add_argument("--select-epoch", choices=["teacher", "gold"], default="teacher",
                   help="line_tagger: keep the epoch with the best validation teacher agreement "
                   "(teacher) or the best word F1 against gold at the calibrated keep threshold "
                   "(gold; on the validation documents with gold the threshold is calibrated "
                   "on) (default teacher)")
    p.add_argument("--teacher-weight", type=named_weight, action="append", default=[],
                   metavar="TEACHER=W",
                   help="line_tagger: loss weight of the documents a teacher labeled (a seed "
                   "row's teacher field), e.g. diff=3; repeatable; others weigh 1")
    p.add_argument("--line-word-weight", type=number_or_zero, default=0.0,
                   help="line_tagger: weigh each line's loss by 1 + W * log(1 + words) "
                   "(default 0: every line alike)")
    p.add_argument("--remove-weight", type=positive_number, default=1.0,
                   help="line_tagger: loss weight of the lines the teacher removes (default 1: "
                   "as kept ones)")
    p.add_argument("--label-smoothing", type=below_one, default=0.0,
                   help="line_tagger: move the line targets this far toward 0.5 (default 0)")
    p.add_argument("--tagger-config", type=json.loads,
                   help='line_tagger architecture of a model trained from scratch (not with '
                   '--base) as JSON, e.g. \'{"dilations": [1, 2, 4, 8, 16]}\'')
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run, stopped_hint=stopped_hint)


def run(args) -> Outcome:
    from prox_tasks.pipeline import settings
    from prox_tasks.registry import ModelNotBooked
    from prox_tasks.storage.tempfiles import check_scratch_dir
    from prox_tasks.training.run import TrainJob, run_training

    # SettingInvalid, exit 2, before the seed set is read: the default work folder is made
    # in PROX_TMPDIR only once the seed set is read (its key), minutes into a large one
    check_scratch_dir()
    # the default registry's models are booked in the default catalog, as the DAG's are in
    # its run's: `prox catalog status` counts what prox refine can take
    args.catalog = None if args.no_catalog else settings.registry_catalog(args.output,
                                                                          args.catalog)

    job = TrainJob(
        seed=args.seed, output=args.output, name=args.name, kind=args.kind, base=args.base,
        epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.learning_rate,
        seed_value=args.random_seed, threads=args.threads, valid_percent=args.valid_percent,
        max_eval_docs=args.max_eval_docs, chunk_tokens=args.chunk_tokens,
        batch_tokens=args.batch_tokens, grad_accum=args.grad_accum, bf16=args.bf16,
        tiny=args.tiny_config,
        work_dir=args.work_dir, catalog=args.catalog, promote=not args.no_promote,
        gold_gate=not args.no_gold_gate, gold_set=args.gold_set, gold_docs=args.gold_docs,
        backend=args.backend,
        recall_target=args.recall_target or None, select_epoch=args.select_epoch,
        teacher_weights=dict(args.teacher_weight) or None, line_word_weight=args.line_word_weight,
        remove_weight=args.remove_weight, label_smoothing=args.label_smoothing,
        tagger=args.tagger_config, retrain=args.retrain,
    )  # fmt: skip
    try:
        with progress_bar(args, "train", "phase") as bar:
            record = run_training(job, progress=bar, on_work_folder=lambda folder: setattr(
                args, "work_folder", str(folder)))
    except ModelNotBooked as err:
        raise not_booked(err) from err
    return Outcome(summary_line(record) + elsewhere_note(args, record), record)


def not_booked(err) -> Exception:
    """The command's account of a model published but not booked in its catalog
    (:class:`~prox_tasks.registry.ModelNotBooked`): the model is there, a rerun books it
    (it finds the model trained), ``--no-catalog`` skips booking; the cause's own exit code
    (1: a database to start, 2: a setting to fix)."""
    from prox_tasks.cli.errors import CommandFailed, describe_error, exit_code

    published = err.record
    return CommandFailed(
        f"the model {published['name']} {published['version']} is published in "
        f"{published['uri']}, but booking it in the catalog {err.catalog} failed "
        f"({describe_error(err.__cause__)}); run the same prox train again once the catalog "
        "can be written: it finds the model trained, books it and goes on (gold gate, "
        "promotion), or add --no-catalog to skip booking", code=exit_code(err.__cause__))


def elsewhere_note(args, record: dict) -> str:
    """What the line adds when a model was promoted where ``prox refine`` does not look: it
    takes the promoted model from PROX_MODEL_REGISTRY (else $PROX_HOME/registry), then from
    the default catalog; a registry elsewhere with no --catalog there left a user refining
    with the shipped model while the line said "promoted"."""
    from prox_tasks.pipeline import settings
    from prox_tasks.storage import same_uri

    refine_reads = settings.registry_root()
    if not record.get("promoted") or same_uri(args.output, refine_reads):
        return ""
    from prox_tasks.registry import ModelRegistry

    if args.catalog and args.catalog == settings.catalog_url() and \
            ModelRegistry(refine_reads).promoted(args.name) is None:
        # booked in the catalog prox refine consults after its registry, which holds no
        # promoted model of its own (one there is what refine takes)
        return ""
    import os

    # absolute: an export of a relative path names another folder once the shell moves on
    output = args.output if "://" in args.output else os.path.abspath(args.output)
    return (f"; prox refine takes the promoted model from {refine_reads} (PROX_MODEL_REGISTRY, "
            f"else $PROX_HOME/registry), not from {output}: export "
            f"PROX_MODEL_REGISTRY={output} (or prox refine --model {record['uri']})")


def summary_line(record: dict) -> str:
    """``trained refiner v3 (line_tagger): word F1 0.812, line F1 ...; promoted: reason``;
    ``already trained: refiner v3 ...`` when the registry held it (``reused``)."""
    metrics = record.get("metrics") or {}
    scores = ", ".join(f"{k.replace('_', ' ')} {metrics[k]:.3f}"
                       for k in ("word_f1", "line_f1", "doc_f1")
                       if isinstance(metrics.get(k), (int, float)))
    decision = ("not decided (--no-promote)" if "promoted" not in record else
                f"{'promoted' if record['promoted'] else 'not promoted'}: {record['reason']}")
    seed = record.get("seed_set") or {}
    from prox_tasks.training.seedset import left_out

    said = left_out(seed, "seed row")
    said = f"; {said}" if said else ""
    trained = ("already trained: " if record.get("reused") else "trained ")
    again = (" (the same seed set, settings and code trained it before: --retrain trains "
             "again)") if record.get("reused") else ""
    return (f"{trained}{record['name']} {record['version']} ({record['kind']}){again}: "
            f"{scores or 'no metrics'}{threshold_note(record)}; {decision}{said} -> "
            f"{record['uri']}")


def threshold_note(record: dict) -> str:
    """``; keep threshold 0.85 (calibrated ...)`` of a tagger's training, or that it was not
    calibrated (fewer than 20 validation pages with gold: the model's stays, 0.5 from
    scratch, which only ``--json``'s ``train.calibration`` null said); empty when no
    calibration was asked (``--recall-target 0``, a causal_lm)."""
    train = record.get("train") or {}
    if "calibration" not in train:
        return ""
    calibration = train["calibration"]
    if not calibration:
        return ("; keep threshold not calibrated (fewer than 20 validation pages with gold: "
                f"the model's is kept; prox calibrate --gold PAGES --model {record['uri']} "
                "calibrates it on pages of yours)")
    point = calibration.get("point") or {}
    met = "meets" if calibration.get("met") else "does NOT meet"
    return (f"; keep threshold {calibration['threshold']} (calibrated on "
            f"{calibration.get('docs')} validation pages with gold: 5th-percentile recall "
            f"{point.get('recall_low', point.get('recall', 0)):.3f} {met} "
            f"{calibration.get('min_recall')})")
