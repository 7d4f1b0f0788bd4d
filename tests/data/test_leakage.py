"""Near-duplicates across splits: planted exact and near-identical copies are found, nothing else."""

from __future__ import annotations

import torch

from knobwise.config import DataConfig
from knobwise.data import find_leakage, prepare_data


def test_planted_duplicates_are_found(data_dir: object) -> None:
    data = prepare_data(DataConfig(dataset="mnist", limit=1500, test_limit=500), seed=0)
    assert find_leakage(data).exact == [] and find_leakage(data).near == []
    train, dev, test = data.splits["train"], data.splits["dev"], data.splits["test"]
    g = torch.Generator().manual_seed(0)
    dev.x[3] = train.x[10]  # exact copy
    dev.x[7] = train.x[20] * 1.1 + 0.05  # brighter, more contrast
    test.x[5] = train.x[30] + 0.05 * torch.randn(train.x[30].shape, generator=g)  # a little noise
    report = find_leakage(data)
    assert [(d["split"], d["index"], d["train_index"]) for d in report.exact] == [
        ("dev", int(dev.index[3]), int(train.index[10]))
    ]
    near = {(d["split"], d["index"], d["train_index"]) for d in report.near}
    assert near == {
        ("dev", int(dev.index[7]), int(train.index[20])),
        ("test", int(test.index[5]), int(train.index[30])),
    }
    line = report.summary()
    assert line.startswith("leakage check: 1 exact and 2 near-identical") and "2 in dev, 1 in test" in line


def test_the_near_check_is_bounded_by_sampling() -> None:
    data = prepare_data(DataConfig(dataset="digits"), seed=0)
    data.splits["dev"].x[0] = data.splits["train"].x[0]
    report = find_leakage(data, max_pairs=1437 * 50)
    assert report.checked == {"dev": 50, "test": 50} and report.sizes == {"dev": 180, "test": 180}
    assert len(report.exact) == 1, "the exact check always covers every image"
    assert "near check on a sample: dev 50 of 180, test 50 of 180" in report.summary()
