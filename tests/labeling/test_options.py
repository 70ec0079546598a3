"""One table of teacher option kinds and ranges (prox_tasks.labeling.options), checked alike
by a library caller (get_teacher), prox label and the seed DAG's teacher_options Param."""

from __future__ import annotations

import pytest

from prox_tasks.cli import main
from prox_tasks.labeling import get_teacher
from prox_tasks.labeling.options import check_teacher_options, option_ranges


@pytest.mark.parametrize(("name", "options", "says"), [
    ("diff", {"keep_threshold": 5}, "option 'keep_threshold' must be in (0, 1], not 5.0"),
    ("diff", {"keep_threshold": "high"}, 'option \'keep_threshold\' is "high", the diff '
     "teacher takes a number there (default 0.5)"),
    ("rules", {"max_chunk_tokens": 0}, "option 'max_chunk_tokens' must be at least 1, not 0"),
    ("html", {"extract_timeout": 0}, "option 'extract_timeout' must be a finite number of seconds above 0"),
    ("llm", {"model": "m", "base_url": "http://127.0.0.1:9/v1", "concurrency": 0},
     "option 'concurrency' must be at least 1, not 0"),
    ("best", {"fallback": "rules", "fallback_options": {"max_chunk_tokens": -1}},
     "option 'max_chunk_tokens' in fallback_options (the rules fallback) must be at least 1"),
    ("rules", {"bogus": 1}, "teacher 'rules' takes no option 'bogus'"),
])  # fmt: skip
def test_a_library_caller_gets_the_checks_the_seed_dag_makes(name, options, says):
    """get_teacher built a diff teacher with keep_threshold 5 (every line then removed), a
    rules teacher with max_chunk_tokens 0 (no chunk program) and an llm teacher with
    concurrency 0 (failing at its first batch): the range table was the seed DAG's alone
    (pipeline.seeding), and the html teacher kept a copy of one range. Every caller now
    checks by the one table, the DAG in its Param's words."""
    with pytest.raises(ValueError, match="fix the teacher's options") as err:
        get_teacher(name, **options)
    assert says in str(err.value)
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.pipeline.seeding import _check_teacher_options

    with pytest.raises(RunError) as dag:
        _check_teacher_options(name, options)
    assert str(dag.value) == str(err.value).replace(
        "fix the teacher's options", "fix the teacher_options Param"
    )


def test_prox_labels_teacher_flags_take_their_ranges_from_the_table(capsys):
    import argparse

    from prox_tasks.cli.label_cmd import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(), "label", "label")
    label = parser._subparsers._group_actions[0].choices["label"]
    types = {a.option_strings[0]: a.type for a in label._actions if a.option_strings}
    ranges = option_ranges()
    assert types["--html-timeout"] is ranges["extract_timeout"]
    assert types["--concurrency"] is ranges["concurrency"]
    assert types["--timeout"] is ranges["timeout"]
    with pytest.raises(SystemExit):
        main(["label", "--input", "x", "--output", "y", "--concurrency", "0"])
    assert "--concurrency: must be at least 1, not 0" in capsys.readouterr().err
    check_teacher_options("llm", {"concurrency": 1, "timeout": 0.5, "input_price_per_mtok": None})
