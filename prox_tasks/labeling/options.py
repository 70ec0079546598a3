"""The teacher options' names, kinds and ranges: the one check every caller makes.

:func:`check_teacher_options` is what :func:`prox_tasks.labeling.get_teacher` runs (so a
library caller, ``prox label`` and the seed DAG's ``teacher_options`` Param are checked
alike), with the DAG saying it in the Param's words; ``prox label``'s teacher flags take
their argument types from :func:`option_type`, the same table.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable

#: The value each default's type takes from JSON (a ``teacher_options`` Param).
_JSON_KINDS = {bool: ("true or false", (bool,)), int: ("a whole number", (int,)),
               float: ("a number", (int, float)), str: ("a string", (str,))}  # fmt: skip


def option_ranges() -> dict[str, Callable[[str], object]]:
    """The range each numeric teacher option takes, by its name: the checks of ``prox``'s
    own options of that kind (:mod:`prox_tasks.cli.arguments`), so the Param, the library and
    the CLI say the same (``max_chunk_tokens: 0`` would write no chunk program at all)."""
    from prox_tasks.cli import arguments as kinds

    return {"max_sequence_words": kinds.positive_int, "max_chunk_tokens": kinds.positive_int,
            "min_fragment_words": kinds.positive_int, "keep_threshold": kinds.share,
            "concurrency": kinds.positive_int, "timeout": kinds.seconds,
            "max_retries": kinds.count_or_zero, "doc_max_tokens": kinds.positive_int,
            "chunk_max_tokens": kinds.positive_int, "max_output_tokens": kinds.positive_int,
            "temperature": kinds.number_or_zero, "input_price_per_mtok": kinds.number_or_zero,
            "output_price_per_mtok": kinds.number_or_zero,
            "extract_timeout": kinds.seconds}  # fmt: skip


def option_type(option: str) -> Callable[[str], object]:
    """The argparse ``type`` of a command-line flag that sets teacher option ``option``."""
    return option_ranges()[option]


def check_teacher_options(name: str, options: dict, fix: str = "fix the teacher's options",
                          where: str = "") -> None:  # fmt: skip
    """Refuse ``options`` teacher ``name`` does not take, or whose value is not of its
    default's kind (``"chunked": "no"`` would be true; ``"keep_threshold": "high"`` would fail
    every label), or out of its range (:func:`option_ranges`); the best teacher's
    ``fallback_options`` are checked against its ``fallback``. ``None`` is never refused (the
    default, or no limit).

    Args:
        name: The teacher's name.
        options: Its constructor options.
        fix: What the message tells the user to fix (the DAG: "fix the teacher_options Param").
        where: Where within the options they are (for ``fallback_options``).

    Raises:
        ValueError: Naming the option, its value and what it takes.
    """
    import argparse

    from prox_tasks.labeling import TEACHERS, teacher_class

    taken = inspect.signature(teacher_class(name)).parameters
    unknown = sorted(set(options) - set(taken))
    if unknown:  # said in the Param's words, not as Python's "__init__() got an unexpected"
        raise ValueError(
            f"teacher {name!r} takes no option {', '.join(map(repr, unknown))}"
            f"{where}: {fix} (the {name} teacher takes "
            f"{', '.join(taken) or 'none'}; docs/teachers.md)"
        )
    ranges = option_ranges()
    for option, value in options.items():
        kind = type(taken[option].default)
        if kind is type(None) and option in ranges:  # a price: none by default, else a number
            kind = float
        if kind not in _JSON_KINDS or value is None:
            continue
        said, types = _JSON_KINDS[kind]
        if not isinstance(value, types) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(
                f"teacher {name!r}: option {option!r}{where} is "
                f"{json.dumps(value, default=str)}, the {name} teacher takes "
                f"{said} there (default {json.dumps(taken[option].default)}): "
                f"{fix}"
            )
        if option in ranges and kind is not bool:
            try:
                ranges[option](str(value))
            except argparse.ArgumentTypeError as err:
                raise ValueError(
                    f"teacher {name!r}: option {option!r}{where} {err}: {fix} (docs/teachers.md)"
                ) from None
    fallback = options.get("fallback")
    if name == "best" and isinstance(fallback, str) and fallback in TEACHERS:
        check_teacher_options(
            fallback,
            options.get("fallback_options") or {},
            fix,
            f" in fallback_options (the {fallback} fallback)",
        )
