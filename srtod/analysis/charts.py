"""Published-vs-reproduced charts of the table reports (matplotlib, written atomically)."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from srtod.io import write_bytes  # noqa: E402

PUBLISHED_COLOR = '#9e9e9e'
REPRODUCED_COLOR = '#1f77b4'


def plot_published_vs_reproduced(path: str | Path, title: str, labels: Sequence[str],
                                 columns: Sequence[str], published, reproduced,
                                 errors=None, notes: Sequence[str] | None = None) -> Path:
    """One panel per column: for each row a published bar and a reproduced bar.

    Args:
        path: the PNG to write.
        title: the figure title (table id and title).
        labels: the row labels, top to bottom.
        columns: the metric columns, one panel each.
        published: array-like (rows x columns) of published values, NaN where not published.
        reproduced: array-like (rows x columns) of reproduced means, NaN where not measured.
        errors: array-like (rows x columns) of standard deviations over seeds, or None.
        notes: per row, a short word drawn where the reproduced bar is missing
            (``failed``, ``not run``, ``external``).

    Returns:
        The path written.
    """
    pub = np.asarray(published, dtype=float).reshape(len(labels), len(columns))
    rep = np.asarray(reproduced, dtype=float).reshape(len(labels), len(columns))
    err = None if errors is None else np.asarray(errors, dtype=float).reshape(rep.shape)
    n_rows, n_cols = pub.shape
    fig, axes = plt.subplots(1, max(n_cols, 1), sharey=True, squeeze=False,
                             figsize=(2.6 * max(n_cols, 1) + 2.2, 0.55 * n_rows + 1.6))
    y = np.arange(n_rows)
    height = 0.38
    for j, ax in enumerate(axes[0]):
        if j >= n_cols:
            break
        ax.barh(y - height / 2, np.nan_to_num(pub[:, j]), height, color=PUBLISHED_COLOR,
                label='published')
        xerr = None
        if err is not None and np.isfinite(err[:, j]).any():
            xerr = np.where(np.isfinite(err[:, j]), err[:, j], 0.0)
        ax.barh(y + height / 2, np.nan_to_num(rep[:, j]), height, xerr=xerr,
                color=REPRODUCED_COLOR, label='reproduced', error_kw=dict(lw=0.8, capsize=2))
        top = np.nanmax(np.concatenate([pub[:, j], rep[:, j], [1.0]]))
        for i in range(n_rows):
            if not math.isfinite(rep[i, j]) and notes is not None and notes[i]:
                ax.text(top * 0.02, i + height / 2, notes[i], va='center', fontsize=7,
                        color='#b00020')
        ax.set_title(columns[j], fontsize=9)
        ax.tick_params(axis='x', labelsize=7)
        ax.grid(axis='x', lw=0.3, alpha=0.6)
        ax.set_xlim(0, top * 1.08)
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels(labels, fontsize=8)
    axes[0][0].invert_yaxis()
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc='upper right', fontsize=8, frameon=False, ncol=2)
    fig.suptitle(title, fontsize=10, x=0.01, ha='left')
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110)
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return Path(path)


def plot_gain_forest(path: str | Path, title: str, labels: Sequence[str], published,
                     gains, lows, highs, verdicts: Sequence[str]) -> Path:
    """Forest plot of SR-TOD gains: per row the reproduced AP gain with its 95% interval
    (paired bootstrap) and the published gain beside it.

    Args:
        path: the PNG to write.
        title: the figure title.
        labels: the SR-TOD row labels, top to bottom.
        published: the published gains (NaN where the paper gives none).
        gains, lows, highs: the reproduced gain and its interval (NaN where not measured).
        verdicts: the bootstrap verdict of each row, printed at the right.

    Returns:
        The path written.
    """
    pub, gain, low, high = (np.asarray(v, dtype=float) for v in (published, gains, lows, highs))
    n = len(labels)
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * n + 1.3))
    y = np.arange(n)
    ok = np.isfinite(low) & np.isfinite(high)
    if ok.any():
        ax.errorbar(gain[ok], y[ok], xerr=np.vstack([gain[ok] - low[ok], high[ok] - gain[ok]]),
                    fmt='o', color=REPRODUCED_COLOR, ms=5, capsize=3, lw=1.2,
                    label='reproduced gain, 95% interval')
    only = np.isfinite(gain) & ~ok
    if only.any():
        ax.plot(gain[only], y[only], 'o', mfc='none', color=REPRODUCED_COLOR,
                label='reproduced gain, no interval')
    has_pub = np.isfinite(pub)
    ax.plot(pub[has_pub], y[has_pub], 'D', color='#d62728', ms=5, label='published gain')
    ax.axvline(0, color='k', lw=0.8)
    finite = np.concatenate([v[np.isfinite(v)] for v in (pub, gain, low, high)] + [[0.0]])
    span = max(float(np.ptp(finite)), 1.0)
    right = float(finite.max()) + 0.05 * span
    for i in range(n):
        ax.text(right, i, verdicts[i] if i < len(verdicts) else '', va='center', fontsize=7)
        if not np.isfinite(gain[i]):
            ax.text(0, i, '  not measured', va='center', fontsize=7, color='#b00020')
    ax.set_xlim(float(finite.min()) - 0.05 * span, right + 0.45 * span)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel('AP gain over the baseline (points)', fontsize=8)
    ax.tick_params(axis='x', labelsize=7)
    ax.grid(axis='x', lw=0.3, alpha=0.6)
    ax.legend(fontsize=7, loc='lower left', bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    fig.suptitle(title, fontsize=9, x=0.01, ha='left')
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110)
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return Path(path)
