"""The scene as one shareable web page: our WebGL viewer with the ``.glb`` embedded.

The page inlines ``javascript/depth3d_viewer.js`` and ``style.css`` as they are when it is written
(the tab's own viewer, not a copy) and the scene's ``.glb`` as base64, so it opens from a file or
any static host with no network access: its Content-Security-Policy allows no source outside the
page. It starts at the picture's camera, walks and orbits as the tab does, plays the camera move
(P) and offers the embedded ``.glb`` for download.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

EXTENSION_ROOT = Path(__file__).resolve().parents[2]
VIEWER_SCRIPT = EXTENSION_ROOT / "javascript" / "depth3d_viewer.js"
STYLESHEET = EXTENSION_ROOT / "style.css"

CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob:"
"""Inline scripts and styles and the pictures the viewer decodes from the embedded file; nothing
else, so the page can neither fetch nor leak anything."""

_START = """(function () {
    "use strict";
    var viewer = window.depth3dViewer;
    var binary = atob(document.getElementById("depth3d_scene_glb").textContent.trim());
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    // The embedded file is offered under the page's own name: PAGE.html gives PAGE.glb.
    var link = document.getElementById("depth3d_page_download");
    link.download = (decodeURIComponent(location.pathname.split("/").pop()).replace(/\\.html?$/i, "") || "scene") + ".glb";
    link.href = URL.createObjectURL(new Blob([bytes], {type: "model/gltf-binary"}));
    viewer.attach();
    viewer.open(bytes.buffer).then(function () {
        if (viewer.scene) viewer.canvas.focus();
    });
})();"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>{title}</title>
<style>
{stylesheet}
</style>
<style>
html, body {{ margin: 0; background: #0f0f12; color: #e4e4e7; font: 14px system-ui, sans-serif; }}
main {{ padding: 12px; }}
#depth3d_viewer_host .depth3d-viewer-stage {{ width: min(100%, calc((100vh - 5rem) * {aspect:.6f})); margin: 0 auto; }}
#depth3d_viewer_host .depth3d-viewer-canvas {{ max-height: none; }}
#depth3d_viewer_host .depth3d-viewer-message, .depth3d-page-links {{ text-align: center; }}
.depth3d-page-links a {{ color: #90caf9; }}
</style>
</head>
<body>
<main>
<div id="depth3d_viewer_host"></div>
<p class="depth3d-page-links"><a id="depth3d_page_download">Download the scene (.glb)</a></p>
</main>
<script type="application/octet-stream" id="depth3d_scene_glb">
{glb_base64}
</script>
<script>
{viewer}
</script>
<script>
{start}
</script>
</body>
</html>
"""


def _inline(text: str, tag: str) -> str:
    """``text`` safe inside ``<tag>…</tag>``: a closing tag in it would end the element early.
    ``<\\/`` means ``</`` in a JavaScript string or regular expression and in CSS."""
    return re.sub(f"</(?={tag})", r"<\\/", text, flags=re.IGNORECASE)


def viewer_page_html(glb: bytes, *, title: str, picture_aspect: float) -> bytes:
    """A self-contained HTML page (UTF-8) showing the scene ``glb`` in our viewer.

    ``title``: the page's title; ``picture_aspect``: the picture's width over height, so that the
    view fills the window's height or width as the picture does. The page offers the embedded
    file for download under its own name (``PAGE.html`` → ``PAGE.glb``).
    """
    page = _PAGE.format(
        policy=CONTENT_SECURITY_POLICY,
        title=html.escape(title),
        stylesheet=_inline(STYLESHEET.read_text(encoding="utf-8"), "style"),
        aspect=picture_aspect,
        glb_base64=base64.b64encode(glb).decode("ascii"),
        viewer=_inline(VIEWER_SCRIPT.read_text(encoding="utf-8"), "script"),
        start=_START,
    )
    return page.encode("utf-8")
