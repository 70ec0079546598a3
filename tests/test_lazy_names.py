"""The packages whose names load on first use answer as one: dir, import *, unknown names."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAZY_PACKAGES = ("prox_tasks.programs", "prox_tasks.refine")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_dir_lists_the_names_not_yet_loaded(package):
    """``dir()`` (tab completion, ``help``) listed only the package's own globals — the
    loader's table and ``import_module`` — none of its public names."""
    code = f"import {package} as p\nprint(sorted(set(p.__all__) - set(dir(p))), '_WHERE' in dir(p))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout  # fmt: skip
    assert out.split() == ["[]", "True"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_import_star_binds_every_public_name(package):
    namespace: dict = {}
    exec(f"from {package} import *", namespace)  # noqa: S102 -- the statement under test
    module = sys.modules[package]
    assert sorted(k for k in namespace if not k.startswith("__")) == module.__all__
    assert all(namespace[name] is getattr(module, name) for name in module.__all__)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_an_unknown_name_is_python_s_attribute_error(package):
    module = __import__(package, fromlist=["_"])
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018
    assert not hasattr(module, "nope")


def test_the_packages_share_one_loader():
    """One implementation of the idiom: each package's ``__getattr__`` comes from
    :func:`prox_tasks.lazy_names.lazy_names`, not a copy of its own."""
    for package in LAZY_PACKAGES:
        module = __import__(package, fromlist=["_"])
        assert module.__getattr__.__module__ == "prox_tasks.lazy_names"
