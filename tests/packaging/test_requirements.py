"""The requirement files install what prox imports with any pip a Python 3.11 venv brings.

``python3.11 -m venv`` brings pip 23.2, which compares a dependency's extra with the
provider's ``Provides-Extra`` as spelled (PEP 685 normalization came in pip 23.3): jusText
(trafilatura's) asks for ``lxml[html_clean]``, lxml provides ``html-clean``, pip 23.2 warns
"lxml 6.1.3 does not provide the extra 'html_clean'" and leaves ``lxml_html_clean`` out, and
the html teacher fails (``prox label --teacher html``: ``ImportError: lxml.html.clean module is
now a separate project``). What an extra spelled otherwise brings is named in the file itself.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def named_in(path: Path) -> dict[str, Requirement]:
    """The requirements a file names, by canonical name."""
    reqs = (
        Requirement(line.split("#", 1)[0].strip())
        for line in path.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    )
    return {canonicalize_name(req.name): req for req in reqs}


def _applies(req: Requirement, extras: set[str]) -> bool:
    """Whether ``req`` is installed for a dependent that asked for ``extras`` (normalized)."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in extras | {""})


def extras_an_old_pip_skips(top: dict[str, Requirement]) -> dict[str, list[str]]:
    """``{"provider[extra] (asked by dependent)": [requirements it brings]}`` over the installed
    closure of ``top``: extras asked for in a spelling the provider does not declare."""
    skipped: dict[str, list[str]] = {}
    todo = [(name, {canonicalize_name(e) for e in req.extras}) for name, req in top.items()]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not in this environment (vllm of the GPU file): nothing to walk
        for line in dist.requires or []:
            req = Requirement(line)
            if not _applies(req, extras):
                continue
            dep = canonicalize_name(req.name)
            try:
                provider = metadata.distribution(dep)
            except metadata.PackageNotFoundError:
                continue
            declared = provider.metadata.get_all("Provides-Extra") or []
            for extra in req.extras:
                if extra in declared:
                    continue
                brought = [
                    str(Requirement(r))
                    for r in provider.requires or []
                    if Requirement(r).marker is not None
                    and Requirement(r).marker.evaluate({"extra": canonicalize_name(extra)})
                    and not Requirement(r).marker.evaluate({"extra": ""})
                ]
                skipped[f"{dep}[{extra}] (asked by {name})"] = brought
            todo.append((dep, {canonicalize_name(e) for e in req.extras}))
    return skipped


@pytest.mark.parametrize("path", ["requirements.txt", "requirements-gpu.txt"])
def test_what_an_extra_spelled_otherwise_brings_is_named_in_the_file(path):
    top = named_in(REPO / path)
    skipped = extras_an_old_pip_skips(top)
    if path == "requirements.txt":
        # the case found: trafilatura -> jusText -> lxml[html_clean] -> lxml_html_clean
        assert "lxml[html_clean] (asked by justext)" in skipped
    missing = {
        asked: [r for r in brought if canonicalize_name(Requirement(r).name) not in top]
        for asked, brought in skipped.items()
    }
    missing = {asked: brought for asked, brought in missing.items() if brought}
    assert not missing, (
        f"{path} leaves out what these extras bring (pip 23.2 of a "
        f"python3.11 venv skips them): {missing}; name them in {path}"
    )
