"""Names that become one path component (snapshot, release, seed-set and model names).

Every such name is checked here before it is joined into a path or an S3 key, so that
``../../elsewhere``, ``a/b`` or an absolute path can never write outside its root — whether
the name comes from a DAG Param, a CLI option or a library call.
"""

from __future__ import annotations

import re

#: One path component: a letter or digit first, then letters, digits, ``.``, ``_``, ``-``;
#: no ``..``. The DAG Params use the same pattern (JSON schema), so the UI refuses what the
#: library would. It ends with ``(?![\s\S])`` (nothing after), not ``$``: Airflow checks a
#: Param with ``re.search``, where ``$`` matches before a final line feed too (``crawl\n``
#: passed the form and failed the run's task); ECMAScript reads it the same.
NAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?![\s\S])"
_NAME = re.compile(NAME_PATTERN)


class InvalidName(ValueError):
    """A name that would not be one safe path component."""


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` when it is one safe path component (:data:`NAME_PATTERN`).

    Raises:
        InvalidName: ``name`` is empty, too long, holds ``/``, ``\\``, ``..`` or another
            character outside ``[A-Za-z0-9._-]``, or starts with ``.``, ``_`` or ``-``.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidName(f"invalid {what} {name!r}: use 1-128 letters, digits, '.', '_' or "
                          "'-', starting with a letter or digit (no '/', no '..')")
    return name


def safe_name(text: str) -> str:
    """``text`` made into a valid name (runs of other characters become ``_``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).replace("..", "_").strip("._-")
    return check_name(name[:128].rstrip("._-") or "unnamed")
