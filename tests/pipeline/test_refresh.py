import json

import pytest

from prox_tasks.pipeline import refresh
from prox_tasks.pipeline.settings import render_partition
from prox_tasks.quality import GateThresholds
from tests.pipeline.small_crawl import small_snapshot
from tests.storage.conftest import moto_server, s3_bucket  # noqa: F401 (S3 over HTTP)


def test_render_partition():
    assert render_partition("s3://crawl/{ds}/", "2026-01-31") == "s3://crawl/2026-01-31/"
    assert render_partition("/c/{yyyy}/{mm}/{dd}/{ds_nodash}.jsonl", "2026-01-31") == \
        "/c/2026/01/31/20260131.jsonl"
    assert render_partition("/data/fixed.jsonl", None) == "/data/fixed.jsonl"
    with pytest.raises(ValueError, match="needs a logical date"):
        render_partition("/c/{ds}", None)


@pytest.mark.parametrize(("shards", "limit", "expected"), [
    (3, 1024, [[0], [1], [2]]),
    (5, 2, [[0, 1, 2], [3, 4]]),
    (4, 2, [[0, 1], [2, 3]]),
    (0, 8, []),
])
def test_shard_batches_group_beyond_max_map_length(shards, limit, expected):
    batches = refresh.shard_batches(shards, limit)
    assert batches == expected
    assert len(batches) <= limit
    assert [i for b in batches for i in b] == list(range(shards))


@pytest.mark.parametrize(("shards", "limit", "per_task", "expected"), [
    (3, 1024, 2, [[0, 1], [2]]),
    (5, 1024, 4, [[0, 1, 2, 3], [4]]),
    (7, 2, 2, [[0, 1, 2, 3], [4, 5, 6]]),  # the map limit still holds
    (2, 1024, 8, [[0, 1]]),
])
def test_shard_batches_give_each_task_a_shard_per_worker(shards, limit, per_task, expected):
    batches = refresh.shard_batches(shards, limit, per_task)
    assert batches == expected
    assert len(batches) <= limit
    assert [i for b in batches for i in b] == list(range(shards))


def test_refine_workers_from_the_param_or_the_environment(monkeypatch):
    from prox_tasks.pipeline.settings import refine_workers

    monkeypatch.delenv("PROX_REFINE_WORKERS", raising=False)
    assert refine_workers() == 1
    monkeypatch.setenv("PROX_REFINE_WORKERS", "4")
    assert refine_workers() == 4
    assert refine_workers(2) == 2  # the run's Param wins
    for where, bad in (("PROX_REFINE_WORKERS", None), ("workers_per_task", 0)):
        monkeypatch.setenv("PROX_REFINE_WORKERS", "two")
        with pytest.raises(ValueError, match=where):
            refine_workers(bad)


def test_the_environment_catalog_password_is_not_passed_on_to_the_next_tasks(tmp_path,
                                                                             monkeypatch):
    """Followed docs/airflow.md's production settings (the catalog's password in the workers'
    PROX_CATALOG_URL, not in a Param, since Airflow keeps Params and XCom in its DB): on a
    real PostgreSQL catalog every run's `resolve`, `plan`, `sample` and `resolve_seed_set`
    XCom in Airflow's metadata DB held that password in plain text. The snapshot `resolve`
    returns now names the URL with `***`; the next task (here: settings.catalog_url, as
    open_catalog and the model, seed and training tasks take it) gets the password back from
    its own environment, and a worker whose PROX_CATALOG_URL is another URL is refused."""
    from prox_tasks.pipeline import settings
    from prox_tasks.pipeline.errors import RunError

    secret = "Env-Only-S3cretPw9"
    url = f"postgresql+psycopg2://prox:{secret}@127.0.0.1:5432/prox?sslmode=disable"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    params = {"input_uri": str(tmp_path / "crawl" / "{ds}"), "output_root": str(tmp_path)}
    snapshot = refresh.resolve_snapshot(params, "2026-02-01")
    assert secret not in json.dumps(snapshot)
    assert snapshot["catalog_url"] == url.replace(secret, "***")
    assert settings.catalog_url(snapshot["catalog_url"]) == url
    # a run's XCom from before the change holds the whole URL: taken as it is
    assert settings.catalog_url(url) == url
    # a catalog_url Param (already in the run's conf) and a SQLite catalog: passed on as given
    given = "postgresql+psycopg2://other:ParamPw1234@db/prox"
    assert refresh.resolve_snapshot({**params, "catalog_url": given}, "2026-02-01")[
        "catalog_url"] == given
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path}/c.sqlite")
    assert refresh.resolve_snapshot(params, "2026-02-01")["catalog_url"] == (
        f"sqlite:///{tmp_path}/c.sqlite")
    monkeypatch.setenv("PROX_CATALOG_URL", url.replace("/prox?", "/other?"))
    with pytest.raises(RunError, match="set PROX_CATALOG_URL to that URL, password and all"):
        settings.catalog_url(snapshot["catalog_url"])


def test_resolve_snapshot_names(tmp_path):
    params = {"input_uri": str(tmp_path / "crawl" / "{ds}"), "output_root": str(tmp_path)}
    nightly = refresh.resolve_snapshot(params, "2026-02-01")
    assert nightly["name"] == "crawl-2026-02-01" and nightly["partition"] == "2026-02-01"
    assert nightly["input_uri"].endswith("/crawl/2026-02-01")
    assert nightly["output_uri"] == f"file://{tmp_path}/snapshots/crawl-2026-02-01"
    manual = refresh.resolve_snapshot({**params, "input_uri": "/x.jsonl"}, None,
                                      "manual__2026-02-01T10:00:00+00:00")
    assert manual["name"] == "run-manual__2026-02-01T10_00_00_00_00"


def test_the_partition_marker_is_the_param_else_the_setting_else_none(tmp_path, monkeypatch):
    """Unset: no marker (the first readable file counts, as before markers existed); the
    Param wins over ``PROX_PARTITION_MARKER``; a name that would be read as input is a
    RunError naming it."""
    from prox_tasks.pipeline.errors import RunError

    params = {"input_uri": str(tmp_path / "crawl" / "{ds}"), "output_root": str(tmp_path)}
    monkeypatch.delenv("PROX_PARTITION_MARKER", raising=False)
    assert refresh.resolve_snapshot(params, "2026-02-01")["partition_marker"] is None
    monkeypatch.setenv("PROX_PARTITION_MARKER", "_SUCCESS")
    assert refresh.resolve_snapshot(params, "2026-02-01")["partition_marker"] == "_SUCCESS"
    assert refresh.resolve_snapshot({**params, "partition_marker": ".done"},
                                    "2026-02-01")["partition_marker"] == ".done"
    with pytest.raises(RunError, match="partition_marker 'DONE.jsonl' is not a marker"):
        refresh.resolve_snapshot({**params, "partition_marker": "DONE.jsonl"}, "2026-02-01")


def test_a_partition_marker_for_a_glob_input_is_refused_before_any_wait(tmp_path, monkeypatch):
    """A glob names no one folder to hold the marker: the sensor (after resolve) looked for
    it until PROX_PARTITION_WAIT_S ran out (hours), then said the partition was not complete.
    resolve refuses it at once, naming the marker and the glob, as plan did only later."""
    from prox_tasks.pipeline.errors import RunError

    monkeypatch.setenv("PROX_PARTITION_MARKER", "_SUCCESS")  # deployment-wide
    params = {"input_uri": str(tmp_path / "crawl" / "{ds}" / "*.jsonl"),
              "output_root": str(tmp_path)}
    with pytest.raises(RunError, match=r"partition_marker _SUCCESS needs input_uri to name the "
                                       r"partition's folder, not a glob \("):
        refresh.resolve_snapshot(params, "2026-02-01")
    assert refresh.resolve_snapshot({**params, "input_uri": str(tmp_path / "crawl" / "{ds}")},
                                    "2026-02-01")["partition_marker"] == "_SUCCESS"


def test_a_marked_partition_naming_one_file_is_not_waited_for(tmp_path):
    """With a marker, an input naming one file was waited for until PROX_PARTITION_WAIT_S ran
    out (its marker, ``file.jsonl/_SUCCESS``, can never exist): the sensor takes it as
    arrived, and plan refuses it at once saying the input names a file. A folder without its
    marker is still waited for."""
    from prox_tasks.storage.marker import PartitionIncomplete, require_marker

    folder = tmp_path / "crawl"
    folder.mkdir()
    crawl = folder / "part-00000.jsonl"
    crawl.write_text('{"id": "a", "text": "x"}\n')
    assert refresh.partition_arrived({"input_uri": str(crawl), "partition_marker": "_SUCCESS"})
    with pytest.raises(PartitionIncomplete, match=r"needs input_uri to name the partition's "
                                                  r"folder, not one file"):
        require_marker(str(crawl), "_SUCCESS")
    assert not refresh.partition_arrived({"input_uri": str(folder),
                                          "partition_marker": "_SUCCESS"})


@pytest.mark.parametrize("bad, named", [
    ({"output_root": "relative/corpus"}, "output_root 'relative/corpus' is a relative path"),
    ({"input_uri": "crawl/{ds}"}, "input_uri 'crawl/{ds}' is a relative path"),
    # the plan task's folder is not the refine tasks' (a GPU worker's)
    ({"model": "models/refiner"}, "model 'models/refiner' is a relative path"),
    # a scheme prox does not read failed every try of resolve, naming no Param
    ({"input_uri": "s4://bucket/{ds}"},
     r"input_uri 's4://bucket/\{ds\}': unsupported URI scheme 's4' .*\(use a path, file:// or s3://\)"),
    ({"output_root": "s3:///corpus"}, "output_root 's3:///corpus': S3 URI without a bucket"),
    # pasted into the trigger form with a space: plan failed 'no input files at
    # s3://crawl/2026-01-05/ : check input_uri' for a partition that is there; a model
    # ' promoted' was called a relative path
    ({"input_uri": "s3://crawl/{ds}/ "},
     r"input_uri 's3://crawl/\{ds\}/ ' starts or ends with whitespace: remove it"),
    ({"model": " promoted"}, "model ' promoted' starts or ends with whitespace: remove it"),
    ({"catalog_url": "notaurl"}, "catalog_url is not a database URL"),
    # a relative SQLite file: a run triggered so on the real scheduler booked its snapshot
    # into relcat.sqlite in the scheduler's working directory (the repository's checkout)
    ({"catalog_url": "sqlite:///relcat.sqlite"}, r"the catalog_url Param names a SQLite "
     r"catalog by a relative path \(relcat.sqlite\): each task would book into its own"),
    ({"catalog_url": "sqlite://"}, "the catalog_url Param names a SQLite catalog in memory"),
    # a real missing driver (MySQLdb is not installed): the plan task could never open it
    ({"catalog_url": "mysql://prox@127.0.0.1/prox"},
     r"driver MySQLdb, which is not installed: .* \(the catalog_url Param, else PROX_CATALOG_URL\)"),
])
def test_params_a_worker_cannot_resolve_fail_the_run_at_once_naming_the_param(
        bad, named, tmp_path, s3_bucket):  # noqa: F811
    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    params = {"input_uri": str(tmp_path / "crawl" / "{ds}"), "output_root": str(tmp_path)}
    with pytest.raises(RunError, match=named) as err:
        refresh.resolve_snapshot({**params, **bad}, "2026-02-01")
    assert isinstance(err.value, cannot_succeed())  # no retry: the Param must change
    # an S3 root is asked whether it may be written (a real bucket on moto's server)
    for good in (f"{s3_bucket}/corpus", f"file://{tmp_path}"):
        assert refresh.resolve_snapshot({**params, "output_root": good}, "2026-02-01")
    for keyword in ("default", "promoted", "", None):  # not paths: the resolver's choices
        assert refresh.resolve_snapshot({**params, "model": keyword}, "2026-02-01")


def test_a_refine_task_without_openai_servers_fails_without_retries(tmp_path, monkeypatch):
    """backend=openai on a worker whose environment lacks PROX_OPENAI_SERVERS (resolve ran
    on another): a RunError naming the variable, which the task fails on at once (before:
    the engine's ValueError, retried with backoff)."""
    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    model = tmp_path / "hf-model"  # a Hugging Face folder: a generative model
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")  # all the openai backend reads
    monkeypatch.setenv("PROX_OPENAI_SERVERS", "http://127.0.0.1:9/v1")
    params = {"input_uri": "/crawl/{ds}", "output_root": str(tmp_path), "backend": "openai"}
    assert refresh.resolve_snapshot(params, "2026-02-01")
    work = refresh.plan(small_snapshot(tmp_path, 2), target_docs=2, max_map_length=8,
                        model=str(model), backend="openai")
    monkeypatch.setenv("PROX_OPENAI_SERVERS", " , ")  # no URL
    with pytest.raises(RunError, match="needs PROX_OPENAI_SERVERS in this refine worker's") as err:
        refresh.refine_batch(work[0])
    assert isinstance(err.value, cannot_succeed())


def test_another_tools_model_fails_the_plan_task_without_retries(tmp_path):
    """The model Param naming a BERT folder (config.json: BertForMaskedLM) planned the
    snapshot and failed each refine task, retried, in vLLM's engine start. The plan task
    now fails at once (a RunError, no retry), naming the folder, before anything is
    planned."""
    import json

    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps(
        {"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    snapshot = small_snapshot(tmp_path, 2)
    for backend in (None, "vllm", "transformers"):
        with pytest.raises(RunError, match=f"{bert} is no causal LM: its config.json is a "
                                           "BertForMaskedLM") as err:
            refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(bert),
                         backend=backend)
        assert isinstance(err.value, cannot_succeed())
    assert not (tmp_path / "corpus").exists()  # nothing planned


@pytest.mark.parametrize("root", ["/proc/prox-no-such-corpus", "a-file/corpus"])
def test_an_output_root_that_cannot_be_written_is_named_not_the_input(root, tmp_path):
    """An output_root where the plan cannot be written (under /proc, where no folder can be
    made; under a file) failed plan with "[Errno 2] No such file or directory:
    '/proc/prox…': check input_uri (the run's date fills {ds}) and that the partition has
    arrived" (seen on the real scheduler), blaming an input that is there; under a file it
    was retried. Now it names output_root, once, without retries."""
    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    (tmp_path / "a-file").write_text("not a folder")
    snapshot = small_snapshot(tmp_path, 2)
    output_root = root if root.startswith("/") else str(tmp_path / root)
    snapshot = {**snapshot, "output_uri": f"file://{output_root}/snapshots/x",
                "release_root": f"file://{output_root}"}
    with pytest.raises(RunError, match=r"the snapshot folder file://.*/snapshots/x cannot be "
                                       r"written there: check output_root") as err:
        refresh.plan(snapshot, target_docs=2, max_map_length=8, model="default",
                     backend=None)
    assert isinstance(err.value, cannot_succeed())
    assert "input_uri" not in str(err.value)
    # a missing input is still said as one
    missing = {**small_snapshot(tmp_path, 2), "input_uri": f"file://{tmp_path}/nope"}
    with pytest.raises(RunError, match="check input_uri") as err:
        refresh.plan(missing, target_docs=2, max_map_length=8, model="default",
                     backend=None)
    # the way out once: not the readers' "check the input's path" before the DAG's own
    assert "input's path" not in str(err.value) and str(err.value).count("check") == 1, \
        str(err.value)


def test_an_output_root_in_a_missing_bucket_is_said_as_the_cli_says_it(tmp_path,
                                                                       s3_bucket):  # noqa: F811
    """A run triggered on the real scheduler with output_root s3://nobucket/corpus failed
    resolve with "RunError: [Errno 2] S3 bucket 'nobucket' does not exist:
    's3://nobucket/corpus/snapshots/snap-nb': …": Python's errno and quotes around the URI,
    where `prox plan` says "S3 bucket 'nobucket' does not exist: s3://nobucket/…"."""
    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    params = {"input_uri": str(tmp_path / "in"), "output_root": "s3://no-such-bucket/corpus",
              "catalog_url": f"sqlite:///{tmp_path}/catalog.sqlite", "format": "jsonl"}
    with pytest.raises(RunError) as err:
        refresh.resolve_snapshot(params, "2026-01-05", "manual", {"format"})
    assert str(err.value).startswith(
        "S3 bucket 'no-such-bucket' does not exist: s3://no-such-bucket/corpus/snapshots/"
        "crawl-2026-01-05: the snapshot folder s3://no-such-bucket/corpus/snapshots/"
        "crawl-2026-01-05 cannot be written there: check output_root"), str(err.value)
    assert isinstance(err.value, cannot_succeed())


def test_a_run_leaving_format_to_an_output_root_under_a_file_names_output_root(tmp_path):
    """resolve reads the folder's plan for a format the conf does not give (a scheduled
    run): under a file that read raised a bare NotADirectoryError at resolve (retried,
    naming no Param), where plan names output_root. Now resolve says it as plan does."""
    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    (tmp_path / "a-file").write_text("not a folder")
    params = {"input_uri": str(tmp_path / "in"), "output_root": str(tmp_path / "a-file/corpus"),
              "catalog_url": f"sqlite:///{tmp_path}/catalog.sqlite", "format": "jsonl"}
    with pytest.raises(RunError, match=r"the snapshot folder file://.*/a-file/corpus/snapshots/"
                                       r"crawl-2026-01-05 cannot be written there: check "
                                       r"output_root") as err:
        refresh.resolve_snapshot(params, "2026-01-05", "scheduled", given=set())
    assert isinstance(err.value, cannot_succeed())
    # the format given: nothing read, plan says it
    assert refresh.resolve_snapshot(params, "2026-01-05", "manual", {"format"})["format"] \
        == "jsonl"


@pytest.mark.parametrize(("backend", "said", "not_said"), [
    ("vllm", "or give a generative model (the model Param)", "--model"),
    ("tagger", "openai backend (the backend Param), or give a line-tagger model", "--backend"),
])
def test_a_backend_that_cannot_run_the_model_is_said_with_the_run_s_params(
        backend, said, not_said, tmp_path):
    """Triggered with backend=vllm and the line tagger (the REST API, the real scheduler),
    plan failed "… or give a generative model (--model) (fix the run's model, backend or
    keep_threshold Param)": prox's option, which a DAG run has not. Now the Param."""
    from prox_tasks.pipeline.errors import RunError

    model = "default"
    if backend == "tagger":  # a Hugging Face folder: a generative model
        model = tmp_path / "hf-model"
        model.mkdir()
        (model / "config.json").write_text("{}")
    with pytest.raises(RunError) as err:
        refresh.plan(small_snapshot(tmp_path, 2), target_docs=2, max_map_length=8,
                     model=str(model), backend=backend)
    assert said in str(err.value) and not_said not in str(err.value), str(err.value)


def test_a_refine_task_on_a_pool_refusing_its_key_fails_without_retries(tmp_path,
                                                                       monkeypatch):
    """A pool that refuses the workers' key (401) failed the refine task with an
    InferenceError, which Airflow retried with backoff on a setting no retry changes; it is
    now PoolMisconfigured, which the task fails on at once (fail_fast), naming the variable
    to set."""
    from prox_tasks.inference.openai_engine import PoolMisconfigured
    from prox_tasks.pipeline.errors import cannot_succeed
    from tests.loopback_http import answering

    model = tmp_path / "hf-model"  # a Hugging Face folder: a generative model
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")  # all the openai backend reads
    with answering(401, b'{"error": "Unauthorized"}') as server:
        monkeypatch.setenv("PROX_OPENAI_SERVERS", server.url + "/v1")
        work = refresh.plan(small_snapshot(tmp_path, 2), target_docs=2, max_map_length=8,
                            model=str(model), backend="openai")
        with pytest.raises(PoolMisconfigured, match="set PROX_OPENAI_API_KEY") as err:
            refresh.refine_batch(work[0])
    assert isinstance(err.value, cannot_succeed())


def test_a_pool_per_level_is_a_pool_for_the_openai_backend(monkeypatch):
    """ProX's two models served as two pools (PROX_OPENAI_DOC_SERVERS and
    PROX_OPENAI_CHUNK_SERVERS, no shared PROX_OPENAI_SERVERS) are what the engines load:
    the run's first task takes them; one level's pool alone is refused."""
    from prox_tasks.pipeline.errors import RunError

    monkeypatch.delenv("PROX_OPENAI_SERVERS", raising=False)
    monkeypatch.setenv("PROX_OPENAI_DOC_SERVERS", "http://127.0.0.1:9/v1")
    params = {"input_uri": "/crawl/{ds}", "output_root": "/corpus", "backend": "openai"}
    with pytest.raises(RunError, match="or a pool per level, PROX_OPENAI_DOC_SERVERS and "):
        refresh.resolve_snapshot(params, "2026-02-01")
    monkeypatch.setenv("PROX_OPENAI_CHUNK_SERVERS", "http://127.0.0.1:10/v1")
    assert refresh.resolve_snapshot(params, "2026-02-01")


def test_a_threshold_param_out_of_range_is_named_as_the_param():
    """The run's Params are checked by the gate's own rule, named as the trigger form names
    them (not the field, nor prox gate's --max-drop-rate)."""
    from prox_tasks.pipeline.errors import RunError

    params = {"input_uri": "/crawl/{ds}", "output_root": "/corpus", "max_drop_rate": 2.0}
    with pytest.raises(RunError, match=r"^the max_drop_rate Param 2.0 is not in \[0, 1\]"):
        refresh.resolve_snapshot(params, "2026-02-01")


def test_thresholds_from_params_ignore_other_keys():
    t = GateThresholds.from_mapping({"max_drop_rate": 0.5, "history_min": 2.0, "dry_run": True,
                                     "min_drop_rate": None})
    assert (t.max_drop_rate, t.history_min, t.min_drop_rate) == (0.5, 2, 0.0)
    assert isinstance(t.history_min, int)


def test_gate_defaults_from_environment(monkeypatch):
    from prox_tasks.pipeline import dag_config

    monkeypatch.setenv("PROX_GATE_MAX_DROP_RATE", "0.6")
    monkeypatch.setenv("PROX_GATE_HISTORY_MIN", "7")
    params = dag_config.threshold_params()
    assert params["max_drop_rate"]["default"] == 0.6
    assert params["history_min"]["default"] == 7
    assert params["min_drop_rate"]["default"] == GateThresholds().min_drop_rate


def test_plan_maps_at_most_what_airflow_allows(monkeypatch):
    """A max_map_length Param above Airflow's [core] max_map_length would have the plan's
    result refused after planning (and each retry plan again): the setting caps it."""
    from prox_tasks.pipeline.dag_config import map_length

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    assert (map_length(1024), map_length(2)) == (3, 2)
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "5000")
    assert map_length(1024) == 1024


def test_gate_records_only_under_the_name_booked_for_that_folder(tmp_path):
    """`prox gate --name` with a name booked for another folder (or none) is refused before
    anything is judged or recorded: the other folder's row, status and reports stay."""
    from prox_tasks.catalog import Catalog, SnapshotNameTaken
    from prox_tasks.corpus import plan_shards
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.refine.booking import register_plan

    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"id": "{i}", "text": "words here {i}"}}\n' for i in range(4)))
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    catalog = Catalog(url)
    register_plan(catalog, "a", plan_shards(str(source), str(tmp_path / "a"), target_docs=2))
    catalog.update_snapshot("a", status="released")
    plan_shards(str(source), str(tmp_path / "b"), target_docs=2)
    other = {"name": "a", "output_uri": str(tmp_path / "b"), "catalog_url": url}
    with pytest.raises(SnapshotNameTaken, match=r"booked for .*name this one apart \(--name\)"):
        refresh.gate(other, {})
    # the DAG's quality_gate (a task try): its run has no --name, its Param names the snapshot
    # (it said "name this one apart (--name)", as prox gate)
    dag_try = {"dag_id": "prox_refine_snapshot", "run_id": "r1", "task_id": "quality_gate",
               "map_index": -1, "try_number": 1}
    with pytest.raises(SnapshotNameTaken) as taken:
        refresh.gate(other, {}, dag_try)
    assert str(taken.value).endswith(f"name this one apart ({refresh.SNAPSHOT_NAME_PARAM})")
    with pytest.raises(RunError, match="no snapshot 'nosuch'"):
        refresh.gate({**other, "name": "nosuch"}, {})
    assert catalog.get_snapshot("a")["status"] == "released"
    assert catalog.latest_quality_report("a", "prox_gate") is None
    assert not (tmp_path / "b" / "_quality").exists()
    catalog.close()


def test_two_runs_planning_one_snapshot_with_other_settings_one_is_refused_at_plan(
        tmp_path, tagger_model):
    """A backfill and a manual run of one day with other keep thresholds: the run that plans
    second is refused at plan, before any refine task, though no shard is published yet.
    The first run's refine tasks (each its own claim check), a retried plan and a rerun go
    on; reprocess takes the folder over, and the first run's tasks then stop."""
    from prox_tasks.corpus import load_manifest, read_status
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.refine.step import SettingsConflict

    snapshot = small_snapshot(tmp_path, 6)

    def plan(threshold, reprocess=False):
        return refresh.plan(snapshot, target_docs=2, max_map_length=8,
                            model=str(tagger_model), backend=None, reprocess=reprocess,
                            keep_threshold=threshold)

    first = plan(0.3)
    with pytest.raises(RunError, match=r"is being refined by another run.*keep_threshold 0\.3 "
                                       r"-> 0\.7.*reprocess=true"):
        plan(0.7)
    assert plan(0.3) == first  # a retried plan task
    assert [s["status"] for s in refresh.refine_batch(first[0])["shards"]] == ["refined"]
    assert [s["status"] for s in refresh.refine_batch(first[1])["shards"]] == ["refined"]
    plan(0.7, reprocess=True)
    with pytest.raises(SettingsConflict, match=r"keep_threshold 0\.7 -> 0\.3"):
        refresh.refine_batch(first[2])  # the first run's last task, after the takeover
    output, manifest = snapshot["output_uri"], load_manifest(snapshot["output_uri"])
    assert read_status(output, 2, manifest.id) is None


def _six_docs_planned(tmp_path, tagger_model):
    snapshot = small_snapshot(tmp_path, 6)

    def plan(target_docs, reprocess=False):
        return refresh.plan(snapshot, target_docs=target_docs, max_map_length=8,
                            model=str(tagger_model), backend=None, reprocess=reprocess)

    return snapshot, plan


def test_a_refine_task_of_a_plan_replaced_since_refines_nothing(tmp_path, tagger_model):
    """A refine task (a retry, a late one) whose work item was made from a plan another run
    replaced since (reprocess with another target_docs) refuses at once, naming it: its
    shard indices belong to the old plan. It refined the new plan's shard before."""
    from prox_tasks.corpus import load_manifest, read_status
    from prox_tasks.corpus.manifest import PlanReplaced
    from prox_tasks.pipeline.errors import cannot_succeed

    snapshot, plan = _six_docs_planned(tmp_path, tagger_model)
    first = plan(2)
    second = plan(3, reprocess=True)
    with pytest.raises(PlanReplaced, match="was planned again") as raised:
        refresh.refine_batch(first[0])
    assert isinstance(raised.value, cannot_succeed())  # the DAG task fails without retries
    output, manifest = snapshot["output_uri"], load_manifest(snapshot["output_uri"])
    assert raised.value.current == manifest.id != raised.value.planned
    assert read_status(output, 0) is None  # nothing refined, under either plan
    parts = tmp_path / "corpus" / "snapshots" / snapshot["name"] / "_manifest_parts"
    assert {p.parent.name for p in parts.rglob("*.json")} == {manifest.id}  # the old: gone
    assert [s["status"] for s in refresh.refine_batch(second[0])["shards"]] == ["refined"]


def test_a_part_of_the_plan_edited_is_refused_and_a_missing_one_read_from_the_manifest(
        tmp_path, tagger_model):
    """The part a refine task reads is checked against its digest, its plan and its shards:
    an edited one fails the task, naming it; a deleted one (or a work item made before
    parts) has the task read the whole manifest instead."""
    import json as json_module

    from prox_tasks.corpus import read_status
    from prox_tasks.corpus.manifest import part_uri
    from prox_tasks.storage import parse_uri

    snapshot, plan = _six_docs_planned(tmp_path, tagger_model)
    items = plan(2)
    part = parse_uri(part_uri(snapshot["output_uri"], items[0]["manifest_id"], [0])).path
    data = json_module.loads(open(part).read())
    data["shards"][0]["docs"] = 1
    open(part, "w").write(json_module.dumps(data))
    with pytest.raises(ValueError, match="does not match its digest"):
        refresh.refine_batch(items[0])
    assert read_status(snapshot["output_uri"], 0) is None
    __import__("os").remove(part)
    assert [s["status"] for s in refresh.refine_batch(items[0])["shards"]] == ["refined"]
    old = {k: v for k, v in items[1].items() if k not in ("manifest_id", "manifest_version")}
    assert [s["status"] for s in refresh.refine_batch(old)["shards"]] == ["refined"]


def test_a_failed_refine_task_keeps_the_claim_while_another_task_s_shard_is_published(
        tmp_path, tagger_model):
    """A refine task that fails gives the folder's settings claim up only when no shard of
    the whole plan is published — not only none of its own part of the plan."""
    import json as json_module

    from prox_tasks.refine.claim import claim_uri
    from prox_tasks.storage import read_json

    snapshot, plan = _six_docs_planned(tmp_path, tagger_model)
    items = plan(2)
    assert [s["status"] for s in refresh.refine_batch(items[0])["shards"]] == ["refined"]
    source = tmp_path / "in.jsonl"  # rewritten since planning: the next task's read fails
    source.write_text(source.read_text().replace("line one", "line 1"))
    with pytest.raises(RuntimeError, match="changed since the manifest was planned"):
        refresh.refine_batch(items[1])
    claim = read_json(claim_uri(snapshot["output_uri"]))
    assert claim["request"] is not None, json_module.dumps(claim)


@pytest.mark.parametrize("rerun", [[], ["--force", "--keep-threshold", "0.9"]],
                         ids=["same-settings", "other-settings"])
def test_collect_after_a_prox_refine_rerun_goes_on_only_with_this_run_s_settings(
        tmp_path, tagger_model, rerun):
    """A DAG run plans and refines a day; a `prox refine` rerun (a real CLI process) then
    books the plan as its own and finishes it. With the run's settings the folder is what
    the run would have written: collect names the rerun (`completed_by`), books the plan as
    the run's again, and the gate goes on (it was `RunReplaced`). With other settings
    (`--force` took the claim over) collect is still refused, naming the rerun."""
    import os
    import subprocess
    import sys

    from prox_tasks.catalog import Catalog
    from prox_tasks.quality import GateFailed
    from prox_tasks.refine.booking import RunReplaced

    snapshot = small_snapshot(tmp_path, 6)
    url = snapshot["catalog_url"]

    def task(task_id: str) -> dict:
        return {"dag_id": "prox_refine_snapshot", "run_id": "run-1", "task_id": task_id,
                "map_index": -1, "try_number": 1}

    work = refresh.plan(snapshot, 2, 8, str(tagger_model), None, task_try=task("plan"))
    results = [refresh.refine_batch(b, task("refine")) for b in work]
    cli = subprocess.run(
        [sys.executable, "-m", "prox_tasks.cli", "refine", "--no-progress", "--input",
         snapshot["input_uri"], "--output", snapshot["output_uri"], "--name", snapshot["name"],
         "--catalog", url, "--target-docs", "2", "--model", str(tagger_model), *rerun],
        capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    with Catalog(url) as catalog:
        rerun_runner = catalog.get_snapshot(snapshot["name"])["runner"]
    assert "airflow" not in rerun_runner and rerun_runner["pid"] != os.getpid()
    if rerun:
        with pytest.raises(RunReplaced, match=rf"process:\S*/{rerun_runner['pid']}/"
                                              ".*this run's collect is refused"):
            refresh.collect(snapshot, results, task("collect"), work)
        return
    totals = refresh.collect(snapshot, results, task("collect"), work)
    assert totals["completed_by"].startswith("process:")
    assert f"/{rerun_runner['pid']}/" in totals["completed_by"]
    with Catalog(url) as catalog:
        booked = catalog.get_snapshot(snapshot["name"])
    assert booked["status"] == "refined" and booked["runner"]["airflow"]["run_id"] == "run-1"
    try:  # the run's gate is no longer refused as replaced
        refresh.gate(snapshot, {}, task("quality_gate"))
    except GateFailed:
        pass  # quarantined: a verdict of this run's all the same


def test_collect_of_a_run_replaced_since_books_nothing_over_the_newer_run(tmp_path,
                                                                         tagger_model):
    """DAG run 1 refines a day; run 2 (reprocess) plans and refines it again, and is gated;
    then run 1's collect (late: its refine tasks were slow) is refused (`RunReplaced`, a
    cannot-succeed error: no retries) naming run 2, and books nothing: the snapshot keeps
    run 2's verdict, not `refined` by run 1. Run 1's gate and release are refused the same
    way (were they reached: the plan replaced between collect and gate)."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline.errors import cannot_succeed
    from prox_tasks.quality import GateFailed
    from prox_tasks.refine.booking import RunReplaced

    snapshot = small_snapshot(tmp_path, 6)
    url = snapshot["catalog_url"]

    def task(run: str, task_id: str) -> dict:
        return {"dag_id": "prox_refine_snapshot", "run_id": run, "task_id": task_id,
                "map_index": -1, "try_number": 1}

    def refined(run: str, reprocess: bool) -> list[dict]:
        work = refresh.plan(snapshot, 2, 8, str(tagger_model), None, reprocess,
                            task_try=task(run, "plan"))
        return [refresh.refine_batch(b, task(run, "refine")) for b in work]

    first = refined("run-1", False)
    second = refined("run-2", True)
    refresh.collect(snapshot, second, task(run="run-2", task_id="collect"))
    try:
        refresh.gate(snapshot, {})
    except GateFailed:
        pass  # quarantined: a verdict too
    with Catalog(url) as catalog:
        verdict = catalog.get_snapshot(snapshot["name"])
    assert verdict["status"] in ("gated", "quarantined")
    replaced = r"planned again by another run \(airflow:prox_refine_snapshot/run-2\)"
    with pytest.raises(RunReplaced, match=replaced + ".*this run's collect is refused") \
            as refused:
        refresh.collect(snapshot, first, task(run="run-1", task_id="collect"))
    assert isinstance(refused.value, cannot_succeed())
    with pytest.raises(RunReplaced, match="this run's gate is refused"):
        refresh.gate(snapshot, {}, task(run="run-1", task_id="quality_gate"))
    with pytest.raises(RunReplaced, match="this run's release is refused"):
        refresh.release(snapshot, task_try=task(run="run-1", task_id="release"))
    with Catalog(url) as catalog:
        assert catalog.get_snapshot(snapshot["name"]) == verdict
        assert catalog.list_releases() == []


def test_collect_totals_come_from_small_task_xcoms(tmp_path, tagger_model):
    """Each refine task sums its shards' accounting itself and returns a short line per
    shard: collect pulls every task's XCom at once, so at 100,000 shards the XCom per shard
    is what it pulls 100,000 times. Its totals are still those of the shards' full
    accountings (their status records), malformed input and drops included; an XCom
    returned before tasks summed (a DAG run upgraded in flight) still adds up."""
    import json

    from prox_tasks.corpus import load_manifest, read_status
    from prox_tasks.refine.stats import accounting_totals

    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"id": "{i}", "text": "line one {i}\\nline two {i}"}}\n'
                              for i in range(7)) + "{not json\n")  # fmt: skip
    snapshot = refresh.resolve_snapshot({"input_uri": str(source),
                                         "output_root": str(tmp_path / "corpus"),
                                         "catalog_url": f"sqlite:///{tmp_path}/cat.sqlite"},
                                        "2026-01-02")
    work = refresh.plan(snapshot, target_docs=2, max_map_length=2, model=str(tagger_model),
                        backend=None, reprocess=False)
    assert len(work) == 2 and all(len(item["shards"]) == 2 for item in work)
    results = [refresh.refine_batch(item) for item in work]

    manifest = load_manifest(snapshot["output_uri"])
    records = [read_status(snapshot["output_uri"], i, manifest.id) for i in range(4)]
    expected = accounting_totals(records)
    totals = refresh.collect(snapshot, results)
    assert {k: totals[k] for k in expected} == expected
    assert totals["docs_read"] == 8 and totals["docs_quarantined"] == 1
    assert (totals["shards"], totals["reused"]) == (4, 0)
    for shard in (s for r in results for s in r["shards"]):
        assert set(shard) == {*refresh.XCOM_SHARD_FIELDS, "status", "wall_seconds",
                              "worker_pid"}
        assert len(json.dumps(shard)) < 250  # a full accounting with statistics is ~930

    before = [{"label": r["label"], "shards": [
        {**records[s["shard_index"]], "status": s["status"],
         "reused": False, "model_version": records[s["shard_index"]].get("model_version"),
         "wall_seconds": s["wall_seconds"]} for s in r["shards"]]} for r in results]
    old_totals, old_versions = refresh.collect_totals(before)
    new_totals, new_versions = refresh.collect_totals(results)
    assert {k: old_totals[k] for k in expected} == expected
    assert (old_totals["shards"], old_versions) == (4, new_versions) and new_versions


def test_collect_refuses_a_run_whose_refine_task_returned_nothing(tmp_path, tagger_model):
    """A refine task marked success in the UI while it ran (on the real scheduler: its
    process stopped at the SIGTERM, its shard unpublished) returns no result, and Airflow
    hands collect the others' only: the snapshot was booked refined with half its
    documents, and the gate failed saying to clear "failed" refine tasks, none of which
    had failed. collect now fails at once naming the task to clear, and books why."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline.errors import RunError, cannot_succeed

    snapshot = small_snapshot(tmp_path, 4)
    work = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                        backend=None)
    assert [item["label"] for item in work] == ["shard-00000", "shard-00001"]
    first = refresh.refine_batch(work[0])  # the second task was marked success: no result
    with pytest.raises(RunError, match=r"1 of 2 refine_shard tasks ended without a result "
                                       r"\(shard-00001\): marked success while they ran") as err:
        refresh.collect(snapshot, [first], work=work)
    assert isinstance(err.value, cannot_succeed())  # a retry of collect cannot help
    with Catalog(f"sqlite:///{tmp_path}/cat.sqlite") as catalog:
        booked = catalog.get_snapshot(snapshot["name"])
    assert booked["status"] == "failed" and "shard-00001" in booked["error"], booked
    # cleared, the task refines its shard and collect goes on
    totals = refresh.collect(snapshot, [first, refresh.refine_batch(work[1])], work=work)
    assert totals["docs_read"] == 4


def test_collect_counts_an_input_file_named_gz_that_holds_plain_text(tmp_path, tagger_model):
    """The refresh DAG's path: a day delivered as ``in.jsonl.gz`` holding plain JSON Lines
    is refined whole, and collect's totals (what the run logs and returns) count the file
    once as an input notice, beside a quarantine of nothing."""
    snapshot = small_snapshot(tmp_path, 6, name="in.jsonl.gz")
    task = {"dag_id": "prox_refine_snapshot", "run_id": "run-1", "task_id": "refine",
            "map_index": -1, "try_number": 1}
    work = refresh.plan(snapshot, 2, 8, str(tagger_model), None, False, task_try=task)
    totals = refresh.collect(snapshot, [refresh.refine_batch(b, task) for b in work], task)
    assert (totals["docs_read"], totals["docs_quarantined"]) == (6, 0)
    assert totals["input_notices"] == {"misnamed_compression": 1}


def test_a_run_whose_refine_task_died_before_any_shard_is_booked_failed(tmp_path, tagger_model):
    """A refine task killed before it started a shard (out of memory loading the model, a
    lost worker) booked no attempt: book_unfinished, told by Airflow that a refine task of
    the run failed, books the snapshot failed instead of leaving it `planned`; one a try
    booked failed keeps that try's error."""
    from prox_tasks.catalog import Catalog

    snapshot = small_snapshot(tmp_path, 4)
    run = {"dag_id": "prox_refine_snapshot", "run_id": "scheduled__1", "map_index": -1,
           "try_number": 1}
    refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                 backend=None, task_try={**run, "task_id": "plan"})
    closing = {**run, "task_id": "book_unfinished"}
    assert refresh.book_unfinished(snapshot, closing, refine_failed=0) == 0
    with Catalog(snapshot["catalog_url"]) as catalog:
        assert catalog.get_snapshot(snapshot["name"])["status"] == "planned"
    assert refresh.book_unfinished(snapshot, closing, refine_failed=1) == 0
    with Catalog(snapshot["catalog_url"]) as catalog:
        booked = catalog.get_snapshot(snapshot["name"])
        assert booked["status"] == "failed"
        assert booked["error"].startswith("1 refine task of this run failed without booking")
        assert "or marked failed in Airflow before it ran" in booked["error"]
        catalog.fail_snapshot(snapshot["name"], "RuntimeError: the try's own error")
    refresh.book_unfinished(snapshot, closing, refine_failed=1)
    with Catalog(snapshot["catalog_url"]) as catalog:
        assert catalog.get_snapshot(snapshot["name"])["error"] == "RuntimeError: the try's own error"


def test_a_refine_task_refused_before_any_shard_books_its_refusal_not_a_kill(tmp_path,
                                                                              monkeypatch):
    """A refine task refused before it refined a shard (a worker naming other served models
    than the plan task's worker: SettingsConflict) booked nothing, a refusal; book_unfinished
    then booked the snapshot failed as if the task had been killed ('out of memory, SIGKILL,
    a lost worker'), sending the operator after memory. The refusal's own text is booked."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.step import SettingsConflict

    model = tmp_path / "hf-model"  # a Hugging Face folder: a generative model, never loaded
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")  # all the openai backend reads
    monkeypatch.setenv("PROX_OPENAI_SERVERS", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PROX_OPENAI_CHUNK_MODEL", "prox-chunk")
    snapshot = small_snapshot(tmp_path, 2)
    run = {"dag_id": "prox_refine_snapshot", "run_id": "scheduled__1", "map_index": -1,
           "try_number": 1}
    work = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(model),
                        backend="openai", task_try={**run, "task_id": "plan"})
    monkeypatch.delenv("PROX_OPENAI_CHUNK_MODEL")  # the refine task's worker lacks it
    with pytest.raises(SettingsConflict):
        refresh.refine_batch(work[0], {**run, "task_id": "refine_shard", "map_index": 0})
    refresh.book_unfinished(snapshot, {**run, "task_id": "book_unfinished"}, refine_failed=1)
    with Catalog(snapshot["catalog_url"]) as catalog:
        booked = catalog.get_snapshot(snapshot["name"])
    assert booked["status"] == "failed"
    assert "served_models" in booked["error"] and "SIGKILL" not in booked["error"]


def test_a_rerun_leaving_the_keep_threshold_empty_keeps_the_snapshots(tmp_path, tagger_model):
    """A rerun of a day refined with keep_threshold 0.3 (and backend tagger) and the Params
    left empty/auto (a backfill, a clear) was refused at plan (`keep_threshold 0.3 -> None`),
    though an empty model Param takes the snapshot's model. Now it takes the snapshot's
    threshold and backend too and reuses every shard; another threshold is still refused."""
    from prox_tasks.pipeline.errors import RunError

    snapshot = small_snapshot(tmp_path, 4)

    def plan(threshold):
        return refresh.plan(snapshot, target_docs=2, max_map_length=8, model=None,
                            backend="auto", keep_threshold=threshold)

    first = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                         backend="tagger", keep_threshold=0.3)
    for batch in first:
        assert [s["status"] for s in refresh.refine_batch(batch)["shards"]] == ["refined"]
    again = plan(None)
    assert [(batch["backend"], batch["keep_threshold"]) for batch in again] \
        == [("tagger", 0.3)] * 2  # fmt: skip
    assert [s["status"] for batch in again for s in refresh.refine_batch(batch)["shards"]] \
        == ["skipped", "skipped"]  # fmt: skip
    with pytest.raises(RunError, match=r"keep_threshold 0\.3 -> 0\.7"):
        plan(0.7)


#: Where another installation of prox kept its shipped model (an old virtual environment).
ELSEWHERE = "/opt/prox-old-venv/lib/python3.11/site-packages/prox_tasks/models/line-tagger"


@pytest.mark.parametrize("case", ["same folder", "elsewhere, this version",
                                  "elsewhere, another version"])
def test_work_items_of_a_prox_before_shipped_version_refine_on_or_are_refused_naming_why(
        tmp_path, caplog, case):
    """A refine task of a run planned by an earlier prox, cleared after the upgrade: its
    work item names the shipped model's folder but not its version (no
    ``shipped_version``). The same folder refines on; another installation's, gone, is this
    one's (logged, saying so), the lost shard refined byte for byte as before, while shards
    another release refined (their records' version) refuse the rerun, naming both
    versions and reprocess, writing nothing."""
    import logging

    from prox_tasks.models import SHIPPED_MODEL
    from prox_tasks.models.resolver import shipped_version
    from prox_tasks.refine.step import SettingsConflict

    snapshot = small_snapshot(tmp_path, 4)
    work = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(SHIPPED_MODEL),
                        backend=None)
    for item in work:
        refresh.refine_batch(item)
    folder = tmp_path / "corpus" / "snapshots" / snapshot["name"]
    old = [{k: v for k, v in item.items() if k != "shipped_version"} for item in work]
    if case != "same folder":  # as that installation recorded them, and planned its items
        for record in [folder / "_refine_settings.json", *(folder / "_status").glob("*.json")]:
            text = record.read_text().replace(json.dumps(str(SHIPPED_MODEL)),
                                              json.dumps(ELSEWHERE))
            if case.endswith("another version") and record.parent.name == "_status":
                text = json.dumps({**json.loads(text),
                                   "model_version": "line_tagger-000000000000"})
            record.write_text(text)
        old = [{**item, "model": ELSEWHERE} for item in old]
    lost = folder / "shards" / "shard-00001.parquet"
    refined = lost.read_bytes()
    lost.unlink()
    caplog.set_level(logging.WARNING, logger="prox_tasks.pipeline.refresh")
    if case.endswith("another version"):
        with pytest.raises(SettingsConflict, match=(
                r"the shipped line tagger of another prox installation, version "
                rf"line_tagger-000000000000; this one ships {shipped_version()}\).*reprocess")):
            refresh.refine_batch(old[1])
        assert not lost.exists()
    else:
        assert [s["status"] for s in refresh.refine_batch(old[1])["shards"]] == ["refined"]
        assert lost.read_bytes() == refined
        assert [s["status"] for s in refresh.refine_batch(old[0])["shards"]] == ["skipped"]
    said = [m for m in (r.getMessage() for r in caplog.records) if "planned by an earlier prox" in m]
    if case == "same folder":
        assert said == []
    else:
        assert said and (f"{ELSEWHERE}, the shipped line tagger of a prox installed "
                         f"elsewhere, is taken for this installation's, {SHIPPED_MODEL} "
                         f"(version {shipped_version()})") in said[0], said


@pytest.mark.parametrize(("variable", "value"), [("PROX_TAGGER_PRECISION", "half"),
                                                 ("PROX_PROGRESS_EVERY", "1k"),
                                                 # a refine task's worker: read as the run's
                                                 # quality was taken, after its claim
                                                 ("PROX_QUALITY_FILTER", "strict"),
                                                 # read as an openai pool loads
                                                 ("PROX_MAX_REPLY_BYTES", "lots")])
def test_a_variable_read_deep_in_a_refine_is_refused_before_the_plan(tmp_path, monkeypatch,
                                                                     variable, value):
    """``PROX_TAGGER_PRECISION=half`` or ``PROX_PROGRESS_EVERY=1k`` were met only as the
    refine tasks loaded the tagger or started a shard: the plan task had planned, claimed
    and booked the snapshot, which every refine task then booked ``failed``. The plan task
    refuses them now (a SettingInvalid: failed without retries) with nothing written or
    booked, and a refine task on a worker whose environment has one refuses before it
    claims or refines a shard."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline.settings import SettingInvalid

    snapshot = small_snapshot(tmp_path, 4)
    folder = tmp_path / "corpus" / "snapshots" / snapshot["name"]
    monkeypatch.setenv(variable, value)
    named = f"({variable}.*{value!r}|{value!r}.*{variable})"
    with pytest.raises(SettingInvalid, match=named):
        refresh.plan(snapshot, target_docs=2, max_map_length=8, model=None, backend=None)
    assert not folder.exists()
    with Catalog(snapshot["catalog_url"]) as catalog:
        assert catalog.get_snapshot(snapshot["name"]) is None
    monkeypatch.delenv(variable)
    work = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=None, backend=None)
    claimed = (folder / "_refine_settings.json").read_bytes()
    monkeypatch.setenv(variable, value)  # this refine task's worker's environment
    with pytest.raises(SettingInvalid, match=named):
        refresh.refine_batch(work[0])
    assert not list((folder / "_status").glob("*.json"))
    assert (folder / "_refine_settings.json").read_bytes() == claimed


def test_collect_removes_the_snapshots_emptied_checkpoint_folder(tmp_path, tagger_model):
    """The refine DAG's snapshot kept an empty ``_checkpoints/`` after a successful run (each
    shard's folder goes as it is published, the shared parent stayed): collect, which ends
    the refining, removes it; collected again (a retry), no error."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"id": "{i}", "text": "line one {i}\\nline two {i}"}}\n'
                              for i in range(6)))  # fmt: skip
    snapshot = refresh.resolve_snapshot({"input_uri": str(source),
                                         "output_root": str(tmp_path / "corpus"),
                                         "catalog_url": f"sqlite:///{tmp_path}/cat.sqlite"},
                                        "2026-01-02")
    work = refresh.plan(snapshot, target_docs=2, max_map_length=3, model=str(tagger_model),
                        backend=None, reprocess=False)
    results = [refresh.refine_batch(item) for item in work]
    folder = tmp_path / "corpus" / "snapshots" / snapshot["name"]
    assert snapshot["output_uri"] == f"file://{folder}"
    assert (folder / "_checkpoints").is_dir()  # what the shards' tasks leave
    for _ in range(2):
        assert refresh.collect(snapshot, results)["shards"] == 3
        assert not (folder / "_checkpoints").exists()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("replaced_by", ["named pipe", "folder"])
def test_an_input_file_replaced_by_a_pipe_or_folder_since_planning_fails_the_task_at_once(
        tmp_path, tagger_model, replaced_by):
    """The plan refuses a named pipe among the input files; the refine task opened what the
    plan had listed as it found it then: an input file replaced by a named pipe since held the
    task on the open, waiting for a writer, until its execution timeout (a hang), and one
    replaced by a folder failed it with a bare "[Errno 21] Is a directory", retried in vain.
    Each is refused before the open now, naming the file and what it is, without retries, as
    the file planned changed: the way out is the plan's (an UnreadableInput's "chmod a+r …
    or move the file out of the input" fixed nothing, and the file moved out was refused
    next as a planned file gone)."""
    import os

    from prox_tasks.corpus.planner import StalePlan
    from prox_tasks.pipeline.errors import cannot_succeed

    snapshot = small_snapshot(tmp_path, 6)
    work = refresh.plan(snapshot, 2, 8, str(tagger_model), None)
    source = tmp_path / "in.jsonl"
    source.unlink()
    if replaced_by == "named pipe":
        os.mkfifo(source)
    else:
        source.mkdir()
        (source / "part.jsonl").write_text('{"id": "z", "text": "a\\nb"}\n')
    with pytest.raises(StalePlan, match=f"in.jsonl was replaced by a {replaced_by} since the "
                       "manifest was planned") as err:
        refresh.refine_batch(work[0])
    assert isinstance(err.value, cannot_succeed())
    assert str(err.value).startswith("plan the folder again")  # the way out first
    assert "move the file" not in str(err.value) and "chmod" not in str(err.value)


def test_a_planned_input_file_now_a_link_to_nothing_is_refused_with_a_way_out_that_works(
        tmp_path, tagger_model):
    """A planned input file that became a link to nothing since planning was refused with
    "… or move the file out of the input": moved out, the next try was refused again, as a
    planned file gone. Moving it out needs the folder planned again, and the refusal says so
    (restoring the link's target in place needs nothing more)."""
    import os

    from prox_tasks.corpus.planner import StalePlan
    from prox_tasks.corpus.readers import UnreadableInput

    snapshot = small_snapshot(tmp_path, 6)
    work = refresh.plan(snapshot, 2, 8, str(tagger_model), None)
    source = tmp_path / "in.jsonl"
    source.rename(tmp_path / "kept.jsonl")
    os.symlink(tmp_path / "nowhere.jsonl", source)
    with pytest.raises(UnreadableInput, match=r"or move the file out of the input and plan the "
                       r"folder again \(prox refine --replan.*which does not exist") as err:
        refresh.refine_batch(work[0])
    source.unlink()  # the way out followed: moved out, then …
    with pytest.raises(StalePlan, match="plan the folder again"):  # … the plan's own refusal
        refresh.refine_batch(work[0])
    os.symlink(tmp_path / "kept.jsonl", source)  # the link's target restored: refined
    assert all(s["status"] == "refined" for s in refresh.refine_batch(work[0])["shards"]), err
