"""Use a trained run: classify new images (``predict``) and export a deployable model (``export``).

Example:
    >>> import numpy as np, torch
    >>> from knobwise.run import predict
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> meta = {"classes": ["a", "b", "c"], "input_shape": [1, 2, 2],
    ...         "data": {"normalizer": {"mode": "none", "shift": [0.0], "scale": [1.0]}}}
    >>> predict(model, meta, np.zeros((2, 2, 2), dtype=np.uint8)).proba.shape
    (2, 3)
"""

from knobwise.run._export import EXPORT_FORMATS, ExportResult, check_images, export
from knobwise.run._inputs import NPZ_KEY, InputBatch, Inputs, load_inputs
from knobwise.run._normalized import NormalizedModel, normalizer_of
from knobwise.run._predict import Prediction, predict

__all__ = [
    "EXPORT_FORMATS",
    "NPZ_KEY",
    "ExportResult",
    "InputBatch",
    "Inputs",
    "NormalizedModel",
    "Prediction",
    "check_images",
    "export",
    "load_inputs",
    "normalizer_of",
    "predict",
]
