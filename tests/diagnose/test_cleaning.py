"""The cleaning loop: data.exclude / data.relabel keep the split in place and retrain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knobwise.config import DataConfig, load_config
from knobwise.data import prepare_data
from knobwise.errors import DataError
from knobwise.run import train_experiment


def _csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_exclude_drops_only_the_listed_examples(tmp_path: Path) -> None:
    base = prepare_data(DataConfig(dataset="digits"), seed=0)
    tr, dev = base.splits["train"], base.splits["dev"]
    drop = [int(tr.index[0]), int(tr.index[5]), int(dev.index[2])]
    f = _csv(tmp_path / "ex.csv", "index,score\n" + "".join(f"{i},0.9\n" for i in drop))
    cleaned = prepare_data(DataConfig(dataset="digits", exclude=f), seed=0)
    assert len(cleaned.splits["train"]) == len(tr) - 2 and len(cleaned.splits["dev"]) == len(dev) - 1
    assert set(cleaned.splits["train"].index) == set(tr.index) - set(drop)
    assert np.array_equal(cleaned.splits["test"].index, base.splits["test"].index)
    assert any("data.exclude: dropped 3 examples" in w for w in cleaned.warnings)


def test_relabel_by_id_and_by_index(tmp_path: Path) -> None:
    base = prepare_data(DataConfig(dataset="digits"), seed=0)
    tr = base.splits["train"]
    old = [int(tr.y[0]), int(tr.y[1])]
    new = [(old[0] + 1) % 10, (old[1] + 2) % 10]
    f = _csv(tmp_path / "rl.csv", f"id,label\n{tr.ids[0]},{new[0]}\n")
    g = _csv(tmp_path / "rl2.csv", f"index,suggested\n{tr.index[1]},{new[1]}\n")
    a = prepare_data(DataConfig(dataset="digits", relabel=f), seed=0)
    b = prepare_data(DataConfig(dataset="digits", relabel=g), seed=0)
    assert int(a.splits["train"].y[0]) == new[0] and int(a.splits["train"].y[1]) == old[1]
    assert int(b.splits["train"].y[1]) == new[1]
    assert np.array_equal(a.splits["train"].index, tr.index), "relabeling does not move the split"


def test_exclude_retrains(tmp_path: Path) -> None:
    plain = load_config(None, ["data.limit=300", "train.epochs=1"])
    base = prepare_data(plain.data, seed=0)
    drop = base.splits["train"].index[:20]
    f = _csv(tmp_path / "ex.csv", "index\n" + "".join(f"{i}\n" for i in drop))
    cfg = load_config(None, ["data.limit=300", "train.epochs=1", f"data.exclude={f}"])
    result = train_experiment(cfg, tmp_path / "run", quiet=True)
    assert result.metrics["train"]["n"] == len(base.splits["train"]) - 20
    assert "data.exclude: dropped 20" in (tmp_path / "run" / "log.txt").read_text()


@pytest.mark.parametrize(
    ("key", "text", "match"),
    [
        ("exclude", None, r"data.exclude: file .* not found"),
        ("exclude", "name\nx\n", r"needs an 'id' or 'index' column"),
        ("exclude", "index\n99999\n", r"line 2: index 99999 is outside the pool"),
        ("exclude", "index\nabc\n", r"index 'abc' is not an integer"),
        ("exclude", "id\nnope\n", r"line 2: id 'nope' is not in data.dataset"),
        ("relabel", "index\n3\n", r"needs a 'label' column"),
        ("relabel", "index,label\n3,11\n", r"line 2: label '11' is not a class"),
    ],
)
def test_bad_cleaning_files(tmp_path: Path, key: str, text: str | None, match: str) -> None:
    path = tmp_path / "c.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=match):
        prepare_data(DataConfig(dataset="digits", **{key: str(path)}), seed=0)
