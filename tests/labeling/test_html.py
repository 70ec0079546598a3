"""The html teacher (extractor output aligned to the corpus text), the best teacher's choice
per row, and WET rows labeled from the WARC responses they refer to."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest

from prox_tasks.evaluation import word_counts
from prox_tasks.labeling import get_teacher
from prox_tasks.labeling.run import label_corpus
from prox_tasks.labeling.warc import decode_html, html_records
from prox_tasks.programs import execute

pytest.importorskip("trafilatura")

ARTICLE = [
    "The river valley was settled by farmers who grew wheat and barley along the water, "
    "and their villages slowly became the market towns we know today.",
    "Over the centuries the people of the valley built mills, bridges and schools, and the "
    "town library still keeps the letters they wrote to each other in the long winters.",
    "Today the valley is known for its orchards, its music festival in the summer, and the "
    "old stone houses that line the main street down to the river.",
]
MENU = ["Home", "News", "Sport", "Weather", "Contact us"]
FOOTER = ["Privacy policy", "Terms of use", "© 2024 Valley Times. All rights reserved."]


def page_html() -> str:
    nav = "".join(f"<li><a href='/{m}'>{m}</a></li>" for m in MENU)
    body = "".join(f"<p>{p}</p>" for p in ARTICLE)
    foot = "".join(f"<p><a href='/x'>{f}</a></p>" for f in FOOTER)
    return (f"<html><head><title>Valley history</title></head><body><nav><ul>{nav}</ul></nav>"
            f"<article><h1>A short history of the valley</h1>{body}</article>"
            f"<footer>{foot}</footer></body></html>")  # fmt: skip


def page_text() -> str:
    """The page as a WET-style conversion: one line per block, boilerplate included."""
    return "\n".join(["Valley history", *MENU, "A short history of the valley", *ARTICLE, *FOOTER])


def test_html_teacher_keeps_the_article_and_only_deletes():
    text = page_text()
    label = get_teacher("html").label(text, page_html())
    assert label.doc_program == "keep_doc()" and label.meta["teacher"] == "html"
    kept = execute(text, label.doc_program, label.chunk_program).text
    for paragraph in ARTICLE:
        assert paragraph in kept
    for line in MENU + FOOTER:
        assert line not in kept.split("\n")
    assert not word_counts(kept) - word_counts(text)  # words are a sub-multiset of the text


def test_html_teacher_without_content_drops_and_without_html_refuses():
    teacher = get_teacher("html")
    label = teacher.label("Home\nNews", "<html><body></body></html>")
    assert label.doc_program == "drop_doc()" and label.meta["empty_extraction"]
    with pytest.raises(ValueError, match="HTML"):
        teacher.label("text", None)


def test_a_page_the_extractor_raises_on_is_rejected_not_learned_as_a_drop(tmp_path):
    """Fault injector (trafilatura catches its parser's errors itself, so no real page was
    found that makes it raise): the extractor raising on one page is that page's rejection,
    counted by reason, not a valid drop_doc; the best teacher labels it with its fallback."""
    teacher = get_teacher("html")
    extract = teacher._extract

    def fails_on_marked_pages(html):
        if "EXPLODE" in html:
            raise RecursionError("maximum recursion depth exceeded")
        return extract(html)

    teacher._extract = fails_on_marked_pages
    rows = [{"id": "ok", "text": page_text(), "html": page_html()},
            {"id": "boom", "text": page_text(), "html": page_html() + "<!-- EXPLODE -->"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = label_corpus(str(src), str(tmp_path / "l.jsonl"), teacher)
    assert summary["valid"] == 1 and summary["rejected"] == {"html:extractor_failed": 1}
    best = get_teacher("best", html=teacher)
    labels = best.label_rows([r["text"] for r in rows], [{"html": r["html"]} for r in rows])
    assert [lb.meta["teacher"] for lb in labels] == ["html", "rules"]


NOT_HTML = {
    "binary": "%PDF-1.4\n%\xe2\xe3\n" + "\x00\x89PNG\r\n\x1a\n\x00\x00\x0dIHDR" * 400,
    "compressed": "\x1f\x8b\x08\x00" + "".join(chr(i * 7 % 256) for i in range(5000)),
    "text": "\n".join(ARTICLE),  # the page's text in the html column, not its markup
    "brackets": "<" * 5000,
}


def test_an_html_field_that_is_no_markup_is_rejected_not_learned_as_a_drop(tmp_path):
    """A binary body read as text (a PDF, an image, gzip bytes) or text without one tag in
    the ``html`` field: the extractor finds nothing, and the html teacher labeled the row's
    text — prose worth keeping — drop_doc(), valid, a drop to learn from. It is rejected
    as html:not_html now (the extractor not run), as a crash of the extractor is; best
    labels it with its fallback; a page with a stray NUL is still labeled from its HTML."""
    rows = [{"id": "page", "text": page_text(), "html": page_html()},
            {"id": "nul", "text": page_text(), "html": page_html().replace("</p>", "\x00</p>", 1)}]
    rows += [{"id": kind, "text": page_text(), "html": html} for kind, html in NOT_HTML.items()]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = label_corpus(str(src), str(tmp_path / "l.jsonl"), get_teacher("html"))
    assert summary["written"] == len(rows) and summary["valid"] == 2
    assert summary["rejected"] == {"html:not_html": len(NOT_HTML)}
    out = {r["id"]: r for r in map(json.loads, (tmp_path / "l.jsonl").read_text().splitlines())}
    assert all(out[kind]["rejected"] == ["html:not_html"] for kind in NOT_HTML)
    assert out["page"]["doc_program"] == out["nul"]["doc_program"] == "keep_doc()"
    labels = get_teacher("best").label_rows([r["text"] for r in rows],
                                            [{"html": r["html"]} for r in rows])
    assert [lb.meta["teacher"] for lb in labels] == ["html", "html"] + ["rules"] * len(NOT_HTML)


def test_a_page_nested_past_the_parser_s_depth_is_rejected_not_learned_from_its_part(tmp_path):
    """A page whose elements nest 256 deep (100,000 ``<div>``s; an ad nested 300 deep in an
    article): libxml2, trafilatura's parser, stops there without a word, so the page was
    labeled drop_doc() (valid, empty_extraction: nothing read) or, for the article, its
    lines after the ad removed. It is rejected as html:too_deep now, as an extractor's
    crash is; best labels it with its fallback; a page nested 200 deep is labeled."""
    body = "".join(f"<p>{p}</p>" for p in ARTICLE)

    def nested(depth: int) -> str:
        return page_html().replace("</article>", "<div>" * depth + "ad" + "</div>" * depth
                                   + "<p>The last words of the page.</p></article>")  # fmt: skip

    text = page_text().replace(ARTICLE[-1], ARTICLE[-1] + "\nad\nThe last words of the page.")
    rows = [{"id": "deep", "text": "\n".join(ARTICLE),
             "html": "<html><body>" + "<div>" * 100_000 + body + "</div>" * 100_000},
            {"id": "ad_300", "text": text, "html": nested(300)},
            {"id": "ad_200", "text": text, "html": nested(200)}]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = label_corpus(str(src), str(tmp_path / "l.jsonl"), get_teacher("html"))
    assert summary["written"] == 3 and summary["rejected"] == {"html:too_deep": 2}
    out = {r["id"]: r for r in map(json.loads, (tmp_path / "l.jsonl").read_text().splitlines())}
    assert out["deep"]["rejected"] == out["ad_300"]["rejected"] == ["html:too_deep"]
    assert "nest 256 deep" in out["deep"]["label_meta"]["error_details"][0]
    assert out["ad_200"]["valid"] and out["ad_200"]["doc_program"] == "keep_doc()"
    kept = execute(text, out["ad_200"]["doc_program"], out["ad_200"]["chunk_program"]).text
    assert "The last words of the page." in kept
    labels = get_teacher("best").label_rows([r["text"] for r in rows],
                                            [{"html": r["html"]} for r in rows])
    assert [lb.meta["teacher"] for lb in labels] == ["rules", "rules", "html"]


@pytest.mark.parametrize("declaration", [
    '<?xml version="1.0" encoding="utf-8"?>\n',
    '<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML '
    '1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'])  # fmt: skip
def test_an_xhtml_page_nested_past_the_parser_s_depth_is_rejected_too(tmp_path, declaration):
    """An XHTML page opening with an XML declaration: lxml refuses a str declaring its
    encoding (ValueError), so the depth check parsed nothing and passed the page, while
    trafilatura parses its UTF-8 bytes instead and stopped at the ad nested 300 deep: the
    lines after it were learned as removed. It is rejected as html:too_deep, as without the
    declaration; the same page nested 200 deep is labeled."""
    from prox_tasks.labeling.html import cut_by_depth

    def nested(depth: int) -> str:
        return declaration + page_html().replace(
            "</article>", "<div>" * depth + "ad" + "</div>" * depth
            + "<p>The last words of the page.</p></article>")  # fmt: skip

    assert "nest 256 deep" in (cut_by_depth(nested(300)) or "")
    assert cut_by_depth(nested(200)) is None
    text = page_text().replace(ARTICLE[-1], ARTICLE[-1] + "\nad\nThe last words of the page.")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "ad_300", "text": text, "html": nested(300)}) + "\n")
    summary = label_corpus(str(src), str(tmp_path / "l.jsonl"), get_teacher("html"))
    assert summary["rejected"] == {"html:too_deep": 1}


def test_best_teacher_picks_per_row_and_records_it():
    text = page_text()
    gold = "\n".join(ARTICLE[:2])
    labels = get_teacher("best").label_rows(
        [text, text, text, text],
        [{"gold": gold}, {"html": page_html()}, {}, {"html": "<html><body></body></html>"}])
    assert [lb.meta["teacher"] for lb in labels] == ["diff", "html", "rules", "rules"]
    kept = execute(text, labels[0].doc_program, labels[0].chunk_program).text
    assert ARTICLE[0] in kept and ARTICLE[2] not in kept  # the gold wins over the HTML


def test_label_corpus_counts_teachers_and_quarantines_missing_html(tmp_path):
    rows = [{"id": "g", "text": page_text(), "gold_text": "\n".join(ARTICLE)},
            {"id": "h", "text": page_text(), "html": page_html()},
            {"id": "r", "text": page_text()}]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    best = label_corpus(str(src), str(tmp_path / "best.jsonl"), get_teacher("best"))
    assert best["by_teacher"] == {"diff": 1, "html": 1, "rules": 1} and best["valid"] == 3
    out = [json.loads(line) for line in (tmp_path / "best.jsonl").read_text().splitlines()]
    assert [r["teacher"] for r in out] == ["diff", "html", "rules"]
    html = label_corpus(str(src), str(tmp_path / "html.jsonl"), get_teacher("html"))
    assert html["written"] == 1 and html["quarantined"] == {"missing_html": 2}


def write_warc_pair(tmp_path):
    """A WARC with one HTML response and a WET whose conversion refers to it."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc, wet = tmp_path / "c.warc.gz", tmp_path / "c.warc.wet.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                protocol="HTTP/1.1")  # fmt: skip
        record = writer.create_warc_record("http://valley.example/history", "response",
                                           payload=io.BytesIO(page_html().encode()),
                                           http_headers=http)  # fmt: skip
        writer.write_record(record)
        response_id = record.rec_headers.get_header("WARC-Record-ID")
    with open(wet, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        conversion = writer.create_warc_record(
            "http://valley.example/history", "conversion",
            payload=io.BytesIO(page_text().encode()),
            warc_headers_dict={"WARC-Refers-To": response_id, "Content-Type": "text/plain"})
        writer.write_record(conversion)
    return warc, wet


def test_wet_rows_take_the_html_of_the_response_they_refer_to(tmp_path):
    warc, wet = write_warc_pair(tmp_path)
    [record] = list(html_records(str(warc)))
    assert record["url"] == "http://valley.example/history" and "<article>" in record["html"]
    out = tmp_path / "labels.jsonl.gz"
    summary = label_corpus(str(wet), str(out), get_teacher("html"), warc_uris=[str(warc)])
    assert summary["by_teacher"] == {"html": 1} and summary["valid"] == 1
    [row] = [json.loads(line) for line in gzip.open(out, "rt")]
    assert row["teacher"] == "html" and "remove_lines" in row["chunk_program"]


def test_decode_html_falls_back_on_meta_charset():
    raw = "<meta charset='latin-1'><p>café</p>".encode("latin-1")
    assert "café" in decode_html(raw)
    assert decode_html("<p>naïve</p>".encode(), "utf-8") == "<p>naïve</p>"


def test_best_teacher_takes_its_fallback_by_name_as_a_dag_param_can_give_it():
    """docs/teachers.md: `teacher_options` {"fallback": "llm", "fallback_options": {...}}
    or {"extractor": ...}, through the same get_teacher the seed DAG calls."""
    import pytest

    from prox_tasks.labeling.llm import LLMTeacher

    best = get_teacher("best", fallback="llm",
                       fallback_options={"base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert isinstance(best.fallback, LLMTeacher) and best.fallback.model == "m"
    assert get_teacher("best", extractor="trafilatura").html.extractor == "trafilatura"
    with pytest.raises(ValueError, match="go with a fallback teacher's name"):
        get_teacher("best", fallback_options={"model": "m"})
    with pytest.raises(ValueError, match="cannot fall back to itself"):
        get_teacher("best", fallback="best")


def test_a_single_byte_charset_does_not_beat_real_utf8(tmp_path):
    """A server that says iso-8859-1 (or windows-1252) for a UTF-8 Cyrillic page: the bytes
    are valid UTF-8, and a single-byte charset decodes anything, so UTF-8 wins."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    page = "<html><body><p>Привет, мир: съешь же ещё этих мягких булок.</p></body></html>"
    warc = tmp_path / "ru.warc.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for charset in ("iso-8859-1", "windows-1252"):
            http = StatusAndHeaders("200 OK", [("Content-Type", f"text/html; charset={charset}")],
                                    protocol="HTTP/1.1")  # fmt: skip
            writer.write_record(writer.create_warc_record(
                f"http://ru.example/{charset}", "response", payload=io.BytesIO(page.encode()),
                http_headers=http))
    assert [r["html"] for r in html_records(str(warc))] == [page, page]
    latin = "<p>café</p>".encode("latin-1")  # not UTF-8: the declared charset still decodes
    assert decode_html(latin, "iso-8859-1") == "<p>café</p>"
    assert decode_html("<p>Привет</p>".encode("koi8-r"), "koi8-r") == "<p>Привет</p>"


#: Short pages with no charset declared (no HTTP charset, no <meta charset>), in the charset
#: a site of their language would use: charset-normalizer guesses from their bytes alone.
UNDECLARED = {
    "cp1251": "<html><body><p>Привет, мир: съешь же ещё этих мягких французских булок, да "
              "выпей чаю.</p></body></html>",
    "shift_jis": "<html><body><p>東京の天気は晴れです。今日はとても暑いので、水をたくさん飲んで"
                 "ください。</p></body></html>",
    "gb2312": "<html><body><p>北京今天天气很好，我们一起去公园散步吧。这里的风景非常美丽。</p>"
              "</body></html>",
    "iso-8859-7": "<html><body><p>Καλημέρα κόσμε, η Αθήνα είναι μια πολύ όμορφη πόλη με "
                  "μεγάλη ιστορία.</p></body></html>",
}
#: Central-European pages in windows-1250, which windows-1252 also decodes but misreads.
CENTRAL_EUROPEAN = [
    "<p>Příliš žluťoučký kůň úpěl ďábelské ódy. Šťastný nový rok!</p>",
    "<p>Příliš žlutý kůň úpěl ďábelské ódy. Dobrý den, jak se máte? Cena: 5 €.</p>",
    "<p>Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig. Śląsk, Łódź.</p>",
    "<p>Dzień dobry! Cena: 5 €. Wszystko będzie dobrze, proszę pana.</p>",
    "<p>Árvíztűrő tükörfúrógép. Jó napot kívánok, köszönöm szépen!</p>",
    "<p>Dobrý deň, ďakujem pekne. Kôň skáče cez plot, čo je veľmi pekné.</p>",
    # Kashubian ë beside Polish ź: windows-1252 reads ë as French and ź as "Ÿ"
    "<p>Gmina Sëlëczëno Z Wikipedia Przejdź do nawigacji Przejdź do wyszukiwania</p>",
]


def test_a_short_windows_1252_page_without_a_charset_is_read_as_windows_1252():
    """A short English or French page in windows-1252 that declares no charset (curly
    quotes, €, é, è, à, û) came out as charset-normalizer's guess, windows-1250 or -1257:
    "crčme brűlée", "déjŕ vu", "L’été ŕ Paris". windows-1252 is taken where the guess's
    reading is no language's (prox_tasks.labeling.charset_guess)."""
    for page in ("<html><head><title>Café menu</title></head><body><p>“Our café’s crème "
                 "brûlée costs €5 — a déjà vu.”</p></body></html>",
                 "<html><body><p>L’été à Paris : « Où est la pâtisserie ? » Prix : 12 €."
                 "</p></body></html>",
                 "<html><body><p>Grüße aus München – „Straßenfest“ für 5 €, schön!</p>"
                 "</body></html>"):
        assert decode_html(page.encode("cp1252")) == page


def test_pages_of_other_charsets_without_a_charset_keep_their_guess():
    """Where windows-1252 must not win: Cyrillic, Japanese, Chinese and Greek pages, and
    Czech, Polish, Hungarian, Slovak and Kashubian pages in windows-1250, each short and
    declaring no charset."""
    for charset, page in UNDECLARED.items():
        assert decode_html(page.encode(charset)) == page, charset
    for text in CENTRAL_EUROPEAN:
        page = f"<html><body>{text}</body></html>"
        assert decode_html(page.encode("cp1250")) == page


def test_html_over_the_cap_is_quarantined_by_html_and_labeled_by_the_next_teacher_by_best(
        tmp_path, capsys):
    """A 35 MB response took trafilatura 2 minutes and 2.6 GB: HTML over --max-html-bytes
    never reaches the extractor, whether from an html field or a WARC response."""
    from prox_tasks.cli import main

    big = page_html().replace("</body>", "<p>" + "filler words " * 2_000 + "</p></body>")
    rows = [{"id": "small", "text": page_text(), "html": page_html()},
            {"id": "big", "text": page_text(), "html": big}]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cap = ["--max-html-bytes", "10000"]
    out = tmp_path / "html.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(out),
                 "--teacher", "html", *cap]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 1 and summary["quarantined"] == {"html_too_large": 1}
    [bad] = [json.loads(line) for line in open(f"{out}.quarantine.jsonl")]
    assert bad["reason"] == "html_too_large" and f"{len(big.encode()):,} bytes" in bad["detail"]
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "best.jsonl"),
                 "--teacher", "best", *cap]) == 0  # fmt: skip
    assert "(1 with HTML over --max-html-bytes labeled without it)" in capsys.readouterr().out
    labeled = [json.loads(line) for line in (tmp_path / "best.jsonl").read_text().splitlines()]
    assert [r["teacher"] for r in labeled] == ["html", "rules"]
    warc, wet = write_warc_pair(tmp_path)  # the same from a WARC response's body size
    # html: its one document quarantined, nothing labeled: the run fails (exit 2, to fix)
    for teacher, code, says in ((("html", 2, "record was quarantined (1 html_too_large)"),
                                 ("best", 0, '"html_too_large": 1'))):
        assert main(["label", "--json", "--input", str(wet), "--warc", str(warc), "--teacher",
                     teacher, "--output", str(tmp_path / f"w-{teacher}.jsonl"),
                     "--max-html-bytes", "100"]) == code  # fmt: skip
        said = capsys.readouterr()
        assert says in (said.err if code else said.out), said


def test_a_lone_surrogate_in_the_html_is_repaired_not_a_near_empty_label(tmp_path):
    """An ``html`` field holding a lone surrogate (JSON ``"\\ud83d"``: half an emoji, cut by
    the crawler) made trafilatura stop there: the article after it was labeled as deleted,
    silently. The surrogate is replaced (U+FFFD) before extraction, and counted."""
    broken = page_html().replace("by farmers", "by \ud83d farmers", 1)
    rows = [{"id": "ok", "text": page_text(), "html": page_html()},
            {"id": "half-emoji", "text": page_text(), "html": broken}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))  # "\ud83d" escaped in JSON
    summary = label_corpus(str(src), str(tmp_path / "l.jsonl"), get_teacher("html"))
    out = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    for row in out:
        kept = execute(page_text(), row["doc_program"], row["chunk_program"]).text
        assert all(paragraph in kept for paragraph in ARTICLE[1:]), row["id"]
    assert [r["label_meta"].get("html_lone_surrogates") for r in out] == [None, 1]
    assert summary["valid"] == 2 and summary["html_repaired"] == 1


def slow_page_html(paragraphs: int = 20_000) -> str:
    """A real page trafilatura takes seconds on (3 MB of markup, under the 8 MiB size cap)."""
    words = " ".join(["word"] * 30)
    return "<html><body><article>" + f"<p>{words}</p>" * paragraphs + "</article></body></html>"


def test_a_page_over_the_extract_timeout_is_rejected_and_the_next_page_labeled(tmp_path):
    """A page that kept the extractor busy held the label task with it (no time limit per
    page). Over ``extract_timeout`` it is rejected as ``html:extractor_timeout`` (the
    extractor's worker process killed, the next page given a fresh one); ``best`` labels it
    with its next teacher."""
    rows = [{"id": "ok", "text": page_text(), "html": page_html()},
            {"id": "slow", "text": "word " * 30, "html": slow_page_html()},
            {"id": "after", "text": page_text(), "html": page_html()}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    teacher = get_teacher("html", extract_timeout=0.3)
    try:
        summary = label_corpus(str(src), str(tmp_path / "l.jsonl"), teacher)
        out = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
        assert summary["valid"] == 2 and summary["rejected"] == {"html:extractor_timeout": 1}
        assert [r["valid"] for r in out] == [True, False, True]
        assert "0.3 s" in out[1]["label_meta"]["error_details"][0]
        best = get_teacher("best", html=teacher)
        labels = best.label_rows([r["text"] for r in rows], [{"html": r["html"]} for r in rows])
        assert [lb.meta["teacher"] for lb in labels] == ["html", "rules", "html"]
    finally:
        teacher.close()


def test_prox_label_html_timeout_rejects_the_slow_page_and_refuses_no_time(tmp_path, capsys):
    from prox_tasks.cli import main

    rows = [{"id": "ok", "text": page_text(), "html": page_html()},
            {"id": "slow", "text": "word " * 30, "html": slow_page_html()}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = str(tmp_path / "l.jsonl")
    assert main(["label", "--json", "--input", str(src), "--output", out, "--teacher", "html",
                 "--html-timeout", "0.3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == {"html:extractor_timeout": 1}
    assert summary["teacher"]["extract_timeout"] == 0.3
    with pytest.raises(SystemExit) as usage:
        main(["label", "--input", str(src), "--output", out, "--html-timeout", "0"])
    assert usage.value.code == 2 and "--html-timeout: must be a finite number of seconds above 0" in (
        capsys.readouterr().err)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie nobody reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_label_task_killed_mid_page_leaves_no_extractor_worker_running(tmp_path):
    """A label task killed (SIGKILL, the OOM killer) while its extractor's worker was inside a
    page left the worker extracting on, an orphan, until the page ended: a closed stdin is
    read between pages only. The worker now exits once its parent is gone."""
    import signal
    import subprocess
    import sys
    import time

    page = tmp_path / "slow.html"
    page.write_text(slow_page_html(200_000))  # 30 MB: the extractor takes well over 10 s
    task = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys; from prox_tasks.labeling.extract_worker import ExtractorWorker\n"
            "worker = ExtractorWorker('trafilatura', False, 600)\n"
            "worker('<html></html>'); print(worker._proc.pid, flush=True)\n"
            f"worker(open({str(page)!r}).read())")],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    worker_pid = int(task.stdout.readline())
    time.sleep(1.0)  # the page sent: the worker is inside it
    assert _alive(worker_pid)
    task.send_signal(signal.SIGKILL)
    task.wait()
    deadline = time.monotonic() + 5
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not _alive(worker_pid), "the extractor's worker outlived its killed task"
    finally:
        if _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def test_a_part_labeled_with_another_extract_timeout_is_reused_not_labeled_again(tmp_path):
    """The html teacher's per-page time budget (d1fa59d) entered its description, which
    each seed-set part's record stores: a seed DAG run resumed after the upgrade, or with
    another budget, labeled every html and best part again — for ``best`` with an llm
    fallback, paying for those calls again. A label made is the same whatever the budget,
    so the parts are reused."""
    from prox_tasks.labeling.parts import label_part

    src = tmp_path / "sample.jsonl"
    rows = [{"id": "h", "text": page_text(), "html": page_html()}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    root = str(tmp_path / "seed")
    first = label_part(str(src), root, 0, get_teacher("html", extract_timeout=30.0))
    assert first["reused"] is False and first["valid"] == 1
    again = label_part(str(src), root, 0, get_teacher("html", extract_timeout=5.0))
    assert again["reused"] is True and again["valid"] == 1
    unlimited = label_part(str(src), root, 0, get_teacher("html", extract_timeout=None))
    assert unlimited["reused"] is True


def test_teachers_dropped_without_close_leave_no_extractor_worker_running():
    """An html teacher (and the best teacher wrapping one) let go without ``close()`` left
    its extractor's worker process running as long as the process that made it: subprocess
    keeps a running child's Popen, its stdin open, past its owner. 17 of them (~1 GB) piled
    up in one test run. A dropped teacher now stops its worker: a process that makes and
    drops teachers in a loop holds no more children than one."""
    import subprocess
    import sys

    script = (
        "import gc, os\n"
        "from prox_tasks.labeling import get_teacher\n"
        "def live_children():\n"
        "    try:\n"
        "        import psutil\n"
        "    except ImportError:  # /proc: the children whose parent is this process\n"
        "        def stat(pid):  # (state, parent pid), () for a process gone meanwhile\n"
        "            try:\n"
        "                return tuple(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1]\n"
        "                             .split()[:2])\n"
        "            except OSError:\n"
        "                return ()\n"
        "        return sum(stat(p)[1:] == (str(os.getpid()),) and stat(p)[0] != 'Z'\n"
        "                   for p in os.listdir('/proc') if p.isdigit() and stat(p))\n"
        "    return sum(c.status() != psutil.STATUS_ZOMBIE\n"
        "               for c in psutil.Process().children(recursive=True))\n"
        f"text, html = {page_text()!r}, {page_html()!r}\n"
        "for name in ['html', 'best'] * 3:\n"
        "    teacher = get_teacher(name)\n"
        "    [label] = teacher.label_rows([text], [{'html': html}])\n"
        "    assert label.meta['teacher'] == 'html', label.meta\n"
        "    print(live_children(), end=' ')  # its worker\n"
        "    del teacher, label\n"
        "    gc.collect()\n"
        "    print(live_children(), flush=True)\n"
    )  # fmt: skip
    root = str(Path(__file__).resolve().parents[2])  # this prox, whatever the folder
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": root})  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    counts = [tuple(map(int, line.split())) for line in out.stdout.splitlines()]
    assert counts == [(1, 0)] * 6, f"(with the teacher, after dropping it): {counts}"


def test_the_label_line_names_the_rejected_rows_by_reason(tmp_path, capsys):
    """``prox label``'s line said "3 documents …: 2 valid" and never the one rejected, nor
    why: it now says "1 rejected (1 html:extractor_timeout)", as quarantines are said."""
    from prox_tasks.cli import main

    rows = [{"id": "ok", "text": page_text(), "html": page_html()},
            {"id": "slow", "text": "word " * 30, "html": slow_page_html()}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "l.jsonl"),
                 "--teacher", "html", "--html-timeout", "0.3"]) == 0
    line = capsys.readouterr().out
    assert "2 documents with html: 1 valid, 1 rejected (1 html:extractor_timeout), " in line
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "r.jsonl")]) == 0
    assert "2 documents with rules: 2 valid, 0 rejected, " in capsys.readouterr().out


def test_the_seed_set_line_names_every_rejection_reason(tmp_path, capsys):
    """``prox label --seed-set``'s line named rejected rows by reason only for missing gold
    or HTML ("2 rejected (1 rejected as missing_html: …)": the other one unexplained). It now
    names every reason with its count, as the plain ``prox label`` line does."""
    from prox_tasks.cli import main

    rows = [*({"id": f"ok{i}", "text": page_text(), "html": page_html()} for i in range(8)),
            {"id": "slow", "text": "word " * 30, "html": slow_page_html()},
            {"id": "bare", "text": "word " * 30}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "seed"),
                 "--seed-set", "--teacher", "html", "--html-timeout", "0.3", "--sample-size",
                 "10", "--val-fraction", "0.5", "--no-register"]) == 0, capsys.readouterr().err
    line = capsys.readouterr().out
    assert ": 10 sampled, 8 valid, 2 rejected (1 html:extractor_timeout, 1 missing_html: " \
        "sampled rows without HTML), " in line, line


def test_a_seed_set_rerun_that_spells_out_the_defaults_is_the_same_seed_set(tmp_path, capsys):
    """``prox label --seed-set --teacher html`` run again with ``--html-timeout 30`` and
    ``--max-html-bytes 8388608`` (the defaults, typed out) was refused as other settings
    ("teacher options {} -> {'extract_timeout': 30.0}", "--max-html-bytes None -> 8388608")
    though the teacher and its labels are the same; it now goes on and writes the same seed
    set. Another value is still refused."""
    from prox_tasks.cli import main

    rows = [{"id": f"p{i}", "text": page_text(), "html": page_html()} for i in range(4)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "seed"
    args = ["label", "--json", "--input", str(src), "--output", str(out), "--seed-set",
            "--teacher", "html", "--sample-size", "4", "--val-fraction", "0.5", "--no-register"]
    assert main(args) == 0, capsys.readouterr().err
    version = json.loads(capsys.readouterr().out)["version"]
    files = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert main([*args, "--html-timeout", "30", "--max-html-bytes", "8388608"]) == 0, (
        capsys.readouterr().err)
    assert json.loads(capsys.readouterr().out)["version"] == version
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == files
    assert main([*args, "--html-timeout", "10"]) == 1
    assert "{} -> {'extract_timeout': 10.0}" in capsys.readouterr().err


def test_a_row_whose_html_is_empty_is_quarantined_not_labeled_a_drop(tmp_path):
    """``--teacher html`` over a row whose ``html`` is ``""`` or blank (a conversion tool's
    page without a body) labeled it ``drop_doc()``, valid: nothing extracted, so a seed set
    taught dropping a document for the HTML it lacked. Such a row is now quarantined as
    ``missing_html``, as one without the field is; an input none of whose rows has more is
    refused, and best labels these rows with its fallback."""
    from prox_tasks.labeling.run import MissingTeacherInput

    rows = [{"id": "ok", "text": page_text(), "html": page_html()},
            {"id": "empty", "text": page_text(), "html": ""},
            {"id": "blank", "text": page_text(), "html": " \n "}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "l.jsonl"
    counts = label_corpus(str(src), str(out), get_teacher("html"))
    assert (counts["written"], counts["quarantined"]) == (1, {"missing_html": 2})
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["ok"]
    held = [json.loads(line) for line in (tmp_path / "l.jsonl.quarantine.jsonl").open()]
    assert [(h["id"], h["detail"]) for h in held] == [
        ("empty", "field 'html' holds no HTML (empty)"),
        ("blank", "field 'html' holds no HTML (empty)")]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows[1:]))
    with pytest.raises(MissingTeacherInput):
        label_corpus(str(src), str(tmp_path / "l2.jsonl"), get_teacher("html"))
    best = label_corpus(str(src), str(tmp_path / "l3.jsonl"), get_teacher("best"))
    assert best["by_teacher"] == {"rules": 2}
