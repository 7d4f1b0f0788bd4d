"""Expansion, class balance, per-example weights, multi-source splits and TTA on real data subsets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from knobwise.config import DataConfig, LossConfig, TTAConfig, load_config
from knobwise.data import ClassSampler, predict_tta, prepare_data, training_knobs, tta_views
from knobwise.errors import DataError
from knobwise.models import build_model
from knobwise.train import Trainer, create_loss


def _mnist(data_dir: Path, **kw: object) -> DataConfig:
    return DataConfig(dataset="mnist", root=str(data_dir / "mnist"), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def imbalanced_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real digits with class 0 kept whole and every other class cut to 20 images."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.concatenate([np.flatnonzero(d.target == k)[: (None if k == 0 else 20)] for k in range(10)])
    path = tmp_path_factory.mktemp("imb") / "digits.npz"
    ids = np.array([f"img{i}" for i in keep])
    w = np.linspace(0.0, 2.0, len(keep))
    np.savez(path, x=(d.images[keep] * 255 / 16).astype(np.uint8), y=d.target[keep], ids=ids, w=w)
    return path


def test_dev_and_test_are_bit_identical_with_and_without_the_knobs(data_dir: Path) -> None:
    plain = prepare_data(_mnist(data_dir, limit=300), seed=0)
    knobs = _mnist(
        data_dir,
        limit=300,
        augment={"rotation_range": 10, "width_shift_range": 0.1, "mixup": {"alpha": 0.2}},
        expand={"shifts": 1},
        balance="augment_minority",
    )
    data = prepare_data(knobs, seed=0)
    for name in ("dev", "test"):
        assert torch.equal(plain.splits[name].x, data.splits[name].x)
        assert torch.equal(plain.splits[name].y, data.splits[name].y)
    before = {k: v.x.clone() for k, v in data.splits.items() if k != "train"}
    cfg = load_config(None, ["train.epochs=1", "train.batch_size=64"])
    kn = training_knobs(knobs, cfg.train.loss, data)
    model = build_model(
        cfg.model.model_copy(update={"name": "fc100_sigmoid"}), data.input_shape, data.num_classes
    )
    Trainer(model, data, cfg.train, seed=0, quiet=True, **kn.trainer_kwargs()).fit()  # type: ignore[arg-type]
    for name, x in before.items():
        assert torch.equal(x, data.splits[name].x)  # training with augmentation never touched them


def test_expand_shifts_makes_five_times_the_training_set(data_dir: Path) -> None:
    plain = prepare_data(_mnist(data_dir, limit=200), seed=0)
    data = prepare_data(_mnist(data_dir, limit=200, expand={"shifts": 1}), seed=0)
    x0, x = plain.splits["train"].x, data.splits["train"].x
    n = len(x0)
    assert len(x) == 5 * n and torch.equal(x[:n], x0)
    bg = float(x0.min())  # the normalized background (raw 0)
    right = x[n : 2 * n]
    assert torch.equal(right[..., 1:], x0[..., :-1]) and bool((right[..., 0] == bg).all())
    up = x[4 * n : 5 * n]
    assert torch.equal(up[:, :, :-1], x0[:, :, 1:])
    assert torch.equal(data.splits["train"].y, plain.splits["train"].y.repeat(5))
    assert data.class_counts["train"] == [5 * c for c in plain.class_counts["train"]]
    notes = "\n".join(data.describe())
    assert f"data.expand: train {n} -> {5 * n} examples" in notes and "MiB on cpu" in notes


def test_expand_copies_with_augment_is_reproducible(data_dir: Path) -> None:
    cfg = _mnist(data_dir, limit=100, expand={"copies": 2, "augment": {"rotation_range": 15}})
    a, b = prepare_data(cfg, seed=3), prepare_data(cfg, seed=3)
    n = len(prepare_data(_mnist(data_dir, limit=100), seed=3).splits["train"])
    assert len(a.splits["train"]) == 3 * n and torch.equal(a.splits["train"].x, b.splits["train"].x)


def test_oversampling_and_undersampling_reach_equal_class_counts(imbalanced_npz: Path) -> None:
    data = prepare_data(DataConfig(dataset="arrays", root=str(imbalanced_npz)), seed=0)
    y = data.splits["train"].y
    counts = torch.bincount(y).tolist()
    assert max(counts) > 5 * min(counts)
    assert "ratio" in "\n".join(data.describe())  # the imbalance is reported per split
    for method, target in (("oversample", max(counts)), ("undersample", min(counts))):
        sampler = ClassSampler(y, 10, method)
        idx = sampler(torch.Generator().manual_seed(0))
        assert torch.bincount(y[idx], minlength=10).tolist() == [target] * 10
        if method == "undersample":
            assert len(set(idx.tolist())) == len(idx)  # without replacement
        else:
            assert set(range(len(y))) <= set(idx.tolist())  # every example still seen
        again = sampler(torch.Generator().manual_seed(1))
        assert not torch.equal(idx, again)  # redrawn each epoch


def test_trainer_epoch_uses_the_balanced_index_set(imbalanced_npz: Path) -> None:
    cfg = load_config(None, ["train.epochs=1", "train.batch_size=50"])
    dcfg = DataConfig(dataset="arrays", root=str(imbalanced_npz), balance="oversample")
    data = prepare_data(dcfg, seed=0)
    kn = training_knobs(dcfg, cfg.train.loss, data)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    trainer = Trainer(model, data, cfg.train, seed=0, quiet=True, **kn.trainer_kwargs())  # type: ignore[arg-type]
    per_class = max(data.class_counts["train"])
    assert trainer.epoch_size == 10 * per_class and trainer.steps_per_epoch == -(-10 * per_class // 50)
    trainer.fit()


def test_augment_minority_and_class_weight(imbalanced_npz: Path) -> None:
    data = prepare_data(DataConfig(dataset="arrays", root=str(imbalanced_npz), balance="augment_minority"), 0)
    counts = data.class_counts["train"]
    assert len(set(counts)) == 1 and torch.bincount(data.splits["train"].y).tolist() == counts
    plain_cfg = DataConfig(dataset="arrays", root=str(imbalanced_npz), balance="class_weight")
    plain = prepare_data(plain_cfg, 0)
    kn = training_knobs(plain_cfg, LossConfig(), plain)
    y, w = plain.splits["train"].y, kn.sample_weight
    assert w is not None
    per_class = torch.zeros(10).index_add_(0, y, w)
    assert torch.allclose(per_class, per_class[0].expand(10))  # every class weighs the same in total


def test_sample_weights_change_the_loss_exactly_as_the_formula(imbalanced_npz: Path, tmp_path: Path) -> None:
    data = prepare_data(
        DataConfig(dataset="arrays", root=str(imbalanced_npz), sample_weight={"array": "w"}), 0
    )
    train = data.splits["train"]
    w_all = np.load(imbalanced_npz)["w"]
    assert train.weight is not None and np.allclose(train.weight.numpy(), w_all[train.index])
    loss = create_loss(LossConfig(), data.classes)
    logits = torch.randn(len(train), 10, generator=torch.Generator().manual_seed(0))
    per = torch.nn.functional.cross_entropy(logits, train.y, reduction="none")
    s = train.weight
    assert float(loss(logits, train.y, s)) == pytest.approx(float((s * per).sum() / s.sum()), rel=1e-6)
    one = torch.zeros_like(s)
    one[5] = 2.5  # all the weight on one example: J is that example's loss
    assert float(loss(logits, train.y, one)) == pytest.approx(float(per[5]), rel=1e-6)
    # The CSV form: rows name examples by id; unlisted ones weigh `default`.
    csv_path = tmp_path / "w.csv"
    with csv_path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "quality"])
        out.writerow(["img0", "3.5"])
        out.writerow(["img1", "0"])
    cfg = DataConfig(
        dataset="arrays", root=str(imbalanced_npz), sample_weight={"file": str(csv_path), "column": "quality"}
    )
    data = prepare_data(cfg, 0)
    weights = {
        str(i): float(w)
        for s in data.splits.values()
        for i, w in zip(s.ids, s.weight.tolist(), strict=True)  # type: ignore[arg-type, union-attr]
    }
    assert weights["img0"] == 3.5 and weights["img1"] == 0.0 and weights["img2"] == 1.0


@pytest.mark.parametrize(
    ("rows", "column", "match"),
    [
        ([["id", "w"], ["img0", "1"]], "weight", "has no column 'weight'"),
        ([["id", "weight"], ["img0", "-1"]], "weight", "line 2: weight must be >= 0, got -1"),
        ([["id", "weight"], ["img0", "heavy"]], "weight", "is not a number"),
    ],
)
def test_bad_sample_weight_files(
    imbalanced_npz: Path, tmp_path: Path, rows: list[list[str]], column: str, match: str
) -> None:
    path = tmp_path / "w.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    cfg = DataConfig(
        dataset="arrays", root=str(imbalanced_npz), sample_weight={"file": str(path), "column": column}
    )
    with pytest.raises(DataError, match=match):
        prepare_data(cfg, 0)


@pytest.fixture(scope="module")
def two_sources(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A high-quality and a low-quality (noisy, blurred-by-averaging) source of real MNIST digits."""
    data = prepare_data(_mnist(data_dir, limit=400, normalize="none"), seed=0)
    x = (data.splits["train"].x[:, 0].numpy() * 255).astype(np.uint8)
    y = data.splits["train"].y.numpy()
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    noisy = np.clip(x[160:].astype(float) + rng.normal(0, 40, x[160:].shape), 0, 255).astype(np.uint8)
    np.savez(root / "hq.npz", x=x[:160], y=y[:160])
    np.savez(root / "lq.npz", x=noisy, y=y[160:])
    return root / "hq.npz", root / "lq.npz"


def _sources(hq: Path, lq: Path, **split: object) -> DataConfig:
    return DataConfig.model_validate(
        {
            "sources": [
                {"name": "hq", "dataset": "arrays", "root": str(hq)},
                {"name": "lq", "dataset": "arrays", "root": str(lq)},
            ],
            "split": {"train": 0.6, "dev": 0.2, "test": 0.2, **split},
        }
    )


def test_default_shuffle_puts_every_source_in_every_split(two_sources: tuple[Path, Path]) -> None:
    data = prepare_data(_sources(*two_sources, train_dev=0.1), seed=0)
    assert set(data.splits) == {"train", "train_dev", "dev", "test"}
    for split in data.splits.values():
        assert split.groups is not None and set(split.groups.tolist()) == {"hq", "lq"}
        assert all(str(i).startswith(str(g) + ":") for i, g in zip(split.ids, split.groups, strict=True))  # type: ignore[arg-type]


def test_by_source_puts_each_source_where_asked(two_sources: tuple[Path, Path]) -> None:
    cfg = _sources(*two_sources, train_dev=0.1, by_source={"train": ["hq"], "dev": ["lq"], "test": ["lq"]})
    data = prepare_data(cfg, seed=0)
    groups = {k: set(v.groups.tolist()) for k, v in data.splits.items()}  # type: ignore[union-attr]
    assert groups == {"train": {"hq"}, "train_dev": {"hq"}, "dev": {"lq"}, "test": {"lq"}}
    assert len(data.splits["train"]) + len(data.splits["train_dev"]) == 160
    n_lq = len(np.load(two_sources[1])["y"])
    assert len(data.splits["dev"]) + len(data.splits["test"]) == n_lq
    assert not set(data.splits["dev"].ids.tolist()) & set(data.splits["test"].ids.tolist())  # type: ignore[union-attr]


def test_tta_views_and_averaged_probabilities(data_dir: Path) -> None:
    data = prepare_data(_mnist(data_dir, limit=60), seed=0)
    x = data.splits["train"].x[:8]
    views = list(tta_views(x, TTAConfig(flips=True, shifts=1), data.normalizer))
    assert len(views) == 6 and torch.equal(views[0], x) and torch.equal(views[1], x.flip(3))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    out = predict_tta(model, x, TTAConfig(flips=True, shifts=1), data.normalizer)
    expected = torch.stack([torch.softmax(model(v), 1) for v in views]).mean(0)
    assert torch.allclose(out.exp(), expected, atol=1e-6)
