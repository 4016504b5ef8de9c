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
