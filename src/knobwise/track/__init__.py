"""Experiment tracking in TensorBoard and MLflow (optional extras), as training-loop callbacks,
and for studies (an MLflow parent run with nested trial runs; TensorBoard hparams).

Example:
    >>> from knobwise.config import load_config
    >>> open_tracking(load_config(None), "runs/x").trackers
    []
"""

from knobwise.track._base import TrackContext, Tracker, epoch_scalars, final_scalars, flatten
from knobwise.track._study import StudyTracking, study_tracking
from knobwise.track._tracking import TRACKING_JSON, Tracking, check_tracking, open_tracking

__all__ = [
    "TRACKING_JSON",
    "TrackContext",
    "StudyTracking",
    "Tracker",
    "Tracking",
    "check_tracking",
    "epoch_scalars",
    "final_scalars",
    "flatten",
    "open_tracking",
    "study_tracking",
]
