"""What the README and docs/*.md name exists: every ``PROX_*`` environment variable is read
by the code (and every one the code reads is named), every option shown after ``prox
COMMAND`` is an option of that command, and the README's two commands are what the scripts
and ``.ci/run`` run. A data team follows these pages literally in its first week."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: Where a variable the docs name may be read: the library, DAGs, plugins, scripts, the
#: deployment files, the benches, and the tests (``PROX_TEST_*`` settings of the suite).
CODE_FOLDERS = ("prox_tasks", "dags", "plugins", "scripts", "deploy", "bench", "tests")
CODE_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".example", ""}
VARIABLE = re.compile(r"\bPROX_[A-Z0-9_]*[A-Z0-9]\b")


def _docs_text() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in DOCS}


def _code_text(folders=CODE_FOLDERS) -> str:
    parts = []
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix in CODE_SUFFIXES
                and "__pycache__" not in path.parts
                and path.stat().st_size < 1_000_000
            ):
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def _dynamic_variables() -> set[str]:
    """The variables built from a field name: ``PROX_GATE_<THRESHOLD>`` (the gate's
    defaults) and ``PROX_<LIMIT>`` (the refine limits)."""
    from prox_tasks.quality import GateThresholds
    from prox_tasks.refine.limits import Limits

    return {f"PROX_GATE_{f.name.upper()}" for f in fields(GateThresholds)} | {
        f"PROX_{f.name.upper()}" for f in fields(Limits)
    }


def _documented_variables() -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for path, text in _docs_text().items():
        for name in VARIABLE.findall(text):
            named.setdefault(name, []).append(path.name)
    return named


def test_every_variable_the_docs_name_is_read_by_the_code():
    code = _code_text()
    dynamic = _dynamic_variables()
    missing = {
        name: sorted(set(where))
        for name, where in _documented_variables().items()
        if name not in dynamic and not re.search(rf"\b{name}\b", code)
    }
    assert not missing, f"named in the docs, read nowhere: {missing}"


def test_every_variable_the_code_reads_is_named_in_the_docs():
    read = set()
    for folder in ("prox_tasks", "dags", "plugins", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            read.update(
                re.findall(r"[\"'](PROX_[A-Z0-9_]*[A-Z0-9])[\"']", path.read_text(encoding="utf-8"))
            )
    documented = set(_documented_variables())
    assert not read - documented, f"read by the code, named in no doc: {sorted(read - documented)}"


def _options_of_each_command() -> dict[str, set[str]]:
    """``prox`` subcommand (``catalog list`` for a catalog action) -> its option strings."""
    import argparse

    from prox_tasks.cli import build_parser

    def subparsers(parser):
        return next(
            (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {}
        )

    def options(parser):
        return {s for a in parser._actions for s in a.option_strings}

    found = {}
    for name, command in subparsers(build_parser()).items():
        found[name] = options(command)
        for action, parser in subparsers(command).items():
            found[f"{name} {action}"] = options(parser) | found[name]
    return found


def _command_lines():
    """Each ``prox COMMAND …`` the docs show, in code blocks (continuation lines joined) and in
    inline code, with the options written after it (comments left out)."""
    for path, text in _docs_text().items():
        spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
            spans += re.sub(r"\\?\n\s{4,}(?=\[|--)", " ", block).split("\n")
        for span in spans:
            for found in re.finditer(r"\bprox (\w+)((?:(?!\bprox ).)*)", span):
                yield path.name, found.group(1), found.group(2).split(" #")[0], span


def test_every_option_the_docs_show_is_an_option_of_its_command():
    commands = _options_of_each_command()
    wrong = []
    shown = 0
    for doc, command, rest, span in _command_lines():
        if command not in commands:
            if span.strip().startswith(f"prox {command}") and command != "COMMAND":
                wrong.append(f"{doc}: prox {command} is no command ({span.strip()[:80]})")
            continue  # within a message or a command line of another tool
        # an option belongs to the last action named before it (`prox models [--registry R]
        # promote V --reason T`, `prox models list|show V|promote V --reason T`)
        known = commands[command]
        for word in re.finditer(
            r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w…-])|(?<![\w-])[a-z]+(?![\w-])", rest
        ):
            if not word.group().startswith("--"):
                known = commands.get(f"{command} {word.group()}", known)
                continue
            option = word.group()
            shown += 1
            if option not in known and option.replace("--no-", "--") not in known:
                wrong.append(f"{doc}: prox {command} {option} ({span.strip()[:80]})")
    assert shown > 100, "the docs' command lines were not found"
    assert not wrong, "commands and options the docs show that prox does not take:\n" + "\n".join(
        wrong
    )


@pytest.mark.parametrize(
    "script, runs",
    [
        ("scripts/demo.sh", "python scripts/main_job.py"),
        ("scripts/test.sh", "python -m pytest"),
    ],
)
def test_the_readme_commands_are_what_the_scripts_and_ci_run(script, runs):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"bash {script}" in readme
    assert runs in (REPO / script).read_text(encoding="utf-8")
    assert "exec bash scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _layout_block() -> str:
    """The "Output layout" code block of docs/storage.md."""
    text = (REPO / "docs" / "storage.md").read_text(encoding="utf-8")
    return re.search(r"Output layout under `output_uri`:\n\n```\n(.*?)```", text, re.S).group(1)


def test_every_file_a_refined_gated_released_snapshot_holds_is_in_the_documented_layout(
    tmp_path, capsys
):
    """``prox refine`` (with the shipped tagger), ``prox gate``, ``prox release``: each name in
    the snapshot folder (and one level below) is listed in docs/storage.md's layout, and the
    release root holds ``latest.json`` and ``releases/<name>.json`` (docs/airflow.md)."""
    from prox_tasks.cli import main
    from tests.quality.snapshot_factory import write_input

    source = write_input(tmp_path / "in" / "crawl.jsonl", 30, garbage_lines=1)
    snapshot, root = tmp_path / "snap", tmp_path / "root"
    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    refine = ["refine", "--input", str(source), "--output", str(snapshot), "--target-docs", "20"]
    assert main([*refine, "--catalog", catalog, "--model", "default", "--no-progress"]) == 0
    assert main(["gate", "--snapshot", str(snapshot), "--catalog", catalog, "--name", "snap"]) == 0
    release = ["release", "--snapshot", str(snapshot), "--root", str(root), "--name", "snap"]
    assert main([*release, "--partition", "2026-01-05", "--catalog", catalog]) == 0
    capsys.readouterr()

    layout = _layout_block()
    written = [
        p
        for p in [*snapshot.iterdir(), *(snapshot / "_quality").iterdir()]
        if not p.name.startswith(".")
    ]
    undocumented = [
        p.name for p in written if (p.name + "/" if p.is_dir() else p.name) not in layout
    ]
    assert not undocumented, (
        f"in the snapshot folder, not in docs/storage.md's layout: {undocumented}"
    )
    released = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if not p.name.startswith(".")
    )
    assert released == ["latest.json", "releases", "releases/snap.json"]


def test_the_snapshot_names_docs_airflow_md_gives_are_the_ones_a_run_gets(tmp_path):
    """A dated run's snapshot is crawl-D, a named one its snapshot_name, and a manual run
    with neither a logical date nor a name ``run-<run id>``."""
    from prox_tasks.pipeline import refresh

    text = (REPO / "docs" / "airflow.md").read_text(encoding="utf-8")
    params = {"input_uri": str(tmp_path / "in"), "output_root": str(tmp_path / "corpus")}
    dated = refresh.resolve_snapshot(params, "2026-01-05", "scheduled__2026-01-05T00:00:00+00:00")
    assert dated["name"] == "crawl-2026-01-05" and "`<output_root>/snapshots/crawl-D`" in text
    named = refresh.resolve_snapshot({**params, "snapshot_name": "hotfix-1"}, None, "manual__x")
    assert named["output_uri"].endswith("/snapshots/hotfix-1")
    assert "`<output_root>/snapshots/<snapshot_name>`" in text
    undated = refresh.resolve_snapshot(params, None, "manual__2026-01-05T10:00:00+00:00")
    assert undated["name"] == "run-manual__2026-01-05T10_00_00_00_00" and "`run-<run id>`" in text


def test_every_repository_path_the_docs_name_exists():
    """Files and folders named in inline code (``tests/…py``, ``prox_tasks/…``, ``bench/…``,
    ``deploy/…``, ``scripts/…``, ``plugins/…``, ``dags/…``, ``data/…``); placeholders
    (``NNNNN``, ``<name>``, ``…``, ``{…}``, globs) are left out."""
    roots = ("prox_tasks/", "tests/", "bench/", "deploy/", "scripts/", "plugins/", "dags/", "data/")
    missing, checked = [], 0
    for path, text in _docs_text().items():
        for named in re.findall(r"`([A-Za-z0-9_./-]+)`", text):
            named = named.split(":")[0].rstrip("/.")
            if (
                not named.startswith(roots)
                or re.search(r"NNN|\*|<|\{", named)
                or named in ("deploy/.env",)  # made by the user from deploy/env.example
            ):
                continue
            checked += 1
            if not (REPO / named).exists():
                missing.append(f"{path.name}: {named}")
    assert checked > 40, "the docs' paths were not found"
    assert not missing, f"paths the docs name that do not exist: {sorted(set(missing))}"


def test_every_file_of_a_seed_set_folder_is_described_in_docs_teachers_md(tmp_path, capsys):
    """``prox label --seed-set``: each name in the folder is in docs/teachers.md's table of
    its files (or, for the work folders ``sample/`` and ``labels/``, the text after it)."""
    from prox_tasks.cli import main
    from tests.quality.snapshot_factory import write_input

    source = write_input(tmp_path / "in" / "crawl.jsonl", 30)
    seed = tmp_path / "seed"
    label = ["label", "--input", str(source), "--output", str(seed), "--seed-set"]
    assert main([*label, "--sample-size", "20", "--no-register", "--no-progress"]) == 0
    capsys.readouterr()
    text = (REPO / "docs" / "teachers.md").read_text(encoding="utf-8")
    described = text[text.index("| `train.jsonl.gz`") : text.index("For Airflow, the same work")]
    names = [p.name + ("/" if p.is_dir() else "") for p in seed.iterdir()]
    assert "params.json" in names and "manifest.json" in names
    undescribed = [n for n in names if not n.startswith(".") and f"`{n}" not in described]
    assert not undescribed, f"in a seed-set folder, not in docs/teachers.md: {undescribed}"


def _resolves(dotted: str) -> bool:
    """Whether ``prox_tasks.a.b.c`` is a module or an attribute of one."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_prox_tasks_name_and_import_the_docs_show_exists():
    """``prox_tasks.x.y`` in inline code, and ``from prox_tasks.x import a, b`` in examples."""
    named = set()
    for text in _docs_text().values():
        named |= set(re.findall(r"`(prox_tasks(?:\.\w+)+)", text))
        for module, imported in re.findall(r"from (prox_tasks[\w.]*) import ([\w, ]+)", text):
            named |= {f"{module}.{name.strip()}" for name in imported.split(",") if name.strip()}
    assert len(named) > 40
    missing = sorted(n for n in named if not _resolves(n))
    assert not missing, f"named in the docs, not in prox_tasks: {missing}"


def test_the_readme_names_the_files_whose_change_reinstalls_the_venv():
    """scripts/setup.sh skips the install while the hash of these files is unchanged."""
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    hashed = re.search(r'WANT="\$\(cat ([^|]+)\|', setup).group(1).split()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    stamp = readme[readme.index("a stamp file skips") :][:200]
    assert hashed and all(f"`{name}`" in stamp for name in hashed), (hashed, stamp)


def test_the_catalog_tables_docs_storage_md_lists_are_the_catalogs(tmp_path):
    """Each table row of docs/storage.md's catalog section names exactly the table's columns."""
    import sqlalchemy

    from prox_tasks.catalog import Catalog

    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    tables = sqlalchemy.inspect(catalog.engine)
    text = (REPO / "docs" / "storage.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", text[text.index("## The catalog") :], re.M))
    assert set(rows) == set(tables.get_table_names()) - {"schema_migrations"}
    for table, row in rows.items():
        columns = {c["name"] for c in tables.get_columns(table)}
        outside_parentheses = row
        while re.search(r"\([^()]*\)", outside_parentheses):
            outside_parentheses = re.sub(r"\([^()]*\)", "", outside_parentheses)
        named = {
            re.split(r"\s", part.strip())[0] for part in re.split(r",| and ", outside_parentheses)
        }
        named = {n for n in named if n}
        assert named == columns, (table, sorted(named - columns), sorted(columns - named))
    catalog.close()


def test_every_loopback_deployment_test_is_in_docs_deploy_md():
    """docs/deploy.md's "Tested on loopback" is what a team reads to know which production
    shapes were run here: every test module of ``tests/deploy/`` is named there (the
    production path end to end, ``test_production_path.py``, was not)."""
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Tested on loopback", 1)[1].split("\n## ", 1)[0]
    modules = sorted(p.name for p in (REPO / "tests" / "deploy").glob("test_*.py"))
    assert modules, "no tests/deploy/test_*.py found"
    assert [m for m in modules if f"`{m}`" not in section] == []


def test_docs_teachers_md_shows_every_option_of_prox_label():
    """docs/teachers.md's "Commands" is the reference of ``prox label``'s options: it left
    out ``--format`` and ``--html-timeout``. Every option is shown there now (but the ones
    every command takes: ``--help``, ``--json``, ``--no-progress``)."""
    text = (REPO / "docs" / "teachers.md").read_text(encoding="utf-8")
    block = text.split("\n## Commands\n", 1)[1].split("```", 2)[1]
    everywhere = {"-h", "--help", "--json", "--no-progress"}
    missing = sorted(o for o in _options_of_each_command()["label"] - everywhere
                     if not re.search(rf"{re.escape(o)}(?![\w-])", block))
    assert missing == []


@pytest.mark.parametrize(("command", "block"), [("train", 0), ("calibrate", 2)])
def test_docs_training_md_shows_every_option_of_prox_train_and_calibrate(command, block):
    """docs/training.md's synopses are the reference of ``prox train``'s and ``prox
    calibrate``'s options: the calibrate line left out ``--text-field``, ``--gold-field``,
    ``--min-docs`` and ``--threads``. Every option is shown there (but the ones every command
    takes: ``--help``, ``--json``, ``--no-progress``, and ``-v``'s long form)."""
    text = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    shown = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)[block]
    assert shown.lstrip().startswith(f"prox {command} ")
    everywhere = {"-h", "--help", "--json", "--no-progress", "--verbose"}
    missing = sorted(o for o in _options_of_each_command()[command] - everywhere
                     if not re.search(rf"{re.escape(o)}(?![\w-])", shown))
    assert missing == []


def test_the_readme_names_every_command_that_draws_no_progress_bar():
    """The README's "`gate`, `release` … draw none" is what a script that passes
    ``--no-progress`` to every command relies on; it left out ``prox models``."""
    from prox_tasks.cli import NO_PROGRESS_BAR

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    said = re.search(r"`--no-progress`: none at all; (.*?) draw none", readme, re.S)
    assert said, "the README no longer says which commands draw no progress bar"
    assert set(re.findall(r"`(\w+)`", said.group(1))) == NO_PROGRESS_BAR


def test_the_id_field_help_and_param_say_a_row_without_a_named_field_is_quarantined():
    """Rows without an id field named otherwise than ``id`` are quarantined ``missing_id``
    since 066d3e7, but the ``id_field`` Param's form text, ``prox plan --id-field`` and
    ``prox label --id-field`` still said such a row gets a hash of its text (what the
    default ``id`` does), and docs/storage.md opened its ids with the same line."""
    import argparse

    from prox_tasks.cli import build_parser
    from prox_tasks.pipeline.dag_config import read_params

    said = {"the id_field Param": read_params()["id_field"]["description"]}
    commands = next(a.choices for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction))
    for command in ("plan", "label"):
        [option] = [a for a in commands[command]._actions if "--id-field" in a.option_strings]
        said[f"prox {command} --id-field"] = option.help
    storage = (REPO / "docs" / "storage.md").read_text(encoding="utf-8")
    # its first sentence on ids: the paragraph after it says it of the first 100 rows only
    said["docs/storage.md"] = storage.split("\nA row without ", 1)[1].split(".\n", 1)[0]
    assert {where: "missing_id" in text for where, text in said.items()} == dict.fromkeys(
        said, True), said
