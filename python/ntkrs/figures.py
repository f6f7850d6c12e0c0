"""Plotting helpers shared by ``ntkrs reproduce`` and ``ntkrs report`` (matplotlib, optional).

Figures are drawn with matplotlib's object-oriented API on an Agg canvas (no ``pyplot``), so
nothing here touches the global backend or the interactive state of a user's session.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .errors import InvalidInputError

__all__ = ["require_matplotlib", "new_figure", "save_png", "png_bytes", "positive", "DPI"]

#: Resolution of the PNG files.
DPI = 120


def require_matplotlib(what: str = "plots") -> None:
    """Raise :class:`~ntkrs.InvalidInputError` with an install hint if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            f"{what} need matplotlib, an optional extra: pip install 'ntkrs[plot]' (or matplotlib)"
        ) from None


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 6.4, height: float = 4.4,
               **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` on an Agg canvas; ``axes`` as ``Figure.subplots`` returns it."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=kwargs.pop("squeeze", True), **kwargs)
    return fig, axes


def label_axes(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    """Axis labels, a title, a light log-friendly grid and the legend: the house style of every
    single-panel figure of ``ntkrs report``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (after ``tight_layout``)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def save_png(fig: Any, path: Any) -> None:
    """Write the figure to ``path`` as a PNG."""
    data = png_bytes(fig)
    with open(path, "wb") as fh:
        fh.write(data)


def positive(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """The points with ``y > 0`` (log axes cannot show zeros or round-off negatives)."""
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y) & (y > 0)
    return x[keep], y[keep]
