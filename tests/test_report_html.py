"""srtod.analysis.html: the HTML copy of a report page carries its figures and its links."""
import base64

import pytest

from srtod.analysis.html import markdown_to_html, write_html
from srtod.errors import InputError

PNG = base64.b64decode(  # a 1x1 PNG
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ'
    'RU5ErkJggg==')


def test_page_inlines_its_figures_and_renders_tables(tmp_path):
    (tmp_path / 'figures').mkdir()
    (tmp_path / 'figures' / 'T4_gains.png').write_bytes(PNG)
    page = tmp_path / 'T4.md'
    page.write_text('# T4: designs\n\n| row | AP |\n|---|---|\n| RH | 14.7 |\n\n'
                    '![T4_gains](figures/T4_gains.png)\n\n_caption_\n\n'
                    'See [the index](index.md) and [claim 3](claims.md#claim-3).\n',
                    encoding='utf-8')
    out = write_html(page)
    assert out == tmp_path / 'html' / 'T4.html'
    text = out.read_text(encoding='utf-8')
    assert '<title>T4: designs</title>' in text
    assert '<table>' in text and '<td>14.7</td>' in text
    assert 'src="data:image/png;base64,' + base64.b64encode(PNG).decode() + '"' in text
    assert 'figures/T4_gains.png' not in text   # nothing left to fetch
    assert 'href="index.html"' in text and 'href="claims.html#claim-3"' in text
    assert '<h1 id="t4-designs">T4: designs</h1>' in text


def test_heading_anchors_are_githubs():
    from srtod.analysis.html import slug
    assert slug('Claim 3') == 'claim-3'
    assert slug('Difference (reproduced − published)') == 'difference-reproduced--published'
    assert slug('SR-TOD gain over its <code>baseline</code>') == 'sr-tod-gain-over-its-baseline'


def test_a_page_showing_a_missing_image_is_an_error(tmp_path):
    with pytest.raises(InputError, match='figures/absent.png, which does not exist'):
        markdown_to_html('![x](figures/absent.png)\n', tmp_path, 'page')
