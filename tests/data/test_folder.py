"""The image-folder source: layouts, archives, every bad-input path, the decode cache, real CIFAR."""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from knobwise.config import DataConfig
from knobwise.data import load_source, prepare_data
from knobwise.errors import DataError


def _load(root: Path, **kw: object) -> object:
    return load_source(DataConfig(dataset="folder", root=str(root), **kw))  # type: ignore[arg-type]


def test_train_test_layout(tree: Path) -> None:
    src = _load(tree)
    assert src.classes == ["ant", "bee", "cow"]  # type: ignore[attr-defined]
    assert src.x.shape == (24, 3, 8, 8) and src.x.dtype == np.uint8  # type: ignore[attr-defined]
    assert np.bincount(src.y).tolist() == [6, 8, 10]  # type: ignore[attr-defined]
    assert src.x_test.shape == (7, 3, 8, 8)  # type: ignore[attr-defined]
    assert src.ids[0] == "train/ant/000.png" and src.ids_test[-1] == "test/cow/002.png"  # type: ignore[attr-defined]


def test_flat_layout_grayscale_detected(tmp_path: Path, make_tree: Callable[..., Path]) -> None:
    make_tree(tmp_path / "g", {"a": 3, "b": 3}, mode="L")
    src = _load(tmp_path / "g")
    assert src.x.shape == (6, 1, 8, 8) and src.x_test is None  # type: ignore[attr-defined]
    assert _load(tmp_path / "g", grayscale=False).x.shape == (6, 3, 8, 8)  # type: ignore[attr-defined]


def test_pixels_match_the_file(tmp_path: Path, write_image: Callable[..., Path]) -> None:
    path = write_image(tmp_path / "p" / "a" / "x.png", (5, 4), seed=3)
    write_image(tmp_path / "p" / "b" / "y.png", (5, 4), seed=4)
    from PIL import Image

    want = np.asarray(Image.open(path)).transpose(2, 0, 1)
    np.testing.assert_array_equal(_load(tmp_path / "p").x[0], want)  # type: ignore[attr-defined]


def test_force_grayscale_and_resize(tree: Path, write_image: Callable[..., Path]) -> None:
    write_image(tree / "train" / "ant" / "big.png", (16, 12))
    with pytest.raises(DataError, match=r"big.png is 16x12 but .* is 8x8; set data.image_size"):
        _load(tree)
    src = _load(tree, image_size=(6, 5), grayscale=True)
    assert src.x.shape == (25, 1, 6, 5)  # type: ignore[attr-defined]


def _tar(tar_path: Path, tree: Path, arcname: str, extra: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(tar_path, "w:gz") as tf:
        tf.add(tree, arcname=arcname)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return tar_path


def test_tar_gz_with_top_folder(tree: Path, tmp_path: Path) -> None:
    archive = _tar(tmp_path / "pets.tar.gz", tree, "pets")
    src = _load(archive)
    assert len(src.y) == 24 and src.ids[0] == "train/ant/000.png"  # type: ignore[attr-defined]
    assert _load(archive).meta["cache"] == {"cache hits": 2}  # type: ignore[attr-defined]


def test_tar_path_traversal_refused(tree: Path, tmp_path: Path) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", tree, "pets", {"../evil": b"boo"})
    with pytest.raises(DataError, match=r"evil.tar.gz: refused archive member '../evil'"):
        _load(archive)
    assert not (tmp_path / "evil").exists()
    leftovers = list((Path(os.environ["KNOBWISE_CACHE_DIR"]) / "extracted").glob("evil-*"))
    assert leftovers == []


def test_corrupt_image_named(tree: Path) -> None:
    (tree / "train" / "bee" / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"cannot decode image .*train/bee/bad.png"):
        _load(tree)


def test_truncated_image_named(
    tmp_path: Path, write_image: Callable[..., Path], make_tree: Callable[..., Path]
) -> None:
    root = tmp_path / "t"
    make_tree(root, {"a": 2, "b": 2}, size=(64, 64))
    path = write_image(root / "b" / "cut.jpg", (64, 64))
    from PIL import Image

    Image.open(root / "a" / "000.png").convert("RGB").save(path, quality=90)
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DataError, match=r"cannot decode image .*b/cut.jpg .*truncated"):
        _load(root)


def test_empty_class_folder_named(tree: Path) -> None:
    (tree / "train" / "dog").mkdir()
    with pytest.raises(DataError, match=r"class folder .*train/dog has no images"):
        _load(tree)


def test_no_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"folder: .*empty has no class folders"):
        _load(tmp_path / "empty")
    with pytest.raises(DataError, match=r"is not a folder or a .tar/.tar.gz archive"):
        _load(tmp_path / "missing")


def test_symlink_out_of_root(tree: Path, tmp_path: Path, write_image: Callable[..., Path]) -> None:
    outside = write_image(tmp_path / "outside.png")
    (tree / "train" / "ant" / "link.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"link.png is a symlink to .*outside.png, outside the dataset root"):
        _load(tree)


def test_symlink_inside_root_ok(tree: Path) -> None:
    (tree / "train" / "ant" / "again.png").symlink_to(tree / "train" / "bee" / "000.png")
    assert len(_load(tree).y) == 25  # type: ignore[attr-defined]


def test_hidden_and_non_images_skipped_and_counted(tree: Path, write_image: Callable[..., Path]) -> None:
    write_image(tree / "train" / ".hidden" / "x.png")
    write_image(tree / "train" / "ant" / ".secret.png")
    write_image(tree / "train" / "ant" / ".thumbs" / "y.png")
    (tree / "train" / "ant" / "notes.txt").write_text("hi")
    src = _load(tree)
    assert src.classes == ["ant", "bee", "cow"] and len(src.y) == 24  # type: ignore[attr-defined]
    assert src.meta["skipped"] == {"hidden": 3, "not images": 1}  # type: ignore[attr-defined]


def test_test_tree_with_unknown_class(tree: Path, write_image: Callable[..., Path]) -> None:
    write_image(tree / "test" / "emu" / "0.png")
    with pytest.raises(DataError, match=r"test has classes not in the training tree: emu"):
        _load(tree)


def test_limit_before_decoding_is_stratified(tree: Path) -> None:
    src = _load(tree, limit=12, test_limit=3)
    assert len(src.y) == 12 and len(src.y_test) == 3  # type: ignore[attr-defined]
    assert np.bincount(src.y).tolist() == [3, 4, 5]  # type: ignore[attr-defined]


def test_decode_cache_tracks_changes(tree: Path, write_image: Callable[..., Path]) -> None:
    first = _load(tree)
    assert first.meta["cache"] == {"cache misses": 2}  # type: ignore[attr-defined]
    assert _load(tree).meta["cache"] == {"cache hits": 2}  # type: ignore[attr-defined]
    time.sleep(0.01)
    write_image(tree / "train" / "ant" / "000.png", seed=99)
    again = _load(tree)
    assert again.meta["cache"]["cache misses"] == 1  # type: ignore[attr-defined]
    assert not np.array_equal(again.x[0], first.x[0])  # type: ignore[attr-defined]


def test_real_cifar10_jpegs(cifar_small_tar: Path) -> None:
    cfg = DataConfig(dataset="folder", root=str(cifar_small_tar), limit=200, test_limit=50)
    data = prepare_data(cfg, seed=0)
    assert data.classes[:3] == ["airplane", "automobile", "bird"] and data.input_shape == (3, 32, 32)
    assert data.splits["test"].from_test_set and len(data.splits["test"]) == 50
    assert sum(len(s) for k, s in data.splits.items() if k != "test") == 200
    assert data.class_counts["test"] == [5] * 10
    ids = data.splits["train"].ids
    assert ids is not None and ids[0].startswith("train/airplane/") and ids[0].endswith(".jpg")


def test_folder_class_subset(cifar_small_tar: Path) -> None:
    cfg = DataConfig(dataset="folder", root=str(cifar_small_tar), classes=["ship", "cat"], test_limit=10)
    data = prepare_data(cfg, seed=0)
    assert data.classes == ["cat", "ship"]  # folder order, like the whole tree
    assert data.class_counts["test"] == [5, 5]
    assert {i.split("/")[1] for i in data.splits["train"].ids} == {"cat", "ship"}
    with pytest.raises(
        DataError, match=r"data\.classes: 'sheep' not a class folder of .*\(available: airplane"
    ):
        prepare_data(
            DataConfig(dataset="folder", root=str(cifar_small_tar), classes=["sheep", "cat"]), seed=0
        )
