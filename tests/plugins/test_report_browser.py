"""The report in real headless chromium: charts drawn with date axes in date order, the
document viewer, light and dark, and not one request leaving the machine."""

from __future__ import annotations

import pytest

from tests.browser.chromium import Chromium, chromium_path, output_dir
from tests.browser.server import LoopbackServer

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Debian's chromium is not installed (apt-get install "
                                       "chromium; .ci/run installs it)")

AXIS_LABELS = """[...document.querySelectorAll('#%s g.role-axis')].map(axis => ({
  title: [...axis.querySelectorAll('g.role-axis-title text')].map(t => t.textContent).join(' '),
  labels: [...axis.querySelectorAll('g.role-axis-label text')].map(t => t.textContent)}))"""


@pytest.fixture(scope="module")
def browser(report_app, token):
    with LoopbackServer(report_app) as server, Chromium() as chromium:
        chromium.page.call("Network.setExtraHTTPHeaders",
                           headers={"Authorization": f"Bearer {token}"})
        yield server, chromium.page


def _open(page, url: str, dark: bool = False) -> None:
    page.call("Emulation.setEmulatedMedia", features=[
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])
    page.requests.clear()
    page.goto(url)
    page.wait_for("document.body.dataset.chartsReady || document.body.dataset.chartsError")
    assert page.evaluate("document.body.dataset.chartsError || ''") == ""
    assert page.console == [], (page.console, page.failures)


def _assert_offline(page) -> None:
    assert page.requests, "no request logged"
    assert page.outside_requests() == []


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_overview_charts_in_date_order(browser, mode):
    server, page = browser
    _open(page, f"{server.url}/prox/", dark=mode == "dark")
    page.screenshot(output_dir("report") / f"overview-{mode}.png")
    assert page.evaluate("document.documentElement.classList.contains('dark')") == (mode == "dark")
    axes = page.evaluate(AXIS_LABELS % "trend-drop_rate")
    x_axis = next(a for a in axes if a["title"] == "logical date")
    dates = [label for label in x_axis["labels"] if label]
    assert dates == sorted(dates) and {"2026-03-01", "2026-03-03"} <= set(dates), dates
    y_axis = next(a for a in axes if a["title"] and a["title"] != "logical date")
    assert "%" in y_axis["title"] and all(v.endswith("%") for v in y_axis["labels"])
    # the gate's band (0% to 90%) is drawn as two dashed lines, and the y axis reaches it
    assert max(float(v.rstrip("%")) for v in y_axis["labels"]) >= 80
    assert page.evaluate("document.querySelectorAll("
                         "'#trend-drop_rate path[stroke-dasharray]').length") == 2
    assert page.evaluate("document.querySelectorAll('.chart svg').length") == 4
    assert page.evaluate("[...document.querySelectorAll('#trend-drop_rate text')]"
                         ".some(t => t.textContent === 'latest')")
    _assert_offline(page)


X_AXIS = """(() => {
  const axis = [...document.querySelectorAll('#%s g.role-axis')].find(a =>
    a.querySelector('g.role-axis-title text')?.textContent === 'logical date');
  const labels = [...axis.querySelectorAll('g.role-axis-label text')];
  const shown = labels.filter(t => getComputedStyle(t).opacity !== '0'
                                   && t.getAttribute('opacity') !== '0');
  return {ticks: labels.length, grid: axis.querySelectorAll('g.role-axis-grid line').length,
          shown: shown.map(t => { const r = t.getBoundingClientRect();
                                  return {text: t.textContent, left: r.left, right: r.right}; })};
})()"""


def test_a_backfill_beside_last_nights_run_keeps_the_date_axis_readable(browser):
    """January's snapshots (a backfill) and last night's in December on one trend, drawn as
    wide as the report draws it: the axis had a tick, a label and a grid line for every one
    of the 340 days between (a grey wall; labels run together, "2026-01-012026-03-26"); it
    has a few, and the labels shown stand apart."""
    import json

    from prox_tasks.report import charts
    from prox_tasks.report.overview import trend_points

    dates = {"2026-01-01": 0.19, "2026-01-02": 0.08, "2026-01-03": 0.1, "2026-12-06": 0.01}
    rows = [{"logical_date": day, "name": f"crawl-{day}", "gate_label": "passed",
             "latest": day == "2026-12-06", "drop_rate": rate,
             "thresholds": {"max_drop_rate": 0.9}} for day, rate in dates.items()]
    spec = charts.trend(trend_points(rows), "drop_rate", "Drop rate", "dropped (% of written)")
    server, page = browser
    _open(page, f"{server.url}/prox/")
    width = page.evaluate("document.getElementById('trend-drop_rate').clientWidth")
    page.evaluate(f"""(async () => {{
        const div = document.createElement('div');
        div.id = 'wide-span'; div.style.width = '{width}px';
        document.body.appendChild(div);
        await vegaEmbed(div, {json.dumps(spec)}, {{renderer: 'svg', actions: false}});
    }})()""")
    page.screenshot(output_dir("report") / "backfill-beside-nightly.png")
    axis = page.evaluate(X_AXIS % "wide-span")
    assert axis["ticks"] <= charts.MAX_DATE_TICKS and axis["grid"] <= charts.MAX_DATE_TICKS, axis
    shown = axis["shown"]
    assert len(shown) >= 2 and all(label["text"].startswith("2026-") for label in shown), axis
    assert all(b["left"] - a["right"] >= 4 for a, b in zip(shown, shown[1:])), shown
    _assert_offline(page)


def test_snapshot_page_distributions(browser):
    server, page = browser
    _open(page, f"{server.url}/prox/snapshots/crawl-2026-03-02")
    page.screenshot(output_dir("report") / "snapshot.png")
    assert page.evaluate("document.querySelectorAll('.chart svg').length") == 3
    bars = page.evaluate("document.querySelectorAll('#dist-ratio g.mark-rect path').length")
    assert bars == 20
    _assert_offline(page)
    _open(page, f"{server.url}/prox/snapshots/crawl-2026-03-02", dark=True)
    page.screenshot(output_dir("report") / "snapshot-dark.png")


def test_a_released_snapshot_says_who_released_it_and_links_that_runs_tasks(browser):
    """As a reader sees it: who released the snapshot and when, and its task links opening
    the tasks of the releasing run."""
    server, page = browser
    _open(page, f"{server.url}/prox/snapshots/crawl-2026-03-01")
    line = page.evaluate("[...document.querySelectorAll('p')].map(p => p.innerText)"
                         ".find(t => t.startsWith('released'))")
    run = "scheduled__2026-03-01T00:00:00+00:00"
    assert line.startswith(f"released by run {run} at 20") and " UTC · latest run " in line, line
    assert "tasks of the releasing run refine_shard, quality_gate, release" in line, line
    tasks = page.evaluate("[...document.querySelectorAll('a')].map(a => a.href)"
                          ".filter(h => h.includes('/tasks/'))")
    assert len(tasks) == 3 and all("/runs/scheduled__2026-03-01T00%3A00%3A00%2B00%3A00/tasks/"
                                   in h for h in tasks), tasks


def test_document_viewer(browser):
    server, page = browser
    _open(page, f"{server.url}/prox/snapshots/crawl-2026-03-01/documents?shard=0")
    page.screenshot(output_dir("report") / "documents.png")
    struck = page.evaluate("getComputedStyle(document.querySelector('.line.removed .text'))"
                           ".textDecorationLine")
    assert struck == "line-through"
    assert page.evaluate("document.querySelectorAll('.line.normalized mark.after').length") >= 1
    assert page.evaluate("document.querySelectorAll('article.dropped .reason').length") == 2
    _assert_offline(page)
    _open(page, f"{server.url}/prox/snapshots/crawl-2026-03-01/documents?shard=0", dark=True)
    page.screenshot(output_dir("report") / "documents-dark.png")


def test_a_cdn_request_would_be_caught(browser):
    """The check itself can fail: a page that loads from a CDN is seen going out."""
    server, page = browser
    page.requests.clear()
    page.goto(f"{server.url}/prox/static/report.css")
    page.evaluate("new Promise(done => { const s = document.createElement('script');"
                  " s.src = 'https://cdn.jsdelivr.net/npm/vega@5'; s.onerror = done;"
                  " s.onload = done; document.head.appendChild(s); })")
    assert page.outside_requests() == ["https://cdn.jsdelivr.net/npm/vega@5"]


def _open_docs(page, url: str) -> None:
    page.requests.clear()
    page.goto(url)
    page.wait_for("typeof jQuery === 'function' && typeof vegaEmbed === 'function'")
    page.evaluate("document.fonts.ready.then(() => true)")  # the icon fonts asked for, loaded
    assert page.console == [], (page.console, page.failures)
    assert page.failures == []


def test_data_docs_work_offline(browser):
    server, page = browser
    docs = f"{server.url}/prox/snapshots/crawl-2026-03-02/docs/"
    _open_docs(page, docs + "index.html")
    # bootstrap-table (vendored) fills the index: one row per validation result and suite
    page.wait_for("document.querySelectorAll('table tbody tr td a, table tbody tr').length > 3")
    assert page.evaluate("getComputedStyle(document.querySelector('.navbar')).display") == "flex"
    _assert_offline(page)
    page.screenshot(output_dir("data_docs") / "index.png")
    link = page.evaluate("document.documentElement.innerHTML.match("
                         "/validations\\/prox_snapshot\\/[^'\"]+?\\.html/)[0]")
    _open_docs(page, docs + link)
    text = page.evaluate("document.body.innerText")
    # the observed quarantine rate against its threshold, not "0% unexpected"
    assert "0.285714" in text and "a repeated id …): at most 0.05. Quarantined: 8" in text
    assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
    _assert_offline(page)
    page.screenshot(output_dir("data_docs") / "snapshot-validation.png")


HOSTILE = ['<script>window.__pwned = "script"</script>',
           '"><img src=x onerror="window.__pwned = \'img\'">',
           "</textarea><svg onload=\"window.__pwned = 'svg'\"></svg>",
           "<a href=\"javascript:window.__pwned='link'\">click</a> {{ 7*7 }}"]


def test_a_hostile_document_is_shown_as_text(browser, tmp_path, monkeypatch):
    """Crawled pages hold HTML and scripts. The viewer shows them as the text they are —
    in kept, removed and normalized lines — and runs none of it."""
    import json

    from tests.quality.snapshot_factory import cataloged_snapshot

    server, page = browser
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    body = " ".join(["plain words that stay on the page"] * 4)
    src = tmp_path / "in" / "crawl.jsonl"
    src.parent.mkdir()
    src.write_text(json.dumps({"id": "doc-0", "text": "\n".join([*HOSTILE, body])}) + "\n")
    cataloged_snapshot(src, tmp_path, "hostile", url, "2026-04-02",
                       programs=lambda i: (
        "keep_doc()", "remove_lines(line_start=0, line_end=0)\n"
                      'normalize(source_str="click", target_str="<b>clicked</b>")'))
    _open(page, f"{server.url}/prox/snapshots/hostile/documents?shard=0")
    page.screenshot(output_dir("report") / "documents-hostile.png")
    assert page.evaluate("String(window.__pwned)") == "undefined"
    assert page.evaluate("document.querySelectorAll("
                         "'article script, article img, article svg, article a[href^=javascript]'"
                         ").length") == 0
    text = page.evaluate("document.body.innerText")
    for payload in (*HOSTILE, "<b>clicked</b>"):
        assert payload in text, payload
    removed = page.evaluate("[...document.querySelectorAll('article .line.removed .text')]"
                            ".map(line => line.textContent)")
    assert HOSTILE[0] in removed, removed
    _assert_offline(page)


def test_data_docs_show_a_hostile_model_version_and_field_name_as_text(browser, tmp_path,
                                                                      monkeypatch):
    """A gate check's description names what the snapshot holds: the model versions its
    shards were refined by (an OpenAI-compatible server names its own) and the field rows
    without a text hold one in (the crawl's). GX wrote descriptions into the Data Docs' HTML
    as they are, and the report serves those pages on the Airflow UI's origin: a version
    ``<img src=x onerror=...>`` ran there. The pages show them as text; gate.json keeps them
    as they are."""
    import json

    from prox_tasks.pipeline import refresh
    from prox_tasks.quality import GateFailed, read_gate_result
    from tests.quality.snapshot_factory import cataloged_snapshot, doc_text

    server, page = browser
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    versions = [f"v{i}{payload}" for i, payload in enumerate(HOSTILE[:2])]
    field = HOSTILE[2]
    src = tmp_path / "in" / "crawl.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"id": f"doc-{i}", "text": doc_text(i)}) + "\n"
                           for i in range(20))
                   + json.dumps({"id": "doc-20", field: doc_text(20)}) + "\n")
    snapshot = cataloged_snapshot(src, tmp_path, "hostile-docs", url, "2026-04-04",
                                  model_version=lambda shard: versions[shard % 2])
    with pytest.raises(GateFailed):
        refresh.gate(snapshot, {})
    descriptions = " ".join(c["description"] or ""
                            for c in read_gate_result(snapshot["output_uri"])["checks"])
    for payload in (*versions, repr(field)):
        assert payload in descriptions, payload  # gate.json: as they are
    docs = f"{server.url}/prox/snapshots/hostile-docs/docs/"
    _open_docs(page, docs + "index.html")
    links = page.evaluate("[...new Set(document.documentElement.innerHTML.match("
                          "/(expectations|validations)\\/prox_snapshot[^'\"]*?\\.html/g))]")
    assert len(links) == 2, links
    for link in links:
        _open_docs(page, docs + link)
        assert page.evaluate("String(window.__pwned)") == "undefined", link
        assert page.evaluate("document.querySelectorAll("
                             "'.container-fluid img[src=x], .container-fluid svg[onload]'"
                             ").length") == 0, link
        text = page.evaluate("document.body.innerText")
        for payload in (*versions, repr(field)):
            assert payload in text, (link, payload)
    page.screenshot(output_dir("data_docs") / "hostile-validation.png")
    _assert_offline(page)


def test_a_very_long_document_id_wraps_inside_the_page(browser, tmp_path, monkeypatch):
    """A document id of thousands of characters (a crawled URL with its query) stretched
    the viewer to 37,665 pixels: every document scrolled sideways to be read. The id wraps;
    right-to-left and CJK text is shown as it is, each line in its own direction (a Hebrew
    line ending in a full stop showed it at the right, after the first word)."""
    import json

    from tests.quality.snapshot_factory import cataloged_snapshot

    server, page = browser
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    long_id = "doc-0-https://example.com/" + "a/" * 1500 + "?q=" + "x" * 2000
    texts = ["שלום עולם, זה טקסט בעברית.\nمرحبا بالعالم\n" + " ".join(["kept words"] * 20),
             "中文文本，这是一个测试。\n日本語のテキスト\n" + " ".join(["kept words"] * 20)]
    src = tmp_path / "in" / "crawl.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n"
                           for doc_id, text in zip([long_id, "doc-1-" + "x" * 5000], texts)),
                   encoding="utf-8")
    cataloged_snapshot(src, tmp_path, "long-ids", url, "2026-04-03",
                       programs=lambda i: (
        "keep_doc()", "remove_lines(line_start=0, line_end=0)"))
    _open(page, f"{server.url}/prox/snapshots/long-ids/documents?shard=0")
    page.screenshot(output_dir("report") / "documents-long-ids.png", full_page=False)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    text = page.evaluate("document.body.innerText")
    assert "مرحبا بالعالم" in text and "日本語のテキスト" in text and "x" * 100 in text
    # a right-to-left line reads right to left: its final full stop is at its left end, as
    # in any RTL text (shown left to right, it sat at the right, after the first word)
    stop_left_of_text = page.evaluate("""(() => {
      const text = [...document.querySelectorAll('.line .text')]
        .find(t => t.textContent.startsWith('שלום')).firstChild;
      const at = i => { const r = document.createRange(); r.setStart(text, i);
                        r.setEnd(text, i + 1); return r.getBoundingClientRect().left; };
      return at(text.length - 1) < at(0); })()""")
    assert stop_left_of_text


def test_long_unbroken_lines_and_a_long_model_version_wrap_in_the_tables(browser, tmp_path,
                                                                         monkeypatch):
    """The snapshot page's tables show the crawl's most frequent removed lines and
    normalizations (up to 160 and 120 characters), the overview a model version an
    OpenAI-compatible server names as it likes: an unbroken URL or token there stretched
    the page sideways. Table cells wrap them."""
    import json

    from prox_tasks.pipeline import refresh
    from tests.quality.snapshot_factory import cataloged_snapshot

    server, page = browser
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    link = "https://example.com/" + "a" * 3000
    token = "tok" + "x" * 3000
    src = tmp_path / "in" / "crawl.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps({"id": f"doc-{i}", "text": "\n".join(
        [link, f"{token} and words", " ".join(["kept words"] * 20)])}) + "\n" for i in range(3)))
    snapshot = cataloged_snapshot(src, tmp_path, "long-lines", url, "2026-04-05",
                                  programs=lambda i: (
        "keep_doc()", "remove_lines(line_start=0, line_end=0)\n"
                      f'normalize(source_str="{token}", target_str="{token[::-1]}")'),
                    model_version=lambda shard: "served-" + "m" * 3000)
    refresh.gate(snapshot, {"max_drop_rate": 1.0})
    for path in ("/prox/snapshots/long-lines", "/prox/"):
        _open(page, f"{server.url}{path}")
        page.screenshot(output_dir("report") / f"long-lines{path.replace('/', '-')}.png",
                        full_page=False)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path, width)
    text = page.evaluate("document.body.innerText")
    assert "served-" + "m" * 100 in text
