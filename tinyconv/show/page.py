"""The page's files (package data in ``tinyconv/show/static/``) and the self-contained export.

The page is plain HTML, CSS and JavaScript with no library and no CDN, so that it works offline.
Served, it asks the server for its data (``/api/...``); exported by :func:`export_html`, the
same page carries its data inline (``window.TINYCONV_DATA``) and needs no server and no network.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["STATIC_FILES", "export_html", "read_static"]

STATIC_FILES = {"index.html": "text/html", "show.js": "text/javascript",
                "show.css": "text/css"}  # name -> content type


def read_static(name: str) -> bytes:
    """The bytes of one of :data:`STATIC_FILES`."""
    if name not in STATIC_FILES:
        raise ValueError(f"read_static: unknown file {name!r}; the page's files are "
                         f"{', '.join(STATIC_FILES)}")
    return resources.files("tinyconv.show").joinpath("static", name).read_bytes()


def _inline_json(payload: Any) -> str:
    """JSON safe inside a ``<script>`` element: every ``<`` (so no ``</script>`` or ``<!--``
    can end or confuse it) and the characters JavaScript treats as line ends are escaped; all
    of them can only occur inside JSON strings, where the escapes mean the same."""
    text = json.dumps(payload)
    return (text.replace("<", "\\u003c").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


def build_static_page(model: dict, result: dict) -> str:
    """The page with its style sheet, script and data (``model``: ``Network.describe()``,
    ``result``: ``Network.run...()``) inlined: one HTML text that opens from a file."""
    html = read_static("index.html").decode()
    css = read_static("show.css").decode()
    script = read_static("show.js").decode().replace("</script", "<\\/script")
    data = _inline_json({"model": model, "result": result})
    replacements = {
        '<link rel="stylesheet" href="static/show.css">': f"<style>\n{css}</style>",
        '<script src="static/show.js"></script>':
            f"<script>window.TINYCONV_DATA = {data};</script>\n<script>\n{script}</script>",
    }
    for old, new in replacements.items():
        if html.count(old) != 1:
            raise RuntimeError(f"export: index.html must contain {old!r} exactly once")
        html = html.replace(old, new)
    return html


def export_html(network: Any, path: str | Path, test_index: int = 0) -> Path:
    """Write one self-contained HTML file showing ``network`` on test image ``test_index``."""
    path = Path(path)
    page = build_static_page(network.describe(), network.run_test_image(test_index))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
