"""The transformers backend on a tiny model saved in the ProX released-model format."""

import json

import pytest

from prox_tasks.inference import load_backend
from prox_tasks.inference.base import GenerationRequest
from prox_tasks.inference.prompts import doc_prompt
from prox_tasks.programs import SYSTEM_PROMPT, parse
from tests.inference.helpers import TINY_OPTIONS, short_docs


@pytest.fixture(scope="module")
def refiner(tiny_model):
    backend = load_backend("transformers", str(tiny_model), batch_size=4, **TINY_OPTIONS)
    yield backend
    backend.close()


def test_prox_format_folder_loads_as_released_models_are_stored(tiny_model):
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] // config["num_attention_heads"] == 64
    tok_config = json.loads((tiny_model / "tokenizer_config.json").read_text())
    assert "[INST]" in tok_config["chat_template"] and not (tiny_model / "refiner.json").exists()


def test_prompts_are_rendered_exactly_as_training_renders_them(refiner):
    text = short_docs(1)[0]["text"]
    renderer = refiner.renderers["doc"]
    ids = renderer.doc_ids([text])[0]
    tokenizer = renderer.tokenizer
    expected = tokenizer(doc_prompt(tokenizer, text, renderer.doc_budget),
                         add_special_tokens=False)["input_ids"]
    assert ids == expected
    decoded = tokenizer.decode(ids)
    assert decoded.lstrip().startswith("<s>") and SYSTEM_PROMPT in decoded
    assert decoded.rstrip().endswith("[/INST]")


def test_chunk_prompts_number_lines_across_the_document(refiner):
    text = "\n".join(f"line {i} " + "word " * 30 for i in range(12))
    chunks, ids = refiner.renderers["chunk"].chunk_ids(text)
    assert len(chunks) > 1 and len(ids) == len(chunks)
    assert chunks[0].first_line == 0 and chunks[-1].last_line == 11
    assert all(b.first_line == a.last_line + 1 for a, b in zip(chunks, chunks[1:]))
    assert "[011]" in refiner.renderers["chunk"].tokenizer.decode(ids[-1])


def test_predicts_one_program_per_document_and_counts_usage(refiner):
    texts = [d["text"] for d in short_docs(6)]
    doc_programs = refiner.predict_doc(texts)
    chunk_programs = refiner.predict_chunks(texts[:3])
    assert len(doc_programs) == 6 and len(chunk_programs) == 3
    assert all(isinstance(p, str) for p in doc_programs + chunk_programs)
    # every chunk program carries its scope markers; a random model's calls are garbage
    for program in chunk_programs:
        assert program.startswith("# chunk 0-")
        assert len(parse(program, "chunk").scope_table) > 1
    usage = refiner.usage
    assert usage["doc"].requests == 6 and usage["doc"].prompt_tokens > 6 * 20
    assert 0 < usage["doc"].completion_tokens <= 6 * TINY_OPTIONS["doc_max_new_tokens"]
    assert usage["chunk"].requests >= 3 and usage["chunk"].seconds > 0


def test_left_padded_batches_give_the_same_programs_as_one_at_a_time(refiner):
    texts = [d["text"] for d in short_docs(5)]
    batched = refiner.predict_doc(texts)
    single = [refiner.predict_doc([t])[0] for t in texts]
    assert batched == single


def test_length_sorted_batches_respect_the_limits(refiner):
    engine = refiner._engines["doc"]
    requests = [GenerationRequest([1] * n, 4) for n in (50, 5, 30, 10, 40, 20)]
    batches = engine._batches(requests)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) <= engine.batch_size for b in batches)
    lengths = [len(requests[i].prompt_ids) for b in batches for i in b]
    assert lengths == sorted(lengths)


def test_constrained_decoding_is_refused_where_unsupported(tiny_model):
    with pytest.raises(ValueError, match="cannot constrain"):
        load_backend("transformers", str(tiny_model), constrained=True)


def test_unknown_options_are_an_error(tiny_model):
    # by name, not as a Python list (['no_such_option'])
    with pytest.raises(ValueError, match=r"not understood by the transformers backend: "
                       r"no_such_option \(settings of another backend"):
        load_backend("transformers", str(tiny_model), no_such_option=1)


def test_a_tokenizer_without_a_chat_template_says_how_to_give_one(tiny_model, tmp_path):
    """A ProX model copy whose tokenizer has no template: the error names the option that
    fixes it (it said only "see docs/inference.md")."""
    import shutil

    folder = tmp_path / "no-template"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ValueError, match="--chat-template llama2") as refused:
        load_backend("transformers", str(folder), threads=1)
    # the option is prox refine's alone: the refine DAG (no chat_template Param), prox eval,
    # calibrate and train's evaluation load the folder as it is, so the way out there is
    # the folder's own template
    assert "prox refine --chat-template" in str(refused.value)
    assert "tokenizer_config.json" in str(refused.value), refused.value
    config["chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    load_backend("transformers", str(folder), threads=1).close()
    load_backend("transformers", str(folder), threads=1, chat_template="llama2").close()


def test_a_config_json_with_a_value_of_the_wrong_type_names_the_file(tiny_model, tmp_path):
    """A config.json whose hidden_size is a string passes every check before the plan (they
    read names and kinds; transformers' configuration classes check types only as the model
    loads, importing torch): the shard failed with huggingface_hub's
    "StrictDataclassFieldValidationError: Validation error for field 'hidden_size'", naming
    no file, and the DAG retried it in vain. It names the file now, as a damaged model: no
    retries, ``prox refine`` exits 2."""
    import shutil

    from prox_tasks.models.artifact import ModelConfigDamaged
    from prox_tasks.pipeline.errors import cannot_succeed

    folder = tmp_path / "edited"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": "64"}))
    with pytest.raises(ModelConfigDamaged) as refused:
        load_backend("transformers", str(folder), threads=1)
    said = str(refused.value)
    assert f"{folder / 'config.json'} holds a value the model's configuration refuses" in said
    assert "'hidden_size'" in said and "fetch or copy the model's files again" in said, said
    assert isinstance(refused.value, cannot_succeed())
