"""Chunk targets: a teacher's document program cut into the programs of a model's chunks."""

from __future__ import annotations

from prox_tasks.programs import render_chunks
from prox_tasks.training.targets import chunk_targets


def test_chunk_targets_follow_the_models_chunks():
    text = "\n".join(f"line {i} " + "word " * 5 for i in range(10))
    teacher = "# chunk 0-9\nremove_lines(line_start=2, line_end=6)\nnormalize(source_str=\"line 8\")"
    chunks = render_chunks(text, max_tokens=20)  # small chunks: ~2 lines each
    assert len(chunks) > 2
    targets = chunk_targets(text, teacher, chunks)
    assert len(targets) == len(chunks)
    for chunk, target in zip(chunks, targets):
        inside = [n for n in range(2, 7) if chunk.first_line <= n <= chunk.last_line]
        if inside:
            assert f"remove_lines(line_start={inside[0]}, line_end={inside[-1]})" in target
        elif chunk.first_line <= 8 <= chunk.last_line:
            assert target.startswith("normalize(")
        else:
            assert target == "keep_chunk()"
