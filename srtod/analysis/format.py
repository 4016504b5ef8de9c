"""The one number formatter and the one markdown-table renderer of srtod.analysis.

Every page under ``reports/<tier>/`` (table reports, index, claims) prints numbers with
:func:`fmt` and tables with :func:`markdown_table` / :func:`frame_markdown`, so a missing value,
a sign or a rounding reads the same everywhere.
"""
from __future__ import annotations

import math
import numbers

#: What a missing or non-finite number prints as.
MISSING = '–'


def fmt(value, digits: int | None = 1, signed: bool = False, missing: str = MISSING) -> str:
    """A number as text.

    Args:
        value: a number, or None / NaN / inf (printed as ``missing``).
        digits: decimals; None for the shortest general form (``36.4``, ``0.0025``).
        signed: print a ``+`` before positive numbers.
        missing: the text of a missing value.

    Returns:
        The text; a value that rounds to zero prints without a minus sign.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return missing
    value = float(value)
    if not math.isfinite(value):
        return missing
    sign = '+' if signed else ''
    if digits is None:
        return f'{value:{sign}g}'
    if round(value, digits) == 0:
        value = 0.0  # no "-0.0"
    return f'{value:{sign}.{digits}f}'


def fmt_mean(mean, std, digits: int = 1, signed: bool = False) -> str:
    """``mean ± std`` (the std left out when it is missing)."""
    text = fmt(mean, digits, signed)
    if text != MISSING and std is not None and math.isfinite(float(std)):
        text += f' ± {fmt(std, digits)}'
    return text


def cell(value, digits: int = 2) -> str:
    """One table cell: numbers through :func:`fmt`, text with ``|`` and newlines escaped."""
    if value is None:
        return MISSING
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        value = float(value)
        if math.isfinite(value) and value != 0 and abs(value) < 10 ** -digits:
            return f'{value:.2g}'   # small values keep two significant digits
        return fmt(value, digits)
    text = str(value)
    if text == 'nan':
        return MISSING
    return text.replace('|', '\\|').replace('\n', ' ')


def markdown_table(header, body, digits: int = 2) -> str:
    """A GitHub markdown table; floats with ``digits`` decimals, missing values as a dash."""
    lines = ['| ' + ' | '.join(cell(h) for h in header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(cell(v, digits) for v in row) + ' |' for row in body]
    return '\n'.join(lines)


def frame_markdown(frame, digits: int = 2, empty: str = '_None._') -> str:
    """A DataFrame as a markdown table (no index); ``empty`` when it has no row."""
    if not len(frame):
        return empty
    return markdown_table([str(c) for c in frame.columns], frame.values.tolist(), digits)


__all__ = ['MISSING', 'fmt', 'fmt_mean', 'cell', 'markdown_table', 'frame_markdown']
