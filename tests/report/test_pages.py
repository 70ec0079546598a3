"""The report's pages rendered from a real catalog and real refined snapshots."""

from prox_tasks.catalog import Catalog
from prox_tasks.pipeline import refresh
from prox_tasks.report import snapshot_page
from tests.quality.snapshot_factory import (
    cataloged_snapshot,
    programs_for,
    refine_snapshot,
    write_input,
)


def _page(tmp_path, name: str, programs, failed_shard: int | None = None,
          ds: str | None = "2026-03-01") -> str:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    src = write_input(tmp_path / "in" / f"{name}.jsonl", 20)
    cataloged_snapshot(src, tmp_path, name, url, ds, "scheduled__2026-03-01T00:00:00+00:00",
                       programs=programs)
    with Catalog(url) as catalog:
        for shard in range(2):
            catalog.start_shard(name, shard)
            if shard == failed_shard:  # its refine died before publishing anything
                catalog.fail_shard(name, shard, "OSError: No space left on device")
                for folder in ("shards", "_status", "quarantine"):
                    for file in (tmp_path / "snapshots" / name / folder).glob(
                            f"shard-{shard:05d}*"):
                        file.unlink()
            else:
                catalog.finish_shard(name, shard, {"docs_read": 10, "docs_written": 10,
                                                   "docs_quarantined": 0})
        return snapshot_page(catalog, name, "/prox", "")


def test_a_snapshot_that_dropped_nothing_says_so_instead_of_an_empty_chart(tmp_path):
    """The drop-reasons chart of a snapshot that dropped nothing was an empty frame with
    an axis of 0: it read as a chart that broke. It is now one sentence."""
    html = _page(tmp_path, "kept-all", lambda i: ("keep_doc()", ""))
    assert 'id="dist-drops"' not in html and "No document dropped." in html
    html = _page(tmp_path, "dropped-some", programs_for)
    assert 'id="dist-drops"' in html and "No document dropped" not in html


def test_a_snapshot_without_a_logical_date_is_not_shown_under_one(tmp_path):
    """A run triggered without a logical date (docs/airflow.md's REST example, an undated
    release) was listed on the report and its page under "logical date" <the day it was
    created>, as if it were that day's crawl partition: it now says it has none. A dated
    snapshot is shown as before."""
    from prox_tasks.report import overview_page
    from prox_tasks.report.overview import RowFilter

    html = _page(tmp_path, "hotfix-1", programs_for, ds=None)
    assert "none (created " in html
    html = _page(tmp_path, "crawl-2026-03-01", programs_for)
    assert "2026-03-01</span>" in html and "none (created " not in html
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        listed = overview_page(catalog, RowFilter(), 1, "/prox", "")
    assert listed.count("none (created ") == 1  # hotfix-1's row only


def test_a_failed_shard_offers_no_document_viewer_link(tmp_path):
    """A failed shard's "documents" link led to a bare 404 ('shard 1 is not refined
    (yet)'); the row shows its error and no link, the others keep theirs."""
    html = _page(tmp_path, "one-failed", programs_for, failed_shard=1)
    assert "OSError: No space left on device" in html
    assert "documents?shard=0" in html and "documents?shard=1" not in html


def test_the_most_frequent_edits_count_documents_not_lines(tmp_path):
    """The snapshot page's "Most frequent removed lines" and "normalizations" tables count
    documents (their column says so). A line removed several times from one page (a closing
    brace of a code block, a share button) counted once per occurrence: on a real crawl "}"
    read as removed from 900 documents, which it was from a few dozen."""
    import json

    from prox_tasks.report.distributions import snapshot_distributions

    src = tmp_path / "in.jsonl"
    body = " ".join(["words of a page that stays"] * 8)
    texts = [f"Home\n}}\nalpha gamma {body}\n}}\n}}\nbeta gamma {body}",
             f"Home\nalpha gamma {body}\n}}"]
    src.write_text("".join(json.dumps({"id": f"doc-{i}", "text": t}) + "\n"
                           for i, t in enumerate(texts)))
    chunks = ["remove_lines(line_start=0, line_end=1)\nremove_lines(line_start=3, line_end=4)"
              '\nnormalize(source_str="gamma", target_str="GAMMA")'
              '\nnormalize(source_str="gamma", target_str="GAMMA")',
              "remove_lines(line_start=0, line_end=0)\nremove_lines(line_start=2, line_end=2)"
              '\nnormalize(source_str="gamma", target_str="GAMMA")']
    out = str(tmp_path / "snapshot")
    refine_snapshot(str(src), out, programs=lambda i: ("keep_doc()", chunks[i]))
    dist = snapshot_distributions(out)
    assert dict(map(tuple, dist.removed_lines_top)) == {"Home": 2, "}": 2}
    assert dist.normalizations_top == [["gamma", "GAMMA", 2]]


def test_a_snapshot_whose_folder_is_gone_shows_the_catalog_and_says_why(tmp_path):
    """A snapshot the catalog still lists after its folder was deleted (an expired
    snapshot, a moved corpus): its page answered 500 ('no manifest (plan the snapshot
    first)') and so did its viewer. The page shows the catalog's figures with a notice
    naming the folder; the viewer refuses with the same words."""
    import shutil

    import pytest

    from prox_tasks.report.documents import ShardNotAvailable, document_views

    _page(tmp_path, "expired", programs_for)
    folder = tmp_path / "snapshots" / "expired"
    shutil.rmtree(folder)
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        html = snapshot_page(catalog, "expired", "/prox", "")
    assert f"{folder} holds no manifest.json any more" in html and "Shards" in html
    with pytest.raises(ShardNotAvailable, match="holds no manifest.json any more"):
        document_views(f"file://{folder}", 0)


def test_a_snapshot_of_many_shards_lists_the_ones_to_look_at_first(tmp_path, monkeypatch):
    """A snapshot page listed every shard: 2,000 rows took chromium 1.8 s to show, each
    view. It lists at most MAX_SHARD_ROWS, the failed and quarantining ones first, and links
    to all of them."""
    import re

    from prox_tasks.report import pages

    monkeypatch.setattr(pages, "MAX_SHARD_ROWS", 1)
    html = _page(tmp_path, "two-shards", programs_for, failed_shard=1)
    assert re.findall(r"shard-0000\d</td>", html) == ["shard-00001</td>"]
    assert "1 of 2 shards" in html and 'href="?shards=all"' in html
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        every = snapshot_page(catalog, "two-shards", "/prox", "", all_shards=True)
    assert re.findall(r"shard-0000\d</td>", every) == ["shard-00000</td>", "shard-00001</td>"]
    assert "?shards=all" not in every


def test_counts_on_the_pages_agree_in_number(tmp_path):
    """The viewer said "1 documents match." and the overview "1 snapshots in the catalog":
    every count on the pages is worded by prox_tasks.wording.count."""
    from prox_tasks.report import documents_page, overview_page
    from prox_tasks.report.overview import RowFilter

    def drop_one(i):
        return ("drop_doc()", "") if i == 3 else ("keep_doc()", "")

    _page(tmp_path, "one-dropped", drop_one)
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        viewer = documents_page(catalog, "one-dropped", 0, "dropped", 1, "/prox", "")
        every = documents_page(catalog, "one-dropped", 0, "all", 1, "/prox", "")
        overview = overview_page(catalog, RowFilter(), 1, "/prox", "")
    assert "1 document matches." in viewer and "documents match" not in viewer
    assert "10 documents match." in every
    assert "1 snapshot in the catalog" in overview and "(2 attempts)" in overview


def test_viewer_links_lead_only_to_shards_already_written(tmp_path):
    """A snapshot whose shard 0 is still being refined (its file not written yet, the
    catalog says running) linked its "document viewer" and that shard's row to a bare 404
    ('shard 0 is not refined (yet)'). The page links the viewer to the first written shard,
    and a row's documents only when its shard is written."""
    _page(tmp_path, "being-written", programs_for)
    folder = tmp_path / "snapshots" / "being-written"
    for name in ("shards", "_status", "quarantine"):
        for file in (folder / name).glob("shard-00000*"):
            file.unlink()
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        catalog.start_shard("being-written", 0)  # a new attempt, still running
        html = snapshot_page(catalog, "being-written", "/prox", "")
    assert "documents?shard=0" not in html and '/documents"' not in html
    assert 'href="/prox/snapshots/being-written/documents?shard=1">document viewer' in html


def test_trends_without_a_gated_snapshot_say_so_instead_of_empty_charts(tmp_path):
    """A catalog of snapshots none of which was gated yet (a first night's runs failed or
    still running) drew four empty frames with a lone 0% axis: charts that looked broken.
    Each trend with no point says in words why it is empty."""
    from prox_tasks.report import overview_page
    from prox_tasks.report.overview import RowFilter

    _page(tmp_path, "not-gated", programs_for)
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        html = overview_page(catalog, RowFilter(), 1, "/prox", "")
    assert 'data-chart="trend-' not in html
    assert html.count("No gated snapshot") == 4 and 'id="trend-drop_rate"' in html


def test_the_viewer_of_a_shard_not_written_yet_is_a_page_to_pick_another(tmp_path):
    """Picking a shard still being refined in the viewer's shard list answered a bare JSON
    404 ('shard 0 is not refined (yet)'), with no way back but the browser's. The 404 is
    the viewer's page: why, and the shard list to pick another."""
    import pytest

    from prox_tasks.report import documents_page
    from prox_tasks.report.documents import ShardNotAvailable

    _page(tmp_path, "half-written", programs_for, failed_shard=1)
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        with pytest.raises(ShardNotAvailable) as raised:
            documents_page(catalog, "half-written", 1, "all", 1, "/prox", "")
    page = raised.value.page
    assert "shard 1 is not refined (yet)" in page and '<option value="0"' in page
    assert "documents match" not in page and "No document of this shard matches" not in page


def test_the_viewer_s_shard_list_marks_the_shards_not_written_yet(tmp_path):
    """The viewer's shard list offered every planned shard alike: picking one not written
    yet (still refining, or failed) led to "not refined (yet)". Such a shard is marked so
    and cannot be picked; a written one can, and the shard shown stays selected."""
    import re

    from prox_tasks.report import documents_page
    from prox_tasks.report.documents import ShardNotAvailable

    _page(tmp_path, "one-unwritten", programs_for, failed_shard=1)
    with Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as catalog:
        viewer = documents_page(catalog, "one-unwritten", 0, "all", 1, "/prox", "")
        try:
            documents_page(catalog, "one-unwritten", 1, "all", 1, "/prox", "")
        except ShardNotAvailable as err:
            picked_unwritten = err.page
    options = dict(re.findall(r'<option value="(\d)" ([^>]*)>', viewer))
    assert options == {"0": "selected", "1": "disabled"}, options
    assert ">shard-00000</option>" in viewer
    assert ">shard-00001 (not written yet)</option>" in viewer
    # the shard asked for stays selected (a disabled option is not sent with the form)
    assert '<option value="1" selected>shard-00001 (not written yet)' in picked_unwritten
    assert '<option value="0" >shard-00000</option>' in picked_unwritten


def test_a_gated_snapshot_page_counts_normalizations_that_matched_nothing(tmp_path):
    """The gate counts ``normalize()`` calls that matched nothing (``normalizations_unmatched``
    in gate.json's metrics); the snapshot page shows the count beside the program failures,
    once a gate ran (before it, no card: the count is not known)."""
    from prox_tasks.quality import GateFailed, GateThresholds

    def programs(i: int) -> tuple[str, str]:  # one miss in each of the 20 documents
        return "keep_doc()", 'normalize(source_str="not on any page", target_str="x")'

    card = '<div class="label">normalize() matching nothing</div><div class="value">'
    html = _page(tmp_path, "misses", programs)
    assert card not in html
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snapshot = {"name": "misses", "output_uri": str(tmp_path / "snapshots" / "misses"),
                "catalog_url": url}
    try:
        refresh.gate(snapshot, GateThresholds().to_dict())
    except GateFailed:  # judged either way: the metrics are recorded
        pass
    with Catalog(url) as catalog:
        html = snapshot_page(catalog, "misses", "/prox", "")
    assert f"{card}20</div>" in html


def test_hidden_and_reordering_characters_of_ids_and_edits_are_shown_as_markers(tmp_path):
    """The viewer showed a line's bidi overrides, zero-width marks and controls as markers
    (``⟨U+202E⟩``), but not a document's id, nor the snapshot page's most frequent removed
    lines and normalizations: an id ``doc-0-\\u202egnp.exe`` read ``doc-0-exe.png``, a
    removed ``Price: \\u202e99.1$`` read ``Price: $1.99``. They are shown as the viewer shows
    lines."""
    import json

    from prox_tasks.report import documents_page

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    src = tmp_path / "in" / "crawl.jsonl"
    src.parent.mkdir()
    body = " ".join(["words of a page that stays"] * 8)
    src.write_text(json.dumps({"id": "doc-0-\u202egnp.exe",
                               "text": f"Price: \u202e99.1$\nzero\u200bwidth {body}"}) + "\n")
    cataloged_snapshot(src, tmp_path, "hidden", url, "2026-03-01",
                       programs=lambda i: (
        "keep_doc()", "remove_lines(line_start=0, line_end=0)\n"
                      'normalize(source_str="zero\u200bwidth", target_str="\u202eok")'))
    with Catalog(url) as catalog:
        pages = [snapshot_page(catalog, "hidden", "/prox", ""),
                 documents_page(catalog, "hidden", 0, "all", 1, "/prox", "")]
    for page in pages:
        assert "\u202e" not in page and "\u200b" not in page
    overview, viewer = pages
    assert "Price: <span class=\"ctl\">⟨U+202E⟩</span>99.1$" in overview
    assert "zero<span class=\"ctl\">⟨U+200B⟩</span>width" in overview
    assert "doc-0-<span class=\"ctl\">⟨U+202E⟩</span>gnp.exe" in viewer
