"""The llm teacher's pieces that need no server: prompts, answer parsing, secrets, cache.

The protocol itself (requests, retries, cache, usage) is tested against a real vLLM server
in test_llm_vllm.py.
"""

import json

import pytest

from prox_tasks.labeling.cache import ResponseCache, cache_key
from prox_tasks.labeling.chat_client import Usage
from prox_tasks.labeling.prompts import (
    check_chunk_program,
    chunk_messages,
    doc_messages,
    extract_program,
    keep_by_scores,
    parse_scores,
)
from prox_tasks.labeling.secrets import connection_endpoint, resolve_endpoint
from prox_tasks.redaction import Redactor


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("Educational score: 3\nFormat score: 4", (3, 4)),
        ("**Educational Score:** 2\n**Format Score:** 5", (2, 5)),
        ("educational score = 0, format score: 1. Reasoning...", (0, 1)),
        ("Educational score: 7\nFormat score: 2", None),  # out of scale
        ("Educational score: 3", None),
        ("I think it is good.", None),
        ("", None),
    ],
)
def test_parse_scores(answer, expected):
    assert parse_scores(answer) == expected


def test_keep_rule_of_the_paper():
    assert keep_by_scores(3, 0) and keep_by_scores(5, 5)
    assert keep_by_scores(2, 4) and not keep_by_scores(2, 3)
    assert not keep_by_scores(1, 5) and not keep_by_scores(0, 0)


def test_extract_program_from_code_block_or_bare_calls():
    answer = "Here you go:\n```python\nremove_lines(line_start=0, line_end=3)\n```\nDone."
    assert extract_program(answer) == ("remove_lines(line_start=0, line_end=3)", None)
    assert extract_program("keep_chunk()") == ("keep_chunk()", None)
    assert extract_program("the chunk is fine, nothing to do") == (None, "no_code_block")
    assert extract_program("```\n\n```") == (None, "empty_code_block")


def test_check_chunk_program_reports_bad_outputs_with_reasons():
    assert check_chunk_program("remove_lines(line_start=10, line_end=12)", 10, 20) == []
    assert check_chunk_program("remove_lines(line_start=2, line_end=12)", 10, 20) == [
        "out_of_range"
    ]
    assert "unknown_function" in check_chunk_program("delete_everything()", 0, 5)
    assert "wrong_level" in check_chunk_program("drop_doc()", 0, 5)
    assert check_chunk_program("# nothing", 0, 5) == ["empty_program"]
    assert check_chunk_program("import os; os.system('x')", 0, 5)  # never evaluated


def test_prompts_carry_the_document_and_the_numbered_chunk():
    assert "<document>\nhello world\n</document>" in doc_messages("hello world")[1]["content"]
    chunk = chunk_messages("[doc]\n[000]Home\n[/doc]")[1]["content"]
    assert "[000]Home" in chunk and "remove_lines(line_start=A, line_end=B)" in chunk


def test_redactor_scrubs_nested_values():
    redact = Redactor("sk-live-abcdef", None, "")
    out = redact({"a": "key sk-live-abcdef here", "b": ["sk-live-abcdef"], "c": 3})
    assert out == {"a": "key *** here", "b": ["***"], "c": 3}


def test_endpoint_from_environment_variable(monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-env-123456")
    assert resolve_endpoint("http://h:1/v1/", "MY_TEACHER_KEY") == (
        "http://h:1/v1",
        "sk-env-123456",
    )
    monkeypatch.delenv("MY_TEACHER_KEY")
    assert resolve_endpoint("http://h:1/v1", "MY_TEACHER_KEY") == ("http://h:1/v1", None)
    with pytest.raises(ValueError, match="base URL"):
        resolve_endpoint(None, "MY_TEACHER_KEY")
    for bad in ("localhost:8000/v1", "not a url", "http:///v1"):  # each request would fail
        with pytest.raises(ValueError, match="is not an http:// or https:// URL with a host"):
            resolve_endpoint(bad, None)


def test_endpoint_from_airflow_connection_json_and_uri(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEACHER_JSON", json.dumps(
        {"conn_type": "http", "host": "10.0.0.5", "port": 8000, "schema": "v1",
         "password": "sk-conn-654321"}))  # fmt: skip
    assert connection_endpoint("teacher_json") == ("http://10.0.0.5:8000/v1", "sk-conn-654321")
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEACHER_URI", "https://user:sk%2Furi-999999@api.example.com/v1"
    )
    assert connection_endpoint("teacher_uri") == ("https://api.example.com/v1", "sk/uri-999999")
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEACHER_EXTRA",
        json.dumps(
            {
                "conn_type": "generic",
                "extra": {"base_url": "https://x.test/v1", "api_key": "sk-extra-1"},
            }
        ),
    )
    assert resolve_endpoint(None, None, "teacher_extra") == ("https://x.test/v1", "sk-extra-1")
    monkeypatch.setattr("prox_tasks.connections.airflow_installed", lambda: False)
    with pytest.raises(KeyError) as err:
        connection_endpoint("absent")
    assert "AIRFLOW_CONN_ABSENT is unset" in str(err.value)


def test_cache_round_trip_and_key_parts(tmp_path):
    cache = ResponseCache(tmp_path / "c")
    key = cache_key(model="m", prompt_version="v1", messages=[{"content": "doc"}])
    assert key != cache_key(model="m", prompt_version="v2", messages=[{"content": "doc"}])
    assert key != cache_key(model="m2", prompt_version="v1", messages=[{"content": "doc"}])
    assert cache.get(key) is None
    cache.put(key, {"content": "x", "prompt_tokens": 3})
    assert cache.get(key) == {"content": "x", "prompt_tokens": 3}
    (tmp_path / "c" / key[:2] / f"{key}.json").write_text("{torn")
    assert cache.get(key) is None  # an unreadable entry is asked again, not trusted
    assert ResponseCache(None).get(key) is None


def test_usage_report_with_prices():
    usage = Usage(input_price_per_mtok=1.0, output_price_per_mtok=2.0)
    usage.add(requests=2, prompt_tokens=1_000_000, completion_tokens=500_000, status=200)
    report = usage.to_dict()
    assert report["cost_usd"] == pytest.approx(2.0)
    assert report["total_tokens"] == 1_500_000 and report["statuses"] == {"200": 1}
    assert "cost_usd" not in Usage().to_dict()


def test_answers_become_a_valid_label_and_scope_markers_in_answers_are_ignored():
    """Assembly of well-formed answers (what a capable teacher model returns)."""
    from prox_tasks.labeling.llm import LLMTeacher, _Request
    from prox_tasks.labeling.validate import validate_label
    from prox_tasks.programs import execute

    teacher = LLMTeacher("http://127.0.0.1:9/v1", "big-model", api_key_env=None)
    text = "Home\nAbout\n" + "\n".join(
        f"Sentence {i} of the article, long enough." for i in range(8)
    )
    pairs = [
        (_Request(0, "doc", []), {"content": "Educational score: 2\nFormat score: 4"}),
        (_Request(0, "chunk", [], 0, 5), {"content": "```python\n# chunk 0-999\n"
                                          "remove_lines(line_start=0, line_end=1)\n```"}),
        (_Request(0, "chunk", [], 6, 9), {"content": "keep_chunk()"}),
    ]  # fmt: skip
    label = teacher._assemble(pairs)
    assert label.doc_program == "keep_doc()"  # edu 2 with format 4 is kept
    assert (label.meta["edu_score"], label.meta["format_score"]) == (2, 4)
    assert label.meta["errors"] == [] and validate_label(text, label) == []
    assert label.chunk_program.count("# chunk") == 2  # only the teacher's own markers
    assert execute(text, label.doc_program, label.chunk_program).text.startswith("Sentence 0")
    bad = teacher._assemble([
        (_Request(0, "doc", []), {"content": "Educational score: 1\nFormat score: 5"}),
        (_Request(0, "chunk", [], 0, 5), {"content": "```\nremove_lines(line_start=7, line_end=9)\n```"}),
        (_Request(0, "chunk", [], 6, 9), {"error": "request_failed:503", "detail": "gave up"}),
    ])  # fmt: skip
    assert bad.doc_program == "drop_doc()"
    assert bad.meta["errors"] == ["chunk:out_of_range", "chunk:request_failed:503"]
    assert "chunk:out_of_range" in validate_label(text, bad)
