"""A model on S3 is checked before anything is planned — by ``prox refine`` and by the
refresh DAG's plan task alike — against a real moto S3 server over HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from prox_tasks.models import SHIPPED_MODEL
from prox_tasks.refine.options import check_refine_options
from prox_tasks.storage import put_atomic


def _upload(folder, uri: str) -> None:
    for path in sorted(folder.iterdir()):
        if path.is_file():
            put_atomic(f"{uri}/{path.name}", path.read_bytes())


BERT = {"model_type": "bert", "architectures": ["BertForMaskedLM"], "hidden_size": 8}
LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
#: A whole safetensors file holding no tensor (a header of 2 bytes, "{}"): a weights file
#: where the names are what a test's check is about (a cut one is refused).
NO_TENSORS = (2).to_bytes(8, "little") + b"{}"


@pytest.fixture
def s3_models(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    _upload(SHIPPED_MODEL, f"{s3_bucket}/models/tagger")
    put_atomic(f"{s3_bucket}/models/notes/README.txt", b"not a model\n")
    put_atomic(f"{s3_bucket}/models/lm/refiner.json", json.dumps({"kind": "causal_lm"}))
    put_atomic(f"{s3_bucket}/models/lm/config.json", json.dumps(LLAMA))
    put_atomic(f"{s3_bucket}/models/lm/model.safetensors", NO_TENSORS)  # the names are what it reads
    put_atomic(f"{s3_bucket}/models/lm/tokenizer.json", b"{}")
    return s3_bucket


def _no_model_and_one_document(tmp_path):
    """A Hugging Face folder holding a bare ``config.json`` (no weights: what is checked
    before planning is all a test of it reaches), a one-document input, and an output
    folder not made yet."""
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "config.json").write_text("{}")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    return lm, docs, tmp_path / "out"


def test_an_s3_model_is_checked_without_downloading_it(s3_models, tmp_path):
    check_refine_options(1, None, None, f"{s3_models}/models/tagger", "tagger")
    check_refine_options(1, None, None, f"{s3_models}/models/tagger/", None)
    assert not (tmp_path / "home" / "model-cache").exists()  # names and refiner.json only


@pytest.mark.parametrize("model, backend, error, message", [
    ("models/tagr", None, FileNotFoundError, "no model files under s3://"),
    ("models/notes", None, FileNotFoundError, "no model (refiner.json, config.json or a "
                                              "tokenizer) under s3://"),
    ("models/tagger", "vllm", ValueError, "the line tagger runs on the tagger backend, not "
                                          "'vllm'"),
    ("models/lm", "tagger", ValueError, "is a generative model; the tagger backend cannot"),
])  # fmt: skip
def test_a_wrong_s3_model_is_refused_before_planning(s3_models, model, backend, error,
                                                     message):
    with pytest.raises(error) as caught:
        check_refine_options(1, None, None, f"{s3_models}/{model}", backend)
    assert message in str(caught.value)


def test_prox_refine_refuses_a_mistyped_s3_model_and_writes_nothing(s3_models, moto_server,
                                                                     tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROX_", "AWS_"))}
    env.update(PROX_HOME=str(tmp_path / "cli-home"), PROX_S3_ENDPOINT_URL=moto_server.endpoint_url,
               PROX_S3_ADDRESSING_STYLE="path", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               PROX_CATALOG_URL=f"sqlite:///{tmp_path / 'catalog.sqlite'}",
               PYTHONPATH=os.getcwd())  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "refine", "--input",
                           str(docs), "--output", str(out), "--model",
                           f"{s3_models}/models/tagr"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode != 0
    assert f"no model files under {s3_models}/models/tagr" in proc.stderr
    assert not out.exists()


def test_a_keep_threshold_for_a_generative_model_is_refused_before_planning(s3_models,
                                                                            tmp_path, capsys):
    """It reached the engine, which said "options not understood by the transformers
    backend: ['line_threshold']" after the plan and the folder's claim were written."""
    from prox_tasks.cli import main

    with pytest.raises(ValueError, match="is for line-tagger models; s3://"):
        check_refine_options(1, None, {"line_threshold": 0.7}, f"{s3_models}/models/lm", None)
    check_refine_options(1, None, {"line_threshold": 0.7}, f"{s3_models}/models/tagger", None)
    lm, docs, out = _no_model_and_one_document(tmp_path)  # a generative folder too
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model", str(lm),
                 "--backend", "transformers", "--keep-threshold", "0.7", "--no-progress"]) == 1
    assert f"(--keep-threshold, the keep_threshold Param) is for line-tagger models; {lm} is a " \
        "generative model" \
        in capsys.readouterr().err
    assert not (out / "manifest.json").exists()


def test_a_weights_file_given_as_the_model_is_refused_before_planning(tmp_path, capsys):
    """`--model …/model.safetensors` passed the check, the plan and the folder's claim were
    written, then loading said "model folder …/model.safetensors does not exist". It is
    refused before planning, exit 2 as docs/inference.md says (a --model to fix: it exited
    1, which says a rerun may get past it), as are a line tagger's folder without its
    weights and a --model naming nothing."""
    from prox_tasks.cli import main
    from prox_tasks.registry import fetch_folder

    weights = SHIPPED_MODEL / "model.safetensors"
    with pytest.raises(FileNotFoundError, match=f"{weights} is a file, not a model folder"):
        check_refine_options(1, None, None, str(weights), None)
    with pytest.raises(FileNotFoundError, match=f"give the folder that holds the model "
                                                f"\\({SHIPPED_MODEL}\\?\\)"):
        fetch_folder(str(weights))  # the loaders' own message says the same
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model", str(weights),
                 "--no-progress"]) == 2
    assert "is a file, not a model folder" in capsys.readouterr().err
    assert not (out / "manifest.json").exists()
    no_weights = tmp_path / "tagger"
    no_weights.mkdir()
    shutil.copy(SHIPPED_MODEL / "refiner.json", no_weights / "refiner.json")
    for model, said in ((no_weights, f"no model.safetensors in {no_weights}"),
                        (tmp_path / "typo", f"no model at {tmp_path / 'typo'}")):
        assert main(["refine", "--input", str(docs), "--output", str(out), "--model",
                     str(model), "--no-progress"]) == 2
        assert said in capsys.readouterr().err
        assert not (out / "manifest.json").exists()


def test_a_damaged_refiner_json_on_s3_is_named(s3_models):
    put_atomic(f"{s3_models}/models/cut/refiner.json", b'{"kind": "line_tagger", ')
    with pytest.raises(ValueError, match=r"models/cut/refiner.json is not JSON"):
        check_refine_options(1, None, None, f"{s3_models}/models/cut", None)


def test_a_model_replaced_at_the_same_s3_uri_is_not_served_from_a_stale_copy(s3_models):
    from prox_tasks.inference import load_backend
    from prox_tasks.models.artifact import ArtifactChanged
    from prox_tasks.storage import remove

    uri = f"{s3_models}/models/tagger"
    first = load_backend(None, uri)
    assert load_backend(None, uri).inner.config.line_threshold == first.inner.config.line_threshold
    settings = json.loads((SHIPPED_MODEL / "refiner.json").read_text())
    settings["tagger"]["line_threshold"] = 0.2  # replaced in place, e.g. by hand
    put_atomic(f"{uri}/refiner.json", json.dumps(settings))
    # the fresh copy is fetched, and its publishing record no longer matches its files
    with pytest.raises(ArtifactChanged, match="changed since") as changed:
        load_backend(None, uri)
    # the error names the S3 folder whose files changed, not only the local cache copy
    assert f"a copy of {uri}, downloaded" in str(changed.value)
    remove(f"{uri}/artifact.json")  # replaced as an unpublished model folder: taken as is
    assert load_backend(None, uri).inner.config.line_threshold == 0.2


def test_a_folder_with_a_config_json_but_no_model_is_refused_before_planning(tmp_path, capsys):
    """A folder holding only a config.json without model_type passed the check; vLLM refused
    it once the shard ran ("shard 0 of 1 failed: ValidationError … Should have a model_type
    key"), and prox said to run the same command again once the cause was fixed. It is now
    refused before planning, exit 2, naming --model and what a model folder holds; what
    loads today is not: the openai backend (a tokenizer is all it reads), both levels given
    their own folders, a config.json with a model_type."""
    from prox_tasks.cli import main

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 8}))
    for backend in (None, "vllm", "transformers"):
        with pytest.raises(ValueError, match="its config.json has no model_type"):
            check_refine_options(1, None, None, str(folder), backend)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model", str(folder),
                 "--no-progress"]) == 2
    said = capsys.readouterr().err
    assert f"--model (the model Param) {folder} is no model" in said
    assert "config.json with its model_type" in said and "once the cause is fixed" not in said
    assert not (out / "manifest.json").exists()

    # still accepted: what the backends load (each level's folder holds its tokenizer)
    (folder / "tokenizer.json").write_text("{}")
    servers = {"servers": ["http://127.0.0.1:9/v1"]}
    check_refine_options(1, None, servers, str(folder), "openai")
    tokenizer = tmp_path / "tokenizer"  # openai: the tokenizer files alone
    tokenizer.mkdir()
    for name in ("tokenizer_config.json", "tokenizer.json"):
        (tokenizer / name).write_text("{}")
    check_refine_options(1, None, servers, str(tokenizer), "openai")
    level = tmp_path / "level"  # a causal LM per level: the folder's own config is not read
    level.mkdir()
    (level / "config.json").write_text(json.dumps(LLAMA))
    (level / "model.safetensors").write_bytes(NO_TENSORS)
    (level / "tokenizer.json").write_text("{}")
    levels = {"doc_model": str(level), "chunk_model": str(level)}
    check_refine_options(1, None, levels, str(folder), "transformers")
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(NO_TENSORS)  # a weights file's name: all it reads
    check_refine_options(1, None, None, str(folder), "vllm")


def test_the_model_type_check_leaves_every_model_that_loads_today_alone(s3_models, tmp_path,
                                                                       monkeypatch):
    """NotAModelFolder refuses only a config.json naming no model type: the shipped default,
    ``default``, a promoted registry version, refiner.json folders and Hugging Face folders
    with a model_type — local or on S3, read there without downloading — all still pass; an
    S3 folder whose config.json names none is refused as a local one is (read remotely)."""
    from prox_tasks.models import resolve_model
    from prox_tasks.refine.options import NotAModelFolder

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "no-registry"))
    hf = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    put_atomic(f"{s3_models}/models/hf/config.json", json.dumps(hf))
    put_atomic(f"{s3_models}/models/hf/model.safetensors", NO_TENSORS)  # the names are what it reads
    put_atomic(f"{s3_models}/models/hf/tokenizer.json", b"{}")
    put_atomic(f"{s3_models}/models/lm-weights/model.safetensors", NO_TENSORS)
    put_atomic(f"{s3_models}/models/lm-weights/tokenizer.json", b"{}")
    put_atomic(f"{s3_models}/models/bare/config.json", json.dumps({"hidden_size": 8}))
    put_atomic(f"{s3_models}/models/lm-weights/refiner.json", json.dumps({"kind": "causal_lm"}))
    put_atomic(f"{s3_models}/models/lm-weights/config.json", json.dumps({"hidden_size": 8}))
    for backend in (None, "vllm", "transformers"):
        for model in (str(SHIPPED_MODEL), resolve_model("default").uri, resolve_model(None).uri):
            if backend is None:  # the line tagger runs on the tagger backend only
                check_refine_options(1, None, None, model, backend)
        for model in ("models/hf", "models/lm", "models/lm-weights"):
            check_refine_options(1, None, None, f"{s3_models}/{model}", backend)
        if "dac" not in s3_models:  # a model type in the URI (the random bucket's hex) passes
            with pytest.raises(NotAModelFolder, match="its config.json has no model_type"):
                check_refine_options(1, None, None, f"{s3_models}/models/bare", backend)
    # a version of an S3 registry, promoted: its folder holds what was published
    from prox_tasks.registry.registry import ModelRegistry

    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf))
    (folder / "model.safetensors").write_bytes(NO_TENSORS)
    (folder / "tokenizer.json").write_text("{}")
    registry = ModelRegistry(f"{s3_models}/registry")
    for published, kind in ((folder, "causal_lm"), (SHIPPED_MODEL, "line_tagger")):
        record = registry.publish(published, "refiner", kind, {}, {}, {})
        registry.promote("refiner", record["version"], "test")
        model = resolve_model("promoted", registry=f"{s3_models}/registry", catalog=False).uri
        assert model == record["uri"]
        check_refine_options(1, None, None, model, None)
    assert not (tmp_path / "home" / "model-cache").exists()  # read on S3, not downloaded


def test_constrained_decoding_on_transformers_is_refused_before_planning(tiny_model, tmp_path,
                                                                          capsys):
    """`prox refine --backend transformers --constrained` planned and claimed the folder, then
    the shard failed with "cannot constrain decoding; drop constrained=True" (a Python name)."""
    from prox_tasks.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model",
                 str(tiny_model), "--backend", "transformers", "--constrained",
                 "--no-progress"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "--constrained (constrained decoding" in err and "run --backend vllm" in err
    assert not (out / "manifest.json").exists()
    check_refine_options(1, None, {"constrained": False}, str(tiny_model), "transformers")
    check_refine_options(1, None, {"constrained": True}, str(tiny_model), "openai")


def test_a_line_tagger_on_a_generative_backend_says_what_to_do(tmp_path, capsys):
    """`prox refine --model default --backend transformers` said only "the line tagger runs
    on the tagger backend, not 'transformers'"; it now names the model and both ways out."""
    from prox_tasks.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    assert main(["refine", "--input", str(docs), "--output", str(tmp_path / "out"), "--model",
                 "default", "--backend", "transformers", "--no-progress"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert f"({SHIPPED_MODEL} is a line-tagger model): leave the backend out (or name " \
        "tagger), or give a generative model (--model)" in err


@pytest.mark.parametrize("variable, value", [("PROX_OPENAI_TIMEOUT", "abc"),
                                             ("PROX_OPENAI_SHARD_BUDGET", "10m")])
def test_a_bad_openai_seconds_variable_is_refused_before_planning(tmp_path, capsys,
                                                                  monkeypatch, variable, value):
    """A PROX_OPENAI_TIMEOUT or PROX_OPENAI_SHARD_BUDGET that is no number of seconds was read
    only by the shard: the snapshot was planned, its folder claimed and booked, then every
    shard failed. It is refused first, as --request-timeout/--shard-budget are; exit 2, a
    setting to fix (it exited 1, as a failure a rerun may get past)."""
    from prox_tasks.cli import main

    monkeypatch.setenv(variable, value)
    lm, docs, out = _no_model_and_one_document(tmp_path)  # all the openai backend reads
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model", str(lm),
                 "--backend", "openai", "--servers", "http://127.0.0.1:9/v1",
                 "--no-progress"]) == 2  # fmt: skip
    assert f"deployment variable {variable}={value!r} is not a number of seconds above 0" \
        in capsys.readouterr().err
    assert not out.exists()


def test_prox_refine_on_openai_with_no_pool_at_all_is_refused_before_planning(tmp_path, capsys,
                                                                               monkeypatch):
    """`prox refine --backend openai` with no --servers and no PROX_OPENAI_SERVERS planned the
    snapshot, claimed and booked the folder, then failed every shard saying to give
    --servers. prox refine refines in the process (and environment) that plans, so it is
    refused first; the DAG's plan task, whose worker may lack the pool's variables, is not.
    Exit 2, as for a server address without its scheme: the command is to fix (it exited
    1, as a failure a rerun may get past)."""
    from prox_tasks.cli import main

    for variable in ("PROX_OPENAI_SERVERS", "PROX_OPENAI_DOC_SERVERS",
                     "PROX_OPENAI_CHUNK_SERVERS"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    lm, docs, out = _no_model_and_one_document(tmp_path)
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model", str(lm),
                 "--backend", "openai", "--no-progress"]) == 2  # fmt: skip
    assert "the openai backend needs at least one server URL: prox refine --servers" \
        in capsys.readouterr().err
    assert not out.exists()
    (lm / "tokenizer.json").write_text("{}")  # what the openai backend reads of the folder
    check_refine_options(1, None, {}, str(lm), "openai")  # the DAG's plan task: not refused


def test_a_server_address_without_its_scheme_is_refused_before_planning(tmp_path, capsys):
    """`--servers 127.0.0.1:8000/v1` (no http://) planned the snapshot, then every shard
    failed with "UnsupportedProtocol … nothing answers there: start the server", a retriable
    error whose advice was wrong. It is refused first, saying the form to give, exit 2 as
    for any pool set up wrong (it exited 1, as a failure a rerun may get past)."""
    from prox_tasks.cli import main
    from prox_tasks.inference.openai_engine import OpenAIEngine

    lm, docs, out = _no_model_and_one_document(tmp_path)
    assert main(["refine", "--input", str(docs), "--output", str(out), "--model", str(lm),
                 "--backend", "openai", "--servers", "http://127.0.0.1:9/v1,127.0.0.1:8000/v1",
                 "--no-progress"]) == 2  # fmt: skip
    assert "'127.0.0.1:8000/v1' is no server base URL: give it as http://HOST:PORT/v1" \
        in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="'gpu-1:8000' is no server base URL"):
        OpenAIEngine(["gpu-1:8000"], model_name="m", max_model_len=512)




@pytest.mark.parametrize("backend", [None, "vllm", "transformers"])
def test_another_tools_model_folder_is_refused_before_planning(s3_models, tmp_path, capsys,
                                                               backend):
    """`prox refine --model DIR`, DIR a BERT folder (config.json: BertForMaskedLM) or a
    refiner.json naming no kind, planned, claimed the output folder and then failed in every
    shard ("Engine core initialization failed"). It is now refused before planning, exit 2
    (the DAG's plan task fails without retries), saying what the folder is and what prox
    refines with; local or on S3 (read there), the level folder a refiner.json names too."""
    from prox_tasks.cli import main
    from prox_tasks.refine.options import NotAModelFolder

    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps(BERT))
    (bert / "tokenizer.json").write_text("{}")
    no_kind = tmp_path / "other-tool"
    no_kind.mkdir()
    (no_kind / "refiner.json").write_text(json.dumps({"threshold": 0.5}))
    (no_kind / "tokenizer.json").write_text("{}")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    refusals = {str(bert): "is no causal LM: its config.json is a BertForMaskedLM (model_type "
                           "'bert'), an encoder model",
                str(no_kind): "is no prox refiner: its refiner.json names no kind"}  # fmt: skip
    for model, said in refusals.items():
        out = tmp_path / f"out-{os.path.basename(model)}"
        argv = ["refine", "--input", str(docs), "--output", str(out), "--model", model,
                "--no-progress"] + (["--backend", backend] if backend else [])  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and "architecture ending in ForCausalLM" in err, err
        assert "line tagger's refiner.json" in err and "once the cause is fixed" not in err
        assert not out.exists()  # not planned, not claimed
    # on S3, read there; a refiner.json's doc_model naming a BERT folder
    put_atomic(f"{s3_models}/models/bert/config.json", json.dumps(BERT))
    put_atomic(f"{s3_models}/models/nested/refiner.json",
               json.dumps({"kind": "causal_lm", "doc_model": "enc", "chunk_model": "enc"}))
    put_atomic(f"{s3_models}/models/nested/enc/config.json", json.dumps(BERT))
    put_atomic(f"{s3_models}/models/nokind/refiner.json", json.dumps({"threshold": 0.5}))
    for model, said in (("bert", "models/bert is no causal LM"),
                        ("nested", "models/nested/enc is no causal LM"),
                        ("nokind", "its refiner.json names no kind")):  # fmt: skip
        with pytest.raises(NotAModelFolder, match=said):
            check_refine_options(1, None, None, f"{s3_models}/models/{model}", backend)
    assert not (tmp_path / "home" / "model-cache").exists()


@pytest.mark.parametrize("backend", [None, "vllm", "transformers"])
def test_a_plain_encoder_or_a_tokenizer_alone_is_refused_before_planning(s3_models, tmp_path,
                                                                         capsys, backend):
    """`prox refine --model DIR`, DIR a plain encoder (config.json: BertModel, no head) or a
    tokenizer alone (no config.json, no weights), planned, claimed the output folder, then
    failed in every shard ("KeyError: 'added_tokens'") and said to run the same command
    again. Both are refused before planning, exit 2, on the backends that load weights,
    local or on S3 (read there), as a refiner.json's level folder too; the openai backend,
    which reads only the tokenizer, still takes a tokenizer alone."""
    from prox_tasks.cli import main
    from prox_tasks.refine.options import NotAModelFolder

    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps(
        {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 8}))
    (encoder / "model.safetensors").write_bytes(NO_TENSORS)  # refused for its head, not its weights
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    for name in ("tokenizer_config.json", "tokenizer.json"):
        (tokenizer / name).write_text("{}")
        (encoder / name).write_text("{}")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    refusals = {encoder: "is no causal LM: its config.json is a BertModel (model_type 'bert'), "
                         "a model without a head, which outputs hidden states",
                tokenizer: f"holds no config.json: no model the {backend or 'vllm'} backend "
                           "can load (a tokenizer alone?)"}  # fmt: skip
    if backend is None:  # the machine's default backend names itself
        from prox_tasks.inference.loading import default_backend

        refusals[tokenizer] = refusals[tokenizer].replace("vllm", default_backend())
    for model, said in refusals.items():
        out = tmp_path / f"out-{model.name}"
        argv = ["refine", "--input", str(docs), "--output", str(out), "--model", str(model),
                "--no-progress"] + (["--backend", backend] if backend else [])  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and "architecture ending in ForCausalLM" in err, err
        assert "once the cause is fixed" not in err
        assert not out.exists()  # not planned, not claimed
    # on S3, read there: an encoder, a decoder's plain model, a refiner.json over nothing
    put_atomic(f"{s3_models}/models/enc/config.json", (encoder / "config.json").read_bytes())
    put_atomic(f"{s3_models}/models/base/config.json", json.dumps(
        {"model_type": "llama", "architectures": ["LlamaModel"]}))
    put_atomic(f"{s3_models}/models/bare-lm/refiner.json", json.dumps({"kind": "causal_lm"}))
    put_atomic(f"{s3_models}/models/bare-lm/tokenizer.json", b"{}")
    for model, said in (("enc", "models/enc is no causal LM"),
                        ("base", "a LlamaModel (model_type 'llama'), a model without a head"),
                        ("bare-lm", "models/bare-lm holds no config.json")):  # fmt: skip
        with pytest.raises(NotAModelFolder, match=re.escape(said)):
            check_refine_options(1, None, None, f"{s3_models}/models/{model}", backend)
    assert not (tmp_path / "home" / "model-cache").exists()
    # what loads: a generative class named ...Model, one whose code ships with it, openai
    for config in ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]},
                   {"model_type": "chatglm", "architectures": ["ChatGLMModel"],
                    "auto_map": {"AutoConfig": "configuration_chatglm.ChatGLMConfig"}}):
        (encoder / "config.json").write_text(json.dumps(config))
        check_refine_options(1, None, None, str(encoder), backend)
    servers = {"servers": ["http://127.0.0.1:9/v1"]}
    check_refine_options(1, None, servers, str(tokenizer), "openai")


def test_checking_a_gpt2_style_model_imports_no_torch(tmp_path):
    """A GPT2LMHeadModel (a head by its name) is checked without transformers' model table:
    importing it loads torch, 4 s of a plan task that loads no model."""
    folder = tmp_path / "gpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    (folder / "model.safetensors").write_bytes(NO_TENSORS)
    (folder / "tokenizer.json").write_text("{}")
    code = ("import sys; from prox_tasks.refine.options import check_refine_options; "
            f"check_refine_options(1, None, None, {str(folder)!r}, 'transformers'); "
            "print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert run.stdout.strip() == "False", run.stdout + run.stderr


def test_the_causal_lm_check_leaves_every_model_that_loads_today_alone(s3_models, tmp_path,
                                                                      tiny_model, monkeypatch):
    """The architecture and kind checks refuse only another tool's model: the suite's tiny
    Llama (LlamaForCausalLM) on every generative backend, what prox train publishes (a
    refiner.json naming its model folder), a hand-written refiner.json naming no kind beside
    or pointing at a causal LM, the shipped model, ``default``, ``promoted`` from a local
    registry, the openai backend's tokenizer-only folder (and any folder: it loads no
    weights), and ``--doc-model``/``--chunk-model`` naming causal LMs all pass."""
    import shutil

    from prox_tasks.models import resolve_model
    from prox_tasks.registry.registry import ModelRegistry

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "no-registry"))
    published = tmp_path / "published"  # prox train's causal_lm artifact
    shutil.copytree(tiny_model, published / "model")
    (published / "refiner.json").write_text(json.dumps(
        {"kind": "causal_lm", "doc_model": "model", "chunk_model": "model"}))
    hand_written = tmp_path / "hand-written"  # no kind: a causal_lm refiner (docs/inference)
    shutil.copytree(tiny_model, hand_written)
    (hand_written / "refiner.json").write_text(json.dumps({"doc_tokens": 512}))
    pointing = tmp_path / "pointing"
    pointing.mkdir()
    (pointing / "refiner.json").write_text(json.dumps({"doc_model": str(tiny_model),
                                                       "chunk_model": str(tiny_model)}))
    assert json.loads((tiny_model / "config.json").read_text())["architectures"] == [
        "LlamaForCausalLM"]
    for backend in (None, "vllm", "transformers"):
        for model in (tiny_model, published, hand_written, pointing):
            check_refine_options(1, None, None, str(model), backend)
        levels = {"doc_model": str(tiny_model), "chunk_model": str(tiny_model)}
        check_refine_options(1, None, levels, str(pointing), backend)
    for model in (str(SHIPPED_MODEL), resolve_model("default").uri, resolve_model(None).uri):
        check_refine_options(1, None, None, model, None)
    registry = ModelRegistry(str(tmp_path / "registry"))
    for folder, kind in ((published, "causal_lm"), (SHIPPED_MODEL, "line_tagger")):
        record = registry.publish(folder, "refiner", kind, {}, {}, {})
        registry.promote("refiner", record["version"], "test")
        model = resolve_model("promoted", registry=str(tmp_path / "registry"), catalog=False)
        check_refine_options(1, None, None, model.uri, "vllm" if kind == "causal_lm" else None)
    servers = {"servers": ["http://127.0.0.1:9/v1"]}
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    (tokenizer / "tokenizer.json").write_text("{}")
    bert = tmp_path / "bert"
    shutil.copytree(tokenizer, bert)
    (bert / "config.json").write_text(json.dumps(BERT))
    for model in (tokenizer, bert):  # openai renders prompts with the tokenizer only
        check_refine_options(1, None, servers, str(model), "openai")


@pytest.mark.parametrize("backend", [None, "vllm", "transformers"])
def test_a_model_folder_without_its_weights_is_refused_before_planning(s3_models, tmp_path,
                                                                       tiny_model, capsys,
                                                                       backend):  # fmt: skip
    """`prox refine --model DIR`, DIR a Hugging Face folder whose weights were never copied
    (config.json and the tokenizer: a download cut short), planned, claimed the output
    folder and failed in every shard ("OSError: Error no file named model.safetensors"; the
    DAG retried each refine task). It is refused before planning, exit 2, naming the folder
    and what is missing; on S3 too, and in the folder a refiner.json's level names."""
    import shutil

    from prox_tasks.cli import main
    from prox_tasks.refine.options import NotAModelFolder

    half = tmp_path / "half"
    shutil.copytree(tiny_model, half, ignore=shutil.ignore_patterns("*.safetensors"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    argv = ["refine", "--input", str(docs), "--output", str(out), "--model", str(half),
            "--no-progress"] + (["--backend", backend] if backend else [])  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{half} holds no weights: a config.json (model_type 'llama')" in err, err
    assert "Fetch the model's weights into it" in err
    assert not out.exists()  # not planned, not claimed
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        put_atomic(f"{s3_models}/models/half/model/{name}", (half / name).read_bytes())
    put_atomic(f"{s3_models}/models/half/refiner.json",
               json.dumps({"kind": "causal_lm", "doc_model": "model", "chunk_model": "model"}))
    with pytest.raises(NotAModelFolder, match="models/half/model holds no weights"):
        check_refine_options(1, None, None, f"{s3_models}/models/half", backend)
    check_refine_options(1, None, {"servers": ["http://127.0.0.1:9/v1"]}, str(half), "openai")


@pytest.mark.parametrize("cut", ["short", "garbage"])
def test_a_model_whose_weights_file_is_cut_short_is_refused_before_planning(
        s3_models, tmp_path, tiny_model, tagger_model, capsys, cut):  # fmt: skip
    """`prox refine --model DIR`, DIR's model.safetensors cut short (a download or copy
    stopped early: its header whole, its tensors not) or garbage, planned, claimed the output
    folder and failed in every shard once it loaded the weights (the DAG retried each refine
    task). It is refused before planning, exit 2, naming the file and what to do — from its
    header and size alone, no tensor loaded; a line tagger's too, and on S3."""
    import shutil

    from prox_tasks.cli import main
    from prox_tasks.refine.options import NotAModelFolder

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    for name, model in (("lm", tiny_model), ("tagger", tagger_model)):
        broken = tmp_path / name
        shutil.copytree(model, broken)
        weights = broken / "model.safetensors"
        whole = weights.read_bytes()
        weights.write_bytes(whole[: len(whole) * 2 // 3] if cut == "short" else
                            os.urandom(len(whole)))  # fmt: skip
        out = tmp_path / f"out-{name}"
        code = main(["refine", "--input", str(docs), "--output", str(out), "--model",
                     str(broken), "--no-progress"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"weights file {weights} is not whole: " in err, err
        assert ("cut short" if cut == "short" else "not a safetensors file") in err, err
        assert "fetch or copy the model's files again" in err, err
        assert not out.exists()  # not planned, not claimed
    _upload(tmp_path / "tagger", f"{s3_models}/models/cut")
    with pytest.raises(NotAModelFolder, match="models/cut/model.safetensors is not whole"):
        check_refine_options(1, None, None, f"{s3_models}/models/cut", None)
    check_refine_options(1, None, None, str(tagger_model), None)  # a whole one passes


def test_a_sharded_model_missing_one_of_its_weights_files_is_refused_before_planning(
        tmp_path, tiny_model, capsys):  # fmt: skip
    """A model split in weights files (model.safetensors.index.json, model-0000N-of-…) whose
    download stopped between two passed the check (it holds weights) and failed in every
    shard once loaded. It is refused before planning, exit 2, naming what is missing; the
    whole folder passes."""
    import shutil

    from transformers import AutoModelForCausalLM

    from prox_tasks.cli import main

    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(tiny_model).save_pretrained(sharded, max_shard_size="1MB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, sharded / name)
    shards = sorted(sharded.glob("model-*.safetensors"))
    assert len(shards) > 1 and (sharded / "model.safetensors.index.json").exists()
    check_refine_options(1, None, None, str(sharded), "transformers")  # whole: passes
    shards[-1].unlink()
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    code = main(["refine", "--input", str(docs), "--output", str(out), "--model", str(sharded),
                 "--backend", "transformers", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{sharded} lacks 1 of the {len(shards)} weights files its " \
        f"model.safetensors.index.json names ({shards[-1].name})" in err, err
    assert not out.exists()


def _tagger_settings(folder, tagger) -> None:
    settings = json.loads((SHIPPED_MODEL / "refiner.json").read_text())
    (folder / "refiner.json").write_text(json.dumps({**settings, "tagger": tagger}))


def _damaged(case: str, tmp_path, tiny_model):
    """A copy of a model damaged as ``case`` says, and what the refusal must say of it."""
    folder = tmp_path / case.replace(" ", "-")
    if case.startswith("tagger"):
        shutil.copytree(SHIPPED_MODEL, folder)
        (folder / "artifact.json").unlink()  # a folder of its own, not a published copy changed
        tagger = json.loads((folder / "refiner.json").read_text())["tagger"]
        if case == "tagger settings of the wrong types":
            _tagger_settings(folder, {**tagger, "buckets": "32768", "dilations": [1, 0]})
            return folder, ("buckets is '32768', not a whole number of at least 1; dilations is "
                            "[1, 0], not a list of whole numbers of at least 1")
        _tagger_settings(folder, "32768")
        return folder, "its tagger is a JSON str, not an object"
    shutil.copytree(tiny_model, folder)
    if case == "config.json not JSON":
        (folder / "config.json").write_text('{"model_type": "llama", ')
        return folder, f"{folder / 'config.json'} is not JSON: Expecting"
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    return folder, f"{folder} holds no tokenizer (none of tokenizer.json, tokenizer.model"


def test_a_sentencepiece_tokenizer_its_class_names_otherwise_is_no_missing_tokenizer(tmp_path,
                                                                                   tiny_model):
    """The check before the plan knew a fixed list of tokenizer file names (tokenizer.model,
    spiece.model …) and refused a causal LM whose tokenizer class reads a SentencePiece
    model under another name — mBART's (MBartForCausalLM), XLM-R's, NLLB's
    ``sentencepiece.bpe.model`` — as one holding no tokenizer: a valid model refused. Any
    ``*.model`` passes it now; which files the class reads is checked once transformers
    loads it (test_openai_backend: a class reading none of them is refused there)."""
    from tests.inference.helpers import sentencepiece_model_folder

    folder = sentencepiece_model_folder(tmp_path / "mbart", tiny_model, "mbart",
                                        "MBartTokenizer")  # fmt: skip
    for backend in ("vllm", "transformers"):
        check_refine_options(1, None, None, str(folder), backend)
    (folder / "sentencepiece.bpe.model").unlink()
    with pytest.raises(ValueError, match=r"holds no tokenizer \(none of tokenizer.json, "):
        check_refine_options(1, None, None, str(folder), "transformers")


@pytest.mark.parametrize("case", ["tagger settings of the wrong types", "tagger settings no object",
                                  "config.json not JSON", "no tokenizer"])
def test_a_model_whose_settings_config_or_tokenizer_is_damaged_is_refused_before_planning(
        case, tmp_path, tiny_model, capsys):
    """A model folder copied without its tokenizer, a config.json cut short, a line tagger's
    refiner.json edited by hand (a count written as a string, a dilation of 0): each passed
    the check, planned, claimed the output folder and failed in every shard once it loaded
    the model ("TypeError: empty(): argument 'size' ... must be tuple of ints", "Couldn't
    instantiate the backend tokenizer ... install sentencepiece"; a config.json not JSON was
    called one "with no model_type"), naming no file, and the DAG retried each refine task.
    Each is refused before planning, exit 2, naming the file and what to do."""
    from prox_tasks.cli import main

    folder, said = _damaged(case, tmp_path, tiny_model)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    backends = [None] if case.startswith("tagger") else ["vllm", "transformers"]
    for backend in backends:
        argv = ["refine", "--input", str(docs), "--output", str(out), "--model", str(folder),
                "--no-progress"] + (["--backend", backend] if backend else [])  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and "once the cause is fixed" not in err, err
        assert "fetch" in err.lower() or "copy the model's tokenizer files" in err.lower(), err
        assert not out.exists() or not (out / "manifest.json").exists()


def test_an_openai_model_folder_without_its_tokenizer_is_refused_before_planning(
        tmp_path, tiny_model, capsys):
    """The openai backend reads only its model folder's tokenizer, and nothing before the
    plan checked that one was there: a folder copied without it was planned, its output
    folder claimed (_refine_settings.json), then refused at every shard. It is refused
    before planning, exit 2, as on the backends that load weights (a real pool listing its
    model on loopback)."""
    from prox_tasks.cli import main
    from tests.inference.test_openai_backend import DOC_CARD
    from tests.loopback_http import JSON, LoopbackHTTPServer, Response

    folder, said = _damaged("no tokenizer", tmp_path, tiny_model)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "text": "A line of text.\nAnother one."}) + "\n")
    out = tmp_path / "out"
    listing = json.dumps({"data": [DOC_CARD]}).encode()
    with LoopbackHTTPServer(lambda request: Response(200, listing, JSON)) as server:
        argv = ["refine", "--input", str(docs), "--output", str(out), "--model", str(folder),
                "--backend", "openai", "--servers", server.url + "/v1", "--no-progress"]
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "copy the model's tokenizer files" in err.lower(), err
    assert not out.exists()  # not planned, not claimed


def test_a_line_taggers_damaged_settings_are_refused_on_s3_and_once_loaded(s3_models, tmp_path):
    """The same refiner.json on S3 is refused by the check, read in place; loading a damaged
    folder that got past the check (changed since) is refused by the loader the same way,
    as a damaged model (a DAG task fails without retries), not torch's TypeError."""
    from prox_tasks.models.artifact import RefinerSettingsDamaged
    from prox_tasks.models.line_tagger import LineTaggerRefiner
    from prox_tasks.pipeline.errors import cannot_succeed

    folder = tmp_path / "tagger"
    shutil.copytree(SHIPPED_MODEL, folder)
    (folder / "artifact.json").unlink()  # a folder of its own, not a published copy changed
    _tagger_settings(folder, {"hidden": 64.5})
    _upload(folder, f"{s3_models}/models/edited")
    with pytest.raises(RefinerSettingsDamaged,
                       match=r"models/edited/refiner.json: hidden is 64.5, not a whole number"):
        check_refine_options(1, None, None, f"{s3_models}/models/edited", None)
    with pytest.raises(RefinerSettingsDamaged, match="hidden is 64.5") as err:
        LineTaggerRefiner(folder)
    assert isinstance(err.value, cannot_succeed())
