"""The confusion matrix as a coloured table: its numbers, its colours, its escaping."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps

from knobwise.report._heatmap import HeatCell, confusion_heatmap, viridis
from knobwise.report._render import environment


def test_viridis_follows_matplotlib() -> None:
    for v in np.linspace(0, 1, 41):
        want = np.round(np.array(colormaps["viridis"](v)[:3]) * 255)
        got = np.array([int(viridis(v)[i : i + 2], 16) for i in (1, 3, 5)])
        assert np.abs(got - want).max() <= 6, (v, got, want)


def test_cells_hold_counts_and_row_fractions() -> None:
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    counts = confusion_heatmap(cm, ["a", "b", "c"], "dev", normalized=False)
    texts = [[c.text for c in cells] for _, cells in counts.rows]
    assert texts == [["8", "2", ""], ["1", "9", ""], ["", "", ""]]
    norm = confusion_heatmap(cm, ["a", "b", "c"], "dev", normalized=True)
    assert [c.text for c in norm.rows[0][1]] == ["0.80", "0.20", ""]
    assert norm.rows[0][1][0].background == viridis(0.8) and norm.rows[0][1][0].ink == "#000000"
    assert counts.caption == "dev: counts; blank cells are 0"


def test_class_names_are_escaped_and_colours_checked() -> None:
    h = confusion_heatmap(np.eye(2, dtype=int), ["<script>x</script>", "b"], "dev", normalized=False)
    html = environment().get_template("heatmap.html").render(h=h)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    with pytest.raises(ValueError, match="cell colours must be #rrggbb"):
        HeatCell("1", "red;background:url(x)", "#000000")
