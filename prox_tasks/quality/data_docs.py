"""Great Expectations Data Docs that work without internet access.

GX writes pages that load Bootstrap, jQuery, Popper, bootstrap-table, bootstrap-datepicker,
Font Awesome, Vega and its logo from CDNs. :func:`make_offline` copies the same files,
vendored from npm (``prox_tasks/report/static/vendor/``, licenses beside them), into the
site's ``static/vendor/`` and points every page at them with relative links, so the docs open
from a plain folder, from the PROX report, or from S3, offline. An asset of a GX version this
module does not know is an error: a page that would load something from the internet is never
published silently.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parents[1] / "report" / "static" / "vendor"
TARGET_DIR = "static/vendor"
#: What GX loads from the internet -> the vendored copy (relative to ``VENDOR_DIR``).
ASSETS = {
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "gx/fontawesome/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "gx/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        "gx/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "gx/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "gx/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "gx/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "gx/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": "gx/bootstrap-table-filter-control.min.js",
    # GX asks for 1.19.0 of the filter-control styles (plain and minified): 1.19.1's are equal
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": "gx/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": "gx/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "gx/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "gx/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "gx/bootstrap-prefers-dark.css",
}
#: GX's logo on S3 -> the copy GX itself writes to ``static/images/``.
IMAGES_URL = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
#: GX's dark-mode logo is not in its package: the light one stands in for it.
IMAGE_STANDINS = {"full_logo_dark.png": "logo-long.png"}
_CSS_URL = re.compile(r"url\((['\"]?)(https?://[^)'\"]+)\1\)")
_LOADED = re.compile(r'<(script|link|img)\b[^>]*?\b(src|href)="(https?://[^"]+)"[^>]*>', re.I)
# GX counts one folder too few in some pages' links to its own static/ (the favicon of a
# validation result); every link into static/ is made relative to the page's real depth.
_STATIC = re.compile(r'((?:src|href)=")(?:\./|(?:\.\./)+)static/')
_SRI = re.compile(r'\s+(integrity="[^"]*"|crossorigin="[^"]*")')


class OnlineAsset(RuntimeError):
    """A Data Docs page loads something from the internet that is not vendored."""


def _rewrite(page: str, up: str) -> str:
    def local(match: re.Match) -> str:
        tag, url = match.group(0), match.group(3)
        if match.group(1).lower() == "link" and "stylesheet" not in tag and "icon" not in tag:
            return tag  # a plain hyperlink, never fetched by the browser
        if url in ASSETS:
            target = f"{up}{TARGET_DIR}/{ASSETS[url]}"
        elif url.startswith(IMAGES_URL):
            target = _image(url, up)
        else:
            raise OnlineAsset(f"Data Docs would load {url}; vendor it in {VENDOR_DIR}")
        return _SRI.sub("", tag.replace(url, target))  # the copy is ours: no SRI hash to check

    return _STATIC.sub(lambda m: f"{m.group(1)}{up}static/", _LOADED.sub(local, page))


def _image(url: str, up: str) -> str:
    name = url[len(IMAGES_URL):].split("?", 1)[0]
    return f"{up}static/images/{IMAGE_STANDINS.get(name, name)}"


def _rewrite_css(css: str, up: str) -> str:
    def local(match: re.Match) -> str:
        url = match.group(2)
        if not url.startswith(IMAGES_URL):
            raise OnlineAsset(f"Data Docs styles would load {url}; vendor it in {VENDOR_DIR}")
        return f"url('{_image(url, up)}')"

    return _CSS_URL.sub(local, css)


def make_offline(site_dir: str | os.PathLike) -> int:
    """Vendor the assets into the Data Docs site at ``site_dir`` and rewrite its pages to use
    them; returns the number of pages rewritten.

    Raises:
        OnlineAsset: a page loads a file from the internet that is not vendored.
    """
    site = Path(site_dir)
    wanted = sorted(set(ASSETS.values()))
    for rel in wanted:
        (site / TARGET_DIR / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(VENDOR_DIR / rel, site / TARGET_DIR / rel)
    fonts = VENDOR_DIR / "gx" / "fontawesome" / "webfonts"
    shutil.copytree(fonts, site / TARGET_DIR / "gx" / "fontawesome" / "webfonts",
                    dirs_exist_ok=True)
    for license_file in VENDOR_DIR.rglob("LICENSE*"):
        target = site / TARGET_DIR / license_file.relative_to(VENDOR_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(license_file, target)
    for sheet in (site / "static" / "styles").glob("*.css"):
        sheet.write_text(_rewrite_css(sheet.read_text(encoding="utf-8"), "../../"),
                         encoding="utf-8")
    pages = 0
    for page in site.rglob("*.html"):
        depth = len(page.relative_to(site).parts) - 1
        text = page.read_text(encoding="utf-8")
        new = _rewrite_css(_rewrite(text, "../" * depth), "../" * depth)  # inline styles too
        if new != text:
            page.write_text(new, encoding="utf-8")
            pages += 1
    return pages
