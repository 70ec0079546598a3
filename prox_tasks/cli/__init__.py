"""The ``prox`` command: one subcommand per pipeline stage (``prox COMMAND --help``).

Each subcommand's module in :data:`SUBCOMMANDS` defines ``register(subparsers)``, which adds
its parser and sets ``func`` to a callable taking the parsed arguments and returning an
:class:`~prox_tasks.cli.output.Outcome`: every command ends with one human summary line on
stdout, or its JSON result with ``--json``, and long work shows a progress bar on stderr when
stderr is a terminal (:mod:`prox_tasks.cli.output`). Modules are imported lazily so
``prox execute`` never pays for torch or Airflow imports.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback

import prox_tasks
from prox_tasks.cli.arguments import description
from prox_tasks.cli.errors import describe_error, exit_code, missing_dependency
from prox_tasks.cli.output import add_output_options, emit, stdout_for_the_result, wants_json
from prox_tasks.termination import Terminated, raise_on_sigterm, stop_behind
from prox_tasks.wording import for_terminal

# (subcommand, module under prox_tasks.cli, one-line help)
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("execute", "execute_cmd", "run stored programs over JSONL rows"),
    ("plan", "plan_cmd", "split a snapshot into shards and write the manifest"),
    ("label", "label_cmd", "label documents with a teacher (rules, diff, html, llm, best)"),
    ("eval", "eval_cmd", "word-level precision/recall/F1 of refined texts against gold"),
    ("train", "train_cmd", "train and evaluate a refining model"),
    ("calibrate", "calibrate_cmd", "calibrate a tagger's keep threshold on pages with gold"),
    ("refine", "refine_cmd", "refine a corpus with a model (outside Airflow)"),
    ("gate", "gate_cmd", "run the data-quality gate over a refined snapshot"),
    ("release", "release_cmd", "release a refined snapshot that passed its gate"),
    ("catalog", "catalog_cmd", "inspect or migrate the SQL catalog"),
    ("models", "models_cmd", "list a model's versions in the registry, show one, promote one "
     "by hand (rollback)"),
]

#: The subcommands that draw no progress bar (they read no documents), so take no
#: ``--no-progress``; every other one passes :func:`~prox_tasks.cli.output.progress_bar` to
#: the library.
NO_PROGRESS_BAR = frozenset({"gate", "release", "catalog", "models"})


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prox", description=description(__doc__.splitlines()[0]))
    # which prox, and where it is installed: a wheel's environment, a checkout (docs/deploy.md
    # ties a snapshot's shipped model to the installation that refined it)
    installed = os.path.dirname(prox_tasks.__file__)
    parser.add_argument("--version", action="version",
                        version=f"prox {prox_tasks.__version__} ({installed})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module, help_text in SUBCOMMANDS:
        if wanted is not None and wanted != name:
            # Only the requested subcommand is imported; others are listed by name.
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        try:
            mod = importlib.import_module(f"prox_tasks.cli.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"prox_tasks.cli.{module}":
                raise
            continue  # stage not built yet
        mod.register(sub, name, help_text)
        add_output_options(sub.choices[name], progress=name not in NO_PROGRESS_BAR)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A fault (bad input, I/O, S3, disk full, a bug) ends with one line
    on stderr — ``prox COMMAND: what failed`` — and exit code 1, or 2 for a setting, option
    or input to fix that running the same command again cannot get past
    (:func:`~prox_tasks.cli.errors.exit_code`; the DAGs fail such a task without retries),
    130 on Ctrl-C, 143 on SIGTERM; ``-v`` (before or after the subcommand) prints the full traceback as well."""
    process = argv is None  # the process's own command (not a call from Python code)
    # SIGTERM (Airflow, Kubernetes, docker stop): the same clean-up as Ctrl-C (temporary
    # files removed, the catalog's attempt booked as failed), for the whole command
    with raise_on_sigterm() if process else contextlib.nullcontext():
        return _run(argv, process)


def log_to_stderr(verbose: bool) -> None:
    """Every subcommand's log records on stderr alike: warnings as their message, as a line
    for a person; with ``-v`` also the INFO records, with their level and logger. (prox
    refine and prox train set this up apiece, as ``WARNING:prox_tasks.…:`` lines; the
    others printed warnings bare and ``-v`` logged nothing more.) A no-op where logging is
    already set up (a host program, pytest)."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    else:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from prox_tasks.redaction import install

    install()  # the handler made here filtered too: a message's terminal controls shown


def _run(argv: list[str] | None, process: bool) -> int:
    from prox_tasks.redaction import install
    from prox_tasks.refine import collector

    if process:
        collector.collect_less_often()  # a command's imports and batches: fewer passes
        if "--no-progress" in sys.argv or not sys.stderr.isatty():
            # no bars at all, the libraries' included (transformers' "Loading weights",
            # huggingface_hub's); read when they are imported, so before any is
            os.environ.setdefault("TQDM_DISABLE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    install()  # every printed line and log record of every subcommand goes through redact()
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") for a in argv)
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    try:
        parser = build_parser(argv)  # imports the subcommands' modules, and the stack's
    except ModuleNotFoundError as err:
        if (missing := missing_dependency(err)) is None:
            raise
        if verbose:
            traceback.print_exc()
        print(f"prox: {missing}", file=sys.stderr)
        return 2
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log more, and print the full traceback of an error")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # refused by the subcommand: its usage lists the options it takes
        _refuse_unknown(parser, args, unknown)
    args.verbose = verbose
    log_to_stderr(verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with stdout_for_the_result() if process else contextlib.nullcontext():
            code = emit(args.func(args), wants_json(args))
        if process:
            collector.skip_final_collection()
        return code
    except KeyboardInterrupt as stop:
        return _stopped(args, stop, process)
    except Exception as err:  # noqa: BLE001 - every fault gets one readable line
        if (stop := stop_behind(err)) is not None:  # a stop come out of compiled code
            return _stopped(args, stop, process)
        if verbose:
            traceback.print_exc()
        if (missing := missing_dependency(err)) is not None:  # before describe_error: it
            print(f"prox {args.command}: {missing}", file=sys.stderr)  # imports the stack
            return 2
        print(f"prox {args.command}: {for_terminal(describe_error(err))}"
              + ("" if verbose else " (-v for the traceback)"), file=sys.stderr)
        return exit_code(err)


def _refuse_unknown(parser, args, unknown: list[str]) -> None:
    """Exit 2 on arguments no parser took, with the usage of the subcommand (or of its action:
    ``prox catalog report``), as the top-level one lists none of its options, and the
    nearest option to each misspelt one."""
    import difflib

    command = parser
    while True:  # down to the action chosen (``prox models promote``), whose options these are
        commands = next((a for a in command._actions
                         if isinstance(a, argparse._SubParsersAction)), None)
        chosen = commands.choices.get(getattr(args, commands.dest, None) or "") \
            if commands else None  # fmt: skip
        if chosen is None:
            break
        command = chosen
    options = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
    near = [match[0] for arg in unknown if arg.startswith("--") for match in
            [difflib.get_close_matches(arg.split("=")[0], options, n=1, cutoff=0.75)] if match]
    command.error(f"unrecognized arguments: {' '.join(unknown)}"
                  + (f" (did you mean {'? '.join(near)}?)" if near else ""))


def _stopped(args, stop: KeyboardInterrupt, process: bool) -> int:
    """Says that ``stop`` (SIGTERM, Ctrl-C) ended the command; its exit code (143, 130).

    In the process's own command (``process``) the interpreter's last collection is skipped,
    as after a command that succeeded: its clean-up has run, and that collection walked
    every object the command left (a trained model's, its data's) after this line was
    printed, a Ctrl-C'd ``prox train`` exiting tens of seconds later on a busy host.
    """
    if process:
        from prox_tasks.refine import collector

        collector.skip_final_collection()
    if isinstance(stop, Terminated):
        print(f"prox {args.command}: terminated (SIGTERM){_stopped_hint(args)}",
              file=sys.stderr)  # fmt: skip
        return 143
    print(f"prox {args.command}: interrupted{_stopped_hint(args)}", file=sys.stderr)
    return 130


def _stopped_hint(args) -> str:
    """``": <what a rerun does>"`` for a command that sets ``stopped_hint`` (the text, or a
    function of the arguments giving it), else ``""``."""
    hint = getattr(args, "stopped_hint", None)
    hint = hint(args) if callable(hint) else hint
    return f": {hint}" if hint else ""


if __name__ == "__main__":
    sys.exit(main())
