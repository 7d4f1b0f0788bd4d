"""What the network looks at: attributions on a set whose class sits in a corner, and on MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from corner_data import CENTRE_BOX, CLASSES, PATCH_BOX, corner_images

from knobwise.diagnose import (
    attribute,
    box_mask,
    explain_images,
    explain_run,
    load_for_explain,
    mass_inside,
    select_examples,
)
from knobwise.errors import ConfigError, DataError
from knobwise.models import build_from_layers

#: The corner region a coarse map of the pattern may spread over: the pattern plus 3 pixels
#: (49 of the 400 pixels, 12% of the image).
NEAR_PATCH = (0, 0, PATCH_BOX[2] + 3, PATCH_BOX[3] + 3)


def _corner_inputs(run: Path) -> tuple[torch.nn.Module, torch.Tensor, np.ndarray, object]:
    """Fresh images of the corner set (not seen in training), normalized like the run's data."""
    model, data, _ = load_for_explain(run)
    x, y = corner_images(32, seed=1)
    return model, data.normalizer(torch.from_numpy(x[:, None])), y, data.normalizer


@pytest.mark.parametrize(
    ("method", "run"),
    [("gradcam", "corner_gap_run"), ("integrated_gradients", "corner_run")],
)
def test_attribution_mass_lies_on_the_corner_pattern(
    method: str, run: str, request: pytest.FixtureRequest
) -> None:
    """Grad-CAM on the global-average-pooling CNN (where channel weights averaged over positions
    are exact), integrated gradients on the flatten + dense CNN."""
    model, x, y, norm = _corner_inputs(request.getfixturevalue(run))
    centre = np.broadcast_to(box_mask(CENTRE_BOX, 20, 20), (len(y), 20, 20))
    ex = explain_images(model, x, classes=CLASSES, true=y, method=method, normalizer=norm, objects=centre)
    assert (ex.pred == y).mean() > 0.95
    near = mass_inside(ex.maps[:, 0], box_mask(NEAR_PATCH, 20, 20))
    centre_mass = ex.surroundings["mean_inside"]
    print(f"{method}: mass near the pattern {np.nanmean(near):.3f}, in the centre {centre_mass:.3f}")
    assert np.nanmean(near) > 0.5, f"{method}: mean mass near the pattern {np.nanmean(near):.3f}"
    # the centre digit is larger, yet it gets less of the evidence than the 12% corner
    assert np.nanmean(near) > ex.surroundings["mean_inside"]
    # boxes marking the centre digit as "the object": the surroundings warning fires
    assert ex.surroundings["kind"] == "objects"
    assert ex.surroundings["mean_inside"] < 0.5
    assert "outside the object boxes" in ex.surroundings["warning"]
    assert "may be using the surroundings" in ex.surroundings["warning"]


def _digit_boxes(x: np.ndarray, pad: int = 1) -> np.ndarray:
    """Bounding box of each MNIST digit's ink, widened by ``pad`` pixels, as masks."""
    out = np.zeros(x.shape, dtype=bool)
    for i, img in enumerate(x):
        rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
        box = (cols[0] - pad, rows[0] - pad, cols[-1] + 1 + pad, rows[-1] + 1 + pad)
        out[i] = box_mask(box, *img.shape)
    return out


@pytest.mark.parametrize("method", ["gradcam", "integrated_gradients"])
def test_no_surroundings_warning_on_clean_mnist(mnist_run: Path, method: str) -> None:
    model, data, proba = load_for_explain(mnist_run, "dev")
    split = data.splits["dev"]
    chosen = select_examples(split.y.numpy(), proba, "confident", 32, data.classes)
    raw = (split.x[chosen] * torch.tensor(data.normalizer.scale).view(1, -1, 1, 1)) + torch.tensor(
        data.normalizer.shift
    ).view(1, -1, 1, 1)
    objects = _digit_boxes(raw[:, 0].numpy() > 0.05)
    ex = explain_images(
        model,
        split.x[chosen],
        classes=data.classes,
        true=split.y.numpy()[chosen],
        method=method,
        normalizer=data.normalizer,
        objects=objects,
    )
    print(f"{method}: mass inside the digit boxes {ex.surroundings['mean_inside']:.3f}")
    assert ex.surroundings["warning"] is None, ex.surroundings
    assert ex.surroundings["mean_inside"] > 0.6


def test_explain_run_selects_and_reports_json(corner_run: Path) -> None:
    ex = explain_run(corner_run, which="confident", n=5, method="saliency", target="both")
    d = ex.to_dict()
    assert d["method"] == "saliency" and d["split"] == "dev" and d["which"] == "confident"
    assert len(d["examples"]) == 5 and d["input_size"] == [20, 20]
    e = d["examples"][0]
    assert e["true"] in CLASSES and e["predicted"] in CLASSES and 0 <= e["probability"] <= 1
    pred, true = e["attributions"]
    assert (pred["target_kind"], true["target_kind"]) == ("pred", "true")
    assert pred["target"] == e["predicted"] and true["target"] == e["true"]
    rows = pred["map"]
    assert len(rows) == 20 and all(len(r) == 20 for r in rows) and max(map(max, rows)) == 1.0
    assert pred["mass_inside"] is None and 0 <= pred["mass_border"] <= 1
    assert d["surroundings"]["kind"] == "border"  # without boxes: the weaker border hint


def test_selection_is_deterministic_and_ordered() -> None:
    true = np.array([0, 1, 1, 0, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.55, 0.45]])
    classes = ["a", "b"]
    assert select_examples(true, proba, "misclassified", 10, classes).tolist() == [1, 3, 4]
    assert select_examples(true, proba, "lowest", 2, classes).tolist() == [4, 3]
    assert select_examples(true, proba, "confident", 2, classes).tolist() == [0, 1]
    assert select_examples(true, proba, "class:b", 10, classes).tolist() == [4, 2, 1]
    with pytest.raises(ConfigError, match=r"--which class:bb: no such class; did you mean 'b'"):
        select_examples(true, proba, "class:bb", 3, classes)
    with pytest.raises(ConfigError, match=r"--which must be one of misclassified, lowest, confident"):
        select_examples(true, proba, "worst", 3, classes)
    with pytest.raises(ConfigError, match=r"--n must be >= 1, got 0"):
        select_examples(true, proba, "lowest", 0, classes)


MLP = ["flatten", {"dense": {"units": 8, "activation": "relu"}}, {"dense": {"units": 3}}]


def test_every_method_on_an_mlp_but_gradcam() -> None:
    torch.manual_seed(0)
    model = build_from_layers(MLP, (1, 8, 8)).eval()
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    for method in ("saliency", "integrated_gradients", "occlusion"):
        maps = attribute(model, x, t, method)
        assert maps.shape == (4, 8, 8) and (maps >= 0).all() and maps.sum() > 0, method
    with pytest.raises(ConfigError, match=r"--method gradcam needs a convolutional layer .* \(an MLP\)"):
        attribute(model, x, t, "gradcam")
    with pytest.raises(ConfigError, match=r"--method: unknown attribution method 'gradcamm'; did you mean"):
        attribute(model, x, t, "gradcamm")


def test_gradcam_layer_by_name(corner_run: Path) -> None:
    model, x, y, norm = _corner_inputs(corner_run)
    ex = explain_images(model, x[:4], classes=CLASSES, true=y[:4], layer="conv2d_1", normalizer=norm)
    assert ex.layer == "conv2d_1" and ex.maps.shape == (4, 1, 20, 20)
    with pytest.raises(ConfigError, match=r"--layer: the model has no layer 'conv2d_9'.*conv2d_1, conv2d_2"):
        explain_images(model, x[:4], classes=CLASSES, layer="conv2d_9")


def test_boxes_and_masks_bad_input(corner_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,x0,y0,x1\n#1,0,0,4\n")
    with pytest.raises(
        DataError, match=r"--boxes .*bad.csv: missing column\(s\) y1; expected id,x0,y0,x1,y1"
    ):
        explain_run(corner_run, n=2, method="saliency", boxes=bad)
    bad.write_text("id,x0,y0,x1,y1\n#1,0,0,40,4\n")
    with pytest.raises(
        DataError, match=r"bad.csv: line 2: box \(0, 0, 40, 4\) must satisfy 0 <= x0 < x1 <= 20"
    ):
        explain_run(corner_run, n=2, method="saliency", boxes=bad)
    bad.write_text("id,x0,y0,x1,y1\n#999999,0,0,4,4\n")
    with pytest.raises(DataError, match=r"no object for 2 of the 2 explained examples"):
        explain_run(corner_run, which="confident", n=2, method="saliency", boxes=bad)
    with pytest.raises(DataError, match=r"--masks .*nowhere: no such folder"):
        explain_run(corner_run, n=2, method="saliency", masks=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"give either --boxes or --masks, not both"):
        explain_run(corner_run, n=2, method="saliency", boxes=bad, masks=tmp_path)


def test_masks_folder_matches_boxes(corner_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    ex = explain_run(corner_run, which="confident", n=3, method="saliency")
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("id,x0,y0,x1,y1\n" + "".join(f"{i},4,4,20,20\n" for i in ex.ids))
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in ex.ids:
        Image.fromarray((box_mask(CENTRE_BOX, 20, 20) * 255).astype(np.uint8)).save(masks / f"{i}.png")
    a = explain_run(corner_run, which="confident", n=3, method="saliency", boxes=boxes)
    b = explain_run(corner_run, which="confident", n=3, method="saliency", masks=masks)
    assert np.allclose(a.inside, b.inside) and a.surroundings["mean_inside"] == b.surroundings["mean_inside"]
