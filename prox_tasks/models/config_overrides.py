"""Checked overrides of a model's architecture dataclass (``--tagger-config``, ``--tiny-config``).

A training's overrides are user input: a typo'd field (``{"dilation": [1, 2]}``) used to be
dropped unseen (the default architecture trained) or to fail deep in torch after the seed set
was read (``{"dilations": 3}``: ``'int' object is not iterable``). :func:`checked_overrides`
refuses both up front, naming the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import math


def checked_overrides(cls, overrides, what: str):
    """``cls`` built from its defaults and ``overrides``, every field checked.

    A field whose default is a whole number takes a whole number, at least 1 (at least 0
    when the default is 0: a feature off); a yes/no field ``true`` or ``false``; a number
    field a finite number from 0 to 1 (the thresholds); a tuple field a list of whole
    numbers of at least 1 (the dilations; empty: no context layer, each line on its own, as
    bench/train.py's ``tagger-nocontext`` ablation trains it).

    Args:
        cls: The architecture dataclass (:class:`~prox_tasks.models.line_tagger.TaggerConfig`,
            :class:`~prox_tasks.models.tiny_lm.TinyLMConfig`).
        overrides: The fields to change, a JSON object (``None``: none).
        what: How the error names the overrides (``--tagger-config``).

    Returns:
        The ``cls`` instance.

    Raises:
        ValueError: ``overrides`` is not an object, names a field ``cls`` lacks, or gives a
            value not of its field's kind; the message names ``what`` and the field.
    """
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ValueError(f"{what} must be a JSON object of fields, not {overrides!r}")
    defaults = cls()
    fields = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            meant = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {meant[0]!r}?)" if meant else ""
            raise ValueError(f"{what}: unknown field {key!r}{hint}; its fields are "
                             f"{', '.join(fields)}")  # fmt: skip
        values[key] = _checked(getattr(defaults, key), value, f"{what} {key!r}")
    return dataclasses.replace(defaults, **values)


def _checked(default, value, named: str):
    """``value`` for a field whose default is ``default``, or ValueError naming it."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{named} must be true or false, not {value!r}")
        return value
    if isinstance(default, int):
        least = 0 if default == 0 else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{named} must be a whole number of at least {least}, not {value!r}")
        return value
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 <= value <= 1:
            raise ValueError(f"{named} must be a number from 0 to 1, not {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value
        ):
            raise ValueError(f"{named} must be a list of whole numbers of at least 1, "
                             f"not {value!r}")  # fmt: skip
        return tuple(value)
    return value
