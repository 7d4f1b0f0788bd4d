"""The progress display, a training callback: a bar per epoch (rich, on a terminal), one line of
metrics per finished epoch, and the trainer's log lines."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from knobwise.train._callbacks import Callback

if TYPE_CHECKING:
    from knobwise.train._fit import Trainer

__all__ = ["EpochProgress", "format_logs"]


def format_logs(logs: dict[str, float]) -> str:
    """``loss 0.1234 - accuracy 96.50% - ...`` in Keras's order and units.

    >>> format_logs({"loss": 0.5, "accuracy": 0.9, "lr": 0.01, "time": 1.5})
    'loss 0.5000 - accuracy 90.00% - lr 0.01 - 1.5s'
    """
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "time") or isinstance(value, str) or "/" in key:
            continue  # grad_norm/<layer> and notes go to history.csv, not the epoch line
        if value is None:
            parts.append(f"{key} n/a")
        elif key.endswith("accuracy"):
            parts.append(f"{key} {100 * value:.2f}%")
        elif key == "lr":
            parts.append(f"lr {value:.3g}")
        else:
            parts.append(f"{key} {value:.4f}")
    if "time" in logs:
        parts.append(f"{logs['time']:.1f}s")
    return " - ".join(parts)


class EpochProgress(Callback):
    """A transient bar over the steps of an epoch plus a printed line per epoch; silent when quiet.

    Called last in each hook (``order``), so an epoch's line follows what the other callbacks
    logged for that epoch (a tracker's warning, fine-tuning's unfreeze).
    """

    order = 1000

    def __init__(self, epochs: int, quiet: bool = False, console: Console | None = None) -> None:
        self.epochs = epochs
        self.quiet = quiet
        # soft_wrap: a piped or narrow console never breaks a line inside a value.
        self.console = console or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self._progress: Progress | None = None
        self._task: Any = None

    def start_epoch(self, epoch: int, steps: int) -> None:
        if self.quiet or not self.console.is_terminal:
            return
        self._progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{self.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=steps)

    def advance(self, steps: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=steps)

    def end_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if not self.quiet:
            self.console.print(f"epoch {epoch + 1}/{self.epochs} - {format_logs(logs)}")

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    # -- the training hooks ----------------------------------------------------------------------
    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.start_epoch(epoch, trainer.steps_per_epoch)

    def on_steps(self, trainer: Trainer, epoch: int, steps: int) -> None:
        self.advance(steps)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.end_epoch(epoch, logs)

    def on_epoch_failed(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.end_epoch(epoch, logs)  # the line that shows the non-finite loss, before the error

    def on_log(self, trainer: Trainer, line: str) -> None:
        self.message(line)
