"""Small labeled documents for the training, model and registry tests (labeled by the real
``rules`` teacher), and a tiny Llama-architecture refiner built from them."""

from __future__ import annotations

import random

from prox_tasks.labeling import get_teacher

BOILERPLATE = ["Home", "About us", "Contact", "Sign in", "Subscribe to our newsletter",
               "Privacy policy", "Terms of use", "Share on Facebook", "Follow us",
               "© 2024 Example Inc. All rights reserved.", "Skip to content", "Menu"]
# with stop words, so the rules teacher keeps the pages with running text (without any, it
# dropped every page as no_stop_words: a seed set of drops only, which prox train refuses)
WORDS = ("river valley people water school history music garden science winter city market "
         "doctor family teacher story morning paper light house forest animal island "
         "the of and to in with").split()


def sentence(rng: random.Random) -> str:
    n = rng.randint(12, 30)
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def make_docs(n: int, seed: int = 0) -> list[dict]:
    """``n`` synthetic pages (menus, paragraphs, footers) labeled by the rules teacher."""
    rng = random.Random(seed)
    teacher = get_teacher("rules")
    docs = []
    for i in range(n):
        if i % 9 == 8:  # a page with no running text: the teacher drops it
            lines = rng.sample(BOILERPLATE, 4)
        else:
            lines = rng.sample(BOILERPLATE, rng.randint(1, 4))
            paragraphs = [sentence(rng) + " " + sentence(rng) for _ in range(rng.randint(2, 6))]
            lines += paragraphs + rng.sample(BOILERPLATE, rng.randint(1, 4))
        text = "\n".join(lines)
        label = teacher.label(text)
        gold = "\n".join(line for line in lines if line.endswith(".") and len(line) > 60)
        docs.append({"id": f"doc-{seed}-{i}", "text": text, "doc_program": label.doc_program,
                     "chunk_program": label.chunk_program, "gold_text": gold or None,
                     "teacher": "rules"})  # fmt: skip
    return docs


def tiny_lm_config():
    from prox_tasks.models.tiny_lm import TinyLMConfig

    # head_dim 64 (hidden 64, one head): what vLLM on the CPU needs
    return TinyLMConfig(vocab_size=300, max_lines=64, hidden_size=64, num_layers=2,
                        num_heads=1, intermediate_size=128, max_positions=1024)  # fmt: skip


def gold_page_rows(n: int, start: int = 0) -> list[dict]:
    """``n`` pages of the shipped gold set as a seed set built from their collection holds
    them (``prox label --seed-set`` over WCXB dev: the page's id and text, its gold, a label
    of the real ``rules`` teacher)."""
    from prox_tasks.evaluation.goldset import load_gold_set

    teacher = get_teacher("rules")
    rows = []
    for page in load_gold_set()[0][start : start + n]:
        label = teacher.label(page["text"])
        rows.append({"id": page["id"], "text": page["text"], "doc_program": label.doc_program,
                     "chunk_program": label.chunk_program, "gold_text": page["gold_text"],
                     "page_type": page["page_type"], "teacher": "rules"})  # fmt: skip
    return rows
