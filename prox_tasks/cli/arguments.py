"""Argument types the subcommands share: a bad number is a usage error (exit 2) naming the
option, before any work, instead of a library's error deep in a run."""

from __future__ import annotations

import argparse


def description(docstring: str) -> str:
    """A module docstring as ``--help`` shows it: without the reStructuredText literal marks
    that read well in the code and the docs but not in a terminal."""
    return docstring.strip().replace("``", "")


def _whole(text: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        wanted = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise argparse.ArgumentTypeError(f"must be {wanted}, not {value}")
    return value


def field_name(text: str) -> str:
    """The name of a row's field (``--text-field``, ``--id-field``): not empty. No row holds a
    field named ``""``, so an empty name (a shell variable left unset) would give every
    document its text's hash as id, or quarantine every row, without naming the cause."""
    if not text:
        raise argparse.ArgumentTypeError("a field name, not empty")
    return text


def positive_int(text: str) -> int:
    """An integer of at least 1 (threads, documents, requests in flight)."""
    return _whole(text, 1)


def count_or_zero(text: str) -> int:
    """An integer of at least 0 (documents per checkpoint, 0 for none)."""
    return _whole(text, 0)


def percent(text: str) -> int:
    """A whole percentage from 0 to 99 (a split's share)."""
    return _whole(text, 0, 99)


def share(text: str) -> float:
    """A number in (0, 1] (a recall target, a keep threshold)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {value}")
    return value


def share_or_off(text: str) -> float:
    """0 (the setting off) or a number in (0, 1] (a recall target to calibrate to)."""
    try:
        return 0.0 if float(text) == 0 else share(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or in (0, 1], not {float(text)}"
                                         ) from None


def _real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_number(text: str) -> float:
    """A number more than 0 (epochs, a learning rate, a loss weight)."""
    value = _real(text)
    if not 0 < value < float("inf"):  # nan and inf too
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value:g}")
    return value


def learning_rate(text: str) -> float:
    """A learning rate: more than 0, and no more than the optimizer can step with
    (:data:`~prox_tasks.training.divergence.MAX_LEARNING_RATE`)."""
    from prox_tasks.training.divergence import ADAM_BETA1, MAX_LEARNING_RATE

    value = positive_number(text)
    if value > MAX_LEARNING_RATE:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_LEARNING_RATE:.2g} (AdamW's first step, the rate / "
            f"(1 - {ADAM_BETA1:g}), must fit a 32-bit float; the kinds' defaults are 0.003 and "
            f"0.002), not {value:g}")
    return value


def number_or_zero(text: str) -> float:
    """A number of at least 0 (a loss weight that may switch its term off)."""
    value = _real(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value:g}")
    return value


def below_one(text: str) -> float:
    """A number from 0 up to, not including, 1 (label smoothing)."""
    value = _real(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {value:g}")
    return value


def named_weight(text: str) -> tuple[str, float]:
    """``NAME=W`` (``diff=3``): a name and a weight of at least 0."""
    name, sep, value = text.partition("=")
    name = name.strip()
    try:
        weight = float(value) if sep and name else None
    except ValueError:
        weight = None
    if weight is None:
        raise argparse.ArgumentTypeError(f"wants TEACHER=NUMBER (e.g. diff=3), not {text}")
    if not 0 <= weight < float("inf"):
        raise argparse.ArgumentTypeError(f"{name}'s weight must be at least 0, not {weight:g}")
    return name, weight


def seconds(text: str) -> float:
    """A duration in seconds, finite and more than 0 (a request timeout), by the one parser
    of a setting in seconds (:func:`prox_tasks.pipeline.settings.seconds_value`): ``inf``
    passed here while ``PROX_OPENAI_TIMEOUT=inf`` was refused."""
    from prox_tasks.pipeline.settings import seconds_value

    try:
        return seconds_value(text)
    except ValueError as err:
        if not str(err):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds above 0, not "
                                         f"{text}") from None


def add_partition_marker_option(parser) -> None:
    """``--partition-marker`` of the commands that plan a snapshot (``plan``, ``refine``): the
    refine DAG's ``partition_marker`` Param (:mod:`prox_tasks.storage.marker`)."""
    parser.add_argument("--partition-marker", default=None, metavar="NAME",
                        help="refuse an --input folder without this completion marker (e.g. "
                        "_SUCCESS, which Spark writes last): a partition delivered in several "
                        "files may still be landing (default: PROX_PARTITION_MARKER, else "
                        "none)")


def require_partition_marker(args) -> None:
    """Refuse ``args.input`` without its completion marker, when one is configured
    (``--partition-marker``, else ``PROX_PARTITION_MARKER``), before anything is planned.

    Raises:
        ValueError: The marker is not a hidden file name, or not in the folder (naming both).
    """
    from prox_tasks.pipeline.settings import partition_marker
    from prox_tasks.storage.marker import require_marker

    require_marker(args.input, partition_marker(args.partition_marker))


def add_format_option(parser) -> None:
    """``--format`` of the commands that read input (``refine``, ``plan``, ``label``): its
    choices are the readers' formats (:data:`prox_tasks.corpus.readers.FORMATS`, which the
    DAGs' ``format`` Param is tied to), so no command offers fewer or more than they read."""
    from prox_tasks.corpus.readers import FORMATS

    parser.add_argument("--format", choices=list(FORMATS), default=None,
                        help="read every input file as this, whatever its name (Spark's "
                        "part-00000-….json files are JSON Lines); default: by each file's "
                        "name, other files in a folder skipped")
