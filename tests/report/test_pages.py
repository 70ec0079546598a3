"""The report's pages rendered from a real catalog and real refined snapshots."""

from prox_tasks.catalog import Catalog
from prox_tasks.pipeline import refresh
from prox_tasks.report import snapshot_page
from tests.quality.snapshot_factory import programs_for, refine_snapshot, write_input


def _page(tmp_path, name: str, programs) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    src = write_input(tmp_path / "in" / f"{name}.jsonl", 20)
    snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(tmp_path),
                                         "snapshot_name": name, "catalog_url": url},
                                        "2026-03-01", "scheduled__2026-03-01T00:00:00+00:00")
    refresh.plan(snapshot, 10, 1024, "default", None)
    refine_snapshot(str(src), snapshot["output_uri"], programs=programs)
    with Catalog(url) as catalog:
        return snapshot_page(catalog, name, "/prox", "")


def test_a_snapshot_that_dropped_nothing_says_so_instead_of_an_empty_chart(tmp_path):
    """The drop-reasons chart of a snapshot that dropped nothing was an empty frame with
    an axis of 0: it read as a chart that broke. It is now one sentence."""
    html = _page(tmp_path, "kept-all", lambda i: ("keep_doc()", ""))
    assert 'id="dist-drops"' not in html and "No document dropped." in html
    html = _page(tmp_path, "dropped-some", programs_for)
    assert 'id="dist-drops"' in html and "No document dropped" not in html
