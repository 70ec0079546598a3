"""The report at scale: what a page holds and reads, and how much alignment it does."""

from tests.report.test_documents import _snapshot


class _Text(str):
    """An input text that counts how many of its kind are alive (held by the report)."""

    alive = most = 0

    def __new__(cls, text):
        _Text.alive += 1
        _Text.most = max(_Text.most, _Text.alive)
        return super().__new__(cls, text)

    def __del__(self):
        _Text.alive -= 1


def _count_inputs(monkeypatch) -> list:
    """From now on, ``read_shard`` whose documents' texts are counted: the ids read (returned),
    and how many texts were held at once (``_Text.most``)."""
    import prox_tasks.corpus as corpus
    import prox_tasks.corpus.planner as planner

    real, real_snapshot, read = corpus.read_shard, planner.read_snapshot, []

    def spy(*args, **kw):
        for doc in real(*args, **kw):
            read.append(doc.id)
            doc.text = _Text(doc.text)
            yield doc

    def spy_snapshot(*args, **kw):
        for shard, doc in real_snapshot(*args, **kw):
            read.append(doc.id)
            doc.text = _Text(doc.text)
            yield shard, doc

    _Text.alive = _Text.most = 0
    monkeypatch.setattr(corpus, "read_shard", spy)
    monkeypatch.setattr(planner, "read_snapshot", spy_snapshot)
    return read


def test_a_viewer_page_holds_the_texts_of_one_page_not_of_the_shard(tmp_path, monkeypatch):
    from prox_tasks.report.documents import document_views

    _, out = _snapshot(tmp_path, n_docs=60, programs=lambda i: ("keep_doc()", "")
                       if i % 3 else ("keep_doc()", "remove_lines(line_start=0, line_end=0)"))
    _count_inputs(monkeypatch)
    views, matched, _ = document_views(out, 0, "edited", page=2, per_page=5)
    assert matched == 20 and [v.id for v in views] == [f"doc-{i}" for i in range(15, 30, 3)]
    assert _Text.most <= 2 * 5 + 3  # the page asked for, the last page so far, a few in hand
    last, matched, _ = document_views(out, 0, "unchanged", page=99, per_page=7)
    assert matched == 40 and [v.id for v in last] == [f"doc-{i}" for i in
                                                   [i for i in range(60) if i % 3][35:]]


def test_distributions_read_the_input_only_up_to_max_docs(tmp_path, monkeypatch):
    from prox_tasks.report.distributions import snapshot_distributions

    _, out = _snapshot(tmp_path, n_docs=60)
    counted_inputs = _count_inputs(monkeypatch)
    dist = snapshot_distributions(out, max_docs=10)
    assert dist.docs_read == 10 and dist.removed_lines_top == [["Home | About | Contact", 8]]
    assert len(counted_inputs) <= 11 and _Text.most <= 3


def test_rows_out_of_input_order_still_find_their_inputs(tmp_path):
    from prox_tasks.corpus import load_manifest
    from prox_tasks.report.inputs import MAX_REWINDS, ShardInputs

    src, out = _snapshot(tmp_path, n_docs=10)
    source = load_manifest(out).shard(0).segments[0].file
    with ShardInputs(load_manifest(out), 0) as inputs:
        assert inputs.text(source, 5).endswith("5-5") and inputs.text(source, 2).endswith("2-5")
        assert inputs.text(source, 99) is None and inputs.text("elsewhere", 0) is None
        for _ in range(MAX_REWINDS):
            inputs.text(source, 0)
        assert inputs.text(source, 0) is None and "not in input order" in inputs.notice


def _sequence_matcher_work(monkeypatch):
    """The largest ``len(a) * len(b)`` a SequenceMatcher was given over lines."""
    import difflib

    from prox_tasks.report import alignment, documents

    most = [0]

    class Spy(difflib.SequenceMatcher):
        def __init__(self, isjunk=None, a="", b="", autojunk=True):
            if isinstance(a, list):
                most[0] = max(most[0], len(a) * len(b))
            super().__init__(isjunk, a, b, autojunk)

    monkeypatch.setattr(documents, "SequenceMatcher", Spy)
    monkeypatch.setattr(alignment, "SequenceMatcher", Spy, raising=False)
    return most


def test_a_long_page_with_lines_removed_is_aligned_without_a_quadratic_diff(monkeypatch):
    from prox_tasks.programs import execute
    from prox_tasks.report.documents import align_lines

    text = "\n".join(f"line {i} of a long page" if i % 4 else "" for i in range(8000))
    program = "\n".join(f"remove_lines(line_start={a}, line_end={a + 2})"
                        for a in range(0, 8000, 37))
    out = execute(text, "keep_doc()", program).text
    work = _sequence_matcher_work(monkeypatch)
    view = align_lines(text, out)
    assert work[0] == 0  # nothing left for difflib: every refined line placed by the walk
    removed = {line.number for line in view if line.status == "removed"}
    assert removed == {a + k for a in range(0, 8000, 37) for k in range(3)}


def test_normalized_lines_are_paired_and_marked_in_bounded_work(monkeypatch):
    """A long page whose kept lines are all normalized and every other line removed: pairing
    weighed every input line left in the block for each refined line, 0.1 s a pair of long
    lines (minutes a page); the character comparisons a document makes are now bounded (past
    the budget, lines are paired by common prefix and suffix)."""
    import difflib
    import random

    from prox_tasks.report import documents

    work = [0]

    class Spy(difflib.SequenceMatcher):
        def __init__(self, isjunk=None, a="", b="", autojunk=True):
            if isinstance(a, str):
                work[0] += len(a) * len(b) + getattr(documents, "COMPARE_COST", 1000)
            super().__init__(isjunk, a, b, autojunk)

    monkeypatch.setattr(documents, "SequenceMatcher", Spy)
    rng = random.Random(1)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    for n, width in ((2000, 30), (40, 1990)):
        lines = [(f"{i} " + " ".join(rng.choice(words) for _ in range(400)))[:width]
                 for i in range(n)]
        out = [line.replace("a", "4") for i, line in enumerate(lines) if i % 2 == 0]
        work[0] = 0
        view = documents.align_lines("\n".join(lines), "\n".join(out))
        assert work[0] <= getattr(documents, "DIFF_BUDGET", 20_000_000)
        # every input line shown once, in order; a kept or normalized one per refined line
        assert [line.number for line in view] == list(range(n))
        assert sum(line.status != "removed" for line in view) == len(out)


def test_removed_lines_per_document_are_binned_whatever_their_spread(tmp_path):
    """Real pages lose from 0 to thousands of lines: a column per distinct count drew
    hundreds of columns whose labels overlapped into one smear. The chart has at most 13
    ordered bins, and every kept document is in one."""
    import json

    from prox_tasks.report import charts
    from prox_tasks.report.distributions import snapshot_distributions
    from tests.quality.snapshot_factory import refine_snapshot

    src = tmp_path / "in" / "crawl.jsonl"
    src.parent.mkdir()
    with src.open("w") as f:
        for i in range(40):
            text = "\n".join(f"line {j} of document {i} with a few more words" for j in range(300))
            f.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")
    out = str(tmp_path / "out")
    refine_snapshot(str(src), out, target_docs=40, programs=lambda i: (
        "keep_doc()", f"remove_lines(line_start=0, line_end={7 * i - 1})" if i else ""))
    dist = snapshot_distributions(out)
    # document i loses 7 * i lines: 0, 7, 14, 21 ... 273
    assert dist.removed_lines == [["0", 1], ["1", 0], ["2", 0], ["3", 0], ["4", 0],
                                  ["5–9", 1], ["10–19", 1], ["20–49", 5], ["50–99", 7],
                                  ["100–199", 14], ["200–499", 11]]
    spec = charts.columns(dist.removed_lines, "Removed lines", "lines removed", "documents")
    assert spec["encoding"]["x"]["sort"] is None  # the bins' order, not the labels' text
    assert spec["encoding"]["x"]["axis"]["labelAngle"] == -45  # ranges would run together


def test_distributions_read_each_input_file_once_not_once_per_shard(tmp_path, monkeypatch):
    """The snapshot page's distributions over a crawl file cut in many shards: read shard
    by shard, each shard's read started at the file's first record (2,000 shards of one
    file: 4 million records read for 4,000 documents, a 12 s page). One pass now hands each
    shard its documents, and every removed line is still found in its input."""
    from prox_tasks.report.distributions import snapshot_distributions
    from prox_tasks.storage import local
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    src = write_input(tmp_path / "in" / "crawl.jsonl", 60)
    out = str(tmp_path / "out")
    refine_snapshot(str(src), out, target_docs=2)
    real, opened = local.open_read, []
    monkeypatch.setattr(local, "open_read", lambda loc: opened.append(loc.path) or real(loc))
    counted_inputs = _count_inputs(monkeypatch)
    dist = snapshot_distributions(out)
    assert dist.docs_read == 60 and dist.removed_lines_top == [["Home | About | Contact", 48]]
    assert opened.count(str(src)) == 1, len(opened)
    assert len(counted_inputs) == 60 and _Text.most <= 3
