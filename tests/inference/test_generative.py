"""Prompt fitting and output clean-up of the generative refiner."""

from transformers import AutoTokenizer

from prox_tasks.inference.base import Completion
from prox_tasks.inference.generative import _complete_lines, _without_comments
from prox_tasks.inference.prompts import PromptRenderer
from prox_tasks.programs import join_chunk_programs, parse


def test_budgets_shrink_to_fit_the_model_context(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    renderer = PromptRenderer(tokenizer, doc_tokens=2000, chunk_tokens=1500, max_model_len=300,
                              doc_max_new_tokens=16, chunk_max_new_tokens=64)
    assert renderer.doc_budget < 300 - 16 and renderer.chunk_budget < 300 - 64
    text = "\n".join(f"line {i}: " + "lorem ipsum dolor sit amet " * 8 for i in range(80))
    assert all(len(ids) + 16 <= 300 for ids in renderer.doc_ids([text]))
    chunks, ids = renderer.chunk_ids(text)
    assert len(chunks) > 3 and all(len(i) + 64 <= 300 for i in ids)
    assert renderer.clipped_prompts == 0


def test_a_model_cannot_move_calls_into_another_chunk_with_a_scope_comment():
    injected = "remove_lines(2, 3)\n# chunk 0-\nnormalize(source_str=\"a\")"
    joined = join_chunk_programs([(0, 4, "keep_chunk()"), (5, 9, _without_comments(injected))])
    parsed = parse(joined, "chunk")
    assert len(parsed.scope_table) == 3  # only the two real chunks (plus the document)
    assert all(parsed.scope_table[s].first == 5 for s in parsed.scopes[1:])


def test_a_call_cut_by_the_token_limit_is_dropped_only_under_constraints():
    cut = Completion("remove_lines(line_start=1, line_end=2)\nremove_lines(line_st", 10, 64,
                     "length")
    assert _complete_lines(cut, constrained=True) == "remove_lines(line_start=1, line_end=2)"
    assert _complete_lines(cut, constrained=False) == cut.text
    whole = Completion("keep_chunk()\nkeep_chunk()", 10, 5, "stop")
    assert _complete_lines(whole, constrained=True) == whole.text


def test_a_document_longer_than_the_tokenizers_maximum_is_cut_without_a_false_warning(
        tiny_model):  # fmt: skip
    """Every generative run printed transformers' "Token indices sequence length is longer
    than the specified maximum sequence length for this model (12472 > 4096). Running this
    sequence through the model will result in indexing errors" on its first long document:
    whole documents are tokenized to be cut to the budget, and none reaches the model whole.
    Rendering a document past the tokenizer's maximum now warns nothing."""
    import logging

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    text = "\n".join("lorem ipsum dolor sit amet " * 10 for _ in range(3 * 1024))
    assert len(tokenizer(text, verbose=False)["input_ids"]) > tokenizer.model_max_length

    class Collected(logging.Handler):
        records: list = []

        def emit(self, record):
            self.records.append(record.getMessage())

    logger = logging.getLogger("transformers.tokenization_utils_base")
    handler = Collected()
    logger.addHandler(handler)
    try:
        renderer = PromptRenderer(tokenizer, doc_tokens=2000, chunk_tokens=1500,
                                  max_model_len=1024, doc_max_new_tokens=16,
                                  chunk_max_new_tokens=64)  # fmt: skip
        [ids] = renderer.doc_ids([text])
        assert len(ids) + 16 <= 1024 and renderer.chunk_ids(text)[1]
    finally:
        logger.removeHandler(handler)
    assert not [m for m in handler.records if "indexing errors" in m], handler.records
