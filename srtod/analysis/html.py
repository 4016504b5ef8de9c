"""Self-contained HTML copies of the report pages, for ``snakemake --report``.

Snakemake's report embeds each result file on its own, so a page must carry its figures: the
markdown pages of ``reports/<tier>/`` are rendered with markdown-it-py (CommonMark and GitHub
tables) and every local image is inlined as a data URI. Links between pages stay relative, and
headings get GitHub's anchors.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path

from srtod.errors import InputError
from srtod.io import write_text

#: ``reports/<tier>/html/<page>.html`` for ``reports/<tier>/<page>.md``.
HTML_DIR = 'html'

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em;
       line-height: 1.4; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; }
th { background: #f2f2f2; }
img { max-width: 100%; }
code { background: #f5f5f5; padding: 0 2px; }
"""
_IMG = re.compile(r'(<img\s[^>]*?src=")([^"]+)(")')
_HEADING = re.compile(r'<h([1-6])>(.*?)</h')


def slug(heading_html: str) -> str:
    """The anchor of a heading as GitHub makes it (``### Claim 3`` -> ``claim-3``), so the
    pages' links to their sections work in the HTML copies too."""
    text = html.unescape(re.sub(r'<[^>]+>', '', heading_html)).strip().lower()
    return re.sub(r'\s', '-', re.sub(r'[^\w\- ]', '', text))


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or 'application/octet-stream'
    return f'data:{mime};base64,' + base64.b64encode(path.read_bytes()).decode('ascii')


def markdown_to_html(text: str, base_dir: str | Path, title: str) -> str:
    """One report page as a standalone HTML document.

    Args:
        text: the markdown of the page.
        base_dir: the folder the page's relative image paths start from.
        title: the document title.

    Returns:
        The HTML text; every local image inlined.

    Raises:
        InputError: a page shows an image that does not exist.
    """
    from markdown_it import MarkdownIt

    body = MarkdownIt('commonmark').enable('table').render(text)
    base_dir = Path(base_dir)

    def inline(match):
        src = html.unescape(match.group(2))
        if src.startswith(('data:', 'http://', 'https://')):
            return match.group(0)
        path = base_dir / src
        if not path.is_file():
            raise InputError(f'the page shows {src}, which does not exist', path=path)
        return match.group(1) + _data_uri(path) + match.group(3)

    body = _IMG.sub(inline, body)
    body = _HEADING.sub(lambda m: f'<h{m.group(1)} id="{slug(m.group(2))}">{m.group(2)}</h',
                        body)
    body = re.sub(r'href="([^"#:]+)\.md(#[^"]*)?"', r'href="\1.html\2"', body)
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n'
            f'<body>\n{body}</body></html>\n')


def write_html(page: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML copy of a markdown page (``reports/<tier>/html/<name>.html`` by default)."""
    page = Path(page)
    out = Path(out) if out is not None else page.parent / HTML_DIR / f'{page.stem}.html'
    text = page.read_text(encoding='utf-8')
    first = text.splitlines()[0].lstrip('# ').strip() if text.strip() else page.stem
    write_text(out, markdown_to_html(text, page.parent, first))
    return out


__all__ = ['HTML_DIR', 'markdown_to_html', 'write_html', 'slug']
