"""Line alignment of the document viewer: kept, removed and normalized lines."""

from prox_tasks.programs import execute
from prox_tasks.report.documents import align_lines

TEXT = ("Menu | Login\nThe cat sat on the mat for a long while, as cats do.\nCookie banner\n"
        "It was (c) 2024 happy there and would not move at all.\nShare this")


def _statuses(view):
    return [(line.number, line.status) for line in view]


def test_removed_and_normalized_lines_from_a_real_program():
    out = execute(TEXT, "keep_doc()", 'remove_lines(line_start=0, line_end=0)\n'
                  'remove_lines(line_start=2, line_end=2)\n'
                  'normalize(source_str="(c) 2024 ", target_str="")').text
    view = align_lines(TEXT, out)
    assert _statuses(view) == [(0, "removed"), (1, "kept"), (2, "removed"),
                               (3, "normalized"), (4, "kept")]
    normalized = view[3]
    assert "".join(t for t, changed in normalized.before if changed).strip() == "(c) 2024"
    assert "".join(t for t, _ in normalized.after) == \
        "It was happy there and would not move at all."


def test_dropped_document_shows_every_line_removed():
    view = align_lines(TEXT, None)
    assert {line.status for line in view} == {"removed"} and len(view) == 5


def test_unchanged_document_and_a_normalization_adding_a_line():
    assert {line.status for line in align_lines(TEXT, TEXT)} == {"kept"}
    view = align_lines("a b\nc d", "a\nb\nc d")  # a normalization wrote a newline
    assert [line.status for line in view] == ["normalized", "normalized", "kept"]
    assert all(line.number in (0, 1) for line in view)


def test_a_long_normalized_line_is_marked_between_its_common_prefix_and_suffix():
    from prox_tasks.report.documents import CHAR_DIFF_LIMIT

    head, tail = "word " * CHAR_DIFF_LIMIT, " more" * CHAR_DIFF_LIMIT
    line = head + "click here" + tail
    view = align_lines("Menu\n" + line, head + tail)
    assert _statuses(view) == [(0, "removed"), (1, "normalized")]
    assert view[1].before == [(head, False), ("click here", True), (tail, False)]
    assert view[1].after == [(head, False), (tail, False)]


def _snapshot(tmp_path, n_docs=30, programs=None):
    from tests.quality.snapshot_factory import programs_for, refine_snapshot, write_input

    src = write_input(tmp_path / "in" / "crawl.jsonl", n_docs)
    out = tmp_path / "out"
    refine_snapshot(str(src), str(out), target_docs=n_docs, programs=programs or programs_for)
    return src, str(out)


def test_a_page_aligns_only_the_documents_it_shows(tmp_path, monkeypatch):
    from prox_tasks.report import documents

    _, out = _snapshot(tmp_path)
    aligned = []
    real = documents.align_lines
    monkeypatch.setattr(documents, "align_lines",
                        lambda a, b: aligned.append(a) or real(a, b))  # a spy, not a fake
    views, matched, notice = documents.document_views(out, 0, "all", page=2, per_page=10)
    assert matched == 30 and [v.id for v in views] == [f"doc-{i}" for i in range(10, 20)]
    assert len(aligned) == 10 and notice is None
    dropped, matched, _ = documents.document_views(out, 0, "dropped", page=9, per_page=4)
    assert matched == 6 and [v.id for v in dropped] == ["doc-24", "doc-29"]  # last page
    assert {v.outcome for v in dropped} == {"dropped"}
    edited, matched, _ = documents.document_views(out, 0, "edited", per_page=100)
    assert matched == 24 and all(v.outcome == "edited" for v in edited)


def test_a_huge_document_is_shown_clipped(tmp_path):
    from prox_tasks.report.documents import MAX_SHOWN_CHARS, MAX_SHOWN_LINES, document_views

    def keep_all(i):
        return "keep_doc()", ""

    src, out = tmp_path / "in" / "crawl.jsonl", str(tmp_path / "out")
    src.parent.mkdir()
    import json

    huge = "\n".join(["x" * 50_000] + [f"line {i}" for i in range(3 * MAX_SHOWN_LINES)])
    src.write_text(json.dumps({"id": "doc-0", "text": huge}) + "\n")
    from tests.quality.snapshot_factory import refine_snapshot

    refine_snapshot(str(src), out, programs=keep_all)
    (view,), _, _ = document_views(out, 0)
    assert len(view.lines) == MAX_SHOWN_LINES and view.hidden_lines == 2 * MAX_SHOWN_LINES + 1
    first = view.lines[0].before
    assert first[0] == ("x" * MAX_SHOWN_CHARS, False) and "48,000 more characters" in first[1][0]


def test_a_shard_whose_input_is_gone_shows_its_refined_text_with_a_notice(tmp_path):
    from prox_tasks.report.distributions import snapshot_distributions
    from prox_tasks.report.documents import ShardNotAvailable, document_views

    src, out = _snapshot(tmp_path, n_docs=10)
    src.rename(src.with_suffix(".moved"))  # the crawl partition expired
    views, matched, notice = document_views(out, 0)
    assert matched == 10 and "cannot be read any more" in notice
    assert {line.status for v in views for line in v.lines} == {"kept"}
    assert [v.outcome for v in views].count("dropped") == 2
    assert snapshot_distributions(out).docs_read == 10  # the snapshot page still renders
    for shard in (1, -1):
        try:
            document_views(out, shard)
        except ShardNotAvailable as err:
            assert "no shard" in str(err)
        else:
            raise AssertionError("a shard outside the plan was shown")


def test_hidden_characters_are_shown_as_markers_and_the_rest_escaped():
    from prox_tasks.report.pages import visible

    shown = str(visible("Price: \u202e99.1$ xaT <script>\x00\ufeff"))
    assert shown == ('Price: <span class="ctl">⟨U+202E⟩</span>99.1$ xaT &lt;script&gt;'
                     '<span class="ctl">⟨U+0000⟩</span><span class="ctl">⟨U+FEFF⟩</span>')
    assert str(visible("tab\tand é")) == "tab\tand é"  # a tab and letters are text


def test_files_linked_out_of_the_snapshot_folder_are_not_read(tmp_path):
    """Whoever can write a snapshot's folder may plant a link as its shard, plan, gate
    result or status file: the report follows none out of the folder (the one check,
    :func:`prox_tasks.report.roots.served_file`); the rest of the snapshot still shows."""
    import os
    from pathlib import Path

    from prox_tasks.corpus.manifest import MANIFEST_NAME, shard_uri, status_uri
    from prox_tasks.quality.gate import gate_uri
    from prox_tasks.report.cache import read_json
    from prox_tasks.report.distributions import snapshot_distributions
    from prox_tasks.report.documents import ShardNotAvailable, document_views
    from prox_tasks.storage import parse_uri

    def path(uri: str) -> Path:
        return Path(parse_uri(uri).path)

    from tests.quality.snapshot_factory import refine_snapshot, write_input

    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    other, out = str(tmp_path / "other"), str(tmp_path / "mine")  # another team's; ours
    for folder in (other, out):
        refine_snapshot(str(src), folder, target_docs=10)
    mine = path(shard_uri(out, 0))
    os.rename(mine, mine.with_suffix(".real"))
    mine.symlink_to(path(shard_uri(other, 0)))
    try:
        document_views(out, 0)
    except ShardNotAvailable as err:
        assert "not a file of the snapshot's folder" in str(err)
    else:
        raise AssertionError("a shard linked out of the snapshot was shown")
    assert document_views(out, 1)[1] == 10  # the other shard still shows
    dist = snapshot_distributions(out)
    assert dist.docs_read == 10 and "not a file of the snapshot's folder" in dist.unreadable[0]

    status, gate = path(status_uri(out, 0)), path(gate_uri(out))
    gate.parent.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "secret.json"
    secret.write_text('{"model_version": "hunter2", "checks": []}')
    status.unlink()
    for link in (status, gate):
        link.symlink_to(secret)
        assert read_json(str(link), out) is None
    assert read_json(str(secret), str(tmp_path)) is not None  # a file of the folder is read

    plan = Path(out) / MANIFEST_NAME
    os.rename(plan, plan.with_suffix(".real"))
    plan.symlink_to(Path(other) / MANIFEST_NAME)
    try:
        document_views(out, 1)
    except ShardNotAvailable as err:
        assert "not a file of the snapshot's folder" in str(err)
    else:
        raise AssertionError("a plan linked out of the snapshot was read")
