"""A package's names that load on first use (PEP 562's module ``__getattr__``).

DAG files import light modules of a package (its limits, its policy) while the scheduler
parses them every 30 s; the package's ``__init__`` must not load the heavy modules (readers,
writer, numpy) behind its other names with them. One helper, so every such package answers
``dir()``, ``from package import *`` and an unknown name the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """The ``__getattr__``, ``__dir__`` and ``__all__`` of ``package``, whose name ``n`` is
    ``where[n]``'s attribute ``n``, imported on first use.

    Use as ``__getattr__, __dir__, __all__ = lazy_names(__name__, {...})``.

    Args:
        package: the package's ``__name__`` (for the AttributeError's words).
        where: each public name -> the module that defines it.

    Returns:
        ``__getattr__`` (loads the module; AttributeError, as Python words it, for a name
        not in ``where``), ``__dir__`` (the package's own names and the lazy ones, loaded or
        not) and ``__all__`` (the lazy names, sorted).
    """
    where = dict(where)
    module = import_module(package)

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # Not kept in the package: a test that patches the defining module's name is seen
        # by every later ``from package import name``, as before.
        return getattr(import_module(where[name]), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(where))

    return __getattr__, __dir__, sorted(where)
