"""A tiny causal LM saved exactly as the ProX paper's released refining models are.

The released models (e.g. ``gair-prox/web-doc-refining-lm``) are Llama-architecture
checkpoints in Hugging Face format: ``config.json`` (``LlamaForCausalLM``),
``generation_config.json``, ``model.safetensors``, and a Llama tokenizer (``<unk>``, ``<s>``,
``</s>``; SentencePiece-style ``▁`` word boundaries; digits split) whose
``tokenizer_config.json`` carries the Llama-2 chat template the paper prompts with. No hub is
reachable here, so tests and benchmarks build one of these from nothing (a BPE tokenizer
trained on the given texts, random weights) and run it through the same loading path a real
copy of the paper's models takes. ``head_dim`` is 64: vLLM on the CPU needs 64 or 128.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# The Llama-2 chat template (as in meta-llama/Llama-2-7b-chat-hf's tokenizer_config.json),
# which the ProX refining scripts apply with the system prompt of DESIGN.md.
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)
PROGRAM_WORDS = ["keep_doc()", "drop_doc()", "keep_chunk()", "remove_lines(", "line_start=",
                 "line_end=", "normalize(", "source_str=", "target_str=", "[doc]", "[/doc]"]


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1000):
    """A Llama-style BPE tokenizer trained on ``texts`` (fast tokenizer, chat template set)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split("\n", behavior="isolated"),
    ])  # fmt: skip
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])  # fmt: skip
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"]
                                  + byte_tokens, initial_alphabet=list("▁\n"))  # fmt: skip
    tok.train_from_iterator(list(texts) + PROGRAM_WORDS * 20, trainer)
    # Llama's <0xNN> byte tokens are ordinary vocabulary, not special tokens: decoding with
    # skip_special_tokens must keep them (the trainer registered them as special).
    spec = json.loads(tok.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in byte_tokens]
    tok = Tokenizer.from_str(json.dumps(spec))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", add_bos_token=False)  # fmt: skip
    fast.chat_template = LLAMA2_CHAT_TEMPLATE
    fast.model_max_length = 4096
    return fast


def build_prox_format_model(folder: str | Path, texts: Iterable[str], *, hidden_size: int = 128,
                            num_layers: int = 2, num_heads: int = 2, intermediate_size: int = 344,
                            vocab_size: int = 1000, max_positions: int = 2048,
                            seed: int = 0) -> Path:
    """Build and save a tiny Llama refining model in the ProX released-model format.

    Args:
        folder: Where to save it (created).
        texts: Texts to train the tokenizer on.
        hidden_size: Model width (``hidden_size / num_heads`` = 64 by default).
        num_layers: Decoder layers.
        num_heads: Attention heads.
        intermediate_size: MLP width.
        vocab_size: BPE vocabulary size.
        max_positions: Context length.
        seed: Weight initialisation seed.

    Returns:
        The folder.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(texts, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_heads,
        head_dim=hidden_size // num_heads, intermediate_size=intermediate_size,
        max_position_embeddings=max_positions, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=None, tie_word_embeddings=False,
        rope_theta=10000.0, torch_dtype="float32",
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    _as_released_tokenizer_config(folder)
    return folder


def _as_released_tokenizer_config(folder: Path) -> None:
    """Write the tokenizer config as the released models have it: a Llama tokenizer class
    and the chat template inside ``tokenizer_config.json`` (newer transformers write it to
    ``chat_template.jinja``; both load)."""
    import json

    config_file, template_file = folder / "tokenizer_config.json", folder / "chat_template.jinja"
    config = json.loads(config_file.read_text())
    if template_file.exists():
        config["chat_template"] = template_file.read_text()
        template_file.unlink()
    config.setdefault("chat_template", LLAMA2_CHAT_TEMPLATE)
    config.update(tokenizer_class="LlamaTokenizerFast", add_bos_token=True, add_eos_token=False,
                  legacy=False, padding_side="left")
    config.pop("backend", None)
    config_file.write_text(json.dumps(config, indent=2) + "\n")
