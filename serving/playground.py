"""The playground: a page for people at `/` on the REST port (`zoo serve --no-ui` turns it off).

TF Serving and Triton have no page for a person; a course's students would rather draw a digit than
write a request, so the page opens on the drawing pad and keeps the API for last, folded. It is three
static files in serving/ui/ (no build step, nothing from a CDN, so it works offline) and talks to the
server only through its public REST API, as any client would: Triton's repository index to list the
models, KServe v2's metadata and TF Serving's status for each, Triton's model configuration for a
table's feature names, then TF Serving's `:predict` and `:classify`. Each request it sends is shown
as its `curl` twin.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).with_name("ui")
FILES = {  # path -> (file in FOLDER, content type)
    "/": ("index.html", b"text/html; charset=utf-8"),
    "/playground.js": ("playground.js", b"text/javascript; charset=utf-8"),
    "/playground.css": ("playground.css", b"text/css; charset=utf-8"),
}
# Only this server's own files and API; images drawn by the page are data: and blob: URLs.
POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Playground:
    """The page's files, read once when the server starts."""

    def __init__(self, folder: Path = FOLDER) -> None:
        self._files = {
            path: ((folder / name).read_bytes(), content_type)
            for path, (name, content_type) in FILES.items()
        }

    def serves(self, path: str) -> bool:
        return path in self._files

    def file(self, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The body and headers of one of the page's files."""
        body, content_type = self._files[path]
        return body, [
            (b"content-type", content_type),
            (b"content-security-policy", POLICY),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-cache"),  # a new zoo version's page, not a cached old one
        ]
