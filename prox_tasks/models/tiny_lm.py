"""The embedded generative refiner's parts: a tokenizer trained on the seed texts and a small
Llama-architecture model, built from nothing (no download).

Line references need no digit-by-digit copying: the tokenizer holds one token per line
prefix ``[000]``..``[NNN]`` and one token per program line number ``0``..``NNN`` (matched
only as a whole word, so ``line_start=12,`` is one number token and ``2012`` is not touched),
plus one token per program fragment (``remove_lines(line_start=``, ``, line_end=``,
``keep_chunk()``...). Attention then points at a line in one step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["<pad>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
PROGRAM_TOKENS = [
    "[doc]", "[/doc]", "remove_lines(line_start=", ", line_end=", ")\n", "keep_chunk()",
    "keep_doc()", "drop_doc()",
]  # fmt: skip


@dataclass
class TinyLMConfig:
    """Size of the embedded model and its tokenizer.

    Attributes:
        vocab_size: BPE vocabulary trained on the texts (added tokens come on top).
        max_lines: Line prefix and line number tokens cover ``0..max_lines-1``.
        hidden_size: Model width; ``hidden_size / num_heads`` must be 64 or 128 for vLLM.
        num_layers: Decoder layers.
        num_heads: Attention heads.
        intermediate_size: MLP width.
        max_positions: Longest sequence.
    """

    vocab_size: int = 4000
    max_lines: int = 1000
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 688
    max_positions: int = 2048

    def to_dict(self) -> dict:
        return asdict(self)


def build_tokenizer(texts: Iterable[str], config: TinyLMConfig):
    """Train a byte-level BPE tokenizer on ``texts`` and add the program and line tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size, special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer)
    width = max(3, len(str(config.max_lines - 1)))
    added = [AddedToken(t, normalized=False) for t in PROGRAM_TOKENS]
    added += [AddedToken(f"[{n:0{width}d}]", normalized=False) for n in range(config.max_lines)]
    added += [
        AddedToken(str(n), single_word=True, normalized=False) for n in range(config.max_lines)
    ]
    tok.add_tokens(added)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token=None,
    )  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, config: TinyLMConfig, seed: int = 0):
    """A freshly initialised Llama-architecture causal LM sized by ``config``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads, intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_positions, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, rope_theta=10000.0,
    )  # fmt: skip
    return LlamaForCausalLM(llama)
