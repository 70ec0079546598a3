"""The checks of a line tagger's ``refiner.json`` settings (its ``tagger`` object), without
torch or numpy: the plan task checks a model before anything is planned
(:func:`prox_tasks.refine.options.check_model_at`) and loads no model library to do so, and
:func:`prox_tasks.models.line_tagger.config_of` checks them the same way once loaded."""

from __future__ import annotations

from prox_tasks.models.artifact import RefinerSettingsDamaged

#: The settings of :class:`~prox_tasks.models.line_tagger.TaggerConfig` that count
#: something, by the least each may be.
_LEAST = {"buckets": 1, "embed_dim": 1, "hidden": 1, "chunk_tokens": 1, "section_channels": 0,
          "scan_channels": 0, "scan_memory": 0}  # fmt: skip


def tagger_settings_problems(tagger: dict) -> list[str]:
    """What is wrong with a ``refiner.json``'s ``tagger`` settings, each in words (empty:
    nothing): a count that is no whole number of at least its least (:data:`_LEAST`), a
    threshold outside (0, 1], a switch that is no true/false, dilations that are no list of
    whole numbers of at least 1. Settings this code does not know are left alone."""

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    problems = []
    for name, value in tagger.items():
        if name in _LEAST and not (whole(value) and value >= _LEAST[name]):
            problems.append(f"{name} is {value!r}, not a whole number of at least {_LEAST[name]}")
        elif name in ("line_threshold", "doc_threshold") and not (
                isinstance(value, int | float) and not isinstance(value, bool)
                and 0.0 < value <= 1.0):  # fmt: skip
            problems.append(f"{name} is {value!r}, not a number in (0, 1]")
        elif name in ("kept_stats", "section_reads_lines", "rules_head") and not isinstance(
                value, bool):  # fmt: skip
            problems.append(f"{name} is {value!r}, not true or false")
        elif name == "dilations" and not (isinstance(value, list) and value and all(
                whole(d) and d >= 1 for d in value)):  # fmt: skip
            problems.append(f"dilations is {value!r}, not a list of whole numbers of at least 1")
    return problems


def check_tagger_settings(settings: dict, where: object) -> dict:
    """The ``tagger`` settings of a line tagger's ``refiner.json`` (``settings``; ``where``
    its location, named in the error), checked (:func:`tagger_settings_problems`).

    Raises:
        RefinerSettingsDamaged: They are no object, or of the wrong types or out of range:
            a TaggerConfig built from them failed only once a shard loaded the weights, as a
            bare TypeError of torch's ("empty(): argument 'size' ...") naming no file.
    """
    tagger = settings.get("tagger", {})
    problems = (tagger_settings_problems(tagger) if isinstance(tagger, dict)
                else [f"its tagger is a JSON {type(tagger).__name__}, not an object"])  # fmt: skip
    if problems:
        raise RefinerSettingsDamaged(
            f"{where}: {'; '.join(problems)}: the line tagger's settings are damaged (edited "
            "by hand?); put back the refiner.json the model was published with, or fetch or "
            "publish the model again"
        )
    return tagger
