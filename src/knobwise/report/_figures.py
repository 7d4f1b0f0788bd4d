"""The figure helper every report plot uses: one style, one palette, PNG bytes out.

Matplotlib runs with the Agg backend (no display, same pixels everywhere). Every figure gets
labeled axes and fonts large enough to read in a page 1280 px wide, and the colors come from the
Okabe-Ito palette, which stays distinguishable for the common kinds of color blindness. A plot
function builds its figure inside :func:`new_figure` and hands it to :func:`to_figure`, which
renders it to PNG bytes and closes it (figures are never left open to pile up in a long study).

Example:
    >>> @styled
    ... def demo():
    ...     fig, ax = new_figure(4, 3)
    ...     _ = ax.plot([0, 1], [1, 0], color=PALETTE[0])
    ...     label_axes(ax, "epoch", "loss")
    ...     return to_figure(fig, "demo", "A demo plot")
    >>> f = demo()
    >>> f.png[:4] == b"\\x89PNG" and f.data_uri.startswith("data:image/png;base64,")
    True
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

__all__ = [
    "PALETTE",
    "SEQUENTIAL_CMAP",
    "ReportFigure",
    "styled",
    "new_figure",
    "label_axes",
    "to_figure",
    "color",
]

#: Okabe & Ito (2008), "Color Universal Design": black first, then the eight colors in their order,
#: with the yellow moved last because it is hard to see on white.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)

#: Perceptually uniform and readable in grayscale, for heatmaps.
SEQUENTIAL_CMAP = "viridis"

#: Readable at the size the report shows figures (about 1000 px wide for a 10-inch figure).
_RC: dict[str, Any] = {
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "image.cmap": SEQUENTIAL_CMAP,
}


_F = TypeVar("_F", bound=Callable[..., Any])


@functools.lru_cache(maxsize=1)
def pyplot() -> ModuleType:
    """matplotlib's pyplot on the Agg backend, imported at the first figure drawn: importing it
    costs about half a second, which a run's report (drawn with Pillow and HTML) never pays."""
    # lazy: half a second, paid by the reports that draw with matplotlib only
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless and deterministic, whatever MPLBACKEND says
    # lazy: after the backend is chosen
    import matplotlib.pyplot as plt

    return plt


def styled(fn: _F) -> _F:
    """Run a plot function inside the report style (fonts, grid, colormap), leaving the global
    matplotlib settings of the caller untouched."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with pyplot().rc_context(_RC):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class ReportFigure:
    """A rendered plot: a file-safe ``name`` (the PNG's stem in the run directory), a caption
    (``title``), the PNG bytes and alternative text for the ``<img>``."""

    name: str
    title: str
    png: bytes
    alt: str = ""
    #: What was drawn, for checks without reading pixels (e.g. the lines of parallel coordinates).
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI, so the HTML file needs nothing beside it."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def color(i: int) -> str:
    """The ``i``-th palette color, cycling.

    >>> color(0), color(len(PALETTE))
    ('#0072B2', '#0072B2')
    """
    return PALETTE[i % len(PALETTE)]


def new_figure(
    width: float, height: float, nrows: int = 1, ncols: int = 1, **kw: Any
) -> tuple[MplFigure, Any]:
    """A figure of ``width`` x ``height`` inches, with its axes (one ``Axes`` or a 2-D array);
    call it inside a :func:`styled` function so the report style applies."""
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(width, height), squeeze=nrows * ncols == 1, **kw)
    return fig, axes


def label_axes(ax: Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Every plot names its axes (and their units); the fonts come from the report style."""
    ax.set_xlabel(xlabel, fontsize=_RC["axes.labelsize"])
    ax.set_ylabel(ylabel, fontsize=_RC["axes.labelsize"])
    if title:
        ax.set_title(title, fontsize=_RC["axes.titlesize"])


def to_figure(
    fig: MplFigure, name: str, title: str, alt: str | None = None, data: dict[str, Any] | None = None
) -> ReportFigure:
    """Render ``fig`` to PNG (tight layout) and close it."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    finally:
        pyplot().close(fig)
    return ReportFigure(name=name, title=title, png=buf.getvalue(), alt=alt or title, data=data or {})
