"""Where the benches find the public page collections, and what to say when they are missing.

The folder (DATA_DIR) is built from public repositories (bench/README.md, "Data for the
benches", names each one's commit and files); a bench takes it as ``--data DATA_DIR``, else
``$PROX_BENCH_DATA``, else a ``shared/data`` folder beside the checkout (or beside the folder
holding a worktree), where this project's developers keep their copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "PROX_BENCH_DATA"
#: The page collections of DATA_DIR (one folder per source), and the bundled sample's folder,
#: which the same pattern finds (``data/sample/sample.jsonl.gz``).
COLLECTIONS = "*/*.jsonl.gz"
SAMPLE_ROOT = ROOT / "data"
SECTION = "bench/README.md, section 'Data for the benches'"
#: Each file a bench reads, and the public source it is built from.
SOURCES = {
    "wcxb/wcxb_dev.jsonl.gz": "WCXB, Murrough-Foley/web-content-extraction-benchmark "
                              "@ c039d5ee (dev/html, dev/ground-truth, metadata.json)",
    "trafilatura_eval/trafilatura_eval.jsonl.gz": "adbar/trafilatura @ e90b0ef5 "
                                                  "(tests/evaldata.json, tests/eval, tests/cache)",
    "dclm_annotations/dclm_quality_annotations.jsonl.gz": "mlfoundations/dclm @ 361714bd "
                                                          "(data/majority_data.jsonl, "
                                                          "data/agreement_data.jsonl)",
}


def find() -> Path | None:
    """``$PROX_BENCH_DATA``, else ``shared/data`` beside the checkout when it exists, else None."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    beside = (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data")
    return next((p for p in beside if p.is_dir()), None)


def default() -> str:
    """The ``--data`` default: :func:`find`'s folder, else the one a developer would have
    beside the checkout (so a missing folder is named in :func:`require`'s error)."""
    return str(find() or ROOT.parent / "shared" / "data")


def require(folder: str | os.PathLike, *files: str) -> Path:
    """``folder`` when it holds ``files`` (paths under it; none: only that it is a folder).

    Raises:
        SystemExit: A missing folder or file, with what to download and how to pass it
            (a bench's one error line, no traceback).
    """
    root = Path(folder)
    missing = [f for f in files if not (root / f).is_file()]
    if root.is_dir() and not missing:
        return root
    what = "; ".join(f"{f} (from {SOURCES[f]})" if f in SOURCES else f for f in missing)
    state = "lacks" if root.is_dir() else "is not a folder; this bench reads"
    raise SystemExit(
        f"bench data: {root} {state} {what or 'the page collections'}. Build the folder from "
        f"the public sources in {SECTION}, then pass it with --data DATA_DIR or ${ENV}.")


def page_files(folder: str | os.PathLike) -> list[Path]:
    """The page collections (``*/*.jsonl.gz``) under ``folder``: DATA_DIR, or
    :data:`SAMPLE_ROOT` for the bundled sample.

    Raises:
        SystemExit: ``folder`` holds none (a typo in ``--pages`` or ``$PROX_BENCH_DATA``: the
            bench stops on it rather than measure other pages than asked).
    """
    files = sorted(Path(folder).glob(COLLECTIONS))
    if not files:
        state = "holds no" if Path(folder).is_dir() else "is not a folder of"
        raise SystemExit(
            f"bench data: {folder} {state} page collections ({COLLECTIONS}). Build DATA_DIR "
            f"from the public sources in {SECTION} and pass it with --pages DATA_DIR or ${ENV}; "
            f"without either the bench takes the bundled sample ({SAMPLE_ROOT}).")
    return files


def jsonl_rows(path: str | os.PathLike) -> Iterator[dict]:
    """The rows of a JSONL(.gz) file the benches read (DATA_DIR's collections, a bench seed
    set, the sample), in file order, by prox's one JSONL reader for rows
    (:func:`prox_tasks.corpus.read_rows`): a damaged line is an error naming its file and line."""
    from prox_tasks.corpus import read_rows

    for _source, _line, row in read_rows(str(path)):
        yield row


def page_rows(folder: str | os.PathLike) -> Iterator[dict]:
    """Every row with a text of :func:`page_files`, in file order (:func:`jsonl_rows`)."""
    for path in page_files(folder):
        for row in jsonl_rows(path):
            if isinstance(row.get("text"), str) and row["text"]:
                yield row


def page_texts(folder: str | os.PathLike) -> list[str]:
    """The texts of :func:`page_rows`."""
    return [row["text"] for row in page_rows(folder)]


def seed_file(folder: str | os.PathLike, split: str) -> Path:
    """The ``split`` file (``train``, ``validation``, ``test``) of the bench seed set in
    ``folder`` (built by bench/seedset.py from DATA_DIR).

    Raises:
        SystemExit: No such file: one line naming the folder and how to build it.
    """
    path = Path(folder) / f"{split}.jsonl.gz"
    if not path.is_file():
        raise SystemExit(
            f"bench seed set: {path} does not exist. Build the seed set with "
            f"`python bench/seedset.py --data DATA_DIR --teacher best --out {folder}` (or "
            f"`--resplit-from` a built one for another validation share; bench/README.md, "
            f"'Refining quality'), or name a built one (--seed-dir / --seed).")
    return path


#: The page HTML that DATA_DIR leaves out for size, by the option that names its folder: what
#: the folder holds (a glob under it) and where it comes from.
HTML_SOURCES = {
    "--html-dir": ("*.html.gz", "WCXB's dev/html, from Murrough-Foley/web-content-extraction-"
                                "benchmark @ c039d5ee"),
    "--wcxb-html": ("*.html.gz", "WCXB's dev/html, from Murrough-Foley/web-content-extraction-"
                                 "benchmark @ c039d5ee"),
    "--trafilatura-html": ("tests/eval/*", "a checkout of adbar/trafilatura @ e90b0ef5 (its "
                                           "tests/eval and tests/cache)"),
}


def require_html(folder: str | os.PathLike, option: str) -> Path:
    """``folder`` when it holds the page HTML ``option`` names (:data:`HTML_SOURCES`).

    Raises:
        SystemExit: A folder without it (a wrong path measured pages without HTML before):
            one line saying what the option takes and where it comes from.
    """
    pattern, source = HTML_SOURCES[option]
    root = Path(folder)
    if root.is_dir() and next(root.glob(pattern), None) is not None:
        return root
    raise SystemExit(f"bench data: {option} {folder} holds no page HTML ({pattern}); it takes "
                     f"{source}, which DATA_DIR leaves out for size ({SECTION}).")
