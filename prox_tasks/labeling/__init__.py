"""Teachers that write seed programs: ``rules`` (offline default), ``diff``, ``html``, ``llm``
and ``best`` (per document the best label it can have: diff, else html, else rules or llm).

Example:
    >>> from prox_tasks.labeling import get_teacher
    >>> teacher = get_teacher("rules")
    >>> label = teacher.label(text)          # Label(doc_program, chunk_program, meta)
"""

from __future__ import annotations

from prox_tasks.labeling.base import Label, Teacher

TEACHERS = ("rules", "diff", "html", "llm", "best")


def teacher_class(name: str) -> type[Teacher]:
    """The class of teacher ``name`` (one of :data:`TEACHERS`), imported on demand.

    Raises:
        ValueError: For an unknown teacher name.
    """
    if name == "rules":
        from prox_tasks.labeling.rules import RulesTeacher

        return RulesTeacher
    if name == "diff":
        from prox_tasks.labeling.diff import DiffTeacher

        return DiffTeacher
    if name == "html":
        from prox_tasks.labeling.html import HtmlTeacher

        return HtmlTeacher
    if name == "best":
        from prox_tasks.labeling.best import BestTeacher

        return BestTeacher
    if name == "llm":
        from prox_tasks.labeling.llm import LLMTeacher

        return LLMTeacher
    raise ValueError(f"unknown teacher {name!r}; choose one of {', '.join(TEACHERS)}")


def get_teacher(name: str, **options) -> Teacher:
    """Build a teacher by name (one of :data:`TEACHERS`) with constructor options, checked
    first (:func:`prox_tasks.labeling.options.check_teacher_options`: names, kinds, ranges).

    Raises:
        ValueError: For an unknown teacher name, or an option it does not take or of the
            wrong kind or out of its range.
    """
    from prox_tasks.labeling.options import check_teacher_options

    check_teacher_options(name, options)
    return teacher_class(name)(**options)


__all__ = ["TEACHERS", "Label", "Teacher", "get_teacher", "teacher_class"]
