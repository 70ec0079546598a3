"""A small crawl partition resolved as the refine DAG's ``resolve`` task does, with its own
catalog (the Airflow tests' session shares one PROX_HOME, so a test naming none would share
its catalog and the snapshot name with other tests)."""

from __future__ import annotations

from prox_tasks.pipeline import refresh


def small_snapshot(tmp_path, docs: int, name: str = "in.jsonl") -> dict:
    """``tmp_path/<name>`` with ``docs`` two-line documents (plain JSON Lines whatever the
    name), resolved for 2026-01-02 into ``tmp_path/corpus`` with the catalog
    ``tmp_path/cat.sqlite``."""
    source = tmp_path / name
    source.write_text("".join(f'{{"id": "{i}", "text": "line one {i}\\nline two {i}"}}\n'
                              for i in range(docs)))  # fmt: skip
    return refresh.resolve_snapshot({"input_uri": str(source),
                                     "output_root": str(tmp_path / "corpus"),
                                     "catalog_url": f"sqlite:///{tmp_path}/cat.sqlite"},
                                    "2026-01-02")
