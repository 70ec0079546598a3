"""The vendored page assets link only files that are vendored beside them."""

import re

from prox_tasks.report import STATIC_DIR


def test_every_file_a_vendored_stylesheet_links_is_there():
    """Font Awesome's stylesheet named a .ttf beside each .woff2 font; only the .woff2 were
    vendored, so a browser falling back to TrueType (or a crawler of the Data Docs site)
    asked for four .ttf files the report answered 404. Each url() of a vendored stylesheet
    names a file that is vendored."""
    missing = []
    for sheet in STATIC_DIR.rglob("*.css"):
        for url in re.findall(r"url\((['\"]?)([^)'\"]+)\1\)", sheet.read_text(encoding="utf-8")):
            link = url[1].split("#", 1)[0].split("?", 1)[0]
            if link.startswith("data:"):
                continue
            if not (sheet.parent / link).resolve().is_file():
                missing.append(f"{sheet.relative_to(STATIC_DIR)}: {url[1]}")
    assert missing == []
