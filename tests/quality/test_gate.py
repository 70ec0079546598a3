import json

import pytest

from prox_tasks.quality import GateThresholds, read_gate_result, run_gate
from prox_tasks.quality.suites import history_bounds
from tests.quality.snapshot_factory import refine_snapshot, write_input


@pytest.fixture()
def snapshot(tmp_path):
    src = write_input(tmp_path / "in" / "crawl.jsonl", 30)
    out = tmp_path / "out"
    refine_snapshot(str(src), str(out))
    return out


def failed(result):
    return {(c["suite"], c["expectation"], c["column"]) for c in result.checks if not c["success"]}


def test_clean_snapshot_passes_and_writes_report_and_data_docs(snapshot):
    result = run_gate(str(snapshot))
    assert result.passed, failed(result)
    assert result.metrics["docs_planned"] == 30 == result.metrics["docs_accounted"]
    assert result.metrics["drop_rate"] == pytest.approx(6 / 30)
    assert 0.5 < result.metrics["kept_token_ratio"] < 1
    assert len(result.checks) >= 14
    assert read_gate_result(str(snapshot))["passed"] is True
    index = snapshot / "_quality" / "data_docs" / "index.html"
    assert index.exists() and "prox_documents" in index.read_text()


@pytest.mark.parametrize("run_name", ["1234567890123456", "20260305"])
def test_a_run_name_that_reads_as_a_number_or_a_date_gates_like_any_other(snapshot, run_name):
    # the default run name is the manifest id's first 16 hex digits: all digits now and then
    result = run_gate(str(snapshot), run_name=run_name)
    assert result.passed, failed(result)
    assert (snapshot / "_quality" / "data_docs" / "index.html").exists()


def test_duplicate_ids_and_longer_text_fail(tmp_path):
    src = write_input(tmp_path / "in.jsonl", 20)

    def corrupt(row):
        if row["offset"] == 3:
            row["id"] = "doc-2"  # duplicate id
        if row["offset"] == 7 and row["text"]:
            row["text"] += " injected" * 20  # longer than the input, no normalization
        return row

    refine_snapshot(str(src), str(tmp_path / "out"), rewrite=corrupt)
    result = run_gate(str(tmp_path / "out"))
    assert not result.passed
    assert failed(result) == {
        ("documents", "expect_column_values_to_be_between", "ids_written_before"),
        ("documents", "expect_column_values_to_be_between", "rows_over_growth_cap"),
        ("snapshot", "expect_column_max_to_be_between", "duplicate_ids_written"),
    }
    assert result.metrics["duplicate_ids_written"] == 1
    assert read_gate_result(str(tmp_path / "out"))["passed"] is False
    by_rule = {c["column"]: c["details"] for c in result.checks if c["suite"] == "documents"}
    # told in documents, with the shard and the ids that broke the rule
    assert by_rule["ids_written_before"] == {
        "documents": 1, "shard_count": 1, "shards": [0], "examples": ["'doc-2' (shard 0)"]}
    assert by_rule["rows_over_growth_cap"]["examples"] == ["'doc-7'"]
    assert by_rule["kept_rows_empty"] == {"documents": 0, "shard_count": 0, "shards": [],
                                          "examples": []}


def test_documents_are_judged_shard_by_shard_and_across_shards(tmp_path):
    """The documents table holds a row per planned shard, not per document; an id written
    again in a later shard, and an empty kept document, are still found and named."""
    from prox_tasks.quality.frames import build_frames
    from prox_tasks.quality.observed import failure_lines

    src = write_input(tmp_path / "in.jsonl", 40)

    def corrupt(row):
        if row["offset"] == 33:
            row["id"] = "doc-5"  # shard 3 writes shard 0's id again
        if row["offset"] == 21:
            row["text"] = " "
        return row

    refine_snapshot(str(src), str(tmp_path / "out"), rewrite=corrupt)
    frames = build_frames(str(tmp_path / "out"))
    assert list(frames.documents["shard_index"]) == [0, 1, 2, 3]
    assert frames.documents["ids_written_before"].tolist() == [0, 0, 0, 1]
    assert frames.documents["kept_rows_empty"].tolist() == [0, 0, 1, 0]
    assert frames.metrics["docs_written"] == 40 and frames.metrics["duplicate_ids_written"] == 1
    result = run_gate(str(tmp_path / "out"))
    assert failed(result) == {
        ("documents", "expect_column_values_to_be_between", "ids_written_before"),
        ("documents", "expect_column_values_to_be_between", "kept_rows_empty"),
        ("snapshot", "expect_column_max_to_be_between", "duplicate_ids_written"),
    }
    lines = failure_lines(result.checks)
    assert any("ids_written_before" in line and "observed 1 document in shard 3, e.g. 'doc-5' "
               "(shard 3), expected 0" in line for line in lines), lines


def test_malformed_stats_fail_a_named_rule_and_an_unreadable_shard_fails_the_gate(tmp_path):
    """Counts a refiner could not have written (a string, a fraction, a non-numeric error
    count, stats that are no object) break one rule, named with the documents; a shard file
    that cannot be read to its end fails a check saying why — the gate does not crash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = write_input(tmp_path / "in.jsonl", 30)
    bad_stats = {3: {"words_in": "12"}, 4: {"chars_in": 12.5}, 5: {"errors": {"syntax": "x"}},
                 6: {"normalizations_applied": "yes"}, 7: {"chars_in": 10**400}}

    def corrupt(row):
        row["stats"] = {**row["stats"], **bad_stats.get(row["offset"], {})}
        return row

    refine_snapshot(str(src), str(tmp_path / "out"), rewrite=corrupt)

    def edit_stats(index, row, value):  # another tool's file: its status record follows
        shard = tmp_path / "out" / "shards" / f"shard-{index:05d}.parquet"
        table = pq.read_table(shard)
        stats = table.column("stats").to_pylist()
        stats[row] = value
        pq.write_table(table.set_column(table.schema.get_field_index("stats"), "stats",
                                        pa.array(stats)), shard)
        status_file = tmp_path / "out" / "_status" / f"shard-{index:05d}.json"
        status = json.loads(status_file.read_text())
        status["bytes"] = shard.stat().st_size
        status_file.write_text(json.dumps(status))

    edit_stats(0, 8, '["not", "an", "object"]')
    edit_stats(2, 4, "{not json")
    result = run_gate(str(tmp_path / "out"))
    assert failed(result) >= {
        ("documents", "expect_column_values_to_be_between", "rows_with_bad_stats"),
        ("shards", "expect_column_values_to_be_in_set", "readable")}
    by_column = {c["column"]: c["details"] for c in result.checks}
    assert by_column["rows_with_bad_stats"]["documents"] == 6
    assert by_column["rows_with_bad_stats"]["examples"] == [
        f"'doc-{i}'" for i in (3, 4, 5, 6, 7, 8)]
    assert list(by_column["readable"]["errors"]) == ["2"]
    assert "JSONDecodeError" in by_column["readable"]["errors"]["2"]


def test_a_shard_file_that_is_no_parquet_fails_the_gate_without_crashing(tmp_path):
    """Bytes of the recorded size that are not Parquet at all (no footer to read a schema
    from): the shard fails `schema_matches` and `readable`, the gate reports, not raises."""
    src = write_input(tmp_path / "in.jsonl", 30)
    refine_snapshot(str(src), str(tmp_path / "out"))
    shard = tmp_path / "out" / "shards" / "shard-00001.parquet"
    shard.write_bytes(b"\0" * shard.stat().st_size)
    result = run_gate(str(tmp_path / "out"))
    assert failed(result) >= {
        ("shards", "expect_column_values_to_be_in_set", "readable"),
        ("shards", "expect_column_values_to_be_in_set", "schema_matches")}
    errors = {c["column"]: c["details"] for c in result.checks}["readable"]["errors"]
    assert list(errors) == ["1"] and "magic bytes" in errors["1"]


def test_shards_refined_with_other_settings_fail_the_gate(tmp_path, tagger_model):
    """Two runs with different settings wrote one folder: a shard refined again with another
    keep threshold leaves the snapshot with two sets of settings, and the gate fails it."""
    from prox_tasks.cli import main
    from prox_tasks.refine.workers import refine_shards

    src = write_input(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out"
    assert main(["refine", "--input", str(src), "--output", str(out), "--target-docs", "10",
                 "--model", str(tagger_model), "--no-progress"]) == 0
    assert run_gate(str(out)).metrics["refine_settings"] == 1
    refine_shards(str(out), [1], model=str(tagger_model), force=True,
                  backend_options={"line_threshold": 0.7})
    result = run_gate(str(out))
    assert result.metrics["refine_settings"] == 2
    assert ("snapshot", "expect_column_max_to_be_between", "refine_settings") in failed(result)


def test_growth_the_executor_allows_passes_and_growth_past_it_fails(tmp_path):
    """The gate checks the executor's own cap (max_normalize_growth, as the shard was
    refined), not a stricter rule of its own: a normalization adding 40 characters to a
    ~420-character document is the executor's to allow."""
    from tests.quality.snapshot_factory import doc_text

    src = write_input(tmp_path / "in.jsonl", 10)
    assert all(len(doc_text(i)) < 1000 for i in range(10))  # the allowance's floor: 100 chars

    def grow(i):
        return "keep_doc()", "normalize(source_str='Home', target_str='Home" + "x" * 80 + "')"

    refine_snapshot(str(src), str(tmp_path / "ok"), programs=grow)
    result = run_gate(str(tmp_path / "ok"))
    assert result.passed, failed(result)

    def past_the_cap(row):  # a refiner that wrote more than its executor allows
        row["text"] += "y" * 30
        return row

    refine_snapshot(str(src), str(tmp_path / "bad"), programs=grow, rewrite=past_the_cap)
    assert ("documents", "expect_column_values_to_be_between", "rows_over_growth_cap") in failed(
        run_gate(str(tmp_path / "bad")))
    # a shard refined with a larger cap is judged by it
    refine_snapshot(str(src), str(tmp_path / "wide"), programs=grow, rewrite=past_the_cap,
                    policy={"max_normalize_growth": 0.5})
    assert run_gate(str(tmp_path / "wide")).passed


def test_empty_kept_document_fails(tmp_path):
    src = write_input(tmp_path / "in.jsonl", 10)

    def blank(row):
        if row["offset"] == 1:
            row["text"] = "   \n "
        return row

    refine_snapshot(str(src), str(tmp_path / "out"), rewrite=blank)
    result = run_gate(str(tmp_path / "out"))
    assert ("documents", "expect_column_values_to_be_between", "kept_rows_empty") in failed(result)


def test_missing_shard_and_quarantine_fail(tmp_path):
    src = write_input(tmp_path / "in.jsonl", 20, garbage_lines=5)
    out = tmp_path / "out"
    refine_snapshot(str(src), str(out))
    (out / "_status" / "shard-00001.json").unlink()  # shard 1 never finished
    result = run_gate(str(out))
    got = failed(result)
    assert ("shards", "expect_column_values_to_be_in_set", "complete") in got
    assert ("snapshot", "expect_column_pair_values_to_be_equal", "docs_planned/docs_accounted") in got
    assert result.metrics["docs_quarantined"] == 5
    assert ("snapshot", "expect_column_max_to_be_between", "quarantine_rate") in got
    # prox's options name what to change (the refine DAG's Params: tests/dags)
    [said] = [c["description"] for c in result.checks if c.get("column") == "quarantine_rate"]
    assert "(or prox refine --text-field)" in said and "(--max-quarantine-rate)" in said, said


def test_the_quarantine_check_names_its_records_reasons(tmp_path):
    """A real crawl partition with blank pages (12 of 233 records empty_text, live on the
    scheduler) failed the gate saying its records "could not be read", and the team looked
    for damaged files: the check now says quarantined, and counts them by reason."""
    src = write_input(tmp_path / "in.jsonl", 20, garbage_lines=1)
    with open(src, "a", encoding="utf-8") as f:
        for i in range(3):
            f.write(json.dumps({"id": f"blank-{i}", "text": " \n "}) + "\n")
    refine_snapshot(str(src), str(tmp_path / "out"))
    result = run_gate(str(tmp_path / "out"))
    assert ("snapshot", "expect_column_max_to_be_between", "quarantine_rate") in failed(result)
    [said] = [c["description"] for c in result.checks if c.get("column") == "quarantine_rate"]
    assert "could not be read" not in said, said
    assert said.startswith("Share of input records quarantined (unreadable, blank, "), said
    assert "at most 0.05. Quarantined: 3 empty_text, 1 malformed_json. Each is in" in said, said


def test_the_quarantine_check_says_what_to_do_of_rows_without_the_id_field_named(tmp_path):
    """Rows without the field --id-field names are quarantined missing_id; a nightly whose
    crawl lost the field in some rows failed the gate saying only "fix the input (or prox
    refine --text-field)": the check names the id field setting and the way out, as prox
    refine's line does, in the caller's words."""
    from prox_tasks.cli import main

    with open(tmp_path / "in.jsonl", "w", encoding="utf-8") as f:
        for i in range(20):
            row = {"text": f"Document {i} says something.\nA second line of document {i}."}
            f.write(json.dumps(row if i % 4 == 0 else {**row, "url": f"https://x/{i}"}) + "\n")
    out = tmp_path / "out"
    assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--id-field", "url", "--model", "default", "--no-progress",
                 "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"]) == 0
    for caller, named, instead in (
            ("cli", "prox refine --id-field", "refine without prox refine --id-field"),
            ("dag", "the id_field Param", "clear the id_field Param")):
        result = run_gate(str(out), caller=caller)
        [said] = [c["description"] for c in result.checks if c.get("column") == "quarantine_rate"]
        assert "Quarantined: 5 missing_id." in said, said
        assert (f" 5 missing_id records lack the id field {named} names: give the rows their "
                f"ids, or {instead} (each row's id its text's hash).") in said, said


def test_thresholds_and_history(snapshot):
    strict = GateThresholds(max_drop_rate=0.1)
    assert ("snapshot", "expect_column_max_to_be_between", "drop_rate") in failed(
        run_gate(str(snapshot), strict))
    # a history of snapshots that dropped ~50% puts this one's 20% outside 3 std
    history = [{"drop_rate": 0.5 + d, "kept_token_ratio": 0.7} for d in (-0.01, 0, 0.01)]
    result = run_gate(str(snapshot), GateThresholds(), history=history)
    assert not result.passed
    assert set(result.history) == {"drop_rate", "kept_token_ratio"}
    # too little history: no history check at all
    assert run_gate(str(snapshot), history=history[:2]).passed


def test_a_snapshot_that_keeps_nothing_fails_saying_so(tmp_path):
    src = write_input(tmp_path / "in.jsonl", 10)
    refine_snapshot(str(src), str(tmp_path / "out"), programs=lambda i: ("drop_doc()", ""))
    lenient = GateThresholds(max_drop_rate=1.0, min_kept_token_ratio=0.0)
    result = run_gate(str(tmp_path / "out"), lenient)
    assert failed(result) == {("snapshot", "expect_column_max_to_be_between", "docs_kept")}
    assert "keeps at least one document" in next(
        c["description"] for c in result.checks if c["column"] == "docs_kept")


@pytest.mark.parametrize("name", ["history_min", "history_size"])
def test_a_history_size_or_minimum_below_one_is_refused(name):
    # history_size 0 took the whole history (list[-0:]); history_min 0 crashed in fmean([])
    with pytest.raises(ValueError, match=f"{name} 0 is below 1"):
        GateThresholds(**{name: 0})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", ["min_kept_token_ratio", "max_kept_token_ratio", "history_k",
                                  "history_min_std", "max_drop_rate"])
def test_a_threshold_that_is_not_a_finite_number_is_refused(name, value):
    # NaN passed every "< 0" check (prox gate --history-k nan), then every GX bound
    with pytest.raises(ValueError, match=f"{name} {value} is not a finite number"):
        GateThresholds.from_mapping({name: value})


def test_the_history_check_starts_at_history_min_releases_over_the_last_history_size():
    """history_min counts the released snapshots, history_size is the window the bounds are
    drawn from (docs/airflow.md). With history_min above history_size (a deployment's
    PROX_GATE_HISTORY_MIN=50: "judge drift once 50 were released") the window alone was
    counted, never reached history_min, and the check never ran."""
    released = [{"drop_rate": 0.1 * i, "kept_token_ratio": 0.7} for i in range(1, 6)]
    t = GateThresholds(history_min=5, history_size=3)
    assert history_bounds(released[:4], t) == {}  # 4 released: too few
    low, high, mean, std, n = history_bounds(released, t)["drop_rate"]
    assert (n, round(mean, 6)) == (3, 0.4)  # the last 3 of 5: 0.3, 0.4, 0.5


@pytest.mark.parametrize("k", [0, -1])
def test_a_history_k_of_zero_or_less_is_refused(k):
    # the DAG's Param refuses it (exclusiveMinimum 0); `prox gate --history-k 0` took it:
    # a band of width 0 that any snapshot but one exactly at the mean fails
    with pytest.raises(ValueError, match=f"history_k {k} must be above 0"):
        GateThresholds(history_k=k)


def test_history_bounds_floor_std():
    bounds = history_bounds([{"drop_rate": 0.2, "kept_token_ratio": 0.8}] * 4,
                            GateThresholds(history_k=2, history_min_std=0.05))
    low, high, mean, std, n = bounds["drop_rate"]
    assert (round(low, 6), round(high, 6), std, n) == (0.1, 0.3, 0.05, 4)


def test_gate_json_is_valid_json(snapshot):
    run_gate(str(snapshot))
    data = json.loads((snapshot / "_quality" / "gate.json").read_text())
    assert {"passed", "metrics", "checks", "data_docs_uri"} <= set(data)


def test_failed_gate_says_observed_against_threshold_one_line_each(snapshot, caplog):
    import logging

    from prox_tasks.quality import GateFailed

    with caplog.at_level(logging.INFO):
        result = run_gate(str(snapshot), GateThresholds(max_drop_rate=0.1))
    message = str(GateFailed(result))
    lines = message.splitlines()
    assert lines[0].endswith(f"1 of {len(result.checks)} checks failed")
    assert lines[1].startswith("  - snapshot: drop_rate (expect_column_max_to_be_between) "
                               "observed 0.2, expected between 0 and 0.1 — Drop rate between 0 "
                               "and 0.1. ")
    assert lines[1].endswith("(--min-drop-rate, --max-drop-rate)."), lines[1]
    assert not [r for r in caplog.records if r.name.startswith("great_expectations")
                and r.levelno < logging.WARNING]
    assert any("observed 0.2, expected between 0 and 0.1" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


def test_data_docs_load_nothing_from_the_internet(snapshot):
    import re

    run_gate(str(snapshot), GateThresholds(max_drop_rate=0.1))
    site = snapshot / "_quality" / "data_docs"
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        text = page.read_text()
        loaded = re.findall(r'<(?:script|img)\b[^>]*\bsrc="([^"]+)"', text) + \
            re.findall(r'<link\b[^>]*stylesheet[^>]*\bhref="([^"]+)"', text)
        assert loaded and not [u for u in loaded if "://" in u], (page, loaded)
        assert not re.findall(r"url\(['\"]?https?:", text), page  # inline styles
        for url in loaded:  # every local asset exists where the page looks for it
            assert (page.parent / url.split("?")[0]).resolve().is_file(), (page, url)
    for sheet in (site / "static").rglob("*.css"):
        assert not re.findall(r"url\(['\"]?https?:", sheet.read_text()), sheet


def test_a_cut_input_file_fails_the_gate_until_allowed(tmp_path):
    """A .gz cut short keeps its readable records and one truncated_file entry: the loss
    cannot be counted, so the snapshot is not released by default, whatever its rates."""
    import gzip

    plain = write_input(tmp_path / "plain.jsonl", 400)
    data = gzip.compress(plain.read_bytes(), mtime=0)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "crawl.jsonl.gz").write_bytes(data[: len(data) * 9 // 10])
    out = tmp_path / "out"
    refine_snapshot(str(tmp_path / "in"), str(out), target_docs=1000)
    result = run_gate(str(out))
    assert result.metrics["input_losses"] == 1
    assert result.metrics["quarantine_rate"] < 0.05  # the rates alone would pass it
    assert failed(result) == {("snapshot", "expect_column_max_to_be_between", "input_losses")}
    assert run_gate(str(out), GateThresholds(max_input_losses=1)).passed


def test_shards_refined_by_other_served_weights_fail_the_gate_naming_both(tiny_model, tmp_path,
                                                                         capsys):
    """A pool restarted on other weights under the same served name between two shards: the
    shard refined then fails (``ServedModelChanged``), the rerun reuses the published shard
    (refined by the old weights) and refines the other by the new ones. The settings are the
    same (refine_settings passes); the gate fails the snapshot naming both versions, their
    shards and the way out, instead of letting it be released with two models."""
    from prox_tasks.cli import main
    from prox_tasks.inference.openai_engine import OpenAIEngine
    from tests.inference.helpers import short_docs
    from tests.inference.test_openai_backend import DOC_CARD, _model_server

    docs = tmp_path / "in.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in short_docs(4)))
    out = tmp_path / "out"
    card = dict(DOC_CARD)
    with _model_server([card], []) as server:
        args = ["refine", "--input", str(docs), "--output", str(out), "--shards", "2",
                "--model", str(tiny_model), "--backend", "openai", "--servers",
                server.url + "/v1", "--no-progress", "--json"]

        def restart_after_first_shard(self, requests, _real=OpenAIEngine.generate):
            if list(out.glob("_status/*.json")):  # one shard published: the pool restarts
                card["root"] = "/models/doc-v2"
            return _real(self, requests)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(OpenAIEngine, "generate", restart_after_first_shard)
            assert main(args) == 1
        assert main(args) == 0  # the published shard reused, the other refined by v2
        capsys.readouterr()
    # the loopback server answers keep_doc() to chunk prompts too: program errors allowed
    result = run_gate(str(out), GateThresholds(max_failure_rate=1.0))
    assert result.metrics["refine_settings"] == 1  # same settings: this check cannot see it
    assert not result.passed
    assert failed(result) == {("snapshot", "expect_column_max_to_be_between", "model_versions")}
    assert result.metrics["model_versions"] == 2
    check = next(c for c in result.checks if c["column"] == "model_versions")
    assert "prox-doc@/models/doc-v1+" in check["description"]
    assert "prox-doc@/models/doc-v2+" in check["description"]
    assert "(1 shard)" in check["description"]
    assert "prox refine --force on the folder" in check["description"]
    assert "new output folder" in check["description"]
    assert main(["gate", "--snapshot", str(out), "--max-failure-rate", "1"]) == 1
    assert "model_versions" in capsys.readouterr().out


def test_one_model_version_passes_and_is_named(snapshot):
    result = run_gate(str(snapshot))
    assert result.metrics["model_versions"] == 1
    check = next(c for c in result.checks if c["column"] == "model_versions")
    assert check["success"] and "Found 1: test (3 shards)." in check["description"]


def test_a_history_band_is_clipped_to_what_the_rate_can_be_and_says_the_way_out(snapshot):
    """A history of drop rates near 0 drew "drop_rate between -0.116 and 0.184": a bound no
    rate can reach, checked and shown; and a failed drift check said nothing of what to do.
    The band is clipped to [0, 1] (kept-token ratio: at least 0) in GX's check, its
    description and gate.json, and the failure names the history options and the way out."""
    from prox_tasks.quality.observed import failure_lines

    history = [{"drop_rate": d, "kept_token_ratio": 0.05 + d} for d in (0.0, 0.01, 0.02)]
    low, high, *_ = history_bounds(history, GateThresholds())["drop_rate"]
    assert (low, round(high, 6)) == (0.0, 0.16)  # mean 0.01 ± 3 × 0.05 (the std floor)
    assert history_bounds(history, GateThresholds())["kept_token_ratio"][0] == 0.0
    near_one = [{"drop_rate": 1 - d, "kept_token_ratio": 0.7} for d in (0.0, 0.01, 0.02)]
    assert history_bounds(near_one, GateThresholds())["drop_rate"][1] == 1.0

    result = run_gate(str(snapshot), GateThresholds(), history=history)  # drops 20%
    [check] = [c for c in result.checks if c["column"] == "drop_rate"
               and "released snapshots" in c["description"]]
    assert not check["success"] and check["min_value"] == 0.0
    assert result.history["drop_rate"]["low"] == 0.0
    [line] = [x for x in failure_lines(result.checks) if "drop_rate between" in x]
    assert "-0." not in line and "drop_rate between 0 and 0.16" in line, line
    assert "--history-k above 3" in line and "--history-size" in line, line
    dag = run_gate(str(snapshot), GateThresholds(), history=history, caller="dag")
    [line] = [x for x in failure_lines(dag.checks) if "drop_rate between" in x]
    assert "the history_k Param above 3" in line and "--" not in line, line
    # the DAG's user judges again by triggering the run again, not with a prox command
    assert "trigger the run again (its refined shards are reused) with a wider band" in line


#: Each threshold a snapshot check is bounded by (its failure must name them all).
CHECK_SETTINGS = {
    "input_losses": ["max_input_losses"], "failure_rate": ["max_failure_rate"],
    "quarantine_rate": ["max_quarantine_rate"], "drop_rate": ["min_drop_rate", "max_drop_rate"],
    "kept_token_ratio": ["min_kept_token_ratio", "max_kept_token_ratio"],
}


def _says_its_setting_and_the_way_out(expectation, caller):
    from prox_tasks.setting_names import setting_name

    said = expectation.description
    assert "again" in said or "allow more" in said, said  # a way out
    if caller == "dag":  # the DAG's user sets Params: no prox command or flag
        assert "--" not in said and "prox refine" not in said, said
    for setting in CHECK_SETTINGS.get(getattr(expectation, "column", None), []):
        assert setting_name(setting, caller) in said, (setting, said)


@pytest.mark.parametrize("caller", ["cli", "dag"])
def test_every_failed_check_names_its_setting_and_the_way_out(caller):
    """A failed drop-rate, kept-token, failure-rate or input-loss check said only "Drop rate
    between 0 and 0.9.", and a shard or document check what it expects: neither the option
    (or Param) that sets the bound nor what to do. Every check now says the way out (refine
    again, and how), a bounded one the setting of each bound, as its caller sets them."""
    from prox_tasks.quality.suites import (
        document_expectations,
        shard_expectations,
        snapshot_expectations,
    )

    t = GateThresholds()
    for expectation in snapshot_expectations(t, {}, caller, {"v1": 1, "v2": 1}):
        _says_its_setting_and_the_way_out(expectation, caller)
    others = shard_expectations(t, caller) + document_expectations(t, caller)
    for expectation in others:
        _says_its_setting_and_the_way_out(expectation, caller)
    [complete] = [e for e in others if getattr(e, "column", None) == "complete"]
    assert ("prox refine again" if caller == "cli" else "refine_shard tasks") in \
        complete.description


@pytest.mark.parametrize(("caller", "fix"), [
    ("cli", "prox refine --text-field raw_content if it is the text."),
    ("dag", "set the text_field Param to raw_content if it is the text.")])
def test_the_quarantine_check_names_the_field_rows_hold_their_text_in(caller, fix):
    """The quarantine check said "fix the input (or --text-field)" when every row had its
    text under another name: it now names the field most missing_text records hold a
    string in, as its caller sets it; without one it says what it said."""
    from prox_tasks.quality.suites import snapshot_expectations

    def quarantine_check(candidates):
        [check] = [e for e in snapshot_expectations(GateThresholds(), {}, caller, {}, candidates)
                   if getattr(e, "column", None) == "quarantine_rate"]
        return check.description

    said = quarantine_check({"raw_content": 40, "title": 3})
    assert said.endswith(f" 40 missing_text records hold a string in 'raw_content': {fix}")
    assert "missing_text records" not in quarantine_check({})


def test_the_gate_names_input_files_the_plan_did_not_read(tmp_path, caplog):
    """A Spark part-00000.json beside the .jsonl files was left out of every shard with a
    log line at planning only: the gate passed over a run that missed its documents."""
    write_input(tmp_path / "in" / "crawl.jsonl", 30)
    (tmp_path / "in" / "part-00000-c0ffee.json").write_text('{"id": "s", "text": "hi"}\n')
    refine_snapshot(str(tmp_path / "in"), str(tmp_path / "out"))
    with caplog.at_level("WARNING"):
        result = run_gate(str(tmp_path / "out"))
    assert result.metrics["input_files_skipped"] == 1
    assert "gate: 1 input file of no known format not read (file://" in caplog.text
    assert "manifest.json skipped_files says why" in caplog.text
    assert "in no shard: refine again to include them" in caplog.text
    assert "part-00000-c0ffee.json" in caplog.text and "--format jsonl" in caplog.text


def test_the_gate_does_not_offer_to_refine_a_crawls_warc_and_wat_into_the_snapshot(
        tmp_path, caplog):
    """A segment's WARC and WAT beside the text (../shared/data/commoncrawl_warc): the gate
    said "in no shard: refine again to include them", though no refine reads text from
    them (the line itself says to give their WET conversion)."""
    import shutil
    from pathlib import Path

    crawl = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "commoncrawl_warc"
    write_input(tmp_path / "in" / "crawl.jsonl", 30)
    for name in ("whirlwind.warc.gz", "whirlwind.warc.wat.gz"):
        shutil.copy(crawl / name, tmp_path / "in" / name)
    refine_snapshot(str(tmp_path / "in"), str(tmp_path / "out"))
    with caplog.at_level("WARNING"):
        result = run_gate(str(tmp_path / "out"))
    assert result.metrics["input_files_skipped"] == 2
    assert "gate: 2 input files not read (file://" in caplog.text, caplog.text
    assert "give its WET conversion (.warc.wet.gz)), in no shard\n" in caplog.text, caplog.text
    assert "refine again" not in caplog.text


def test_the_gate_finds_ids_written_twice_within_the_memory_budget(tmp_path, monkeypatch):
    """The gate's snapshot-wide repeated-id check (quality.documents.IdDigests) kept a
    16-byte digest a document and ~18 bytes more while it looked for the repeats, whatever
    the snapshot's size (35 bytes a document at the peak, bench/duplicates.py --stage gate:
    3.5 GB at 100 million). It now shares the plan's search (corpus.id_search.IdSearch):
    past PROX_ID_SEARCH_MB the digests are spilled to disk, and 200,000 ids (~6.8 MB
    before) stay within ~2 MB at 1 MiB. Same rows: the later occurrences, in shard then
    row order, rows without an id never counted."""
    import os
    import tracemalloc

    from prox_tasks.quality.documents import IdDigests

    digests = IdDigests()
    digests.add_shard(3, ["a", None, "b", "a"])
    digests.add_shard(5, [None, "b", "c", "a"])
    assert digests.written_before() == [(3, 3), (5, 1), (5, 3)]
    monkeypatch.setenv("PROX_ID_SEARCH_MB", "1")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    docs, shard = 200_000, 20_000
    tracemalloc.start()  # numpy's arrays are traced
    try:
        big = IdDigests()
        for start in range(0, docs, shard):
            big.add_shard(start // shard, range(start, start + shard))
        big.add_shard(docs // shard, [7, 3, docs - 1])
        found = big.written_before()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [(10, 0), (10, 1), (10, 2)]
    assert peak < 3 * 2**20, f"{peak / 2**20:.1f} MiB at the peak"
    assert os.listdir(tmp_path) == []  # the spilled digests: gone


def test_the_gate_opens_each_shard_file_once_on_s3(tmp_path, s3_bucket, count_gets):
    """The gate opened each shard file twice, once for its schema and once for its rows:
    on S3 each open GETs the file's start and its footer (bench/nightly_scale.py: 6 GETs a
    shard, 3,003 for 500 shards). It now reads both from one open (moto over HTTP)."""
    source = write_input(tmp_path / "in.jsonl", 30)
    out = f"{s3_bucket}/snap"
    refine_snapshot(str(source), out, target_docs=10)
    result = run_gate(out)
    assert result.passed and result.metrics["shards_complete"] == 3
    shard_gets = {key: n for key, n in count_gets.items() if "/shards/" in key}
    assert len(shard_gets) == 3 and set(shard_gets.values()) == {1}, shard_gets


def test_the_gate_reads_its_shards_several_at_once_on_s3(tmp_path, s3_bucket):
    """The gate read one shard after another: on S3 every read waits on the network
    (bench/nightly_scale.py, 500 shards: ~70 s more than local disk on moto). It reads a
    few shards ahead (storage.ahead.read_ahead, as the release does): the GETs of the
    first two status records meet at a barrier here, which one-at-a-time reads never pass
    (moto over HTTP; the hook is on the storage layer's client)."""
    from tests.storage.conftest import first_gets_meet

    source = write_input(tmp_path / "in.jsonl", 40)
    out = f"{s3_bucket}/snap"
    refine_snapshot(str(source), out, target_docs=5)
    with first_gets_meet("/_status/"):
        result = run_gate(out)
    assert result.passed and result.metrics["shards_complete"] == 8


def test_the_gate_sends_no_head_its_open_of_a_shard_file_answers(tmp_path, s3_bucket):
    """Before opening each shard file the gate HEADed it (its size against its status
    record) and its quarantine file: 1,000 HEADs for 500 shards. The open's first GET says
    the size (and a missing file fails it), so the shard file gets no HEAD; the quarantine
    files, which the gate does not open, are checked against one listing of their folder
    (a request per 1,000 files), not a HEAD each (moto over HTTP)."""
    from tests.storage.conftest import _counting

    source = write_input(tmp_path / "in.jsonl", 30, garbage_lines=2)
    out = f"{s3_bucket}/snap"
    refine_snapshot(str(source), out, target_docs=10)
    with _counting("before-parameter-build.s3.HeadObject", lambda params, **_: params["Key"],
                   "count-heads") as heads, \
            _counting("before-parameter-build.s3.ListObjectsV2",
                      lambda params, **_: params.get("Prefix"), "count-lists") as lists:
        result = run_gate(out)
    shards = result.metrics["shards_complete"]
    assert shards == 4 and result.metrics["docs_quarantined"] == 2
    assert not [key for key in heads if "/shards/" in key], heads
    assert not [key for key in heads if "/quarantine/" in key], heads
    assert lists["snap/quarantine"] == 1, lists


def test_a_missing_or_resized_shard_file_on_s3_is_named_as_before_in_order(tmp_path, s3_bucket,
                                                                          caplog):
    """The size check moved from a HEAD to the shard file's open: a file missing, one of
    another size and a missing quarantine file still count as not written, each said in
    the same words, in shard order, whatever order the reads finished in."""
    import logging

    from prox_tasks.storage import get_client

    source = write_input(tmp_path / "in.jsonl", 40)
    out = f"{s3_bucket}/snap"
    refine_snapshot(str(source), out, target_docs=5)
    bucket = s3_bucket.removeprefix("s3://")
    client = get_client()
    client.delete_object(Bucket=bucket, Key="snap/shards/shard-00002.parquet")
    client.put_object(Bucket=bucket, Key="snap/shards/shard-00005.parquet", Body=b"PAR1x")
    client.delete_object(Bucket=bucket, Key="snap/quarantine/shard-00006.jsonl.gz")
    with caplog.at_level(logging.WARNING, logger="prox_tasks.corpus.writer"):
        result = run_gate(out)
    said = [r.getMessage() for r in caplog.records if "not intact" in r.getMessage()]
    assert said == [
        f"shard 2 of {out} is not intact ({out}/shards/shard-00002.parquet is missing): it "
        "counts as not written",
        f"shard 5 of {out} is not intact ({out}/shards/shard-00005.parquet has 5 bytes, "
        f"{_recorded_bytes(out, 5)} were written): it counts as not written",
        f"shard 6 of {out} is not intact ({out}/quarantine/shard-00006.jsonl.gz is "
        "missing): it counts as not written"], said
    complete = next(c for c in result.checks if c["column"] == "complete")
    assert not complete["success"] and complete["details"]["shards"] == [2, 5, 6]
    assert result.metrics["shards_complete"] == 5


def _recorded_bytes(output_uri: str, index: int) -> int:
    from prox_tasks.corpus import read_status

    return read_status(output_uri, index, verify=False)["bytes"]


def test_normalizations_matching_nothing_are_counted_per_shard_per_run_and_by_the_gate(
        tmp_path):
    """A ``normalize()`` that matched nothing was seen in its row only: no shard's status
    record, no run's totals and no gate counted it, so a model writing normalizations of text
    the pages do not hold went unnoticed. Each level counts it now, as the program errors
    are counted: the status record and accounting_totals (what ``prox refine`` and the
    DAG's collect report) and the gate's metrics (gate.json)."""
    from prox_tasks.corpus.writer import read_status
    from prox_tasks.refine.stats import accounting_totals

    def programs(i: int) -> tuple[str, str]:  # two misses in every third document
        misses = 'normalize("nowhere", "x")\nnormalize("nor here", "y")\n' if i % 3 == 0 else ""
        return "keep_doc()", misses + 'normalize("Home |", "Home:")'

    source = write_input(tmp_path / "in.jsonl", 12)
    out = str(tmp_path / "snap")
    refine_snapshot(str(source), out, target_docs=5, programs=programs)
    records = [read_status(out, i) for i in range(3)]
    # docs 0 and 3 | 6 and 9 | none in 10 and 11
    assert [r["normalizations_unmatched"] for r in records] == [4, 4, 0]
    assert accounting_totals(records)["normalizations_unmatched"] == 8
    result = run_gate(out)
    assert result.passed and result.metrics["normalizations_unmatched"] == 8
    assert read_gate_result(out)["metrics"]["normalizations_unmatched"] == 8


def test_a_status_record_that_miscounts_its_rows_program_errors_fails_the_gate(tmp_path):
    """``prox refine`` (its totals, the catalog) reports the status records' counts, while
    the gate's metrics are recounted from the rows: nothing checked that the two agree. A
    record saying other than its file now fails the shards suite, naming the shard."""
    src = write_input(tmp_path / "in.jsonl", 20)

    def programs(i):  # every 5th document's chunk program calls what does not exist
        return ("keep_doc()", "no_such_call()" if i % 5 == 0 else "keep_chunk()")

    out = tmp_path / "out"
    accountings = refine_snapshot(str(src), str(out), programs=programs)
    assert sum(a.docs_with_program_errors for a in accountings) == 4
    first = run_gate(str(out))
    assert first.passed and first.metrics["docs_with_program_errors"] == 4  # they agree
    status_file = out / "_status" / "shard-00001.json"
    status = json.loads(status_file.read_text())
    status["docs_with_program_errors"] += 2  # a refiner's miscount (or a hand edit)
    status_file.write_text(json.dumps(status))
    result = run_gate(str(out))
    assert failed(result) == {("shards", "expect_column_pair_values_to_be_equal",
                               "docs_with_program_errors/rows_with_program_errors")}
    [check] = [c for c in result.checks if not c["success"]]
    assert check["details"]["shards"] == [1]


def test_the_writer_and_the_gate_read_a_row_s_program_errors_alike(tmp_path):
    """The writer counted a row with program errors when its ``errors`` was any non-empty
    mapping, the gate when their counts summed over 0: a row of ``{"syntax": 0}`` was one
    for refine's totals and none for the gate. One reading now
    (``programs.stats.error_total``): both say 0, and the gate's check of the two passes."""
    src = write_input(tmp_path / "in.jsonl", 10)

    def zero_errors(row):
        if row["offset"] == 2:
            row["stats"] = {**row["stats"], "errors": {"syntax": 0}}
        return row

    accountings = refine_snapshot(str(src), str(tmp_path / "out"), rewrite=zero_errors)
    result = run_gate(str(tmp_path / "out"))
    assert sum(a.docs_with_program_errors for a in accountings) == 0
    assert result.metrics["docs_with_program_errors"] == 0 and result.passed, failed(result)


@pytest.mark.parametrize("damage", ["cut", "replaced"])
def test_a_quarantine_file_cut_short_or_replaced_fails_the_gate(tmp_path, caplog, damage):
    """A shard's quarantine file cut to half (a copy that broke off) or replaced by other
    bytes: the gate checked only that it was there and passed, the records of the input it
    lost gone unseen, and a rerun reused the shard. Its size is recorded now: the shard is
    not intact, named with both sizes, and a rerun refines it again."""
    from prox_tasks.corpus import read_status
    from prox_tasks.corpus.manifest import load_manifest

    src = write_input(tmp_path / "in.jsonl", 40, garbage_lines=1)
    out = tmp_path / "out"
    refine_snapshot(str(src), str(out))
    assert run_gate(str(out)).passed
    quarantine = max((out / "quarantine").iterdir(), key=lambda p: p.stat().st_size)
    index = int(quarantine.name.split("-")[1].split(".")[0])
    written = quarantine.read_bytes()
    quarantine.write_bytes(written[: len(written) // 2] if damage == "cut" else b"other")
    (out / "_quality").rename(tmp_path / "judged")  # a gate of the damaged folder afresh
    result = run_gate(str(out))
    assert not result.passed
    assert ("shards", "expect_column_values_to_be_in_set", "complete") in failed(result)
    size = quarantine.stat().st_size
    assert f"{quarantine.as_uri()} has {size} bytes, {len(written)} were written" \
        in caplog.text, caplog.text
    # a rerun refines the shard again, not reusing a record of files no longer there
    assert read_status(str(out), index, load_manifest(str(out)).id) is None
