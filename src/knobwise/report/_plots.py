"""The report's matplotlib plots, each a function of plain data returning a :class:`ReportFigure`.

Run plots beyond the learning curves (drawn with Pillow, :mod:`knobwise.report._curves`):
confusion-matrix pictures for many classes. Comparison: curves of several runs overlaid. Study
plots: optimization history, parallel coordinates, parameter importances and the Pareto front.
They are drawn with matplotlib directly (not ``optuna.visualization.matplotlib``, which is
experimental, warns on every call and offers no control over fonts and palette), all through
:mod:`knobwise.report._figures`, which imports matplotlib with the first figure drawn.

Example:
    >>> hist = [{"epoch": 1, "val_loss": 1.1, "val_accuracy": 0.4},
    ...         {"epoch": 2, "val_loss": 0.7, "val_accuracy": 0.7}]
    >>> overlaid_curves({"a": hist}).name
    'comparison_curves'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from knobwise.report._curves import history_column
from knobwise.report._figures import (
    PALETTE,
    SEQUENTIAL_CMAP,
    ReportFigure,
    color,
    label_axes,
    new_figure,
    styled,
    to_figure,
)

__all__ = [
    "confusion_heatmaps",
    "overlaid_curves",
    "optimization_history",
    "parallel_coordinates",
    "importance_bars",
    "pareto_front",
]


def _has(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).any())


def _integer_ticks(ax: Any) -> None:
    """Whole-number ticks on the x axis (epochs, trial numbers)."""
    # lazy: matplotlib loads with the first figure drawn (see _figures.pyplot)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _tick_style(labels: Sequence[str]) -> dict[str, Any]:
    """Long class names are slanted so they do not overlap; short ones stay upright and centered."""
    if max(map(len, labels), default=0) > 2:
        return {"rotation": 45, "ha": "right", "rotation_mode": "anchor"}
    return {}


def _short(name: str, n: int = 12) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


@styled
def confusion_heatmaps(cm: np.ndarray, classes: Sequence[str], split: str) -> ReportFigure:
    """The confusion matrix (true on rows, predicted on columns) as counts and row-normalized
    (each row divided by the class's examples: the diagonal is per-class recall), annotated."""
    cm = np.asarray(cm, dtype=np.int64)
    k = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    side = min(max(4.5, 0.55 * k + 2), 12)
    fig, axes = new_figure(2 * side + 1.5, side, 1, 2)
    labels = [_short(c) for c in classes]
    for ax, data, title, fmt in (
        (axes[0][0], cm, f"{split}: counts", "d"),
        (axes[0][1], norm, f"{split}: row-normalized (recall on the diagonal)", ".2f"),
    ):
        im = ax.imshow(data, cmap=SEQUENTIAL_CMAP, vmin=0, interpolation="nearest")
        ax.grid(False)
        if k > 20:  # cells too small for numbers: a color scale instead (with numbers it is redundant)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ticks = np.arange(k)
        ax.set_xticks(ticks, labels, **_tick_style(labels))
        ax.set_yticks(ticks, labels)
        label_axes(ax, "predicted class", "true class", title)
        if k <= 20:  # beyond that the numbers no longer fit in their cells
            hi = data.max() if data.size else 0
            for i in range(k):
                for j in range(k):
                    v = data[i, j]
                    if cm[i, j] == 0:
                        continue  # blank cells are zero: fewer texts to draw, the mistakes stand out
                    text = format(int(v), "d") if fmt == "d" else f"{v:.2f}"
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=10 if k <= 12 else 8,
                        color="black" if hi and v > 0.6 * hi else "white",
                    )
    return to_figure(
        fig,
        f"confusion_{split}",
        f"Confusion matrix ({split}); blank cells are 0",
        f"Confusion matrix of the {split} split, counts and row-normalized",
    )


@styled
def overlaid_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> ReportFigure:
    """Dev loss and dev accuracy per epoch of several runs on shared axes (train dotted)."""
    fig, axes = new_figure(15, 4.8, 1, 2)
    for i, (label, hist) in enumerate(histories.items()):
        epochs = history_column(hist, "epoch")
        for ax, train_key, dev_key in (
            (axes[0][0], "loss", "val_loss"),
            (axes[0][1], "accuracy", "val_accuracy"),
        ):
            dev, train = history_column(hist, dev_key), history_column(hist, train_key)
            if _has(dev):
                ax.plot(
                    epochs, dev, "-", marker="o", ms=4, color=color(i), lw=2, label=f"{_short(label, 30)} dev"
                )
            if _has(train):
                ax.plot(epochs, train, ":", color=color(i), lw=1.5, label=f"{_short(label, 30)} train")
    label_axes(axes[0][0], "epoch", "loss", "loss per epoch (dev solid, train dotted)")
    label_axes(axes[0][1], "epoch", "accuracy", "accuracy per epoch (dev solid, train dotted)")
    for ax in axes[0]:
        _integer_ticks(ax)
        ax.legend(fontsize=9)
    return to_figure(fig, "comparison_curves", "Learning curves, overlaid")


@styled
def optimization_history(
    numbers: Sequence[int], values: Sequence[float], maximize: bool, metric: str
) -> ReportFigure:
    """Each completed trial's objective value and the best value so far."""
    fig, ax = new_figure(10, 4.5)
    v = np.asarray(values, dtype=float)
    best = np.maximum.accumulate(v) if maximize else np.minimum.accumulate(v)
    ax.plot(numbers, v, "o", color=PALETTE[0], ms=6, label="trial")
    ax.step(numbers, best, where="post", color=PALETTE[3], lw=2, label="best so far")
    label_axes(ax, "trial number", metric, f"optimization history ({'maximize' if maximize else 'minimize'})")
    _integer_ticks(ax)
    ax.legend()
    return to_figure(fig, "study_history", "Optimization history")


#: Where a trial without a (conditional) parameter crosses that parameter's axis.
NA_POSITION = -0.15


def _axis_values(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None, bool]:
    """Positions in [0, 1] for one parameter: numbers (log-scaled when positive and spanning more
    than 100x) or categories (evenly spaced); returns the tick labels of categories. ``None`` (a
    conditional parameter the trial did not sample) sits at :data:`NA_POSITION`, below the axis."""
    present = [x for x in values if x is not None]
    out = np.full(len(values), NA_POSITION)
    idx = [i for i, x in enumerate(values) if x is not None]
    if not present:
        return out, [], False
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in present):
        x = np.asarray(present, dtype=float)
        log = bool((x > 0).all() and x.max() / x.min() > 100)
        x = np.log10(x) if log else x
        span = x.max() - x.min()
        out[idx] = (x - x.min()) / span if span > 0 else 0.5
        return out, None, log
    cats = sorted({str(x) for x in present})
    pos = {c: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, c in enumerate(cats)}
    out[idx] = [pos[str(x)] for x in present]
    return out, cats, False


@styled
def parallel_coordinates(
    params: Sequence[Mapping[str, Any]], values: Sequence[float], metric: str
) -> ReportFigure:
    """One line per trial through its parameter values (each axis scaled to its range; log10
    where marked), colored by the objective value (the colour bar). A trial without a conditional
    parameter crosses that axis at "n/a", below it, so every trial is drawn; the best on top."""
    names = sorted({k for p in params for k in p})
    fig, ax = new_figure(max(8, 2.2 * (len(names) + 1)), 5)
    cols = []
    labels = []
    any_na = False
    for name in names:
        raw = [p.get(name) for p in params]
        pos, cats, log = _axis_values(raw)
        cols.append(pos)
        any_na = any_na or any(x is None for x in raw)
        present = [x for x in raw if x is not None]
        if cats is None:
            lo, hi = min(present), max(present)
            labels.append(f"{'log10 ' if log else ''}{name}\n{lo:.3g} … {hi:.3g}")
        else:
            labels.append(f"{name}\n{' / '.join(_short(c, 8) for c in cats)}")
    v = np.asarray(values, dtype=float)
    span = v.max() - v.min() if v.size else 0.0
    vnorm = (v - v.min()) / span if span > 0 else np.full(len(v), 0.5)
    cols.append(vnorm)
    labels.append(f"{metric}\n{v.min():.4g} … {v.max():.4g}" if v.size else metric)
    # lazy: matplotlib loads with the first figure drawn (see _figures.pyplot)
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap = colormaps[SEQUENTIAL_CMAP]
    xs = np.arange(len(cols))
    for j in np.argsort(vnorm, kind="stable"):  # the best drawn last, on top
        ax.plot(xs, [c[j] for c in cols], "-o", color=cmap(vnorm[j]), lw=1.8, ms=4, alpha=0.9)
    lines = [line.get_ydata().tolist() for line in ax.get_lines()]
    ax.set_xticks(xs, labels, fontsize=10)
    ticks, tick_labels = [0.0, 0.5, 1.0], ["min", "mid", "max"]
    if any_na:
        ticks, tick_labels = [NA_POSITION, *ticks], ["n/a", *tick_labels]
        ax.axhline((NA_POSITION + 0) / 2, color="#bbbbbb", lw=0.8, ls=":")
    ax.set_yticks(ticks, tick_labels)
    norm = Normalize(vmin=float(v.min()), vmax=float(v.max())) if v.size else Normalize()
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
    bar.set_label(f"{metric} (line colour)")
    label_axes(
        ax,
        "parameter (axis scaled to its range; n/a: not sampled in that trial)",
        "position in range",
        f"parallel coordinates ({len(lines)} trials)",
    )
    return to_figure(
        fig,
        "study_parallel",
        "Parallel coordinates",
        data={"lines": lines, "axes": names},
    )


@styled
def importance_bars(importances: Mapping[str, float], objective: str | None = None) -> ReportFigure:
    """Parameter importances as horizontal bars, the most important on top; ``objective`` names
    the objective they explain."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = new_figure(9, max(2.5, 0.5 * len(items) + 1.2))
    ax.barh([_short(k, 30) for k, _ in items], [v for _, v in items], color=PALETTE[0])
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.3f}", va="center", fontsize=10)
    what = f"{objective}'s" if objective else "the objective's"
    title = f"parameter importances for {objective}" if objective else "parameter importances"
    label_axes(ax, f"importance (share of {what} variance)", "parameter", title)
    return to_figure(fig, "study_importances", "Parameter importances")


@styled
def pareto_front(
    values: np.ndarray, on_front: np.ndarray, names: Sequence[str], numbers: Sequence[int]
) -> ReportFigure:
    """Trials of a two-objective study, the Pareto-optimal ones highlighted and joined."""
    fig, ax = new_figure(9, 6)
    v = np.asarray(values, dtype=float)
    front = np.asarray(on_front, dtype=bool)
    ax.scatter(v[~front, 0], v[~front, 1], color=PALETTE[5], s=40, label="trial")
    order = np.argsort(v[front, 0])
    ax.plot(v[front, 0][order], v[front, 1][order], "-o", color=PALETTE[3], ms=8, lw=2, label="Pareto front")
    for (x, y), n in zip(v[front], np.asarray(numbers)[front], strict=True):
        ax.annotate(f"#{n}", (x, y), textcoords="offset points", xytext=(5, 5), fontsize=10)
    label_axes(ax, names[0], names[1], "Pareto front")
    ax.legend()
    return to_figure(fig, "study_pareto", "Pareto front")
