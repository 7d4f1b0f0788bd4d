"""Sources: digits, MNIST (real files), CIFAR-10 python format (synthetic), arrays."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from knobwise.config import DataConfig
from knobwise.data import list_sources, load_source, read_idx, safe_unpickle
from knobwise.errors import ConfigError, DataError


def test_registry_lists_all_sources() -> None:
    assert list_sources() == sorted(
        ["arrays", "cifar10", "digits", "folder", "mnist", "csv", "parquet", "breast_cancer", "wine"]
    )
    with pytest.raises(ConfigError, match="did you mean 'mnist'"):
        load_source(DataConfig(dataset="mnits"))


def test_digits() -> None:
    src = load_source(DataConfig(dataset="digits"))
    assert src.x.shape == (1797, 1, 8, 8) and src.x.dtype == np.float32
    assert src.x.max() == 16 and src.meta["pixel_max"] == 16.0
    assert src.x_test is None and len(src.classes) == 10


# --- MNIST -------------------------------------------------------------------------------------


def test_mnist_real_files(data_dir: Path) -> None:
    src = load_source(DataConfig(dataset="mnist", root=str(data_dir / "mnist")))
    assert src.x.shape == (60000, 1, 28, 28) and src.x.dtype == np.uint8
    assert src.x_test is not None and src.x_test.shape == (10000, 1, 28, 28)
    assert src.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert src.ids is not None and src.ids[0] == "train[0]"


def test_mnist_via_data_dir_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOBWISE_DATA_DIR", str(data_dir))
    src = load_source(DataConfig(dataset="mnist"))
    assert len(src.y) == 60000


def test_mnist_missing(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"mnist: no data in .* \(looked for train-images-idx3-ubyte.gz.*data.download"
    ):
        load_source(DataConfig(dataset="mnist", root=str(tmp_path)))


def _idx(path: Path, arr: np.ndarray, magic: int | None = None, cut: int = 0) -> None:
    head = (magic if magic is not None else 0x800 + arr.ndim).to_bytes(4, "big")
    head += b"".join(d.to_bytes(4, "big") for d in arr.shape)
    raw = head + arr.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - cut] if cut else raw
    with gzip.open(path, "wb") as fh:
        fh.write(raw)


def _fake_mnist(root: Path) -> None:
    rng = np.random.default_rng(0)
    for kind, n in (("train", 30), ("t10k", 10)):
        _idx(root / f"{kind}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(root / f"{kind}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def test_mnist_uncompressed_accepted(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    src = load_source(DataConfig(dataset="mnist", root=str(tmp_path)))
    assert src.y_test is not None and src.y_test.tolist() == list(range(10))


def test_mnist_truncated_file_named(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((30, 28, 28)), cut=100)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is truncated"):
        load_source(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_mnist_truncated_gzip_named(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match=r"cannot read .*train-labels-idx1-ubyte.gz"):
        load_source(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_mnist_bad_magic_named(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28)), magic=0x0D03)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz has magic number 0x00000d03"):
        load_source(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_mnist_one_file_missing(tmp_path: Path) -> None:
    _fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is missing"):
        load_source(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_read_idx_header_too_short(tmp_path: Path) -> None:
    path = tmp_path / "x-idx1"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match=r"x-idx1 is truncated"):
        read_idx(path, 1)


# --- CIFAR-10 python format ----------------------------------------------------------------------

_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write_cifar(folder: Path, per_batch: int = 20) -> None:
    """Batches in the official layout: dicts with bytes keys, uint8 (N, 3072) data, list labels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    meta = {b"label_names": [n.encode() for n in _NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


def test_cifar10_folder(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "cifar-10-batches-py")
    src = load_source(DataConfig(dataset="cifar10", root=str(tmp_path)))
    assert src.x.shape == (100, 3, 32, 32) and src.x.dtype == np.uint8
    assert src.x_test is not None and src.x_test.shape == (20, 3, 32, 32)
    assert src.classes == _NAMES
    raw = pickle.loads((tmp_path / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    np.testing.assert_array_equal(src.x[:20].reshape(20, -1), raw[b"data"])


def test_cifar10_archive(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "src" / "cifar-10-batches-py")
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    shutil.rmtree(tmp_path / "src")
    src = load_source(DataConfig(dataset="cifar10", root=str(tmp_path)))
    assert len(src.y) == 100


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_cifar10_refuses_arbitrary_globals(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(
        DataError, match=r"cifar10: cannot read data_batch_3 \(disallowed global (posix|os)\.system"
    ):
        load_source(DataConfig(dataset="cifar10", root=str(tmp_path)))


def test_safe_unpickle_allows_numpy_arrays() -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for protocol in (2, 4, 5):
        np.testing.assert_array_equal(
            safe_unpickle(pickle.dumps({"a": arr}, protocol=protocol), "t")["a"], arr
        )


def test_cifar10_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cifar10: no data in .*cifar-10-batches-py"):
        load_source(DataConfig(dataset="cifar10", root=str(tmp_path)))


def test_cifar10_bad_shape(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]})
    )
    with pytest.raises(DataError, match=r"cifar10: test_batch must hold data uint8 \(N, 3072\)"):
        load_source(DataConfig(dataset="cifar10", root=str(tmp_path)))


# --- arrays ---------------------------------------------------------------------------------------


def test_arrays_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for shape, want in (
        ((6, 5, 7), (6, 1, 5, 7)),
        ((6, 5, 7, 3), (6, 3, 5, 7)),
        ((6, 3, 5, 7), (6, 3, 5, 7)),
    ):
        path = tmp_path / f"a{len(shape)}{shape[-1]}.npz"
        np.savez(path, x=rng.integers(0, 256, shape, dtype=np.uint8), y=np.arange(6) % 2)
        src = load_source(DataConfig(dataset="arrays", root=str(path)))
        assert src.x.shape == want and src.classes == ["0", "1"]


def test_arrays_classes_and_test_set(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez(
        path,
        x=np.zeros((4, 2, 2), np.float64),
        y=np.array([0, 1, 2, 0]),
        classes=np.array(["a", "b", "c"]),
        x_test=np.zeros((2, 2, 2), np.float64),
        y_test=np.array([2, 1]),
    )
    src = load_source(DataConfig(dataset="arrays", root=str(tmp_path)))  # a folder with one .npz
    assert src.classes == ["a", "b", "c"] and src.x.dtype == np.float32
    assert src.y_test is not None and src.y_test.tolist() == [2, 1]


def test_arrays_bad_labels_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((4, 2, 2), np.uint8), y=np.array([0, 1, 5, 7]), classes=np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"bad.npz: y has labels outside 0..1 \(the 2 classes\): 5, 7"):
        load_source(DataConfig(dataset="arrays", root=str(path)))


def test_arrays_negative_labels(tmp_path: Path) -> None:
    path = tmp_path / "neg.npz"
    np.savez(path, x=np.zeros((3, 2, 2), np.uint8), y=np.array([0, -1, 1]))
    with pytest.raises(DataError, match=r"neg.npz: y has labels outside 0..1 .*: -1"):
        load_source(DataConfig(dataset="arrays", root=str(path)))


def test_arrays_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(DataError, match=r"arrays: cannot read .*obj.npz as .npz without pickle"):
        load_source(DataConfig(dataset="arrays", root=str(path)))


def test_arrays_missing_key_and_shape(tmp_path: Path) -> None:
    np.savez(tmp_path / "nok.npz", x=np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(DataError, match=r"nok.npz has no 'y' array"):
        load_source(DataConfig(dataset="arrays", root=str(tmp_path / "nok.npz")))
    np.savez(tmp_path / "shape.npz", x=np.zeros((3, 5, 5, 5), np.uint8), y=np.zeros(3, int))
    with pytest.raises(DataError, match=r"shape.npz: x has shape \(3, 5, 5, 5\); allowed"):
        load_source(DataConfig(dataset="arrays", root=str(tmp_path / "shape.npz")))
    np.savez(tmp_path / "len.npz", x=np.zeros((3, 5, 5), np.uint8), y=np.zeros(2, int))
    with pytest.raises(DataError, match=r"len.npz: x has 3 images but y has 2 labels"):
        load_source(DataConfig(dataset="arrays", root=str(tmp_path / "len.npz")))


def test_arrays_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"arrays: no .npz file at"):
        load_source(DataConfig(dataset="arrays", root=str(tmp_path / "nope.npz")))


def test_digits_read_without_sklearn_equal_load_digits() -> None:
    from sklearn.datasets import load_digits

    from knobwise.data._digits import _read_digits  # read without importing scikit-learn

    images, target = _read_digits()
    bunch = load_digits()
    assert np.array_equal(images, bunch.images) and np.array_equal(target, bunch.target)
