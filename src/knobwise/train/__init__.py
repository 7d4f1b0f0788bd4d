"""Training: the fit loop, optimizers and schedules (``torch.optim``), losses, callbacks, checkpoints.

Example:
    >>> from knobwise.train import list_optimizers, list_schedules
    >>> "adam" in list_optimizers() and "reduce_on_plateau" in list_schedules()
    True
"""

from knobwise.train._callbacks import Callback, EarlyStopping
from knobwise.train._checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from knobwise.train._device import autocast_dtype
from knobwise.train._fit import Trainer, epoch_seed
from knobwise.train._loss import LOSSES, Loss, create_loss, list_losses, register_loss
from knobwise.train._optim import OPTIMIZERS, create_optimizer, list_optimizers, register_optimizer
from knobwise.train._population import PopulationTrainer, batch_blocker
from knobwise.train._predict import loss_and_accuracy, predict_logits
from knobwise.train._progress import EpochProgress, format_logs
from knobwise.train._schedule import (
    SCHEDULES,
    Schedule,
    create_schedule,
    list_schedules,
    monitor_mode,
    register_schedule,
)

__all__ = [
    "Callback",
    "EarlyStopping",
    "EpochProgress",
    "LOSSES",
    "Loss",
    "OPTIMIZERS",
    "PopulationTrainer",
    "SCHEDULES",
    "Schedule",
    "Trainer",
    "autocast_dtype",
    "batch_blocker",
    "create_loss",
    "create_optimizer",
    "create_schedule",
    "epoch_seed",
    "format_logs",
    "latest_checkpoint",
    "list_losses",
    "list_optimizers",
    "list_schedules",
    "load_checkpoint",
    "loss_and_accuracy",
    "monitor_mode",
    "predict_logits",
    "register_loss",
    "register_optimizer",
    "register_schedule",
    "save_checkpoint",
]
